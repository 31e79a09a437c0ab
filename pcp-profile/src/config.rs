//! What the profiler is told: [`ProfilerConfig`], in pyroscope.ebpf's words
//! and with its defaults where it has the option, and the parsers of the
//! command-line spellings (durations, targets, demangle modes).

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::error::ProfileError;

/// How the profiler runs. [`Default`] gives pyroscope.ebpf's defaults.
#[derive(Debug, Clone)]
pub struct ProfilerConfig {
    /// Stack samples per second per CPU (`--sample-rate`, 97).
    pub sample_rate: u32,
    /// How often samples are gathered into profiles (`--collect-interval`, 15 s).
    pub collect_interval: Duration,
    /// What to profile and how samples are grouped (`--targets`); empty means
    /// every process, in one group.
    pub targets: Vec<TargetSpec>,
    /// Drop samples of processes that match no target (`--targets-only`,
    /// true as pyroscope.ebpf). Without targets everything is kept.
    pub targets_only: bool,
    /// The `service_name` of samples that match no target.
    pub default_service_name: String,
    /// Collect user-space stacks (`--no-user-stacks` turns it off).
    pub user_stacks: bool,
    /// Collect kernel stacks (`--no-kernel-stacks` turns it off).
    pub kernel_stacks: bool,
    /// Also record off-CPU time per stack from `sched:sched_switch`
    /// (`--off-cpu`).
    pub off_cpu: bool,
    /// How C++ and Rust names are shown (`--demangle`, `none`).
    pub demangle: Demangle,
    /// Symbol caches and eBPF map sizes.
    pub caches: CacheSizes,
    /// The bpftrace executable.
    pub bpftrace: PathBuf,
    /// Where `*.pb.gz` files go (`--output DIR`), if anywhere.
    pub output_dir: Option<PathBuf>,
    /// Most profile files kept in the output directory (oldest removed first).
    pub output_max_files: usize,
    /// Intervals kept in memory for `serve` (`/debug/pprof/profile`, the
    /// flame-graph page), per target group and profile type.
    pub keep_intervals: usize,
    /// Push to a Pyroscope server, if set.
    pub push: Option<PushConfig>,
    /// The `host` label (this machine's name by default).
    pub hostname: String,
    /// Where stripped files' debug files are looked for, by build id
    /// (`DIR/.build-id/ab/cdef….debug`) and by debug link (`--debug-dir`;
    /// `/usr/lib/debug` and `/lib/debug`, as blazesym and gdb look).
    pub debug_dirs: Vec<PathBuf>,
}

impl Default for ProfilerConfig {
    fn default() -> ProfilerConfig {
        ProfilerConfig {
            sample_rate: 97,
            collect_interval: Duration::from_secs(15),
            targets: Vec::new(),
            targets_only: true,
            default_service_name: "unspecified".into(),
            user_stacks: true,
            kernel_stacks: true,
            off_cpu: false,
            demangle: Demangle::None,
            caches: CacheSizes::default(),
            bpftrace: PathBuf::from("bpftrace"),
            output_dir: None,
            output_max_files: 1000,
            keep_intervals: 40,
            push: None,
            hostname: hostname(),
            debug_dirs: ProfilerConfig::default_debug_dirs(),
        }
    }
}

impl ProfilerConfig {
    /// Where debug files are looked for by default: `/usr/lib/debug` and
    /// `/lib/debug`.
    pub fn default_debug_dirs() -> Vec<PathBuf> {
        vec!["/usr/lib/debug".into(), "/lib/debug".into()]
    }

    /// Checks the values against what bpftrace and the profiler can do.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if !(1..=10_000).contains(&self.sample_rate) {
            return Err(ProfileError::config(
                "--sample-rate",
                format!("{} Hz is outside 1..=10000", self.sample_rate),
            ));
        }
        if self.collect_interval < Duration::from_millis(100)
            || self.collect_interval > Duration::from_secs(3600)
        {
            return Err(ProfileError::config(
                "--collect-interval",
                format!("{:?} is outside 100ms..=1h", self.collect_interval),
            ));
        }
        if !self.user_stacks && !self.kernel_stacks {
            return Err(ProfileError::config(
                "--no-user-stacks/--no-kernel-stacks",
                "with neither user nor kernel stacks there is nothing to profile",
            ));
        }
        let c = &self.caches;
        for (name, v) in [
            ("--pid-cache-size", c.pid_cache_size),
            ("--build-id-cache-size", c.build_id_cache_size),
            ("--same-file-cache-size", c.same_file_cache_size),
            ("--container-id-cache-size", c.container_id_cache_size),
            ("--symbols-map-size", c.symbols_map_size),
            ("--pid-map-size", c.pid_map_size),
        ] {
            if v == 0 || v > 1 << 24 {
                return Err(ProfileError::config(
                    name,
                    format!("{v} is outside 1..=16777216"),
                ));
            }
        }
        if self.keep_intervals == 0 {
            return Err(ProfileError::config(
                "--keep-intervals",
                "must be at least 1",
            ));
        }
        if let Some(p) = &self.push {
            if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                return Err(ProfileError::config(
                    "--pyroscope-url",
                    format!("{:?} is not an http:// or https:// URL", p.url),
                ));
            }
            if p.queue_size == 0 {
                return Err(ProfileError::config(
                    "--pyroscope-queue-size",
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }

    /// The sampling period in nanoseconds (pprof's `period`).
    pub fn period_nanos(&self) -> i64 {
        1_000_000_000 / i64::from(self.sample_rate.max(1))
    }
}

/// Cache and map sizes, named as pyroscope.ebpf names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// Processes whose memory maps are kept (`--pid-cache-size`, 32).
    pub pid_cache_size: usize,
    /// ELF symbol tables kept by build id (`--build-id-cache-size`, 64).
    pub build_id_cache_size: usize,
    /// ELF symbol tables of files without a build id, kept by file identity
    /// (`--same-file-cache-size`, 8).
    pub same_file_cache_size: usize,
    /// Processes whose cgroup and container id are kept
    /// (`--container-id-cache-size`, 1024).
    pub container_id_cache_size: usize,
    /// Entries of bpftrace's stack maps (`--symbols-map-size`, 16384).
    pub symbols_map_size: usize,
    /// Entries of bpftrace's per-thread maps for off-CPU time
    /// (`--pid-map-size`, 2048).
    pub pid_map_size: usize,
}

impl Default for CacheSizes {
    fn default() -> CacheSizes {
        CacheSizes {
            pid_cache_size: 32,
            build_id_cache_size: 64,
            same_file_cache_size: 8,
            container_id_cache_size: 1024,
            symbols_map_size: 16384,
            pid_map_size: 2048,
        }
    }
}

/// How mangled C++ and Rust names are shown (pyroscope.ebpf's `demangle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Demangle {
    /// C++ names as the binary has them (`_ZN2ns3HotIiE4spinEi`); Rust names
    /// are still demangled, without their hash: a mangled Rust name is
    /// never what anyone wants to read.
    #[default]
    None,
    /// Names only: no parameters, no template or generic arguments
    /// (`ns::Hot::spin`).
    Simplified,
    /// Names with template arguments, without parameters (`ns::Hot<int>::spin`).
    Templates,
    /// Everything the mangled name says, Rust hashes included
    /// (`ns::Hot<int>::spin(int)`).
    Full,
}

impl std::str::FromStr for Demangle {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Demangle, ProfileError> {
        match s {
            "none" => Ok(Demangle::None),
            "simplified" => Ok(Demangle::Simplified),
            "templates" => Ok(Demangle::Templates),
            "full" => Ok(Demangle::Full),
            _ => Err(ProfileError::config(
                "--demangle",
                format!("{s:?}: use none, simplified, templates or full"),
            )),
        }
    }
}

/// What a target selects.
#[derive(Debug, Clone)]
pub enum TargetMatch {
    /// One process (thread group) id.
    Pid(u32),
    /// Processes whose command name (`comm`) matches the expression.
    Comm(Regex),
    /// Processes in this cgroup (v2 path as in `/proc/PID/cgroup`) or below.
    Cgroup(String),
    /// Processes of the container whose id starts with this (at least 12
    /// hexadecimal digits, as `docker ps` shows).
    Container(String),
}

/// One `--targets` entry: `[NAME=]pid:N`, `comm:REGEX`, `cgroup:PATH` or
/// `container:ID`. Samples of a process go to the first target it matches.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The `service_name` label of the group.
    pub service_name: String,
    /// What it selects.
    pub matcher: TargetMatch,
    /// The text it was given as.
    pub spec: String,
}

impl TargetSpec {
    /// Parses `[NAME=]KIND:VALUE`.
    ///
    /// ```
    /// let t: pcp_profile::TargetSpec = "web=comm:^nginx$".parse().unwrap();
    /// assert_eq!(t.service_name, "web");
    /// let t: pcp_profile::TargetSpec = "cgroup:/system.slice/redis.service".parse().unwrap();
    /// assert_eq!(t.service_name, "redis.service");
    /// assert!("pid:abc".parse::<pcp_profile::TargetSpec>().is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<TargetSpec, ProfileError> {
        let bad = |m: String| ProfileError::config("--targets", format!("{spec:?}: {m}"));
        let (name, rest) = match spec.split_once('=') {
            Some((n, r)) if !n.contains(':') => (Some(n.trim().to_string()), r),
            _ => (None, spec),
        };
        let (kind, value) = rest.split_once(':').ok_or_else(|| {
            bad("expected KIND:VALUE with KIND pid, comm, cgroup or container".into())
        })?;
        if value.is_empty() {
            return Err(bad("the value is empty".into()));
        }
        let (matcher, default_name) = match kind {
            "pid" => {
                let pid: u32 = value
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("a pid is a positive number".into()))?;
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_default();
                let name = if comm.is_empty() {
                    format!("pid-{pid}")
                } else {
                    comm
                };
                (TargetMatch::Pid(pid), name)
            }
            "comm" => {
                let re = Regex::new(value).map_err(|e| bad(format!("bad expression: {e}")))?;
                (TargetMatch::Comm(re), value.to_string())
            }
            "cgroup" => {
                if !value.starts_with('/') {
                    return Err(bad("a cgroup path starts with /".into()));
                }
                let p = value.trim_end_matches('/');
                let last = p.rsplit('/').next().unwrap_or("").to_string();
                let p = if p.is_empty() { "/" } else { p };
                (
                    TargetMatch::Cgroup(p.to_string()),
                    if last.is_empty() { "root".into() } else { last },
                )
            }
            "container" => {
                let id = value.to_ascii_lowercase();
                if id.len() < 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(
                        "a container id is at least 12 hexadecimal digits".into()
                    ));
                }
                let short = id[..12].to_string();
                (TargetMatch::Container(id), short)
            }
            other => {
                return Err(bad(format!(
                    "unknown kind {other:?}: use pid, comm, cgroup or container"
                )))
            }
        };
        let service_name = match name {
            Some(n) if n.is_empty() => return Err(bad("the name before = is empty".into())),
            Some(n) => n,
            None => default_name,
        };
        Ok(TargetSpec {
            service_name,
            matcher,
            spec: spec.to_string(),
        })
    }
}

impl std::str::FromStr for TargetSpec {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<TargetSpec, ProfileError> {
        TargetSpec::parse(s)
    }
}

/// Where and how to push profiles to Pyroscope (its `/ingest` API), with
/// pyroscope.write's defaults.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The server's base URL, e.g. `http://127.0.0.1:4040`.
    pub url: String,
    /// Deadline of one request (`--pyroscope-timeout`, 10 s).
    pub timeout: Duration,
    /// First wait before a retry (`--pyroscope-min-backoff`, 500 ms),
    /// doubled at each retry.
    pub min_backoff: Duration,
    /// Longest wait between retries (`--pyroscope-max-backoff`, 5 min).
    pub max_backoff: Duration,
    /// Retries of one profile before it is dropped (`--pyroscope-max-retries`, 10).
    pub max_retries: u32,
    /// Profiles waiting to be sent; when full the oldest is dropped and
    /// counted (`--pyroscope-queue-size`, 64).
    pub queue_size: usize,
    /// `X-Scope-OrgID` header for a multi-tenant server, if any.
    pub tenant_id: Option<String>,
}

impl PushConfig {
    /// Pushing to `url` with the defaults.
    pub fn new(url: impl Into<String>) -> PushConfig {
        PushConfig {
            url: url.into().trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            max_retries: 10,
            queue_size: 64,
            tenant_id: None,
        }
    }
}

/// Parses a duration as Go and pyroscope write them: `15s`, `500ms`, `1m30s`,
/// `2h`, `250us`; a bare number is seconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(pcp_profile::parse_duration("1m30s").unwrap(), Duration::from_secs(90));
/// assert_eq!(pcp_profile::parse_duration("500ms").unwrap(), Duration::from_millis(500));
/// assert_eq!(pcp_profile::parse_duration("2").unwrap(), Duration::from_secs(2));
/// assert!(pcp_profile::parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?}: a number needs a unit (ns, us, ms, s, m, h)"))?;
        if num_end == 0 {
            return Err(format!("{s:?}: expected a number at {rest:?}"));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("{s:?}: bad number {:?}", &rest[..num_end]))?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| i + num_end);
        let scale = match &rest[num_end..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("{s:?}: unknown unit {u:?} (ns, us, ms, s, m, h)")),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("{s:?}: {e}"))
}

/// This machine's host name (the `host` label).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_pyroscope_ebpf_s() {
        let c = ProfilerConfig::default();
        assert_eq!(c.sample_rate, 97);
        assert_eq!(c.collect_interval, Duration::from_secs(15));
        assert_eq!(c.caches.pid_cache_size, 32);
        assert_eq!(c.caches.build_id_cache_size, 64);
        assert_eq!(c.caches.same_file_cache_size, 8);
        assert_eq!(c.caches.container_id_cache_size, 1024);
        assert_eq!(c.demangle, Demangle::None);
        assert!(c.user_stacks && c.kernel_stacks && c.targets_only);
        assert_eq!(c.period_nanos(), 10_309_278);
        c.validate().unwrap();
    }

    #[test]
    fn target_specs() {
        let t = TargetSpec::parse("pid:1").unwrap();
        assert!(matches!(t.matcher, TargetMatch::Pid(1)));
        let t = TargetSpec::parse("api=container:0123456789abcdef").unwrap();
        assert_eq!(t.service_name, "api");
        let t = TargetSpec::parse("container:0123456789ABCDEF").unwrap();
        assert_eq!(t.service_name, "0123456789ab");
        // A comm expression may hold '=' and ':' after the kind.
        let t = TargetSpec::parse("comm:^a=b:c$").unwrap();
        assert_eq!(t.service_name, "^a=b:c$");
        for bad in [
            "pid:0",
            "pid:",
            "comm:(",
            "cgroup:relative",
            "container:xyz",
            "host:1",
            "=pid:1",
            "nothing",
        ] {
            assert!(TargetSpec::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn validation_refuses_nonsense() {
        let mut c = ProfilerConfig {
            sample_rate: 0,
            ..ProfilerConfig::default()
        };
        assert!(c.validate().is_err());
        c.sample_rate = 97;
        c.user_stacks = false;
        c.kernel_stacks = false;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("nothing to profile"));
        c.kernel_stacks = true;
        c.push = Some(PushConfig::new("ftp://x"));
        assert!(c.validate().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
