//! The bounded worker pool for blocking scrapes, fair between sources.

use crate::log::{log, Level};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;

pub(super) type PoolJob = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(super) struct Queues {
    normal: VecDeque<PoolJob>,
    suspect: VecDeque<PoolJob>,
    busy: usize,
    busy_suspect: usize,
    stop: bool,
}

/// A bounded pool of worker threads for blocking scrapes, fair between
/// sources: jobs run in arrival order, suspect ones (sources that timed
/// out) after the others and on at most a quarter of the workers.
pub(crate) struct Pool {
    inner: Arc<(Mutex<Queues>, Condvar)>,
    workers: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers)
            .finish()
    }
}

impl Pool {
    pub(super) fn new(workers: usize, root: &str) -> Pool {
        let workers = workers.max(1);
        let inner: Arc<(Mutex<Queues>, Condvar)> = Arc::default();
        let cap = (workers / 4).max(1);
        for i in 0..workers {
            let inner = Arc::clone(&inner);
            let r = std::thread::Builder::new()
                .name(format!("{root}-scrape-{i}"))
                .spawn(move || worker(&inner, cap));
            if let Err(e) = r {
                log(
                    Level::Error,
                    root,
                    &format!("cannot start scrape worker: {e}"),
                );
                break;
            }
        }
        Pool { inner, workers }
    }

    /// Queues a job; returns true when it has to wait for a worker.
    pub(super) fn submit(&self, job: PoolJob, suspect: bool) -> bool {
        let (lock, cv) = &*self.inner;
        let mut q = lock.lock();
        let waits = q.busy + q.normal.len() + q.suspect.len() >= self.workers;
        if suspect {
            q.suspect.push_back(job);
        } else {
            q.normal.push_back(job);
        }
        cv.notify_one();
        waits
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let (lock, cv) = &*self.inner;
        lock.lock().stop = true;
        cv.notify_all();
    }
}

pub(super) fn worker(inner: &(Mutex<Queues>, Condvar), cap: usize) {
    let (lock, cv) = inner;
    let mut q = lock.lock();
    loop {
        if q.stop {
            return;
        }
        let (job, suspect) = if let Some(j) = q.normal.pop_front() {
            (j, false)
        } else if q.busy_suspect < cap && !q.suspect.is_empty() {
            (q.suspect.pop_front().expect("not empty"), true)
        } else {
            cv.wait(&mut q);
            continue;
        };
        q.busy += 1;
        if suspect {
            q.busy_suspect += 1;
        }
        drop(q);
        job();
        q = lock.lock();
        q.busy -= 1;
        if suspect {
            q.busy_suspect -= 1;
            // A suspect slot freed: another suspect may go.
            cv.notify_one();
        }
    }
}
