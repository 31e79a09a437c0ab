//! A latency and scale test bed: N exposition endpoints (N up to a few
//! thousand) in a network namespace of their own, reached through a
//! delay line that holds each packet for its endpoint's delay (with
//! jitter and loss), some endpoints hanging, resetting or answering
//! slowly. Everything lives in namespaces the test creates: nothing is
//! added to the machine's own network.
//!
//! ```text
//!  this process's network namespace          the endpoints' namespace
//!  (private: `in_private_netns` re-runs       (a thread of the bed
//!   the test under `unshare --net`)            unshares into it)
//!    agent, pmcd, clients                      one listener on 0.0.0.0:9100;
//!    10.100.0.1 on tun pfc0  <== delay line ==>  10.200.0.0/16 all local
//!    route 10.200.0.0/16 via pfc0   (a thread    (AnyIP), tun pfs0,
//!                                    copying     route 10.100.0.0/16 via pfs0
//!                                    packets
//!                                    between the two tun devices)
//! ```
//!
//! `tc netem` would do the delaying, but this kernel is built without it
//! (CONFIG_NET_SCH_NETEM is not set, and no module can be loaded), so the
//! delay line does the same job in user space: every IP packet in either
//! direction is held for half its endpoint's round-trip delay (plus a
//! uniform jitter) and dropped with its loss probability, the TCP
//! handshake, acknowledgements and retransmissions included. Endpoint `i`
//! is the address `10.200.(i / 250).(i % 250 + 1)`, port 9100.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The port every endpoint listens on.
pub const PORT: u16 = 9100;

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers at once (plus the network delay), keeps the connection.
    Normal,
    /// Accepts, reads the request, never answers.
    Hang,
    /// Answers its first this many requests, then hangs.
    HangAfter(u64),
    /// Accepts, reads the request, resets the connection.
    Reset,
    /// Answers, but spreads the response over this long.
    Slow(Duration),
}

/// The network between the agent and an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Added round-trip time (half each way).
    pub delay: Duration,
    /// Uniform jitter added to each packet's hold, up to this much.
    pub jitter: Duration,
    /// Probability that a packet is dropped.
    pub loss: f64,
}

impl Link {
    /// A link with this round-trip delay and nothing else.
    pub fn delay(ms: u64) -> Link {
        Link {
            delay: Duration::from_millis(ms),
            jitter: Duration::ZERO,
            loss: 0.0,
        }
    }
}

/// One endpoint of the bed.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// How it answers.
    pub behaviour: Behaviour,
    /// Its network.
    pub link: Link,
}

/// The address of endpoint `i`.
pub fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 200, (i / 250) as u8, (i % 250 + 1) as u8)
}

fn index(a: Ipv4Addr) -> Option<usize> {
    let o = a.octets();
    (o[0] == 10 && o[1] == 200 && o[3] >= 1).then(|| o[2] as usize * 250 + o[3] as usize - 1)
}

/// The document endpoint `i` serves on its `n`-th answer: 27 samples
/// (labelled counters, `up`, labelled gauges), values that say which
/// endpoint and which answer they come from.
pub fn document(i: usize, n: u64) -> String {
    let mut s = String::with_capacity(1500);
    s.push_str("# HELP requests_total Requests.\n# TYPE requests_total counter\n");
    for code in ["200", "404", "500"] {
        for m in ["get", "post"] {
            s.push_str(&format!(
                "requests_total{{code=\"{code}\",method=\"{m}\"}} {n}\n"
            ));
        }
    }
    s.push_str(&format!("# TYPE endpoint gauge\nendpoint {i}\n"));
    for j in 0..20 {
        s.push_str(&format!("gauge_{j}{{shard=\"{i}\"}} {j}.5\n"));
    }
    s
}

/// True when the bed can run here: root, /dev/net/tun, `ip`, `unshare`.
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Path::new("/dev/net/tun").exists()
        && pcp_core::testing::have_program("ip")
        && pcp_core::testing::have_program("unshare")
}

/// Set in the environment of a process re-run in its own network namespace.
pub const NETNS_VAR: &str = "PCP_AGENT_FLEET_NETNS";

/// Runs the calling test in a private network namespace: outside one, it
/// runs this test binary again under `unshare --net` (this test only) and
/// returns false after checking that run passed; inside, it returns true
/// and the test goes on.
pub fn in_private_netns(test: &str) -> bool {
    if std::env::var_os(NETNS_VAR).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("test executable");
    let status = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS_VAR, "1")
        .status()
        .expect("running unshare");
    assert!(status.success(), "{test} failed in its network namespace");
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Opens a tun device called `name` in the calling thread's network
/// namespace; returns its descriptor (non-blocking).
fn open_tun(name: &str) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .expect("open /dev/net/tun");
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    use std::os::unix::io::AsRawFd;
    const TUNSETIFF: libc::c_ulong = 0x400454ca;
    // SAFETY: a valid descriptor and a properly laid out ifreq.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, &mut req) };
    assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
    f
}

/// The running bed.
pub struct Bed {
    /// The endpoints, by index.
    pub endpoints: Vec<Endpoint>,
    stop: Arc<AtomicBool>,
    answers: Arc<Vec<AtomicU64>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Bed {
    /// Builds the network and starts the endpoints. The calling process
    /// must be in a private network namespace ([`in_private_netns`]).
    pub fn start(endpoints: Vec<Endpoint>) -> Bed {
        assert!(
            std::env::var_os(NETNS_VAR).is_some(),
            "not in a private netns"
        );
        ip(&["link", "set", "lo", "up"]);
        let client_tun = open_tun("pfc0");
        ip(&["addr", "add", "10.100.0.1/16", "dev", "pfc0"]);
        ip(&["link", "set", "pfc0", "up"]);
        ip(&["route", "add", "10.200.0.0/16", "dev", "pfc0"]);
        let stop = Arc::new(AtomicBool::new(false));
        let answers: Arc<Vec<AtomicU64>> =
            Arc::new((0..endpoints.len()).map(|_| AtomicU64::new(0)).collect());
        let (tx, rx) = std::sync::mpsc::channel();
        let server = {
            let stop = Arc::clone(&stop);
            let eps = endpoints.clone();
            let answers = Arc::clone(&answers);
            std::thread::Builder::new()
                .name("bed-endpoints".into())
                .spawn(move || {
                    // SAFETY: unshare affects only this thread's namespaces.
                    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
                    ip(&["link", "set", "lo", "up"]);
                    let tun = open_tun("pfs0");
                    ip(&["link", "set", "pfs0", "up"]);
                    ip(&["route", "add", "10.100.0.0/16", "dev", "pfs0"]);
                    ip(&["route", "add", "local", "10.200.0.0/16", "dev", "lo"]);
                    let l = TcpListener::bind(("0.0.0.0", PORT)).expect("bind 9100");
                    tx.send(tun).expect("hand the tun over");
                    serve(l, &eps, &answers, &stop);
                })
                .expect("endpoint thread")
        };
        let server_tun = rx.recv().expect("endpoint namespace ready");
        let line = {
            let stop = Arc::clone(&stop);
            let links: Vec<Link> = endpoints.iter().map(|e| e.link).collect();
            std::thread::Builder::new()
                .name("bed-delay-line".into())
                .spawn(move || delay_line(client_tun, server_tun, &links, &stop))
                .expect("delay line thread")
        };
        Bed {
            endpoints,
            stop,
            answers,
            threads: vec![server, line],
        }
    }

    /// The URL of endpoint `i`.
    pub fn url(&self, i: usize) -> String {
        format!("http://{}:{PORT}/metrics", addr(i))
    }

    /// Writes a `.url` file per endpoint (`e0000.url`...) into `dir`,
    /// each with `extra` lines after the URL.
    pub fn write_config(&self, dir: &Path, extra: &str) {
        std::fs::create_dir_all(dir).unwrap();
        for i in 0..self.endpoints.len() {
            std::fs::write(
                dir.join(format!("e{i:04}.url")),
                format!("{}\n{extra}", self.url(i)),
            )
            .unwrap();
        }
    }

    /// Answers endpoint `i` has sent so far.
    pub fn answers(&self, i: usize) -> u64 {
        self.answers[i].load(Ordering::Relaxed)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A tiny deterministic random source (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Copies packets between the two tun devices, each held for half its
/// endpoint's delay plus jitter, some dropped.
fn delay_line(client: std::fs::File, server: std::fs::File, links: &[Link], stop: &AtomicBool) {
    use std::os::unix::io::AsRawFd;
    let mut files = [client, server];
    // (release time, sequence) -> (to which side, packet)
    let mut held: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut packets: HashMap<u64, (usize, Vec<u8>)> = HashMap::new();
    let mut seq = 0u64;
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while let Some(Reverse((t, s))) = held.peek().copied() {
            if t > now {
                break;
            }
            held.pop();
            if let Some((to, p)) = packets.remove(&s) {
                let _ = (&files[to]).write(&p);
            }
        }
        let wait = held
            .peek()
            .map_or(Duration::from_millis(50), |Reverse((t, _))| {
                t.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let mut fds = [
            libc::pollfd {
                fd: files[0].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: files[1].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: fds is a valid array of two pollfd.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        for (from, file) in files.iter_mut().enumerate() {
            loop {
                let n = match file.read(&mut buf) {
                    Ok(n) if n >= 20 => n,
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                };
                let p = &buf[..n];
                if p[0] >> 4 != 4 {
                    continue;
                }
                // From the client the endpoint is the destination, from
                // the endpoints the source.
                let at = if from == 0 { 16 } else { 12 };
                let a = Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
                let link = index(a).and_then(|i| links.get(i)).copied();
                let link = link.unwrap_or(Link::delay(0));
                if link.loss > 0.0 && rng.next() < link.loss {
                    continue;
                }
                let hold = link.delay / 2 + link.jitter.mul_f64(rng.next());
                seq += 1;
                packets.insert(seq, (1 - from, p.to_vec()));
                held.push(Reverse((Instant::now() + hold, seq)));
            }
        }
    }
}

/// Makes closing `s` send a reset (SO_LINGER on, zero seconds).
fn reset_on_close(s: &mio::net::TcpStream) {
    use std::os::unix::io::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the right size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

struct Conn {
    stream: mio::net::TcpStream,
    endpoint: usize,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Slow answers: the rest of the response, sent a piece per tick.
    drip: Option<(Vec<u8>, Duration, Instant)>,
    hung: bool,
}

/// The endpoints: one listener, every connection multiplexed; which
/// endpoint a connection is for comes from the address it was made to.
fn serve(l: TcpListener, eps: &[Endpoint], answers: &[AtomicU64], stop: &AtomicBool) {
    use mio::{Events, Interest, Poll, Token};
    l.set_nonblocking(true).unwrap();
    let mut l = mio::net::TcpListener::from_std(l);
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut l, Token(usize::MAX), Interest::READABLE)
        .unwrap();
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(20)));
        let mut touched: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == Token(usize::MAX) {
                while let Ok((mut s, _)) = l.accept() {
                    let endpoint = match s.local_addr() {
                        Ok(SocketAddr::V4(a)) => index(*a.ip()),
                        _ => None,
                    };
                    let Some(endpoint) = endpoint.filter(|&i| i < eps.len()) else {
                        continue;
                    };
                    let t = next;
                    next += 1;
                    poll.registry()
                        .register(&mut s, Token(t), Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    conns.insert(
                        t,
                        Conn {
                            stream: s,
                            endpoint,
                            input: Vec::new(),
                            output: Vec::new(),
                            drip: None,
                            hung: false,
                        },
                    );
                    touched.push(t);
                }
            } else {
                touched.push(ev.token().0);
            }
        }
        // Slow answers drip on every pass.
        touched.extend(
            conns
                .iter()
                .filter(|(_, c)| c.drip.is_some())
                .map(|(t, _)| *t),
        );
        touched.sort_unstable();
        touched.dedup();
        for t in touched {
            let Some(c) = conns.get_mut(&t) else { continue };
            let mut closed = false;
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => c.input.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
            while let Some(end) = c.input.windows(4).position(|w| w == b"\r\n\r\n") {
                c.input.drain(..end + 4);
                if c.hung {
                    continue;
                }
                let i = c.endpoint;
                let n = answers[i].fetch_add(1, Ordering::Relaxed) + 1;
                let body = document(i, n);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes();
                match eps[i].behaviour {
                    Behaviour::Normal => c.output.extend_from_slice(&resp),
                    Behaviour::Hang => c.hung = true,
                    Behaviour::HangAfter(k) if n > k => c.hung = true,
                    Behaviour::HangAfter(_) => c.output.extend_from_slice(&resp),
                    Behaviour::Reset => {
                        reset_on_close(&c.stream);
                        closed = true;
                    }
                    Behaviour::Slow(total) => {
                        let step = total / resp.len().max(1) as u32;
                        c.drip = Some((resp, step.max(Duration::from_millis(1)), Instant::now()));
                    }
                }
            }
            if let Some((rest, step, last)) = c.drip.as_mut() {
                if last.elapsed() >= *step && !rest.is_empty() {
                    let k = ((last.elapsed().as_nanos() / step.as_nanos().max(1)) as usize)
                        .clamp(1, rest.len());
                    c.output.extend(rest.drain(..k));
                    *last = Instant::now();
                }
                if rest.is_empty() {
                    c.drip = None;
                }
            }
            while !c.output.is_empty() {
                match c.stream.write(&c.output) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        c.output.drain(..n);
                    }
                    Err(_) => break,
                }
            }
            if closed {
                if let Some(mut c) = conns.remove(&t) {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}
