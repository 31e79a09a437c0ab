//! One reactor thread: a mio poll loop over its connections, its queue of
//! waiting requests, its pool of idle kept-alive connections and the
//! deadlines of its exchanges.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::response::{ResponseReader, Step};
use super::{timed_out, ClientStats, Exchange, Request, IDLE_TIMEOUT, READ_SIZE};
use crate::error::PrometheusError;
use crate::fetch::FetchFailure;

const WAKER: Token = Token(usize::MAX);

type Submission = (Request, Box<dyn Exchange>);

/// The handle the client keeps on a reactor thread; dropping the last
/// one stops the thread.
pub(super) struct Handle {
    tx: Sender<Submission>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    pub(super) fn start(
        name: &str,
        limit: usize,
        stats: Arc<ClientStats>,
    ) -> std::io::Result<Handle> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut reactor = Reactor {
            poll,
            rx,
            stop: Arc::clone(&stop),
            limit,
            stats,
            conns: Vec::new(),
            free: Vec::new(),
            idle: HashMap::new(),
            queue: VecDeque::new(),
            suspects: VecDeque::new(),
            active: 0,
            suspects_active: 0,
            deadlines: BinaryHeap::new(),
            lates: BinaryHeap::new(),
            ready: VecDeque::new(),
            buf: vec![0u8; READ_SIZE],
            serial: 0,
            last_sweep: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || reactor.run())?;
        Ok(Handle {
            tx,
            waker,
            stop,
            thread: Some(thread),
        })
    }

    pub(super) fn submit(&self, req: Request, ex: Box<dyn Exchange>) {
        if let Err(e) = self.tx.send((req, ex)) {
            let (_, ex) = e.into_inner();
            ex.finish(Err((
                PrometheusError::Transport("HTTP client stopped".into()),
                0,
            )));
            return;
        }
        let _ = self.waker.wake();
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            // The last handle may go from inside an exchange's callback on
            // the reactor thread itself: then it stops on its own.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Writing,
    Reading,
    Idle,
}

struct Job {
    /// When the fetch that asked stops waiting for this exchange.
    late_at: Instant,
    req: Request,
    ex: Box<dyn Exchange>,
    out: Vec<u8>,
    written: usize,
    resp: ResponseReader,
    serial: u64,
    got_bytes: bool,
    retried: bool,
    addr: usize,
}

struct Conn {
    stream: TcpStream,
    key: String,
    phase: Phase,
    idle_since: Instant,
    reused: bool,
    job: Option<Job>,
}

struct Pending {
    req: Request,
    ex: Box<dyn Exchange>,
}

/// What to do with a connection after its exchange ended.
enum After {
    Keep,
    Close,
}

struct Reactor {
    poll: Poll,
    rx: Receiver<Submission>,
    stop: Arc<AtomicBool>,
    limit: usize,
    stats: Arc<ClientStats>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    idle: HashMap<String, Vec<usize>>,
    queue: VecDeque<Pending>,
    suspects: VecDeque<Pending>,
    active: usize,
    suspects_active: usize,
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    lates: BinaryHeap<Reverse<Instant>>,
    ready: VecDeque<usize>,
    buf: Vec<u8>,
    serial: u64,
    last_sweep: Instant,
}

fn io_failure(e: impl std::fmt::Display) -> FetchFailure {
    (PrometheusError::Transport(e.to_string()), 0)
}

impl Reactor {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::Acquire) {
            let timeout = if self.ready.is_empty() {
                let now = Instant::now();
                let mut next = self.deadlines.peek().map(|Reverse((t, _, _))| *t);
                // With requests waiting, wake when an exchange turns late
                // (it may then give up its slot).
                while self.lates.peek().is_some_and(|Reverse(t)| *t <= now) {
                    self.lates.pop();
                }
                if !self.queue.is_empty() {
                    if let Some(Reverse(t)) = self.lates.peek() {
                        next = Some(next.map_or(*t, |n| n.min(*t)));
                    }
                }
                Some(
                    next.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now))
                        .min(Duration::from_secs(1)),
                )
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                self.ready.push_back(ev.token().0);
            }
            self.take_submissions();
            // One turn for each connection with work: a read of at most
            // READ_SIZE bytes, so big documents take turns with the rest.
            let turn: Vec<usize> = self.ready.drain(..).collect();
            let mut seen = std::collections::HashSet::with_capacity(turn.len());
            for idx in turn {
                if seen.insert(idx) {
                    self.drive(idx);
                }
            }
            self.expire();
            self.start_queued();
            if self.last_sweep.elapsed() >= Duration::from_secs(1) {
                self.sweep_idle();
            }
        }
        // Stopping: every exchange still open hears about it.
        for idx in 0..self.conns.len() {
            if self.conns[idx].as_ref().is_some_and(|c| c.job.is_some()) {
                self.finish(idx, Err(io_failure("HTTP client stopped")), After::Close);
            }
        }
        for p in self.queue.drain(..).chain(self.suspects.drain(..)) {
            p.ex.finish(Err(io_failure("HTTP client stopped")));
        }
        self.stats.queued.store(0, Ordering::Relaxed);
    }

    fn take_submissions(&mut self) {
        while let Ok((req, mut ex)) = self.rx.try_recv() {
            let suspect = req.suspect;
            let can_start =
                self.active < self.limit && (!suspect || self.suspects_active < self.suspect_cap());
            if !can_start || !self.queue.is_empty() {
                ex.waited();
                self.stats.waits.fetch_add(1, Ordering::Relaxed);
            }
            let p = Pending { req, ex };
            if suspect {
                self.suspects.push_back(p);
            } else {
                self.queue.push_back(p);
            }
        }
        self.start_queued();
    }

    fn suspect_cap(&self) -> usize {
        (self.limit / 4).max(1)
    }

    fn start_queued(&mut self) {
        if self.active >= self.limit && !self.queue.is_empty() {
            self.make_room();
        }
        while self.active < self.limit {
            let p = if let Some(p) = self.queue.pop_front() {
                p
            } else if self.suspects_active < self.suspect_cap() {
                match self.suspects.pop_front() {
                    Some(p) => p,
                    None => break,
                }
            } else {
                break;
            };
            self.start(p);
        }
        self.stats
            .queued
            .store(self.queue.len() + self.suspects.len(), Ordering::Relaxed);
    }

    /// Requests wait while every slot is taken: if exchanges past their
    /// patience (their fetches gave up on them: dead or very slow
    /// endpoints) hold more than a quarter of the slots, the oldest of
    /// them end as timed out, so live endpoints are never starved.
    fn make_room(&mut self) {
        let now = Instant::now();
        let mut late: Vec<(Instant, usize)> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let j = c.as_ref()?.job.as_ref()?;
                (j.late_at <= now).then_some((j.late_at, i))
            })
            .collect();
        let cap = self.suspect_cap();
        if late.len() <= cap {
            return;
        }
        late.sort_unstable();
        let excess = late.len() - cap;
        for &(_, idx) in late.iter().take(excess.min(self.queue.len())) {
            let f = self.conns[idx]
                .as_ref()
                .and_then(|c| c.job.as_ref())
                .map(|j| timed_out(&j.req))
                .expect("listed above");
            self.stats.evictions.fetch_add(1, Ordering::Relaxed);
            self.finish(idx, Err(f), After::Close);
        }
    }

    fn start(&mut self, p: Pending) {
        self.active += 1;
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        if p.req.suspect {
            self.suspects_active += 1;
        }
        if Instant::now() >= p.req.deadline {
            let f = timed_out(&p.req);
            self.release(p.req.suspect);
            p.ex.finish(Err(f));
            return;
        }
        self.serial += 1;
        let late_at = Instant::now() + p.req.patience;
        self.lates.push(Reverse(late_at));
        let job = Job {
            late_at,
            out: p.req.head(),
            written: 0,
            resp: ResponseReader::new(),
            serial: self.serial,
            got_bytes: false,
            retried: false,
            addr: 0,
            req: p.req,
            ex: p.ex,
        };
        self.place(job);
    }

    /// Puts a job on an idle connection to its host, or a new one.
    fn place(&mut self, job: Job) {
        let key = job.req.target.host_key();
        while let Some(idx) = self.idle.get_mut(&key).and_then(|v| v.pop()) {
            let Some(c) = self.conns[idx].as_mut() else {
                continue;
            };
            if c.phase != Phase::Idle {
                continue;
            }
            c.phase = Phase::Writing;
            c.reused = true;
            let serial = job.serial;
            let deadline = job.req.deadline;
            c.job = Some(job);
            let _ = self.poll.registry().reregister(
                &mut c.stream,
                Token(idx),
                Interest::READABLE | Interest::WRITABLE,
            );
            self.stats.reuses.fetch_add(1, Ordering::Relaxed);
            self.deadlines.push(Reverse((deadline, idx, serial)));
            self.ready.push_back(idx);
            return;
        }
        self.connect(job);
    }

    fn connect(&mut self, mut job: Job) {
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

    fn release(&mut self, suspect: bool) {
        self.active -= 1;
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if suspect {
            self.suspects_active -= 1;
        }
    }

    /// One turn of work on a connection.
    fn drive(&mut self, idx: usize) {
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

    fn read(&mut self, idx: usize) {
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
    fn reconnect_next(&mut self, idx: usize) {
        let Some(mut job) = self.take_job(idx) else {
            return;
        };
        self.close(idx);
        job.addr += 1;
        self.connect(job);
    }

    /// An exchange failed. A kept-alive connection the server had closed
    /// before answering is retried once on a new connection.
    fn failed(&mut self, idx: usize, why: FetchFailure) {
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

    fn take_job(&mut self, idx: usize) -> Option<Job> {
        self.conns[idx].as_mut().and_then(|c| c.job.take())
    }

    fn finish(&mut self, idx: usize, result: Result<u16, FetchFailure>, after: After) {
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

    fn close(&mut self, idx: usize) {
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

    fn expire(&mut self) {
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

    fn sweep_idle(&mut self) {
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
