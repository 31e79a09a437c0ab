//! The pmcd server on real sockets: clients at once, the connection bound
//! and access rules (refusals as pmcd sends them), deadlines that drop a
//! slow client without delaying others, a malformed stream closing only
//! its own connection, unix-socket credentials, an orderly stop.

mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use pcp_core::pdu::client::status_from_v1;
use pcp_core::pdu::*;
use pcp_core::server::{Access, Server, ServerHandle, ServerOptions};
use pcp_core::*;
use server_support::*;

fn start(opts: ServerOptions) -> ServerHandle {
    let (host, _) = demo_host();
    let opts = ServerOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..opts
    };
    Server::bind(host, opts).unwrap().spawn().unwrap()
}

fn connect(h: &ServerHandle) -> Client<TcpStream> {
    let s = TcpStream::connect(h.tcp_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // As libpcp does: a PROFILE and the FETCH after it go out at once.
    s.set_nodelay(true).unwrap();
    Client::open(s)
}

/// Connects and asks for a value; true if it came.
fn fetch_works(c: &mut Client<TcpStream>) -> bool {
    c.send(&profile());
    matches!(c.ask(&fetch(&[pmid(0, 2)], true)), Pdu::HighResResult(_))
}

fn refused_with(c: &Client<TcpStream>) -> i32 {
    match &c.greeting {
        Pdu::Error(e) => {
            assert_eq!(e.extra, Some(0), "a refusal carries no challenge");
            status_from_v1(e.code)
        }
        other => panic!("{other:?}"),
    }
}

fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn many_clients_at_once() {
    let h = start(ServerOptions::default());
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let addr = h.tcp_addrs()[0];
            std::thread::spawn(move || {
                let s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut c = Client::open(s);
                (0..50).all(|_| fetch_works(&mut c))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap());
    }
}

#[test]
fn the_connection_bound_refuses_with_connlimit() {
    let h = start(ServerOptions {
        max_connections: 2,
        ..ServerOptions::default()
    });
    let mut a = connect(&h);
    let mut b = connect(&h);
    assert!(fetch_works(&mut a) && fetch_works(&mut b));
    let c = connect(&h);
    assert_eq!(refused_with(&c), PmError::CONNLIMIT.code());
    drop(a);
    assert!(wait_for(|| h.connections() < 2));
    let mut d = connect(&h);
    assert!(fetch_works(&mut d), "a freed slot is reused");
}

#[test]
fn access_rules_refuse_or_limit_by_host() {
    let h = start(ServerOptions {
        access: Access::parse("disallow hosts localhost : all;").unwrap(),
        ..ServerOptions::default()
    });
    assert_eq!(refused_with(&connect(&h)), PmError::PERMISSION.code());
    let h = start(ServerOptions {
        access: Access::parse("allow hosts 127.0.0.1 : fetch, maximum 1 connections;").unwrap(),
        ..ServerOptions::default()
    });
    let mut a = connect(&h);
    assert!(fetch_works(&mut a));
    assert_eq!(refused_with(&connect(&h)), PmError::CONNLIMIT.code());
}

#[test]
fn a_slow_client_is_dropped_and_delays_no_one() {
    let h = start(ServerOptions {
        client_timeout: Duration::from_secs(2),
        ..ServerOptions::default()
    });
    let mut slow = connect(&h);
    // Half a PDU, then nothing.
    let f = fetch(&[pmid(0, 0)], true);
    slow.send(&profile());
    slow.send(&f[..10]);
    let mut fast = connect(&h);
    for _ in 0..20 {
        assert!(fetch_works(&mut fast));
    }
    // All served while the slow one still held its connection.
    assert_eq!(h.connections(), 2);
    // The slow one is hung up on after the deadline.
    let mut buf = [0u8; 64];
    let closed = slow.s.read(&mut buf);
    assert!(matches!(closed, Ok(0)) || closed.is_err(), "{closed:?}");
    assert!(fetch_works(&mut fast));
}

#[test]
fn a_client_that_never_sends_credentials_is_dropped() {
    let h = start(ServerOptions {
        client_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let mut s = TcpStream::connect(h.tcp_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut ack = [0u8; 20];
    s.read_exact(&mut ack).unwrap();
    let t = Instant::now();
    let mut rest = [0u8; 16];
    assert_eq!(s.read(&mut rest).unwrap_or(0), 0);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(wait_for(|| h.connections() == 0));
}

#[test]
fn a_malformed_stream_closes_its_own_connection_only() {
    let h = start(ServerOptions::default());
    let mut good = connect(&h);
    let mut bad = connect(&h);
    // A length past the 64 KiB limit: PM_ERR_TOOBIG, then hang-up.
    bad.send(&[0x7f, 0, 0, 0, 0, 0, 0x70, 3, 0, 0, 0, 0]);
    match bad.recv() {
        Some(Pdu::Error(e)) => assert_eq!(e.code, PmError::TOOBIG.code()),
        other => panic!("{other:?}"),
    }
    assert!(bad.recv().is_none());
    let mut worse = connect(&h);
    worse.send(&[0, 0, 0, 16, 0, 0, 0x70, 0x99, 0, 0, 0, 0, 1, 2, 3, 4]);
    match worse.recv() {
        Some(Pdu::Error(e)) => assert_eq!(e.code, PmError::IPC.code()),
        other => panic!("{other:?}"),
    }
    assert!(worse.recv().is_none());
    assert!(fetch_works(&mut good));
}

#[test]
fn unix_socket_clients_are_known_by_their_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pmcd.socket");
    let h = start(ServerOptions {
        socket: Some(path.clone()),
        ..ServerOptions::default()
    });
    let mut c = Client::open(UnixStream::connect(&path).unwrap());
    let req = enc(&Pdu::LabelReq(IdentReq {
        ident: PM_IN_NULL,
        kind: 1,
    }));
    let Pdu::Label(l) = c.ask(&req) else { panic!() };
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let json = String::from_utf8_lossy(&l.sets[0].json).into_owned();
    assert!(json.contains(&format!(r#""userid":{uid}"#)), "{json}");
    // Over TCP, no credentials.
    let Pdu::Label(l) = connect(&h).ask(&req) else {
        panic!()
    };
    assert!(!String::from_utf8_lossy(&l.sets[0].json).contains("userid"));
    // A second server cannot take a socket in use.
    let (host, _) = demo_host();
    let again = Server::bind(
        host,
        ServerOptions {
            listen: vec![],
            socket: Some(path.clone()),
            ..ServerOptions::default()
        },
    );
    assert!(again.is_err());
    h.stop();
    assert!(!path.exists(), "the socket is removed on stop");
}

#[test]
fn stopping_hangs_up_every_client() {
    let h = start(ServerOptions::default());
    let mut c = connect(&h);
    assert!(fetch_works(&mut c));
    h.stop();
    assert!(c.recv().is_none());
    let _ = c.s.write_all(&fetch(&[pmid(0, 0)], true));
}
