//! One connection's state machine, driven by the event loop: waiting for
//! a request, reading its head and body under their deadlines, waiting
//! for a worker, writing the response, and after a refusal, draining what
//! the client still sends so that the answer reaches it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::parse::{find_head_end, parse_head, too_large_head, Head, Reject};
use super::{Limits, Request, Response};

/// How long a refused client may go on sending after its answer before
/// the connection is closed under it.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// What the loop does next with a connection.
#[derive(Debug)]
pub(super) enum Step {
    /// Watch it for reads.
    Read,
    /// Watch it for writability: a response is under way.
    Write,
    /// A complete request for a worker (the connection waits, unwatched).
    Dispatch(Job),
    /// Close it.
    Close,
}

/// A request handed to a worker, with how to answer it.
#[derive(Debug)]
pub(super) struct Job {
    /// The request.
    pub request: Request,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// A HEAD request: the answer has no body.
    pub head_only: bool,
}

#[derive(Debug)]
enum State {
    /// No request under way; `fresh` for a new connection (that must
    /// start its first request by `until`, or get 408), else kept alive
    /// (closed quietly at `until`).
    Idle { until: Instant, fresh: bool },
    /// Reading a head, which must end by `until`.
    Head { until: Instant },
    /// Reading the body of `head`, due by `until`.
    Body { head: Box<Head>, until: Instant },
    /// A worker has the request.
    Working,
    /// Writing `out`, which the client must take by `until`.
    Writing { until: Instant },
    /// After a refusal: reading and dropping what the client still sends,
    /// until it closes or `until`.
    Draining { until: Instant },
}

/// What happens once the response is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    KeepAlive,
    Close,
    Drain,
}

/// The account, over all connections, of bytes held for unfinished
/// requests and of answer bytes not yet taken by their clients.
#[derive(Debug)]
pub(super) struct Budget {
    /// Request bytes held now.
    pub held: usize,
    /// The most request bytes that may be held.
    pub max: usize,
    /// Answer bytes waiting for their clients.
    pub unsent: usize,
}

/// One client connection.
#[derive(Debug)]
pub(super) struct Conn {
    /// The socket (non-blocking).
    pub stream: TcpStream,
    /// Generation of the connection-table slot, part of its event token.
    pub gen: u32,
    state: State,
    /// Bytes received and not yet consumed (a request under way, or the
    /// next pipelined one); empty, with no allocation, when idle.
    inbuf: Vec<u8>,
    /// How much of `inbuf` was searched for the end of the head.
    scanned: usize,
    /// The response being written, and how much of it is written.
    out: Vec<u8>,
    written: usize,
    after: After,
    /// The client closed its sending side.
    peer_closed: bool,
}

impl Conn {
    /// A new connection, expected to start a request within the request
    /// deadline.
    pub(super) fn new(stream: TcpStream, gen: u32, limits: &Limits, now: Instant) -> Conn {
        Conn {
            stream,
            gen,
            state: State::Idle {
                until: now + limits.request_timeout,
                fresh: true,
            },
            inbuf: Vec::new(),
            scanned: 0,
            out: Vec::new(),
            written: 0,
            after: After::Close,
            peer_closed: false,
        }
    }

    /// Reads what the socket has (one read of up to `scratch.len()`
    /// bytes) and moves the state on.
    pub(super) fn on_readable(
        &mut self,
        scratch: &mut [u8],
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Step {
        let n = match self.stream.read(scratch) {
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                return self.waiting_step();
            }
            Err(_) => return self.close(budget),
        };
        if let State::Draining { .. } = self.state {
            return if n == 0 {
                self.close(budget)
            } else {
                Step::Read
            };
        }
        if n == 0 {
            // The client is done sending: a request not yet complete
            // never will be.
            self.peer_closed = true;
            return self.close(budget);
        }
        if budget.held + n > budget.max {
            self.release(budget);
            return self.reject(
                Reject::new(
                    503,
                    format!(
                        "server busy: {} bytes of unfinished requests are held already; retry later",
                        budget.held
                    ),
                ),
                limits,
                budget,
                now,
            );
        }
        if self.inbuf.is_empty() {
            self.inbuf.reserve_exact(n);
        }
        self.inbuf.extend_from_slice(&scratch[..n]);
        budget.held += n;
        self.advance(limits, budget, now)
    }

    /// What to watch for while waiting in the current state.
    fn waiting_step(&self) -> Step {
        match self.state {
            State::Writing { .. } => Step::Write,
            _ => Step::Read,
        }
    }

    /// Moves the state on with what `inbuf` holds: a head started, ended,
    /// a body complete.
    pub(super) fn advance(&mut self, limits: &Limits, budget: &mut Budget, now: Instant) -> Step {
        loop {
            match &self.state {
                State::Idle { .. } => {
                    if self.inbuf.is_empty() {
                        return Step::Read;
                    }
                    self.state = State::Head {
                        until: now + limits.head_timeout,
                    };
                }
                State::Head { .. } => {
                    let Some(end) = find_head_end(&self.inbuf, self.scanned) else {
                        self.scanned = self.inbuf.len();
                        if self.inbuf.len() > limits.max_head_bytes {
                            let r = too_large_head(&self.inbuf, limits.max_head_bytes);
                            self.release(budget);
                            return self.reject(r, limits, budget, now);
                        }
                        return Step::Read;
                    };
                    if end > limits.max_head_bytes {
                        let r = too_large_head(&self.inbuf[..end], limits.max_head_bytes);
                        self.release(budget);
                        return self.reject(r, limits, budget, now);
                    }
                    let head = match parse_head(&self.inbuf[..end]) {
                        Ok(h) => h,
                        Err(r) => {
                            self.release(budget);
                            return self.reject(r, limits, budget, now);
                        }
                    };
                    self.consume(end, budget);
                    if let Some(r) = refuse_body(&head, limits) {
                        self.release(budget);
                        return self.reject(r, limits, budget, now);
                    }
                    if head.expect_continue && head.content_length > self.inbuf.len() {
                        // Small and first on a quiet socket: a short write
                        // is not worth a state.
                        let _ = self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    self.state = State::Body {
                        head: Box::new(head),
                        until: now + limits.request_timeout,
                    };
                }
                State::Body { head, .. } => {
                    if self.inbuf.len() < head.content_length {
                        return Step::Read;
                    }
                    let State::Body { head, .. } =
                        std::mem::replace(&mut self.state, State::Working)
                    else {
                        unreachable!("matched above")
                    };
                    return Step::Dispatch(self.job(*head, limits, budget, now));
                }
                State::Working => return Step::Read,
                State::Writing { .. } => return Step::Write,
                State::Draining { .. } => return Step::Read,
            }
        }
    }

    /// The request of `head` with its body taken from `inbuf`.
    fn job(&mut self, head: Head, limits: &Limits, budget: &mut Budget, now: Instant) -> Job {
        let body = self.inbuf[..head.content_length].to_vec();
        self.consume(head.content_length, budget);
        let (path, query) = match head.target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (head.target.clone(), String::new()),
        };
        let head_only = head.method == "HEAD";
        Job {
            request: Request {
                method: head.method,
                path,
                query,
                accept: head.accept,
                body,
                deadline: now + limits.request_timeout,
            },
            keep_alive: head.keep_alive,
            head_only,
        }
    }

    /// Drops the first `n` bytes of `inbuf`, freeing it when empty.
    fn consume(&mut self, n: usize, budget: &mut Budget) {
        budget.held -= n;
        if n == self.inbuf.len() {
            self.inbuf = Vec::new();
        } else {
            self.inbuf.drain(..n);
        }
        self.scanned = 0;
    }

    /// Drops everything held for unfinished requests and unsent answers.
    pub(super) fn release(&mut self, budget: &mut Budget) {
        budget.held -= self.inbuf.len();
        self.inbuf = Vec::new();
        self.scanned = 0;
        budget.unsent -= self.out.len() - self.written;
        self.out = Vec::new();
        self.written = 0;
    }

    fn close(&mut self, budget: &mut Budget) -> Step {
        self.release(budget);
        Step::Close
    }

    /// Answers with `r` and then stops reading requests.
    pub(super) fn reject(
        &mut self,
        r: Reject,
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Step {
        let response = Response::text(r.status, r.message);
        let response = if r.status == 503 {
            response.with_header("Retry-After", "1")
        } else {
            response
        };
        self.start_write(
            response.to_bytes(false, false),
            After::Drain,
            limits,
            budget,
            now,
        )
    }

    /// The worker's answer (`bytes`, keeping the connection open if
    /// `keep_alive`).
    pub(super) fn respond(
        &mut self,
        bytes: Vec<u8>,
        keep_alive: bool,
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Step {
        let after = if keep_alive && !self.peer_closed {
            After::KeepAlive
        } else {
            After::Close
        };
        self.start_write(bytes, after, limits, budget, now)
    }

    /// Starts writing `bytes`, which the client must take within the
    /// request deadline.
    fn start_write(
        &mut self,
        bytes: Vec<u8>,
        after: After,
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Step {
        budget.unsent += bytes.len();
        self.out = bytes;
        self.written = 0;
        self.after = after;
        self.state = State::Writing {
            until: now + limits.request_timeout,
        };
        Step::Write
    }

    /// Writes what it can of the response; once all is written, goes on
    /// as the response asked (next request, close, drain).
    pub(super) fn on_writable(
        &mut self,
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Step {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return self.close(budget),
                Ok(n) => {
                    self.written += n;
                    budget.unsent -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Write,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(budget),
            }
        }
        self.out = Vec::new();
        self.written = 0;
        match self.after {
            After::Close => {
                let _ = self.stream.shutdown(Shutdown::Write);
                self.close(budget)
            }
            After::Drain => {
                let _ = self.stream.shutdown(Shutdown::Write);
                self.state = State::Draining {
                    until: now + DRAIN_TIME,
                };
                Step::Read
            }
            After::KeepAlive => {
                self.state = State::Idle {
                    until: now + limits.idle_timeout,
                    fresh: false,
                };
                // A pipelined request may be waiting already.
                self.advance(limits, budget, now)
            }
        }
    }

    /// Acts on a deadline that has passed; `None` while none has.
    pub(super) fn expire(
        &mut self,
        limits: &Limits,
        budget: &mut Budget,
        now: Instant,
    ) -> Option<Step> {
        let late = |until: &Instant| *until <= now;
        let secs = |d: Duration| d.as_secs_f64();
        Some(match &self.state {
            State::Idle { until, fresh } if late(until) => {
                if *fresh {
                    let r = Reject::new(
                        408,
                        format!(
                            "request not received within {:.3} s",
                            secs(limits.request_timeout)
                        ),
                    );
                    self.reject(r, limits, budget, now)
                } else {
                    self.close(budget)
                }
            }
            State::Head { until } if late(until) => {
                self.release(budget);
                let r = Reject::new(
                    408,
                    format!(
                        "request head not received within {:.3} s of its first byte",
                        secs(limits.head_timeout)
                    ),
                );
                self.reject(r, limits, budget, now)
            }
            State::Body { until, .. } if late(until) => {
                self.release(budget);
                let r = Reject::new(
                    408,
                    format!(
                        "request body not received within {:.3} s",
                        secs(limits.request_timeout)
                    ),
                );
                self.reject(r, limits, budget, now)
            }
            State::Writing { until } | State::Draining { until } if late(until) => {
                self.close(budget)
            }
            _ => return None,
        })
    }
}

/// The refusal of a body this server will not read, if any.
fn refuse_body(head: &Head, limits: &Limits) -> Option<Reject> {
    if head.chunked {
        return Some(Reject::new(
            501,
            "chunked request bodies are not supported: send Content-Length",
        ));
    }
    if head.content_length > limits.max_body_bytes {
        return Some(Reject::new(
            413,
            format!(
                "request body of {} bytes exceeds the limit of {} bytes",
                head.content_length, limits.max_body_bytes
            ),
        ));
    }
    None
}
