//! The profiler: one thread that runs the profile program, and for each
//! interval it prints turns the stack maps into one [`Profile`] per target
//! group and profile type, symbolized, then writes it (`--output`), keeps
//! it (for `serve`), and queues it for Pyroscope.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, RecvTimeoutError};

use crate::config::ProfilerConfig;
use crate::error::ProfileError;
use crate::model::{Frame, Profile, ProfileKind};
use crate::output::OutputDir;
use crate::parse::parse_key;
use crate::push::{app_name, PushItem, Pusher};
use crate::runner::{Dump, Runner, RunnerEvent};
use crate::script::KeyLayout;
use crate::stats::ProfilerStats;
use crate::store::ProfileStore;
use crate::symbolize::Symbolizer;
use crate::targets::{Group, Targets};

/// Time bpftrace gets to print its last interval and exit after SIGINT.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How long [`Profiler::start`] waits for bpftrace to attach its probes.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running profiler. Dropping it stops it.
#[derive(Debug)]
pub struct Profiler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ProfileError>>>,
    store: Arc<ProfileStore>,
    stats: Arc<ProfilerStats>,
}

impl Profiler {
    /// Validates `config`, starts bpftrace and waits until its probes are
    /// attached (or it fails: the error says why, with bpftrace's words).
    pub fn start(config: ProfilerConfig) -> Result<Profiler, ProfileError> {
        config.validate()?;
        let stats = Arc::new(ProfilerStats::default());
        let store = Arc::new(ProfileStore::new(
            config.keep_intervals,
            stats.clone(),
            config.sample_rate,
            config.collect_interval,
        ));
        let output = match &config.output_dir {
            Some(d) => Some(OutputDir::open(d, config.output_max_files)?),
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = bounded::<Result<(), ProfileError>>(1);
        let thread = {
            let (stop, store, stats) = (stop.clone(), store.clone(), stats.clone());
            std::thread::Builder::new()
                .name("profiler".into())
                .spawn(move || {
                    // bpftrace is tied to this thread: it dies with it.
                    let runner = match Runner::start(&config) {
                        Ok(r) => r,
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = ready_tx.send(Err(e));
                            return Err(ProfileError::Bpftrace(msg));
                        }
                    };
                    let mut work = Work::new(config, runner, output, store, stats)?;
                    work.run(&stop, ready_tx)
                })
                .map_err(|e| ProfileError::Bpftrace(format!("cannot start a thread: {e}")))?
        };
        let mut p = Profiler {
            stop,
            thread: Some(thread),
            store,
            stats,
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(p),
            Ok(Err(e)) => {
                p.stop_and_wait().ok();
                Err(e)
            }
            Err(_) => {
                p.stop_and_wait().ok();
                Err(ProfileError::Bpftrace(format!(
                    "no probes attached within {START_TIMEOUT:?}"
                )))
            }
        }
    }

    /// The kept profiles.
    pub fn store(&self) -> &Arc<ProfileStore> {
        &self.store
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ProfilerStats> {
        &self.stats
    }

    /// Whether the profiler thread has ended (bpftrace exited).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops bpftrace (its last, partial interval is processed) and waits.
    pub fn stop_and_wait(&mut self) -> Result<(), ProfileError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(ProfileError::Bpftrace(
                    "the profiler thread panicked".into(),
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        let _ = self.stop_and_wait();
    }
}

/// The profiler thread's state.
struct Work {
    config: ProfilerConfig,
    runner: Runner,
    output: Option<OutputDir>,
    store: Arc<ProfileStore>,
    stats: Arc<ProfilerStats>,
    pusher: Option<Pusher>,
    symbolizer: Symbolizer,
    targets: Targets,
    layout: KeyLayout,
    last_end: SystemTime,
    key_errors: u64,
}

impl Work {
    fn new(
        config: ProfilerConfig,
        runner: Runner,
        output: Option<OutputDir>,
        store: Arc<ProfileStore>,
        stats: Arc<ProfilerStats>,
    ) -> Result<Work, ProfileError> {
        let pusher = match &config.push {
            Some(p) => Some(
                Pusher::start(p.clone(), stats.clone())
                    .map_err(|e| ProfileError::Bpftrace(format!("cannot start a thread: {e}")))?,
            ),
            None => None,
        };
        Ok(Work {
            symbolizer: Symbolizer::new(&config.caches, config.demangle)
                .with_debug_dirs(config.debug_dirs.clone()),
            targets: Targets::new(&config),
            layout: KeyLayout::of(&config),
            last_end: SystemTime::now(),
            key_errors: 0,
            config,
            runner,
            output,
            store,
            stats,
            pusher,
        })
    }

    fn run(
        &mut self,
        stop: &AtomicBool,
        ready: crossbeam_channel::Sender<Result<(), ProfileError>>,
    ) -> Result<(), ProfileError> {
        let mut ready = Some(ready);
        let mut stopping: Option<Instant> = None;
        let result = loop {
            if stop.load(Ordering::Acquire) && stopping.is_none() {
                self.runner.interrupt();
                stopping = Some(Instant::now());
            }
            if stopping.is_some_and(|t| t.elapsed() > STOP_GRACE) {
                self.runner.kill();
            }
            match self
                .runner
                .events()
                .recv_timeout(Duration::from_millis(100))
            {
                Ok(RunnerEvent::Ready(at)) => {
                    // The first interval starts when sampling does.
                    self.last_end = at;
                    self.stats.set_running(true);
                    if let Some(r) = ready.take() {
                        let _ = r.send(Ok(()));
                    }
                }
                Ok(RunnerEvent::Interval(d)) => self.interval(d),
                Ok(RunnerEvent::Exited(msg)) => {
                    break if stopping.is_some() {
                        Ok(())
                    } else {
                        self.stats.set_error(msg.clone());
                        Err(ProfileError::Bpftrace(msg))
                    };
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    break Err(ProfileError::Bpftrace("bpftrace's output ended".into()))
                }
            }
        };
        self.stats.set_running(false);
        if let Some(r) = ready.take() {
            let err = match &result {
                Err(e) => ProfileError::Bpftrace(e.to_string()),
                Ok(()) => ProfileError::Bpftrace("stopped before its probes were attached".into()),
            };
            let _ = r.send(Err(err));
        }
        if let Some(p) = &mut self.pusher {
            p.shutdown(Duration::from_secs(10));
        }
        result
    }

    /// Turns one interval's maps into profiles and hands them on.
    fn interval(&mut self, d: Dump) {
        let end = d.at.unwrap_or_else(SystemTime::now);
        let start = self.last_end.min(end);
        self.last_end = end;
        let duration = end.duration_since(start).unwrap_or_default();
        self.symbolizer.next_interval();
        self.targets.next_interval();
        let mut profiles: BTreeMap<(Group, ProfileKind), Profile> = BTreeMap::new();
        let mut seen_cpu: i64 = 0;
        for (kind, entries) in [(ProfileKind::Cpu, &d.cpu), (ProfileKind::OffCpu, &d.off)] {
            for (key, value) in entries {
                if kind == ProfileKind::Cpu {
                    seen_cpu += value;
                }
                let k = match parse_key(key, self.layout) {
                    Ok(k) => k,
                    Err(_) => {
                        self.key_errors += 1;
                        continue;
                    }
                };
                if *value <= 0 {
                    continue;
                }
                let Some(group) = self.targets.group_of(k.pid, &k.comm) else {
                    continue;
                };
                let mut frames: Vec<Frame> = Vec::with_capacity(k.kernel.len() + k.user.len());
                self.symbolizer.kernel_frames(&k.kernel, &mut frames);
                if !k.user.is_empty() {
                    self.symbolizer.user_frames(k.pid, &k.user, &mut frames);
                }
                if frames.is_empty() {
                    // bpftrace lost the stack (counted in stack_errors), or
                    // the thread had none: the sample still counts.
                    frames.push(self.symbolizer.unknown_frame(0));
                }
                let comm: Arc<str> = Arc::from(k.comm.as_str());
                let p = profiles.entry((group, kind)).or_insert_with(|| {
                    Profile::new(
                        kind,
                        self.targets.service_name(group),
                        self.targets.labels(group),
                        start,
                        duration,
                        self.config.period_nanos(),
                    )
                });
                p.add(&frames, k.pid, &comm, *value);
            }
        }
        let lost = (d.cpu_total - seen_cpu).max(0) as u64;
        let mut per_group: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((group, kind), p) in profiles {
            let e = per_group
                .entry(self.targets.service_name(group).to_string())
                .or_default();
            match kind {
                ProfileKind::Cpu => e.0 += p.total().max(0) as u64,
                ProfileKind::OffCpu => e.1 += p.total().max(0) as u64,
            }
            self.emit(p);
        }
        self.stats.record_interval(&per_group, lost);
        let c = self.runner.counters();
        let s = self.symbolizer.counts();
        self.stats.set_totals(
            c.stack_errors.load(Ordering::Relaxed),
            c.lost_events.load(Ordering::Relaxed),
            c.parse_errors.load(Ordering::Relaxed) + self.key_errors,
            s.hits,
            s.misses,
        );
    }

    fn emit(&mut self, p: Profile) {
        let needs_bytes = self.output.is_some() || self.pusher.is_some();
        let bytes = needs_bytes.then(|| crate::pprof::encode_gzip(&p));
        let mut file = None;
        if let (Some(out), Some(b)) = (&mut self.output, &bytes) {
            match out.write(&p.service_name, p.kind, p.start, b) {
                Ok(path) => {
                    self.stats.file_written(true);
                    file = Some(path);
                }
                Err(e) => {
                    self.stats.file_written(false);
                    self.stats.set_error(e.to_string());
                }
            }
        }
        if let (Some(pusher), Some(b)) = (&self.pusher, bytes) {
            let secs = |t: SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            };
            pusher.push(PushItem {
                name: app_name(&p.service_name, &p.labels),
                from: secs(p.start),
                until: secs(p.end()).max(secs(p.start) + 1),
                sample_rate: self.config.sample_rate,
                kind: p.kind,
                pprof: b,
            });
        }
        self.store.add(p, file);
    }
}
