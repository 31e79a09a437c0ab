//! The background work: a scheduler that runs each plugin check on its
//! interval through a bounded pool of workers (earliest due first; a check
//! still running when it is due again is not started twice), a follower
//! thread that polls every perfdata file, and a rescan of the
//! configuration directory when anything in it changes. Results go into
//! the shared [`Store`]; fetches only read it, so a slow plugin never
//! delays a fetch.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::config::{self, CheckConfig, ConfigError, FileConfig, Source};
use crate::follow::Follower;
use crate::runner;
use crate::store::{NewResult, SeriesKey, Store, HOST_SERVICE};
use crate::template::Kind;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The configuration directory.
    pub config_dir: PathBuf,
    /// Where perfdata file positions are kept (none: not kept).
    pub state_dir: Option<PathBuf>,
    /// Plugins run at once, at most.
    pub workers: usize,
    /// How often perfdata files are polled.
    pub poll: Duration,
    /// How often the configuration directory is checked for changes.
    pub rescan: Duration,
}

/// What the background threads share with the agent.
#[derive(Debug, Default)]
pub struct Shared {
    /// Latest results and counts.
    pub store: Mutex<Store>,
    /// The configured sources.
    pub sources: RwLock<Vec<Source>>,
    /// Files of the configuration directory that were refused.
    pub config_errors: Mutex<Vec<ConfigError>>,
    /// Plugins running now.
    pub running: AtomicU32,
    /// Set to stop the threads.
    pub stop: AtomicBool,
}

/// The running engine; dropping it stops its threads (waiting for the
/// scheduler and the follower, whose work is short, but not for plugins
/// still running, which finish on their own).
#[derive(Debug)]
pub struct Engine {
    shared: Arc<Shared>,
    joined: Vec<thread::JoinHandle<()>>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for t in self.joined.drain(..) {
            let _ = t.join();
        }
    }
}

impl Engine {
    /// Reads the configuration and starts the threads.
    pub fn start(opts: EngineOptions) -> std::io::Result<Engine> {
        let shared = Arc::new(Shared::default());
        rescan(&shared, &opts.config_dir);
        let (jobs_tx, jobs_rx) = bounded::<Job>(opts.workers.max(1) * 2);
        let (done_tx, done_rx) = bounded::<String>(1024);
        for i in 0..opts.workers.max(1) {
            let sh = Arc::clone(&shared);
            let rx = jobs_rx.clone();
            let done = done_tx.clone();
            thread::Builder::new()
                .name(format!("nagios-run-{i}"))
                .spawn(move || worker(&sh, &rx, &done))?;
        }
        let sh = Arc::clone(&shared);
        let o = opts.clone();
        let sched = thread::Builder::new()
            .name("nagios-sched".into())
            .spawn(move || scheduler(&sh, &o, &jobs_tx, &done_rx))?;
        let sh = Arc::clone(&shared);
        let follow = thread::Builder::new()
            .name("nagios-follow".into())
            .spawn(move || follower(&sh, &opts))?;
        Ok(Engine {
            shared,
            joined: vec![sched, follow],
        })
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// Re-reads the configuration directory; logs refused files once per
/// change; forgets the results of sources that are gone.
fn rescan(shared: &Shared, dir: &std::path::Path) {
    let scan = config::scan(dir);
    {
        let mut errs = shared.config_errors.lock();
        if *errs != scan.errors {
            for e in scan.errors.iter().filter(|e| !errs.contains(e)) {
                eprintln!("pmda-nagios: ignoring {e}");
            }
            *errs = scan.errors;
        }
    }
    let names: HashSet<String> = scan.sources.iter().map(|s| s.name().to_string()).collect();
    shared.store.lock().retain_sources(&|s| names.contains(s));
    *shared.sources.write() = scan.sources;
}

struct Job {
    check: CheckConfig,
    due: Instant,
}

fn scheduler(shared: &Shared, opts: &EngineOptions, jobs: &Sender<Job>, done: &Receiver<String>) {
    let mut stamp = config::stamp(&opts.config_dir);
    let mut last_scan = Instant::now();
    let mut queue: BinaryHeap<Reverse<(Instant, String)>> = BinaryHeap::new();
    let mut checks: HashMap<String, CheckConfig> = HashMap::new();
    let mut in_flight: HashSet<String> = HashSet::new();
    let refresh_checks =
        |checks: &mut HashMap<String, CheckConfig>,
         queue: &mut BinaryHeap<Reverse<(Instant, String)>>| {
            let now = Instant::now();
            let new: HashMap<String, CheckConfig> = shared
                .sources
                .read()
                .iter()
                .filter_map(|s| match s {
                    Source::Check(c) => Some((c.name.clone(), c.clone())),
                    Source::File(_) => None,
                })
                .collect();
            for name in new.keys() {
                if !checks.contains_key(name) {
                    queue.push(Reverse((now, name.clone())));
                }
            }
            *checks = new;
        };
    refresh_checks(&mut checks, &mut queue);
    while !shared.stop.load(Ordering::Acquire) {
        while let Ok(name) = done.try_recv() {
            in_flight.remove(&name);
        }
        if last_scan.elapsed() >= opts.rescan {
            last_scan = Instant::now();
            let now_stamp = config::stamp(&opts.config_dir);
            if now_stamp != stamp {
                stamp = now_stamp;
                rescan(shared, &opts.config_dir);
                refresh_checks(&mut checks, &mut queue);
            }
        }
        let now = Instant::now();
        while let Some(Reverse((due, _))) = queue.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((due, name))) = queue.pop() else {
                break;
            };
            let Some(check) = checks.get(&name) else {
                continue;
            };
            queue.push(Reverse((
                due + check.interval.max(Duration::from_millis(100)),
                name.clone(),
            )));
            if in_flight.contains(&name) {
                continue;
            }
            match jobs.try_send(Job {
                check: check.clone(),
                due,
            }) {
                Ok(()) => {
                    in_flight.insert(name);
                }
                Err(_) => {
                    // Every worker busy: try again shortly, keeping its turn.
                    queue.push(Reverse((now + Duration::from_millis(50), name)));
                    break;
                }
            }
        }
        let next = queue
            .peek()
            .map(|Reverse((d, _))| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(250));
        thread::sleep(next.clamp(Duration::from_millis(5), Duration::from_millis(250)));
    }
}

fn worker(shared: &Shared, jobs: &Receiver<Job>, done: &Sender<String>) {
    let mut last_error: HashMap<String, String> = HashMap::new();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let job = match jobs.recv_timeout(Duration::from_millis(500)) {
            Ok(j) => j,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        let c = &job.check;
        let latency = job.due.elapsed().as_secs_f64();
        let user = match &c.user {
            None => Ok(None),
            // SAFETY: geteuid has no preconditions.
            Some(_) if unsafe { libc::geteuid() } != 0 => {
                Err("USER needs the agent to run as root".to_string())
            }
            Some(u) => runner::lookup_user(u)
                .map(Some)
                .ok_or_else(|| format!("no such user {u:?}")),
        };
        shared.running.fetch_add(1, Ordering::AcqRel);
        let run = match user {
            Ok(u) => runner::run(&c.command, c.timeout, u),
            Err(e) => runner::RunResult {
                state: 3,
                output: format!("({e})"),
                exec_time: 0.0,
                timed_out: false,
                truncated: false,
                failed_to_start: true,
            },
        };
        shared.running.fetch_sub(1, Ordering::AcqRel);
        let regex_values = regex_values(c, &run.output);
        let mut store = shared.store.lock();
        store.record(NewResult {
            key: SeriesKey {
                source: c.name.clone(),
                service: None,
                host_checks: false,
            },
            host: "",
            state: Some(run.state),
            output: &run.output,
            extra_perfdata: "",
            exec_time: Some(run.exec_time),
            latency: Some(latency),
            when: SystemTime::now(),
            regex_values,
        });
        let st = store.stats(&c.name);
        st.calls += 1;
        st.bytes += run.output.len() as u64;
        if run.timed_out {
            st.timeouts += 1;
        }
        if run.failed_to_start {
            st.errors += 1;
            st.last_error = run.output.clone();
        }
        drop(store);
        if run.failed_to_start || run.timed_out {
            let prev = last_error.insert(c.name.clone(), run.output.clone());
            if prev.as_deref() != Some(run.output.as_str()) {
                eprintln!("pmda-nagios: check {}: {}", c.name, run.output.trim());
            }
        } else {
            last_error.remove(&c.name);
        }
        let _ = done.send(c.name.clone());
    }
}

/// Values a check's REGEX takes from its status text: named groups by
/// name, others by number.
fn regex_values(c: &CheckConfig, output: &str) -> Vec<(String, f64, String)> {
    let Some(re) = &c.regex else {
        return Vec::new();
    };
    let status = output.lines().next().unwrap_or("");
    let Some(caps) = re.captures(status) else {
        return Vec::new();
    };
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut out = Vec::new();
    for (i, m) in caps.iter().enumerate().skip(1) {
        let Some(m) = m else { continue };
        let Ok(v) = m.as_str().trim().parse::<f64>() else {
            continue;
        };
        let label = names[i].map_or_else(|| i.to_string(), str::to_string);
        let uom = c
            .units
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, u)| u.clone())
            .unwrap_or_default();
        out.push((label, v, uom));
    }
    out
}

fn follower(shared: &Shared, opts: &EngineOptions) {
    let mut followers: HashMap<String, (FileConfig, Follower)> = HashMap::new();
    while !shared.stop.load(Ordering::Acquire) {
        let files: Vec<FileConfig> = shared
            .sources
            .read()
            .iter()
            .filter_map(|s| match s {
                Source::File(f) => Some(f.clone()),
                Source::Check(_) => None,
            })
            .collect();
        followers.retain(|name, (cfg, _)| {
            files
                .iter()
                .any(|f| &f.name == name && f.path == cfg.path && f.service == cfg.service)
        });
        for f in files {
            followers.entry(f.name.clone()).or_insert_with(|| {
                let pos = opts
                    .state_dir
                    .as_ref()
                    .map(|d| d.join(format!("nagios.{}.pos", f.name)));
                let fol = Follower::new(&f.path, pos);
                (f, fol)
            });
        }
        for (cfg, fol) in followers.values_mut() {
            poll_file(shared, cfg, fol);
        }
        let mut slept = Duration::ZERO;
        while slept < opts.poll && !shared.stop.load(Ordering::Acquire) {
            let step = Duration::from_millis(50).min(opts.poll - slept);
            thread::sleep(step);
            slept += step;
        }
    }
}

fn poll_file(shared: &Shared, cfg: &FileConfig, fol: &mut Follower) {
    let mut lines: Vec<String> = Vec::new();
    let polled = fol.poll(|l| lines.push(l.to_string()));
    if polled.bytes == 0 && polled.rotations == 0 {
        return;
    }
    let mut store = shared.store.lock();
    let mut bad = 0;
    for line in &lines {
        let rec = cfg.service.read(line).or_else(|_| cfg.host.read(line));
        let Ok(rec) = rec else {
            bad += 1;
            continue;
        };
        let (service, host_checks) = match rec.kind {
            Kind::Service => (rec.service.unwrap_or(HOST_SERVICE).to_string(), false),
            Kind::Host => (HOST_SERVICE.to_string(), true),
        };
        let when = rec
            .timet
            .and_then(|t| u64::try_from(t).ok())
            .map(|t| SystemTime::UNIX_EPOCH + Duration::from_secs(t))
            .unwrap_or_else(SystemTime::now);
        store.record(NewResult {
            key: SeriesKey {
                source: cfg.name.clone(),
                service: Some(service),
                host_checks,
            },
            host: rec.host,
            state: rec.state,
            output: rec.output,
            extra_perfdata: rec.perfdata,
            exec_time: rec.exec_time,
            latency: rec.latency,
            when,
            regex_values: Vec::new(),
        });
    }
    let st = store.stats(&cfg.name);
    st.calls += 1;
    st.bytes += polled.bytes;
    st.rotations += polled.rotations;
    st.parse_errors += bad + polled.too_long;
}
