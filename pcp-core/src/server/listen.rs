//! Listening: the TCP and unix-domain listeners, admission (access rules,
//! the connection bound), one thread per connection, and an orderly stop.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::PmError;
use crate::host::{Host, HostError};
use crate::pmda::ClientContext;

use super::access::{Admission, Peer};
use super::conn::{self, ConnError, ConnLimits};
use super::pmcd_agent::pmcd_agent;
use super::session::{refusal, Session};
use super::state::ServerState;
use super::ServerOptions;

/// Stack of a connection thread: requests run agents' metadata code on
/// it, which keeps its data on the heap.
const CONN_STACK: usize = 512 << 10;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A TCP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The unix socket could not be made.
    #[error("cannot listen on {}: {message}", path.display())]
    Socket {
        /// Its path.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The `pmcd` agent could not be loaded (domain 2 taken).
    #[error("cannot load the pmcd agent: {0}")]
    Agent(#[from] HostError),
}

/// A connection of either kind.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_timeouts(&self, d: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
            Stream::Unix(s) => {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            }
        }
    }

    /// A closure that hangs the connection up from another thread.
    fn hangup(&self) -> io::Result<Box<dyn Fn() + Send>> {
        Ok(match self {
            Stream::Tcp(s) => {
                let s = s.try_clone()?;
                Box::new(move || {
                    let _ = s.shutdown(Shutdown::Both);
                })
            }
            Stream::Unix(s) => {
                let s = s.try_clone()?;
                Box::new(move || {
                    let _ = s.shutdown(Shutdown::Both);
                })
            }
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the listeners and connections share.
struct Inner {
    host: Arc<Host>,
    state: Arc<ServerState>,
    opts: ServerOptions,
    stopping: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicU64,
    hangups: Mutex<HashMap<u64, Box<dyn Fn() + Send>>>,
    log: Mutex<(Option<Instant>, u64)>,
}

impl Inner {
    /// Logs a connection's failure, at most one line a second (the rest
    /// are counted and the count given with the next line).
    fn log(&self, what: std::fmt::Arguments<'_>) {
        let mut l = self.log.lock();
        if l.0.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            l.1 += 1;
            return;
        }
        let skipped = std::mem::take(&mut l.1);
        l.0 = Some(Instant::now());
        if skipped > 0 {
            eprintln!("pcp-agent pmcd: {what} ({skipped} more connection errors not shown)");
        } else {
            eprintln!("pcp-agent pmcd: {what}");
        }
    }
}

/// A bound server, not yet accepting.
pub struct Server {
    inner: Arc<Inner>,
    tcp: Vec<TcpListener>,
    unix: Option<UnixListener>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("tcp", &self.tcp_addrs())
            .field("socket", &self.inner.opts.socket)
            .finish()
    }
}

impl Server {
    /// Loads the `pmcd` agent into `host` and binds every listener.
    pub fn bind(mut host: Host, opts: ServerOptions) -> Result<Server, ServerError> {
        let state = Arc::new(ServerState::new(
            &opts.version,
            host.timeout().as_secs() as u32,
            opts.socket.is_some(),
        ));
        host.load(Box::new(pmcd_agent(Arc::clone(&state))))?;
        // pmcd lists itself first, then its agents in configuration order.
        let mut agents = host.agents();
        agents.sort_by_key(|(_, d)| *d != super::pmcd_agent::PMCD_DOMAIN);
        let attached = agents
            .iter()
            .filter_map(|(_, d)| Some((*d, host.attachment(*d)?)))
            .collect();
        state.set_agents(agents);
        state.set_attachments(attached);
        let mut tcp = Vec::new();
        for &addr in &opts.listen {
            let l = TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
            tcp.push(l);
        }
        let unix = opts.socket.as_deref().map(bind_unix).transpose()?;
        Ok(Server {
            inner: Arc::new(Inner {
                host: Arc::new(host),
                state,
                opts,
                stopping: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                hangups: Mutex::new(HashMap::new()),
                log: Mutex::new((None, 0)),
            }),
            tcp,
            unix,
        })
    }

    /// The TCP addresses actually bound (port 0 resolved).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The host being served.
    pub fn host(&self) -> &Arc<Host> {
        &self.inner.host
    }

    /// The server's published state.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.inner.state
    }

    /// Accepts connections on every listener in the background.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addrs = self.tcp_addrs();
        let mut threads = Vec::new();
        for l in self.tcp {
            let inner = Arc::clone(&self.inner);
            threads.push(
                thread::Builder::new()
                    .name("pmcd-accept-tcp".into())
                    .spawn(move || accept_tcp(&l, &inner))?,
            );
        }
        if let Some(l) = self.unix {
            let inner = Arc::clone(&self.inner);
            threads.push(
                thread::Builder::new()
                    .name("pmcd-accept-unix".into())
                    .spawn(move || accept_unix(&l, &inner))?,
            );
        }
        Ok(ServerHandle {
            inner: self.inner,
            threads,
            addrs,
        })
    }

    /// Accepts connections until the process ends.
    pub fn run(self) -> io::Result<()> {
        let mut handle = self.spawn()?;
        for t in std::mem::take(&mut handle.threads) {
            let _ = t.join();
        }
        Ok(())
    }
}

/// A running server; stops (listeners closed, clients hung up, the unix
/// socket removed) on [`ServerHandle::stop`] or drop.
pub struct ServerHandle {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("tcp", &self.addrs)
            .finish()
    }
}

impl ServerHandle {
    /// The TCP addresses served.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The unix socket served.
    pub fn socket(&self) -> Option<&Path> {
        self.inner.opts.socket.as_deref()
    }

    /// The server's published state.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.inner.state
    }

    /// Clients connected now.
    pub fn connections(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Stops accepting, hangs up every client and waits (up to 2 s) for
    /// their threads to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.inner.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for a in &self.addrs {
            let _ = TcpStream::connect_timeout(&wake_addr(*a), Duration::from_millis(200));
        }
        if let Some(p) = &self.inner.opts.socket {
            let _ = UnixStream::connect(p);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for (_, hangup) in self.inner.hangups.lock().drain() {
            hangup();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.inner.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if let Some(p) = &self.inner.opts.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An address that reaches a listener bound to `a` (a wildcard address
/// is reached on loopback).
fn wake_addr(a: SocketAddr) -> SocketAddr {
    let mut w = a;
    if a.ip().is_unspecified() {
        w.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    w
}

/// Binds the unix socket, replacing a stale one (nobody listening) but
/// never one in use; anyone may connect (access rules still apply).
fn bind_unix(path: &Path) -> Result<UnixListener, ServerError> {
    let err = |message: String| ServerError::Socket {
        path: path.to_path_buf(),
        message,
    };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(err("another server is listening there".into()));
        }
        std::fs::remove_file(path)
            .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
    }
    let l = UnixListener::bind(path).map_err(|e| err(e.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| err(e.to_string()))?;
    Ok(l)
}

/// Accepts until the server stops; `who` tells each connection's stream,
/// peer and client (or `None` to drop it).
fn accept_loop<S>(
    incoming: impl Iterator<Item = io::Result<S>>,
    inner: &Arc<Inner>,
    who: impl Fn(S) -> Option<(Stream, Peer, ClientContext)>,
) {
    for s in incoming {
        if inner.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(s) = s else {
            // EMFILE and friends: back off instead of spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if let Some((stream, peer, client)) = who(s) {
            admit(stream, peer, client, inner);
        }
    }
}

fn accept_tcp(l: &TcpListener, inner: &Arc<Inner>) {
    accept_loop(l.incoming(), inner, |s: TcpStream| {
        let peer = Peer::Ip(s.peer_addr().ok()?.ip());
        Some((Stream::Tcp(s), peer, ClientContext::anonymous()))
    });
}

fn accept_unix(l: &UnixListener, inner: &Arc<Inner>) {
    accept_loop(l.incoming(), inner, |s: UnixStream| {
        let mut client = ClientContext::anonymous();
        if let Some((uid, gid)) = peer_ids(&s) {
            client.user_id = Some(uid);
            client.group_id = Some(gid);
        }
        Some((Stream::Unix(s), Peer::Unix, client))
    });
}

/// The user and group of the process at the other end (SO_PEERCRED).
fn peer_ids(s: &UnixStream) -> Option<(u32, u32)> {
    use std::os::fd::AsRawFd;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a valid
    // ucred, on a socket descriptor this stream owns.
    unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        );
        (rc == 0).then_some((cred.uid, cred.gid))
    }
}

/// Admits a client (or refuses it with the acknowledgement pmcd sends)
/// and starts its thread.
fn admit(mut stream: Stream, peer: Peer, client: ClientContext, inner: &Arc<Inner>) {
    let refuse = |stream: &mut Stream, e: PmError| {
        let _ = stream.set_timeouts(Duration::from_millis(200));
        let _ = stream.write_all(&refusal(e));
    };
    let admission = match inner.opts.access.admit(peer) {
        Ok(a) => a,
        Err(e) => return refuse(&mut stream, e),
    };
    let n = inner.active.fetch_add(1, Ordering::AcqRel);
    if n >= inner.opts.max_connections {
        inner.active.fetch_sub(1, Ordering::AcqRel);
        return refuse(&mut stream, PmError::CONNLIMIT);
    }
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    match stream.hangup() {
        Ok(h) => {
            inner.hangups.lock().insert(id, h);
        }
        Err(_) => {
            inner.active.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    }
    let inner2 = Arc::clone(inner);
    let spawned = thread::Builder::new()
        .name("pmcd-client".into())
        .stack_size(CONN_STACK)
        .spawn(move || connection(stream, client, admission, id, &inner2));
    if spawned.is_err() {
        inner.hangups.lock().remove(&id);
        inner.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn connection(
    mut stream: Stream,
    mut client: ClientContext,
    admission: Admission,
    id: u64,
    inner: &Arc<Inner>,
) {
    let opts = &inner.opts;
    let limits = ConnLimits {
        deadline: opts.client_timeout,
        idle: opts.idle_timeout,
        max_pdu: opts.max_pdu,
    };
    client.slot = inner.state.add_client();
    let slot = client.slot;
    if stream.set_timeouts(opts.client_timeout).is_ok() {
        let mut session = Session::new(
            Arc::clone(&inner.host),
            Arc::clone(&inner.state),
            client,
            admission.ops,
            opts.limits,
        );
        match conn::serve(&mut stream, &mut session, &limits) {
            Ok(()) => {}
            Err(ConnError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) if !inner.stopping.load(Ordering::Acquire) => {
                inner.log(format_args!("client {slot}: {e}"))
            }
            Err(_) => {}
        }
    }
    inner.host.client_closed(slot);
    inner.state.remove_client(slot);
    inner.hangups.lock().remove(&id);
    drop(admission);
    inner.active.fetch_sub(1, Ordering::AcqRel);
}
