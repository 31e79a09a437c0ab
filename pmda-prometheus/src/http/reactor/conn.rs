//! One exchange on one connection: connecting (or taking an idle
//! kept-alive connection), writing the request, reading the answer into
//! the exchange, and the end of it: the connection kept for reuse or
//! closed, deadlines expired, idle connections swept.

use super::{io_failure, After, Conn, Job, Phase, Reactor};
use crate::error::PrometheusError;
use crate::fetch::FetchFailure;
use crate::http::response::{ResponseReader, Step};
use crate::http::{timed_out, IDLE_TIMEOUT};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::cmp::Reverse;
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Reactor {
    pub(super) fn connect(&mut self, mut job: Job) {
        loop {
            let Some(&addr) = job.req.addrs.get(job.addr) else {
                let why = if job.req.addrs.is_empty() {
                    format!("no address for {}", job.req.target.host)
                } else {
                    format!("cannot connect to {}", job.req.target.host_key())
                };
                self.release(job.req.suspect);
                job.ex.finish(Err(io_failure(why)));
                return;
            };
            match TcpStream::connect(addr) {
                Ok(mut stream) => {
                    let _ = stream.set_nodelay(true);
                    let idx = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(idx),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        self.free.push(idx);
                        self.release(job.req.suspect);
                        job.ex.finish(Err(io_failure(e)));
                        return;
                    }
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    self.deadlines
                        .push(Reverse((job.req.deadline, idx, job.serial)));
                    self.conns[idx] = Some(Conn {
                        stream,
                        key: job.req.target.host_key(),
                        phase: Phase::Connecting,
                        idle_since: Instant::now(),
                        reused: false,
                        job: Some(job),
                    });
                    return;
                }
                Err(_) => job.addr += 1,
            }
        }
    }

    pub(super) fn release(&mut self, suspect: bool) {
        self.active -= 1;
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if suspect {
            self.suspects_active -= 1;
        }
    }

    /// One turn of work on a connection.
    pub(super) fn drive(&mut self, idx: usize) {
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        match c.phase {
            Phase::Idle => {
                // An idle connection became readable: the server closed it
                // (or sent something unasked); it is not reused.
                match c.stream.read(&mut self.buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    _ => self.close(idx),
                }
            }
            Phase::Connecting => {
                match c.stream.take_error() {
                    Ok(Some(_)) | Err(_) => return self.reconnect_next(idx),
                    Ok(None) => {}
                }
                match c.stream.peer_addr() {
                    Ok(_) => {
                        c.phase = Phase::Writing;
                        self.drive(idx);
                    }
                    Err(e) if e.kind() == ErrorKind::NotConnected => {}
                    Err(_) => self.reconnect_next(idx),
                }
            }
            Phase::Writing => {
                let job = c.job.as_mut().expect("a writing connection has a job");
                while job.written < job.out.len() {
                    match c.stream.write(&job.out[job.written..]) {
                        Ok(0) => return self.failed(idx, io_failure("connection closed")),
                        Ok(n) => job.written += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return self.failed(idx, io_failure(e)),
                    }
                }
                job.out = Vec::new();
                c.phase = Phase::Reading;
                self.drive(idx);
            }
            Phase::Reading => self.read(idx),
        }
    }

    pub(super) fn read(&mut self, idx: usize) {
        let c = self.conns[idx].as_mut().expect("live connection");
        let n = match c.stream.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {
                self.ready.push_back(idx);
                return;
            }
            Err(e) => return self.failed(idx, io_failure(e)),
        };
        let job = c.job.as_mut().expect("a reading connection has a job");
        if n == 0 {
            return match job.resp.eof() {
                Ok(()) => {
                    let status = job.resp.status();
                    self.finish(idx, Ok(status), After::Close)
                }
                Err(e) => self.failed(idx, io_failure(e)),
            };
        }
        job.got_bytes = true;
        let mut data = &self.buf[..n];
        loop {
            let ex = &mut job.ex;
            let step = job.resp.step(data, &mut |b| ex.body(b));
            let (used, step) = match step {
                Ok(x) => x,
                Err(e) => return self.failed(idx, io_failure(e)),
            };
            data = &data[used..];
            match step {
                Step::Head => {
                    let status = job.resp.status();
                    if (200..300).contains(&status) {
                        continue;
                    }
                    let err = if (300..400).contains(&status) && job.resp.location().is_some() {
                        PrometheusError::Redirect(job.resp.location().unwrap_or("").to_string())
                    } else {
                        PrometheusError::HttpStatus {
                            code: status,
                            text: job.resp.reason().to_string(),
                        }
                    };
                    return self.finish(idx, Err((err, status as i32)), After::Close);
                }
                Step::Done => {
                    let status = job.resp.status();
                    let keep = job.resp.keep_alive() && data.is_empty();
                    let after = if keep { After::Keep } else { After::Close };
                    return self.finish(idx, Ok(status), after);
                }
                Step::Stopped => {
                    let status = job.resp.status();
                    return self.finish(idx, Ok(status), After::Close);
                }
                Step::NeedMore => {
                    if !data.is_empty() {
                        continue;
                    }
                    break;
                }
            }
        }
        // Readiness is edge-triggered: read again (after the others) until
        // the socket says WouldBlock. A short read does not mean drained:
        // a server that writes its answer and closes at once (Python's
        // http.server, any HTTP/1.0 server) queues the data and the end of
        // stream together, and no further event would come for the end.
        self.ready.push_back(idx);
    }

    /// A connection failed before it was established: try the next address.
    pub(super) fn reconnect_next(&mut self, idx: usize) {
        let Some(mut job) = self.take_job(idx) else {
            return;
        };
        self.close(idx);
        job.addr += 1;
        self.connect(job);
    }

    /// An exchange failed. A kept-alive connection the server had closed
    /// before answering is retried once on a new connection.
    pub(super) fn failed(&mut self, idx: usize, why: FetchFailure) {
        let retry = self.conns[idx].as_ref().is_some_and(|c| {
            c.reused && c.job.as_ref().is_some_and(|j| !j.got_bytes && !j.retried)
        });
        if retry {
            let mut job = self.take_job(idx).expect("job present");
            self.close(idx);
            job.retried = true;
            job.written = 0;
            job.out = job.req.head();
            job.resp = ResponseReader::new();
            job.addr = 0;
            self.connect(job);
            return;
        }
        self.finish(idx, Err(why), After::Close);
    }

    pub(super) fn take_job(&mut self, idx: usize) -> Option<Job> {
        self.conns[idx].as_mut().and_then(|c| c.job.take())
    }

    pub(super) fn finish(&mut self, idx: usize, result: Result<u16, FetchFailure>, after: After) {
        let Some(job) = self.take_job(idx) else {
            return;
        };
        self.release(job.req.suspect);
        job.ex.finish(result);
        match after {
            After::Keep => {
                let c = self.conns[idx].as_mut().expect("live connection");
                c.phase = Phase::Idle;
                c.idle_since = Instant::now();
                let _ =
                    self.poll
                        .registry()
                        .reregister(&mut c.stream, Token(idx), Interest::READABLE);
                self.idle.entry(c.key.clone()).or_default().push(idx);
            }
            After::Close => self.close(idx),
        }
    }

    pub(super) fn close(&mut self, idx: usize) {
        if let Some(mut c) = self.conns[idx].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
            if let Some(v) = self.idle.get_mut(&c.key) {
                v.retain(|&i| i != idx);
                if v.is_empty() {
                    self.idle.remove(&c.key);
                }
            }
            if let Some(job) = c.job.take() {
                // Closed with an exchange open (should not happen): it ends.
                self.release(job.req.suspect);
                job.ex.finish(Err(io_failure("connection closed")));
            }
            self.free.push(idx);
        }
    }

    pub(super) fn expire(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, idx, serial))) = self.deadlines.peek().copied() {
            if t > now {
                break;
            }
            self.deadlines.pop();
            let hit = self
                .conns
                .get(idx)
                .and_then(|c| c.as_ref())
                .is_some_and(|c| c.job.as_ref().is_some_and(|j| j.serial == serial));
            if hit {
                let req = self.conns[idx]
                    .as_ref()
                    .and_then(|c| c.job.as_ref())
                    .map(|j| timed_out(&j.req))
                    .expect("checked");
                self.finish(idx, Err(req), After::Close);
            }
        }
    }

    pub(super) fn sweep_idle(&mut self) {
        self.last_sweep = Instant::now();
        let old: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.as_ref()
                    .filter(|c| c.phase == Phase::Idle && c.idle_since.elapsed() >= IDLE_TIMEOUT)
                    .map(|_| i)
            })
            .collect();
        for i in old {
            self.close(i);
        }
    }
}
