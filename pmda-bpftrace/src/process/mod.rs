//! Running bpftrace: the registry of scripts shared by every thread, the
//! manager thread (starts, stops, SIGKILL deadlines, expiry, shutdown) and
//! the reader threads of each process.
//!
//! Every bpftrace is spawned by the manager thread, in its own process group,
//! with `PR_SET_PDEATHSIG` = SIGKILL tied to that thread, which lives as long
//! as the agent: if the agent dies, even by SIGKILL, its bpftrace processes
//! die with it. A stop sends SIGINT to the group (bpftrace then prints its
//! maps and exits), then SIGKILL after `stop_timeout`. Signals are only sent
//! while the process is known not to be reaped (the reader thread checks the
//! exit with `WNOWAIT` before reaping), so a recycled pid is never signalled.

mod manager;
mod reader;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::Settings;
use crate::script::{Script, Status};

pub use manager::Manager;

/// The scripts and what every thread shares.
#[derive(Debug)]
pub struct Registry {
    /// Registered scripts by cluster.
    pub scripts: Mutex<BTreeMap<u32, Arc<Script>>>,
    /// Bumped whenever metric names change (scripts come or go, maps appear).
    pub generation: AtomicU64,
    /// Settings.
    pub settings: Arc<Settings>,
    ready_lock: Mutex<()>,
    ready: Condvar,
    unknown_types: Mutex<HashSet<String>>,
    /// Scripts whose expiry removed them, for the agent to release their
    /// clusters.
    pub expired: Mutex<Vec<Arc<Script>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new(settings: Arc<Settings>) -> Registry {
        Registry {
            scripts: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(1),
            settings,
            ready_lock: Mutex::new(()),
            ready: Condvar::new(),
            unknown_types: Mutex::new(HashSet::new()),
            expired: Mutex::new(Vec::new()),
        }
    }

    /// Notes that names changed.
    pub fn names_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn notify_ready(&self) {
        let _g = self.ready_lock.lock();
        self.ready.notify_all();
    }

    /// Waits until no script is starting without having printed its first
    /// data, or `timeout` passes.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = {
                let scripts = self.scripts.lock();
                scripts.values().any(|s| {
                    let st = s.state.lock();
                    matches!(st.status, Status::Starting | Status::Started) && !st.ready
                })
            };
            let now = Instant::now();
            if !pending || now >= deadline {
                return;
            }
            let mut g = self.ready_lock.lock();
            // Short slices: a notification between the check and the wait
            // costs at most one slice.
            let slice = (deadline - now).min(Duration::from_millis(50));
            self.ready.wait_for(&mut g, slice);
        }
    }

    fn log_unknown_type(&self, ty: &str, script: &Script) {
        if self.unknown_types.lock().insert(ty.to_string()) {
            log(&format!(
                "script {}: unknown bpftrace output type {ty:?} skipped (logged once)",
                script.name
            ));
        }
    }
}

/// Writes a line to the agent's log (stderr).
pub fn log(msg: &str) {
    eprintln!("pmda-bpftrace: {msg}");
}
