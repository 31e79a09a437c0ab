//! Id caches saved off the scrape path: [`save`] for the agent's own
//! caches, [`Saver`] for the many a large source's first document brings.

use crate::log::{log, Level};
use parking_lot::Mutex;
use pcp_core::IdCache;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Saves a cache if it changed, logging failures.
pub fn save(cache: &mut IdCache, root: &str) {
    if cache.is_dirty() {
        if let Err(e) = cache.save() {
            log(Level::Error, root, &format!("saving ids: {e}"));
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct SaverQueue {
    pending: HashMap<PathBuf, pcp_core::CacheSnapshot>,
    writing: bool,
    stop: bool,
}

/// Writes id caches on a thread of its own, latest version of each file
/// only, so that scrapes never wait on the disk (a large source's first
/// document may bring a thousand caches). Dropping it writes what is
/// still pending.
#[derive(Debug)]
pub struct Saver {
    queue: Arc<(Mutex<SaverQueue>, parking_lot::Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Saver {
    /// Starts the saver's thread.
    pub fn new(root: &str) -> Saver {
        let queue: Arc<(Mutex<SaverQueue>, parking_lot::Condvar)> = Arc::default();
        let q = Arc::clone(&queue);
        let r = root.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("{root}-ids"))
            .spawn(move || {
                let (lock, cv) = &*q;
                let mut g = lock.lock();
                loop {
                    if g.pending.is_empty() {
                        if g.stop {
                            return;
                        }
                        cv.wait(&mut g);
                        continue;
                    }
                    let batch: Vec<_> = g.pending.drain().map(|(_, s)| s).collect();
                    g.writing = true;
                    drop(g);
                    for s in batch {
                        if let Err(e) = s.write() {
                            log(Level::Error, &r, &format!("saving ids: {e}"));
                        }
                    }
                    g = lock.lock();
                    g.writing = false;
                    cv.notify_all();
                }
            })
            .ok();
        Saver {
            queue,
            thread: Mutex::new(thread),
        }
    }

    /// Queues a snapshot (replacing an older one of the same file).
    pub fn submit(&self, s: pcp_core::CacheSnapshot) {
        let (lock, cv) = &*self.queue;
        let mut g = lock.lock();
        if self.thread.lock().is_none() {
            drop(g);
            if let Err(e) = s.write() {
                log(Level::Error, "prometheus", &format!("saving ids: {e}"));
            }
            return;
        }
        g.pending.insert(s.file().to_path_buf(), s);
        cv.notify_all();
    }

    /// Waits until everything queued is written.
    pub fn flush(&self) {
        let (lock, cv) = &*self.queue;
        let mut g = lock.lock();
        while !g.pending.is_empty() || g.writing {
            if self.thread.lock().is_none() {
                return;
            }
            cv.wait(&mut g);
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        let (lock, cv) = &*self.queue;
        lock.lock().stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}
