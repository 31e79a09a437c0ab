//! A small HTTP/1.1 server on `std::net` and epoll, written for this one
//! service so that every resource a client can hold is bounded and a
//! client that holds a connection without using it costs next to nothing.
//!
//! One event-loop thread owns every connection: it accepts, reads request
//! heads and bodies into per-connection buffers, parses them, and writes
//! responses, all without blocking, so an idle or slow connection is a
//! few hundred bytes of state and a socket, not a thread. Only a complete
//! request is *work*: it goes to a fixed pool of worker threads (the
//! handler runs there) through a bounded queue; when every worker is busy
//! and the queue is full, the request gets `503` at once. So the pool
//! bounds the work done at once, not the connections open.
//!
//! Limits, each answered with a status and a sentence:
//! - a new connection that sends nothing within the request deadline gets
//!   `408`; a kept-alive one idle past the idle deadline is closed;
//! - a request head has its own short deadline from its first byte
//!   (`408`), and a cap (`414` for the request line, `431` for the head);
//! - a body must arrive within the request deadline (`408`) and under its
//!   cap (`413`; chunked bodies `501`);
//! - a response not taken by the client within the request deadline is
//!   dropped with the connection;
//! - connections beyond `max_clients` get `503` at once, as do requests
//!   that would take the bytes held for unfinished requests over
//!   `max_buffered_bytes`, and requests that arrive while more than
//!   `max_unsent_bytes` of answers wait for slow readers.
//!
//! Memory: a connection with no request under way holds no buffer: its
//! cost is its slot in the connection table (128 bytes on x86-64; a test
//! keeps it under 256) and the kernel's socket. A
//! connection part-way through a request holds the bytes received so
//! far; those of all connections together stay under
//! `max_buffered_bytes` (plus one read, 64 KiB). A response waiting for a
//! slow reader holds its bytes: together at most `max_unsent_bytes` plus
//! the answers of the requests already with workers or queued (each under
//! the service's response cap). So the server's memory for clients is at
//! most `max_clients` x 128 bytes + `max_buffered_bytes` +
//! `max_unsent_bytes` + (workers + queue) x the response cap.
//!
//! tiny_http 0.12 has none of these limits (a thread per connection, no
//! read deadline, unbounded header lines), so it is not used here. hyper
//! 1.x (with hyper-util and tokio, tried on this machine in December 2026
//! with `header_read_timeout` and `max_buf_size` set) bounds the head but
//! answers what this service must explain with nothing to read: a silent
//! or stalled client has its connection closed with no `408`, every
//! malformed request (bad request line, bad header, binary junk,
//! `HTTP/9.9`) gets an empty-bodied `400`, and an over-long request line a
//! `431` rather than `414`; its parse-error responses cannot be replaced.
//!
//! Keep-alive and pipelining are supported (one request of a connection
//! at a time, in order).

mod conn;
mod event_loop;
mod parse;
mod poll;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use self::event_loop::EventLoop;
use self::poll::Waker;

/// Limits applied to every connection.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Worker threads, hence requests handled at once.
    pub workers: usize,
    /// Complete requests waiting for a worker before further ones get 503.
    pub queue: usize,
    /// Connections open at once before further ones get 503 (lowered to
    /// what the open-file limit allows).
    pub max_clients: usize,
    /// Deadline for a request head, from its first byte.
    pub head_timeout: Duration,
    /// Deadline for the first request of a new connection to start, for
    /// a body, and for a response to be taken; the handler's deadline.
    pub request_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Bytes of unfinished requests held for all connections together.
    pub max_buffered_bytes: usize,
    /// Answer bytes waiting for their clients, all connections together,
    /// past which new requests get 503.
    pub max_unsent_bytes: usize,
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

    /// The response as bytes on the wire: status line, headers (with
    /// Content-Length and Connection) and, unless `head_only`, the body.
    pub(crate) fn to_bytes(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let body = if head_only { &[][..] } else { &self.body[..] };
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(self.status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nServer: pcp-agent\r\nContent-Type: ");
        out.extend_from_slice(self.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        out.extend_from_slice(self.body.len().to_string().as_bytes());
        out.extend_from_slice(if keep_alive {
            b"\r\nConnection: keep-alive\r\n"
        } else {
            b"\r\nConnection: close\r\n"
        });
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
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
        417 => "Expectation Failed",
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
    waker: Arc<Waker>,
    event_loop: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` and starts the event loop and the workers.
    pub fn start(addr: SocketAddr, limits: Limits, handler: Arc<Handler>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Waker::new()?);
        let event_loop = EventLoop::new(listener, limits, handler, Arc::clone(&waker))?;
        let stop2 = Arc::clone(&stop);
        let event_loop = thread::Builder::new()
            .name("serve-loop".into())
            .spawn(move || event_loop.run(&stop2))?;
        Ok(Server {
            addr,
            stop,
            waker,
            event_loop: Some(event_loop),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the event loop to end (it ends only on [`Server::stop`]
    /// or a fatal error of epoll).
    pub fn join(mut self) {
        if let Some(h) = self.event_loop.take() {
            let _ = h.join();
        }
    }

    /// Stops: the loop closes every connection and ends; workers finish
    /// their current request and end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
        if let Some(h) = self.event_loop.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.event_loop.is_some() {
            self.stop();
        }
    }
}
