//! The event loop: one thread that accepts connections and moves each
//! one's state machine ([`Conn`]) on as epoll reports its socket ready,
//! hands complete requests to the worker pool, writes the answers the
//! workers send back, and every [`SWEEP`] acts on the deadlines that have
//! passed.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};

use super::conn::{Budget, Conn, Job, Step};
use super::parse::Reject;
use super::poll::{raise_open_file_limit, Epoll, Interest, Waker};
use super::{Handler, Limits, Response};

/// How often deadlines are checked: a deadline is acted on at most this
/// late.
const SWEEP: Duration = Duration::from_millis(100);

/// Open files kept back from `max_clients` for the agents (their /proc
/// files, pipes to scripts and bpftrace, sockets to endpoints).
const RESERVED_FILES: u64 = 256;

/// Connections accepted per readiness report of the listener, so that a
/// flood of new connections does not starve the open ones.
const ACCEPT_BATCH: usize = 256;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 64 * 1024;

const LISTENER: u64 = u64::MAX;
const WAKER: u64 = u64::MAX - 1;

/// A worker's answer to a request.
#[derive(Debug)]
struct Done {
    token: u64,
    bytes: Vec<u8>,
    keep_alive: bool,
}

/// A slot of the connection table: its generation (bumped when the slot
/// is reused, so that a stale token finds nothing) and its connection
/// with what epoll watches it for (`None`: not watched).
#[derive(Debug, Default)]
struct Slot {
    gen: u32,
    conn: Option<(Conn, Option<Interest>)>,
}

/// The loop's state.
pub(super) struct EventLoop {
    listener: TcpListener,
    epoll: Epoll,
    waker: Arc<Waker>,
    limits: Limits,
    slots: Vec<Slot>,
    free: Vec<usize>,
    open: usize,
    budget: Budget,
    jobs: Option<Sender<(u64, Job)>>,
    done: Receiver<Done>,
    /// Accepting is paused until then after the process ran out of files.
    accept_paused_until: Option<Instant>,
    accept_errors: u64,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("open", &self.open)
            .field("held", &self.budget.held)
            .finish()
    }
}

fn token(idx: usize, gen: u32) -> u64 {
    (u64::from(gen) << 32) | idx as u64
}

impl EventLoop {
    /// Sets the loop up on `listener` and starts `limits.workers` workers
    /// running `handler`.
    pub(super) fn new(
        listener: TcpListener,
        mut limits: Limits,
        handler: Arc<Handler>,
        waker: Arc<Waker>,
    ) -> std::io::Result<EventLoop> {
        listener.set_nonblocking(true)?;
        let files = raise_open_file_limit();
        let allowed = files.saturating_sub(RESERVED_FILES).max(16);
        limits.max_clients = limits.max_clients.min(allowed as usize).max(1);
        let epoll = Epoll::new()?;
        epoll.add(listener.as_raw_fd(), LISTENER, Interest::Read)?;
        epoll.add(waker.raw(), WAKER, Interest::Read)?;
        let (job_tx, job_rx) = bounded::<(u64, Job)>(limits.queue.max(1));
        let (done_tx, done_rx) = unbounded::<Done>();
        for i in 0..limits.workers.max(1) {
            let (jobs, done) = (job_rx.clone(), done_tx.clone());
            let (handler, waker) = (Arc::clone(&handler), Arc::clone(&waker));
            thread::Builder::new()
                .name(format!("serve-worker-{i}"))
                .spawn(move || worker(&jobs, &*handler, &done, &waker))?;
        }
        Ok(EventLoop {
            listener,
            epoll,
            waker,
            budget: Budget {
                held: 0,
                max: limits.max_buffered_bytes,
                unsent: 0,
            },
            limits,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            jobs: Some(job_tx),
            done: done_rx,
            accept_paused_until: None,
            accept_errors: 0,
        })
    }

    /// Runs until `stop` is set (and the waker woken).
    pub(super) fn run(mut self, stop: &AtomicBool) {
        let mut events = Vec::with_capacity(1024);
        let mut ready: Vec<(u64, bool, bool)> = Vec::with_capacity(1024);
        let mut scratch = vec![0u8; READ_CHUNK];
        let mut next_sweep = Instant::now() + SWEEP;
        while !stop.load(Ordering::SeqCst) {
            let wait = next_sweep.saturating_duration_since(Instant::now());
            match self.epoll.wait(&mut events, wait) {
                Ok(it) => {
                    ready.clear();
                    ready.extend(it);
                }
                Err(e) => {
                    eprintln!("pcp-agent serve: epoll_wait: {e}; stopping");
                    return;
                }
            }
            let now = Instant::now();
            for &(tok, readable, writable) in &ready {
                match tok {
                    LISTENER => self.accept(now),
                    WAKER => {
                        self.waker.drain();
                        self.completions(now);
                    }
                    _ => self.on_event(tok, readable, writable, &mut scratch, now),
                }
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP;
            }
        }
        // Workers end when the job queue is gone.
        self.jobs = None;
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    self.accept_errors = 0;
                    self.admit(stream, now);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: the listener stays readable, so
                    // stop watching it for a moment instead of spinning.
                    self.accept_errors += 1;
                    if self.accept_errors == 1 || self.accept_errors % 1000 == 0 {
                        eprintln!(
                            "pcp-agent serve: accept: {e} ({} times in a row)",
                            self.accept_errors
                        );
                    }
                    let _ = self.epoll.delete(self.listener.as_raw_fd());
                    self.accept_paused_until = Some(now + SWEEP);
                    return;
                }
            }
        }
    }

    /// Takes a new connection into the table, or refuses it when the
    /// table is full.
    fn admit(&mut self, stream: TcpStream, now: Instant) {
        if self.open >= self.limits.max_clients {
            busy(stream, self.limits.max_clients);
            return;
        }
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        let slot = &mut self.slots[idx];
        slot.gen = slot.gen.wrapping_add(1);
        let tok = token(idx, slot.gen);
        if self
            .epoll
            .add(stream.as_raw_fd(), tok, Interest::Read)
            .is_err()
        {
            self.free.push(idx);
            return;
        }
        slot.conn = Some((
            Conn::new(stream, slot.gen, &self.limits, now),
            Some(Interest::Read),
        ));
        self.open += 1;
    }

    fn on_event(
        &mut self,
        tok: u64,
        readable: bool,
        writable: bool,
        scratch: &mut [u8],
        now: Instant,
    ) {
        let idx = (tok & 0xffff_ffff) as usize;
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let Some((conn, watched)) = slot.conn.as_mut() else {
            return;
        };
        if conn.gen != (tok >> 32) as u32 {
            return;
        }
        let step = if writable || (*watched == Some(Interest::Write) && readable) {
            conn.on_writable(&self.limits, &mut self.budget, now)
        } else if readable {
            conn.on_readable(scratch, &self.limits, &mut self.budget, now)
        } else {
            return;
        };
        self.apply(idx, step, now);
    }

    /// Does what `step` says for connection `idx`.
    fn apply(&mut self, idx: usize, mut step: Step, now: Instant) {
        loop {
            let slot = &mut self.slots[idx];
            let tok = token(idx, slot.gen);
            let Some((conn, watched)) = slot.conn.as_mut() else {
                return;
            };
            let fd = conn.stream.as_raw_fd();
            let want = match step {
                Step::Read => Interest::Read,
                Step::Write => {
                    // Most answers go out in one write: try before waiting.
                    if *watched != Some(Interest::Write) {
                        match conn.on_writable(&self.limits, &mut self.budget, now) {
                            Step::Write => {}
                            other => {
                                step = other;
                                continue;
                            }
                        }
                    }
                    Interest::Write
                }
                Step::Dispatch(job) => {
                    if watched.take().is_some() {
                        let _ = self.epoll.delete(fd);
                    }
                    let Some(jobs) = &self.jobs else {
                        step = Step::Close;
                        continue;
                    };
                    if self.budget.unsent > self.limits.max_unsent_bytes {
                        let r = Reject::new(
                            503,
                            format!(
                                "server busy: {} bytes of answers are waiting for slow \
                                 clients to read them; retry later",
                                self.budget.unsent
                            ),
                        );
                        step = conn.reject(r, &self.limits, &mut self.budget, now);
                        continue;
                    }
                    match jobs.try_send((tok, job)) {
                        Ok(()) => return,
                        Err(TrySendError::Full(_)) => {
                            step = conn.reject(
                                Reject::new(
                                    503,
                                    "server busy: every worker is taken and the queue of \
                                     requests is full; retry later",
                                ),
                                &self.limits,
                                &mut self.budget,
                                now,
                            );
                            continue;
                        }
                        Err(TrySendError::Disconnected(_)) => {
                            step = Step::Close;
                            continue;
                        }
                    }
                }
                Step::Close => {
                    if watched.is_some() {
                        let _ = self.epoll.delete(fd);
                    }
                    conn.release(&mut self.budget);
                    slot.conn = None;
                    self.free.push(idx);
                    self.open -= 1;
                    return;
                }
            };
            let ok = match *watched {
                Some(w) if w == want => true,
                Some(_) => self.epoll.modify(fd, tok, want).is_ok(),
                None => self.epoll.add(fd, tok, want).is_ok(),
            };
            if ok {
                *watched = Some(want);
                return;
            }
            step = Step::Close;
        }
    }

    /// Writes the answers the workers have finished.
    fn completions(&mut self, now: Instant) {
        while let Ok(done) = self.done.try_recv() {
            let idx = (done.token & 0xffff_ffff) as usize;
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            match slot.conn.as_mut() {
                Some((conn, _)) if conn.gen == (done.token >> 32) as u32 => {
                    let step = conn.respond(
                        done.bytes,
                        done.keep_alive,
                        &self.limits,
                        &mut self.budget,
                        now,
                    );
                    self.apply(idx, step, now);
                }
                _ => {}
            }
        }
    }

    /// Acts on every deadline that has passed, and resumes accepting
    /// after a pause.
    fn sweep(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| t <= now) {
            self.accept_paused_until = None;
            if let Err(e) = self
                .epoll
                .add(self.listener.as_raw_fd(), LISTENER, Interest::Read)
            {
                eprintln!("pcp-agent serve: cannot watch the listener again: {e}");
            }
        }
        for idx in 0..self.slots.len() {
            let Some((conn, _)) = self.slots[idx].conn.as_mut() else {
                continue;
            };
            if let Some(step) = conn.expire(&self.limits, &mut self.budget, now) {
                self.apply(idx, step, now);
            }
        }
    }
}

/// Answers a connection beyond `max_clients`: 503, then close.
fn busy(mut s: TcpStream, max_clients: usize) {
    let _ = s.set_nonblocking(true);
    let body = format!(
        "server busy: {max_clients} connections are open, the most this server keeps; retry later"
    );
    let r = Response::text(503, body).with_header("Retry-After", "1");
    let _ = s.write(&r.to_bytes(false, false));
}

/// A worker: answers requests until the queue is gone.
fn worker(jobs: &Receiver<(u64, Job)>, handler: &Handler, done: &Sender<Done>, waker: &Waker) {
    while let Ok((token, job)) = jobs.recv() {
        let response = catch_unwind(AssertUnwindSafe(|| handler(&job.request)))
            .unwrap_or_else(|_| Response::text(500, "internal error while answering this request"));
        let bytes = response.to_bytes(job.keep_alive, job.head_only);
        if done
            .send(Done {
                token,
                bytes,
                keep_alive: job.keep_alive,
            })
            .is_err()
        {
            return;
        }
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_connection_is_small() {
        // What an idle or slow connection costs the server beyond its
        // socket: its slot in the connection table (the documented bound
        // in `http`'s module documentation).
        let size = std::mem::size_of::<Slot>();
        assert!(size <= 256, "a connection slot is {size} bytes");
        eprintln!("connection slot: {size} bytes");
    }
}
