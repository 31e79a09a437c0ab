//! A small HTTP/1.1 server on `std::net`, written for this one service so
//! that every resource a client can hold is bounded: a fixed pool of worker
//! threads (one connection each), a bounded queue of accepted connections
//! (further ones get `503` at once), a deadline for each request head and
//! body (a slow client gets `408`), a cap on the request head (`414`/`431`)
//! and body (`413`), and write timeouts. tiny_http 0.12 has none of these
//! (a thread per connection, no read deadline, unbounded header lines), so
//! it is not used here. hyper 1.x (with hyper-util and tokio, tried on this
//! machine in December 2026 with `header_read_timeout` and `max_buf_size`
//! set) bounds the head but answers what this service must explain with
//! nothing to read: a silent or stalled client has its connection closed
//! with no `408`, every malformed request (bad request line, bad header,
//! binary junk, `HTTP/9.9`) gets an empty-bodied `400`, and an over-long
//! request line a `431` rather than `414`; its parse-error responses cannot
//! be replaced. The answers below say what was wrong.
//!
//! Keep-alive and pipelining are supported; a worker closes its keep-alive
//! connection after a response when other connections are waiting, so a
//! few idle clients cannot starve the queue.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Worker threads, hence connections served at once.
    pub workers: usize,
    /// Accepted connections waiting for a worker before new ones get 503.
    pub queue: usize,
    /// Deadline for reading one request (head and body) and for writing
    /// its response.
    pub request_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
}

/// A parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `GET`, `HEAD`, `POST` or `OPTIONS`.
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// The raw query string (after `?`), possibly empty.
    pub query: String,
    /// The `Accept` header's value (empty when there was none).
    pub accept: String,
    /// The body (empty unless a POST sent one).
    pub body: Vec<u8>,
    /// The request's deadline (handlers stop long work past it).
    pub deadline: Instant,
}

/// A response to write.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut b: String = body.into();
        if !b.ends_with('\n') {
            b.push('\n');
        }
        Response::new(status, "text/plain; charset=utf-8", b)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// What a handler is: called on a worker thread for each request.
pub(crate) type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A running server: its address and the means to stop it.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` and starts the acceptor and the workers.
    pub fn start(addr: SocketAddr, limits: Limits, handler: Arc<Handler>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let workers = limits.workers.max(1);
        let (tx, rx) = sync_channel::<TcpStream>(limits.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let limits = Arc::new(limits);
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let handler = Arc::clone(&handler);
            let limits = Arc::clone(&limits);
            let queued = Arc::clone(&queued);
            thread::Builder::new()
                .name(format!("serve-worker-{i}"))
                .spawn(move || worker(&rx, &*handler, &limits, &queued))?;
        }
        let stop2 = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name("serve-accept".into())
            .spawn(move || accept_loop(listener, tx, &stop2, &queued))?;
        Ok(Server {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the acceptor to end (it ends only on [`Server::stop`] or a
    /// fatal listener error).
    pub fn join(mut self) {
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }

    /// Stops accepting; workers finish their current connection and end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.acceptor.is_some() {
            self.stop();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    tx: SyncSender<TcpStream>,
    stop: &AtomicBool,
    queued: &AtomicUsize,
) {
    let mut consecutive_errors = 0u32;
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match accepted {
            Ok((s, _)) => {
                consecutive_errors = 0;
                s
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                consecutive_errors += 1;
                if consecutive_errors == 1 || consecutive_errors % 1000 == 0 {
                    eprintln!("pcp-agent serve: accept: {e}");
                }
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        queued.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut s)) => {
                queued.fetch_sub(1, Ordering::SeqCst);
                busy(&mut s);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Answers a connection that cannot be queued: 503, then close.
fn busy(s: &mut TcpStream) {
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let body = "server busy: every worker is taken and the queue is full; retry later\n";
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body.as_bytes());
    let _ = s.shutdown(Shutdown::Both);
}

fn worker(
    rx: &Mutex<Receiver<TcpStream>>,
    handler: &Handler,
    limits: &Limits,
    queued: &AtomicUsize,
) {
    loop {
        let stream = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(s) => s,
                Err(_) => return,
            }
        };
        queued.fetch_sub(1, Ordering::SeqCst);
        let mut conn = Conn::new(stream);
        conn.serve(handler, limits, queued);
    }
}

/// Why reading a request failed.
#[derive(Debug)]
enum ReadError {
    /// The peer closed (or reset) the connection.
    Closed,
    /// Nothing arrived on an idle keep-alive connection: close quietly.
    Idle,
    /// The deadline passed mid-request.
    Timeout,
    /// An answer to send before closing.
    Reply(u16, String),
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::with_capacity(4096),
            pos: 0,
        }
    }

    fn serve(&mut self, handler: &Handler, limits: &Limits, queued: &AtomicUsize) {
        let mut first = true;
        loop {
            let idle_until = Instant::now()
                + if first {
                    limits.request_timeout
                } else {
                    limits.idle_timeout
                };
            let first_request = first;
            first = false;
            let req = match self.read_request(limits, idle_until, !first_request, queued) {
                Ok(r) => r,
                Err(ReadError::Closed) | Err(ReadError::Idle) => break,
                Err(ReadError::Timeout) => {
                    let r = Response::text(
                        408,
                        format!(
                            "request not received within {:.3} s",
                            limits.request_timeout.as_secs_f64()
                        ),
                    );
                    let _ = self.write_response(&r, false, false, limits);
                    break;
                }
                Err(ReadError::Reply(status, msg)) => {
                    let _ = self.write_response(&Response::text(status, msg), false, false, limits);
                    break;
                }
            };
            let (request, keep_alive) = req;
            let head_only = request.method == "HEAD";
            let response = handler(&request);
            // Let waiting connections in rather than holding a worker idle.
            let keep = keep_alive && queued.load(Ordering::SeqCst) == 0;
            if self
                .write_response(&response, keep, head_only, limits)
                .is_err()
                || !keep
            {
                break;
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Reads more bytes into the buffer, waiting until `until` at most.
    /// Returns the number read (0 at end of stream).
    fn fill(&mut self, until: Instant) -> Result<usize, ReadError> {
        let now = Instant::now();
        if now >= until {
            return Err(ReadError::Timeout);
        }
        let _ = self.stream.set_read_timeout(Some(until - now));
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(ReadError::Timeout)
                }
                Err(_) => return Err(ReadError::Closed),
            }
        }
    }

    /// Reads the next request. On a kept-alive connection (`kept`), the
    /// wait for its first byte is given up as soon as other connections
    /// are queued (clients retry a request on a kept-alive connection the
    /// server closed before answering).
    fn read_request(
        &mut self,
        limits: &Limits,
        idle_until: Instant,
        kept: bool,
        queued: &AtomicUsize,
    ) -> Result<(Request, bool), ReadError> {
        while self.pos == self.buf.len() {
            let step = if kept {
                idle_until.min(Instant::now() + Duration::from_millis(100))
            } else {
                idle_until
            };
            match self.fill(step) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(_) => {}
                Err(ReadError::Timeout) => {
                    if Instant::now() >= idle_until || queued.load(Ordering::SeqCst) > 0 {
                        return Err(if kept {
                            ReadError::Idle
                        } else {
                            ReadError::Timeout
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let started = Instant::now();
        let deadline = started + limits.request_timeout;
        // Then the whole head within the request deadline.
        let head_end = loop {
            if let Some(end) = find_head_end(&self.buf[self.pos..]) {
                break self.pos + end;
            }
            if self.buf.len() - self.pos > limits.max_head_bytes {
                return Err(too_large_head(&self.buf[self.pos..], limits));
            }
            match self.fill(deadline)? {
                0 => return Err(ReadError::Closed),
                _ => continue,
            }
        };
        if head_end - self.pos > limits.max_head_bytes {
            return Err(too_large_head(&self.buf[self.pos..head_end], limits));
        }
        let head = parse_head(&self.buf[self.pos..head_end])?;
        self.pos = head_end;
        if head.chunked {
            return Err(ReadError::Reply(
                501,
                "chunked request bodies are not supported: send Content-Length".into(),
            ));
        }
        let mut body = Vec::new();
        if head.content_length > 0 {
            if head.content_length > limits.max_body_bytes {
                return Err(ReadError::Reply(
                    413,
                    format!(
                        "request body of {} bytes exceeds the limit of {} bytes",
                        head.content_length, limits.max_body_bytes
                    ),
                ));
            }
            if head.expect_continue {
                let _ = self.stream.set_write_timeout(Some(limits.request_timeout));
                let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            while self.buf.len() - self.pos < head.content_length {
                if self.fill(deadline)? == 0 {
                    return Err(ReadError::Closed);
                }
            }
            body = self.buf[self.pos..self.pos + head.content_length].to_vec();
            self.pos += head.content_length;
        }
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (head.target.clone(), String::new()),
        };
        Ok((
            Request {
                method: head.method,
                path,
                query,
                accept: head.accept,
                body,
                deadline: started + limits.request_timeout,
            },
            head.keep_alive,
        ))
    }

    fn write_response(
        &mut self,
        r: &Response,
        keep_alive: bool,
        head_only: bool,
        limits: &Limits,
    ) -> io::Result<()> {
        let _ = self.stream.set_write_timeout(Some(limits.request_timeout));
        let mut head = String::with_capacity(256);
        head.push_str("HTTP/1.1 ");
        head.push_str(&r.status.to_string());
        head.push(' ');
        head.push_str(reason(r.status));
        head.push_str("\r\nServer: pcp-agent\r\nContent-Type: ");
        head.push_str(r.content_type);
        head.push_str("\r\nContent-Length: ");
        head.push_str(&r.body.len().to_string());
        head.push_str(if keep_alive {
            "\r\nConnection: keep-alive\r\n"
        } else {
            "\r\nConnection: close\r\n"
        });
        for (k, v) in &r.headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        if head_only || r.body.is_empty() {
            self.stream.write_all(head.as_bytes())
        } else if r.body.len() <= 16 * 1024 {
            let mut all = head.into_bytes();
            all.extend_from_slice(&r.body);
            self.stream.write_all(&all)
        } else {
            self.stream.write_all(head.as_bytes())?;
            self.stream.write_all(&r.body)
        }
    }
}

fn too_large_head(head: &[u8], limits: &Limits) -> ReadError {
    // A request line that alone passes the limit is a URI too long.
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    if line_end >= limits.max_head_bytes {
        ReadError::Reply(
            414,
            format!(
                "request line longer than {} bytes: ask for fewer names per request",
                limits.max_head_bytes
            ),
        )
    } else {
        ReadError::Reply(
            431,
            format!("request head longer than {} bytes", limits.max_head_bytes),
        )
    }
}

/// The offset just past the blank line ending a request head, if present.
fn find_head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' {
            if b.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: usize,
    chunked: bool,
    expect_continue: bool,
    accept: String,
}

fn bad(msg: impl Into<String>) -> ReadError {
    ReadError::Reply(400, msg.into())
}

fn parse_head(raw: &[u8]) -> Result<Head, ReadError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("request head is not valid UTF-8 text"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // Tolerate stray blank lines before the request line (RFC 9112 2.2).
    let line = lines
        .by_ref()
        .find(|l| !l.is_empty())
        .ok_or_else(|| bad("empty request"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "malformed request line {:?}: expected METHOD TARGET HTTP/1.1",
            truncate(line, 80)
        )));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(ReadError::Reply(
                505,
                format!("{v} is not supported: use HTTP/1.1 or HTTP/1.0"),
            ))
        }
        _ => {
            return Err(bad(format!(
                "malformed HTTP version {:?}",
                truncate(version, 20)
            )))
        }
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad(format!("malformed method {:?}", truncate(method, 20))));
    }
    let target = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // absolute-form: drop the authority.
        match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        }
    } else if target.starts_with('/') {
        target.to_string()
    } else if target == "*" && method == "OPTIONS" {
        "*".to_string()
    } else {
        return Err(bad(format!(
            "malformed request target {:?}: expected a path starting with /",
            truncate(target, 80)
        )));
    };
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("request target holds control characters or spaces"));
    }
    let mut head = Head {
        method: method.to_string(),
        target,
        keep_alive: !http10,
        content_length: 0,
        chunked: false,
        expect_continue: false,
        accept: String::new(),
    };
    let mut saw_length = false;
    for l in lines {
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(bad(format!("malformed header line {:?}", truncate(l, 80))));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':') {
            return Err(bad(format!(
                "malformed header name {:?}",
                truncate(name, 40)
            )));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| {
                bad(format!(
                    "malformed Content-Length {:?}",
                    truncate(value, 20)
                ))
            })?;
            if saw_length && n != head.content_length {
                return Err(bad("conflicting Content-Length headers"));
            }
            saw_length = true;
            head.content_length = n;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("identity") {
                head.chunked = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                head.keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                head.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("accept") {
            if !head.accept.is_empty() {
                head.accept.push(',');
            }
            head.accept.push_str(value);
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                head.expect_continue = true;
            } else {
                return Err(ReadError::Reply(
                    417,
                    format!("unsupported expectation {:?}", truncate(value, 40)),
                ));
            }
        }
    }
    Ok(head)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_with_crlf_or_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn heads_parse_and_bad_ones_are_refused() {
        let h = parse_head(
            b"GET /pmapi/fetch?names=a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/pmapi/fetch?names=a");
        assert!(h.keep_alive);
        assert_eq!(h.content_length, 3);
        let h = parse_head(b"GET http://h:1/x?y HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(h.target, "/x?y");
        assert!(!h.keep_alive);
        for raw in [
            &b"GET\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(raw), Err(ReadError::Reply(400, _))),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(matches!(
            parse_head(b"GET / HTTP/2.0\r\n\r\n"),
            Err(ReadError::Reply(505, _))
        ));
    }
}
