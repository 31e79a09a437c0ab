//! `pcp-agent profile` and the profiler options shared with `serve
//! --profile`: pyroscope.ebpf's option names and defaults, turned into a
//! [`pcp_profile::ProfilerConfig`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pcp_profile::{
    parse_duration, CacheSizes, Demangle, Profiler, ProfilerConfig, PushConfig, TargetSpec,
};

/// The profiler's options (`pcp-agent profile`, `pcp-agent serve --profile`).
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileArgs {
    /// Write one SERVICE-TYPE-TIME-SEQ.pb.gz per interval, target group and
    /// profile type into DIR (required by `profile`).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Stack samples per second per CPU.
    #[arg(long, default_value_t = 97)]
    pub sample_rate: u32,
    /// How often samples are gathered into profiles (15s, 500ms, 1m...).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub collect_interval: Duration,
    /// A target group: [NAME=]pid:N, comm:REGEX, cgroup:PATH or
    /// container:ID (repeatable; a process goes to the first it matches).
    #[arg(long = "targets", value_name = "SPEC", value_parser = TargetSpec::parse)]
    pub targets: Vec<TargetSpec>,
    /// Drop samples of processes that match no target (with --targets).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub targets_only: bool,
    /// service_name of processes that match no target.
    #[arg(long, default_value = "unspecified")]
    pub default_service_name: String,
    /// Do not collect user-space stacks.
    #[arg(long)]
    pub no_user_stacks: bool,
    /// Do not collect kernel stacks.
    #[arg(long)]
    pub no_kernel_stacks: bool,
    /// Also profile time off CPU per stack (sched:sched_switch).
    #[arg(long)]
    pub off_cpu: bool,
    /// C++ demangling: none, simplified, templates or full (Rust names are
    /// always demangled; full keeps their hash).
    #[arg(long, default_value = "none", value_parser = parse_demangle)]
    pub demangle: Demangle,
    /// Processes whose memory maps are cached.
    #[arg(long, default_value_t = 32)]
    pub pid_cache_size: usize,
    /// ELF symbol tables cached by build id.
    #[arg(long, default_value_t = 64)]
    pub build_id_cache_size: usize,
    /// ELF symbol tables of files without a build id, cached by file.
    #[arg(long, default_value_t = 8)]
    pub same_file_cache_size: usize,
    /// Processes whose cgroup and container id are cached.
    #[arg(long, default_value_t = 1024)]
    pub container_id_cache_size: usize,
    /// Entries of bpftrace's stack maps.
    #[arg(long, default_value_t = 16384)]
    pub symbols_map_size: usize,
    /// Entries of bpftrace's per-thread maps (off-CPU).
    #[arg(long, default_value_t = 2048)]
    pub pid_map_size: usize,
    /// Intervals kept in memory per group and type (for serve).
    #[arg(long, default_value_t = 40)]
    pub keep_intervals: usize,
    /// Most profile files kept in --output (oldest removed first).
    #[arg(long, default_value_t = 1000)]
    pub output_max_files: usize,
    /// Where stripped files' debug files are looked for, by build id
    /// (DIR/.build-id/ab/cdef.debug) and by debug link (repeatable;
    /// replaces the defaults, /usr/lib/debug and /lib/debug).
    #[arg(long = "debug-dir", value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,
    /// The bpftrace executable.
    #[arg(long, default_value = "bpftrace", value_name = "PATH")]
    pub bpftrace: PathBuf,
    /// Push every profile to this Pyroscope server (its /ingest API).
    #[arg(long, value_name = "URL")]
    pub pyroscope_url: Option<String>,
    /// Deadline of one push request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub pyroscope_timeout: Duration,
    /// First wait before retrying a push (doubled each time).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub pyroscope_min_backoff: Duration,
    /// Longest wait between push retries.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub pyroscope_max_backoff: Duration,
    /// Retries of one profile before it is dropped.
    #[arg(long, default_value_t = 10)]
    pub pyroscope_max_retries: u32,
    /// Profiles waiting to be pushed; when full the oldest is dropped.
    #[arg(long, default_value_t = 64)]
    pub pyroscope_queue_size: usize,
    /// X-Scope-OrgID header for a multi-tenant Pyroscope.
    #[arg(long, value_name = "ID")]
    pub pyroscope_tenant_id: Option<String>,
}

fn parse_demangle(s: &str) -> Result<Demangle, String> {
    s.parse()
        .map_err(|e: pcp_profile::ProfileError| e.to_string())
}

impl ProfileArgs {
    /// The profiler configuration these options describe.
    pub fn config(&self) -> ProfilerConfig {
        ProfilerConfig {
            sample_rate: self.sample_rate,
            collect_interval: self.collect_interval,
            targets: self.targets.clone(),
            targets_only: self.targets_only,
            default_service_name: self.default_service_name.clone(),
            user_stacks: !self.no_user_stacks,
            kernel_stacks: !self.no_kernel_stacks,
            off_cpu: self.off_cpu,
            demangle: self.demangle,
            caches: CacheSizes {
                pid_cache_size: self.pid_cache_size,
                build_id_cache_size: self.build_id_cache_size,
                same_file_cache_size: self.same_file_cache_size,
                container_id_cache_size: self.container_id_cache_size,
                symbols_map_size: self.symbols_map_size,
                pid_map_size: self.pid_map_size,
            },
            bpftrace: self.bpftrace.clone(),
            debug_dirs: if self.debug_dirs.is_empty() {
                ProfilerConfig::default_debug_dirs()
            } else {
                self.debug_dirs.clone()
            },
            output_dir: self.output.clone(),
            output_max_files: self.output_max_files,
            keep_intervals: self.keep_intervals,
            push: self.pyroscope_url.as_ref().map(|u| PushConfig {
                timeout: self.pyroscope_timeout,
                min_backoff: self.pyroscope_min_backoff,
                max_backoff: self.pyroscope_max_backoff,
                max_retries: self.pyroscope_max_retries,
                queue_size: self.pyroscope_queue_size,
                tenant_id: self.pyroscope_tenant_id.clone(),
                ..PushConfig::new(u.clone())
            }),
            ..ProfilerConfig::default()
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set a flag instead of killing the process, so
/// the profiler can print its last interval.
pub fn catch_stop_signals() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// Whether SIGINT or SIGTERM arrived (after [`catch_stop_signals`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `pcp-agent profile`: profiles until interrupted (or for `duration`),
/// printing each file written.
pub fn run(args: &ProfileArgs, duration: Option<Duration>) -> Result<(), String> {
    if args.output.is_none() {
        return Err("profile: --output DIR is required".into());
    }
    catch_stop_signals();
    let mut profiler = Profiler::start(args.config()).map_err(|e| format!("profile: {e}"))?;
    eprintln!(
        "pcp-agent profile: sampling at {} Hz, writing every {:?} to {}",
        args.sample_rate,
        args.collect_interval,
        args.output
            .as_ref()
            .map_or(String::new(), |d| d.display().to_string())
    );
    let started = Instant::now();
    let mut printed = 0u64;
    loop {
        let done = stop_requested()
            || duration.is_some_and(|d| started.elapsed() >= d)
            || profiler.finished();
        if done {
            let r = profiler.stop_and_wait();
            print_new(&profiler, &mut printed);
            let s = profiler.stats().snapshot();
            eprintln!(
                "pcp-agent profile: {} intervals, {} samples, {} lost, {} stack errors, {} frames without symbol",
                s.intervals, s.samples, s.lost_samples, s.stack_errors, s.symbolize_misses
            );
            return r.map_err(|e| format!("profile: {e}"));
        }
        print_new(&profiler, &mut printed);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prints the files written since the last call: `PATH TYPE SERVICE TOTAL`.
fn print_new(profiler: &Profiler, printed: &mut u64) {
    for s in profiler.store().list() {
        if s.id > *printed {
            *printed = s.id;
            if let Some(f) = &s.file {
                println!("{f}\t{}\t{}\t{}", s.kind, s.service_name, s.total);
            }
        }
    }
}

/// The profiler's counters as the bpftrace agent's `bpftrace.profiler.*`
/// metrics read them.
fn snapshot_of(stats: &pcp_profile::ProfilerStats) -> pmda_bpftrace::profiler::ProfilerSnapshot {
    let s = stats.snapshot();
    pmda_bpftrace::profiler::ProfilerSnapshot {
        running: s.running,
        intervals: s.intervals,
        targets: s
            .targets
            .iter()
            .map(|(n, t)| (n.clone(), t.samples, t.interval_samples))
            .collect(),
        lost_samples: s.lost_samples,
        stack_errors: s.stack_errors,
        symbolize_misses: s.symbolize_misses,
        push_errors: s.push_errors,
        push_dropped: s.push_dropped,
        push_queue_depth: s.push_queue_depth,
        push_sent: s.push_sent,
    }
}

/// A profiler run elsewhere (`serve --profile`), seen through its counters.
#[derive(Debug)]
pub struct StatsSource(pub std::sync::Arc<pcp_profile::ProfilerStats>);

impl pmda_bpftrace::profiler::ProfilerSource for StatsSource {
    fn snapshot(&self) -> pmda_bpftrace::profiler::ProfilerSnapshot {
        snapshot_of(&self.0)
    }
}

/// A profiler owned by the bpftrace agent (`--bpftrace-profile FILE`): it
/// runs as long as the agent holds it.
#[derive(Debug)]
pub struct OwnedProfiler(pub Profiler);

impl pmda_bpftrace::profiler::ProfilerSource for OwnedProfiler {
    fn snapshot(&self) -> pmda_bpftrace::profiler::ProfilerSnapshot {
        snapshot_of(self.0.stats())
    }
}

/// Reads profiler options from `path`: one option per line as on the
/// command line (`--sample-rate 97`, `--targets web=comm:^nginx$`,
/// `--off-cpu`), `#` comments and blank lines ignored.
pub fn args_from_file(path: &std::path::Path) -> Result<ProfileArgs, String> {
    use clap::Parser;
    #[derive(clap::Parser)]
    #[command(name = "--bpftrace-profile")]
    struct FileArgs {
        #[command(flatten)]
        args: ProfileArgs,
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut argv = vec!["--bpftrace-profile".to_string()];
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(char::is_whitespace) {
            Some((opt, value)) => {
                argv.push(opt.to_string());
                argv.push(value.trim().to_string());
            }
            None => argv.push(line.to_string()),
        }
    }
    FileArgs::try_parse_from(argv)
        .map(|f| f.args)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Starts the profiler the bpftrace agent runs under pmcd when given
/// `--bpftrace-profile FILE`; root only, as bpftrace is.
pub fn start_for_agent(
    path: &std::path::Path,
) -> Result<std::sync::Arc<dyn pmda_bpftrace::profiler::ProfilerSource>, String> {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(format!(
            "--bpftrace-profile: the profiler runs bpftrace and needs root (running as uid {euid})"
        ));
    }
    let args = args_from_file(path)?;
    let p = Profiler::start(args.config()).map_err(|e| format!("--bpftrace-profile: {e}"))?;
    Ok(std::sync::Arc::new(OwnedProfiler(p)))
}
