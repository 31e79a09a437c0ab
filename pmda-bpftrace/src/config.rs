//! Configuration: [`BpftraceConfig`] (what the host passes) and [`Settings`],
//! the resolved contents of the INI file with pmdabpftrace's keys plus this
//! agent's limits.
//!
//! ```ini
//! [bpftrace]
//! bpftrace_path = bpftrace        # executable (PATH lookup)
//! script_expiry_time = 60         # seconds without a fetch before an unnamed script goes
//! max_throughput = 2097152        # bytes/s of output allowed per script
//! print_interval_ms = 1000        # how often the appended block prints the maps
//! stop_timeout = 5                # seconds between SIGINT and SIGKILL
//! max_output_bytes = 1048576      # bound of data.output
//! max_error_bytes = 65536         # bound of the kept stderr text
//!
//! [dynamic_scripts]
//! enabled = false                 # allow bpftrace.control.register
//! auth_enabled = true             # require a known client user ...
//! allowed_users = root            # ... from this list
//!
//! [limits]
//! max_scripts = 64                # registered scripts at once (dynamic registration refused beyond)
//! max_code_size = 65536           # bytes of script code
//! max_scripts_per_user = 8        # dynamic scripts per user
//! ```
//!
//! The legacy `[authentication] enabled / allowed_users` spelling is read as
//! the reference does (values not space-stripped), and `[dynamic_scripts]`
//! overrides it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::BpftraceError;

/// What the host passes to [`crate::BpftracePmda::new`].
#[derive(Debug, Clone, Default)]
pub struct BpftraceConfig {
    /// Directories whose `*.bt` files are started at start-up
    /// (`--bpftrace-autostart DIR`, repeatable). Each directory and script
    /// must be writable by root only.
    pub autostart_dirs: Vec<PathBuf>,
    /// The INI configuration file (`--bpftrace-config FILE`); `None` means
    /// the defaults (dynamic scripts disabled).
    pub config_file: Option<PathBuf>,
    /// Where persistent ids live (`state_dir/bpftrace`); `None` keeps them
    /// in `pcp_dir`, or in memory without it.
    pub state_dir: Option<PathBuf>,
    /// A running continuous profiler whose counters become
    /// `bpftrace.profiler.*` (see [`crate::profiler`]); none by default.
    pub profiler: Option<std::sync::Arc<dyn crate::profiler::ProfilerSource>>,
    /// PCP's agents' cache directory (`$PCP_VAR_DIR/config/pmda`): without
    /// `state_dir`, the ids are kept there as `151.<cache>.ids` (under
    /// pmcd, where pmdabpftrace's domain is ours and PCP's resets of
    /// `151.*` apply to them too).
    pub pcp_dir: Option<PathBuf>,
}

/// The resolved settings (defaults are pmdabpftrace's where it has the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The bpftrace executable.
    pub bpftrace_path: String,
    /// Unnamed scripts are deregistered after this long without a fetch.
    pub script_expiry_time: Duration,
    /// Output bytes per second above which a script is stopped with an error
    /// (also the longest line accepted).
    pub max_throughput: u64,
    /// Whether `bpftrace.control.register` is allowed at all.
    pub dynamic_enabled: bool,
    /// Whether the client must be a known user in `allowed_users`.
    pub auth_enabled: bool,
    /// Users allowed to register scripts.
    pub allowed_users: Vec<String>,
    /// The period of the appended print block.
    pub print_interval: Duration,
    /// Time between SIGINT and SIGKILL when stopping a script.
    pub stop_timeout: Duration,
    /// Bound of the `data.output` text.
    pub max_output_bytes: usize,
    /// Bound of the kept stderr text.
    pub max_error_bytes: usize,
    /// Most scripts registered at once.
    pub max_scripts: usize,
    /// Largest script accepted, in bytes.
    pub max_code_size: usize,
    /// Most dynamic scripts per user.
    pub max_scripts_per_user: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            bpftrace_path: "bpftrace".into(),
            script_expiry_time: Duration::from_secs(60),
            max_throughput: 2 * 1024 * 1024,
            dynamic_enabled: false,
            auth_enabled: true,
            allowed_users: Vec::new(),
            print_interval: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(5),
            max_output_bytes: 1024 * 1024,
            max_error_bytes: 64 * 1024,
            max_scripts: 64,
            max_code_size: 64 * 1024,
            max_scripts_per_user: 8,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

impl Settings {
    /// Reads `path`; a missing file gives the defaults, as in pmdabpftrace.
    pub fn load(path: &Path) -> Result<(Settings, Vec<String>), BpftraceError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Settings::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Settings::default(), Vec::new()))
            }
            Err(source) => Err(BpftraceError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses INI text (`path` is for messages). Returns the settings and
    /// warnings about unknown keys.
    pub fn parse(text: &str, path: &Path) -> Result<(Settings, Vec<String>), BpftraceError> {
        let mut s = Settings::default();
        let mut warnings = Vec::new();
        let mut section = String::new();
        // Legacy keys are applied first, then overridden by [dynamic_scripts].
        let mut legacy: Vec<(usize, String, String)> = Vec::new();
        let mut current: Vec<(usize, String, String, String)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let lineno = n + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(BpftraceError::Config {
                        path: path.to_path_buf(),
                        line: lineno,
                        detail: format!("bad section header {line:?}"),
                    });
                };
                section = name.trim().to_string();
                continue;
            }
            let split = line.find(['=', ':']);
            let Some(at) = split else {
                return Err(BpftraceError::Config {
                    path: path.to_path_buf(),
                    line: lineno,
                    detail: format!("expected key = value, found {line:?}"),
                });
            };
            let key = line[..at].trim().to_ascii_lowercase();
            let value = line[at + 1..].trim().to_string();
            if section == "authentication" {
                legacy.push((lineno, key, value));
            } else {
                current.push((lineno, section.clone(), key, value));
            }
        }
        let bad = |line: usize, detail: String| BpftraceError::Config {
            path: path.to_path_buf(),
            line,
            detail,
        };
        for (line, key, value) in legacy {
            match key.as_str() {
                "enabled" => {
                    s.auth_enabled = parse_bool(&value)
                        .ok_or_else(|| bad(line, format!("not a boolean: {value:?}")))?
                }
                "allowed_users" => {
                    if !value.is_empty() {
                        s.allowed_users = value.split(',').map(str::to_string).collect();
                    }
                }
                _ => warnings.push(format!(
                    "{}:{line}: unknown key {key} in [authentication]",
                    path.display()
                )),
            }
        }
        for (line, section, key, value) in current {
            let int = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(line, format!("{key}: not a non-negative integer: {v:?}")))
            };
            let boolean = |v: &str| {
                parse_bool(v).ok_or_else(|| bad(line, format!("{key}: not a boolean: {v:?}")))
            };
            match (section.as_str(), key.as_str()) {
                ("bpftrace", "bpftrace_path") => s.bpftrace_path = value,
                ("bpftrace", "script_expiry_time") => {
                    s.script_expiry_time = Duration::from_secs(int(&value)?)
                }
                ("bpftrace", "max_throughput") => s.max_throughput = int(&value)?,
                ("bpftrace", "print_interval_ms") => {
                    s.print_interval = Duration::from_millis(int(&value)?.max(10))
                }
                ("bpftrace", "stop_timeout") => s.stop_timeout = Duration::from_secs(int(&value)?),
                ("bpftrace", "max_output_bytes") => s.max_output_bytes = int(&value)? as usize,
                ("bpftrace", "max_error_bytes") => s.max_error_bytes = int(&value)? as usize,
                ("dynamic_scripts", "enabled") => s.dynamic_enabled = boolean(&value)?,
                ("dynamic_scripts", "auth_enabled") => s.auth_enabled = boolean(&value)?,
                ("dynamic_scripts", "allowed_users") => {
                    s.allowed_users = value
                        .split(',')
                        .map(|u| u.trim().to_string())
                        .filter(|u| !u.is_empty())
                        .collect()
                }
                ("limits", "max_scripts") => s.max_scripts = int(&value)? as usize,
                ("limits", "max_code_size") => s.max_code_size = int(&value)? as usize,
                ("limits", "max_scripts_per_user") => {
                    s.max_scripts_per_user = int(&value)? as usize
                }
                _ => warnings.push(format!(
                    "{}:{line}: unknown key {key} in [{section}], ignored",
                    path.display()
                )),
            }
        }
        Ok((s, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses_to_reference_defaults() {
        let text = std::fs::read_to_string("tests/fixtures/bpftrace.conf").unwrap();
        let (s, w) = Settings::parse(&text, Path::new("bpftrace.conf")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.bpftrace_path, "bpftrace");
        assert_eq!(s.script_expiry_time, Duration::from_secs(60));
        assert_eq!(s.max_throughput, 2097152);
        assert!(!s.dynamic_enabled);
        assert!(s.auth_enabled);
        assert_eq!(s.allowed_users, ["root"]);
    }

    #[test]
    fn allowed_users_are_stripped_and_legacy_keys_are_overridden() {
        let text = "[authentication]\nenabled = false\nallowed_users = a, b\n\
                    [dynamic_scripts]\nenabled = yes\nallowed_users = root , pcp,\n\
                    [limits]\nmax_scripts = 3\n[bpftrace]\nmystery = 1\n";
        let (s, w) = Settings::parse(text, Path::new("x.conf")).unwrap();
        assert!(s.dynamic_enabled);
        assert!(
            !s.auth_enabled,
            "the legacy key applies when not overridden"
        );
        assert_eq!(s.allowed_users, ["root", "pcp"]);
        assert_eq!(s.max_scripts, 3);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("mystery"));
        let (s, _) = Settings::parse(
            "[authentication]\nallowed_users = a, b\n",
            Path::new("x.conf"),
        )
        .unwrap();
        assert_eq!(
            s.allowed_users,
            ["a", " b"],
            "legacy values are not stripped"
        );
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = Settings::parse("[bpftrace]\nmax_throughput = lots\n", Path::new("c.conf"))
            .unwrap_err();
        assert!(e.to_string().starts_with("c.conf:2: max_throughput"), "{e}");
        assert!(Settings::parse("[dynamic_scripts]\nenabled = maybe\n", Path::new("c")).is_err());
        assert!(Settings::parse("just words\n", Path::new("c")).is_err());
    }

    #[test]
    fn missing_file_means_defaults() {
        let (s, _) = Settings::load(Path::new("/nonexistent/bpftrace.conf")).unwrap();
        assert_eq!(s, Settings::default());
    }
}
