//! One reactor thread: a mio poll loop over its connections, its queue of
//! waiting requests, its pool of idle kept-alive connections and the
//! deadlines of its exchanges.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::response::ResponseReader;
use super::{timed_out, ClientStats, Exchange, Request, READ_SIZE};
use crate::error::PrometheusError;
use crate::fetch::FetchFailure;

mod conn;

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
}
