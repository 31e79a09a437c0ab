//! Starting the agent: the bpftrace version check, the autostart scripts
//! (checked as pmdabpftrace checks them), where ids are kept, and the
//! user names of the agent and its clients.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pcp_core::agent::{Agent, Metrics, TablePmda};
use pcp_core::{ClientContext, IdCache, StateDir, StoreError};

use crate::agent::Bpftrace;
use crate::config::{BpftraceConfig, Settings};
use crate::error::BpftraceError;
use crate::ids::{Clusters, IdStore, FIRST_SCRIPT_CLUSTER, LAST_CLUSTER};
use crate::process::{log, Manager, Registry};
use crate::profiler::ProfilerMetrics;
use crate::{BpftracePmda, DOMAIN};

/// Oldest bpftrace with `-f json` and the program on stdin (`-`).
pub(crate) const MIN_VERSION: (u32, u32, u32) = (0, 11, 0);

/// Starts the agent: reads the configuration, checks bpftrace, checks and
/// starts the autostart scripts. Fails with a clear error when bpftrace is
/// missing or too old, or the configuration is bad; an autostart directory
/// or script writable by anyone but root is logged and skipped (see
/// [`Bpftrace::autostart_skipped`]).
pub fn bpftrace_pmda(config: BpftraceConfig) -> Result<BpftracePmda, BpftraceError> {
    let mut agent = Bpftrace::start(config)?;
    let mut table = Metrics::new(DOMAIN);
    agent.refresh_names(&mut table);
    Ok(TablePmda::with_table("bpftrace", agent, table))
}

impl Bpftrace {
    fn start(config: BpftraceConfig) -> Result<Bpftrace, BpftraceError> {
        let settings = match &config.config_file {
            Some(path) => {
                let (s, warnings) = Settings::load(path)?;
                for w in warnings {
                    log(&w);
                }
                s
            }
            None => Settings::default(),
        };
        let version = check_version(&settings.bpftrace_path)?;
        // Check every autostart directory and script before starting any;
        // what fails the checks is logged and skipped, the agent serves on.
        let (autostart, autostart_skipped) = autostart_scripts(&config.autostart_dirs);
        for e in &autostart_skipped {
            log(&format!("autostart: {e}; skipped"));
        }
        let ids = id_store(&config);
        let settings = Arc::new(settings);
        let reg = Arc::new(Registry::new(settings.clone()));
        let manager = Manager::spawn(reg.clone()).map_err(|source| BpftraceError::Io {
            path: PathBuf::from("bpftrace-manager thread"),
            source,
        })?;
        let clusters = Clusters::new(ids.cache("clusters", FIRST_SCRIPT_CLUSTER, LAST_CLUSTER));
        // SAFETY: getuid cannot fail.
        let username = uid_name(unsafe { libc::getuid() });
        log(&format!("using {} ({version})", settings.bpftrace_path));
        let mut agent = Bpftrace {
            settings,
            reg,
            manager,
            ids,
            clusters,
            script_insts: IdCache::in_memory("scripts", 0, i32::MAX as u32),
            results: HashMap::new(),
            tracepoints: None,
            version,
            username,
            profiler: config.profiler.clone().map(ProfilerMetrics::new),
            autostart_skipped: autostart_skipped.iter().map(|e| e.to_string()).collect(),
            names_built: 0,
        };
        for (path, code) in autostart {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = pcp_core::namespace::sanitize_component(&stem);
            if name != stem {
                log(&format!(
                    "{}: script name {stem:?} is not a valid metric name component, using {name:?}",
                    path.display()
                ));
            }
            log(&format!("registering autostart script {}", path.display()));
            if let Err(r) = agent.register(&code, agent.username.clone(), Some(name), false) {
                log(&format!("{}: {}", path.display(), r.message));
            }
        }
        Ok(agent)
    }
}

fn id_store(config: &BpftraceConfig) -> IdStore {
    match (&config.state_dir, &config.pcp_dir) {
        (None, None) => IdStore::Memory,
        (None, Some(dir)) => IdStore::Pcp(dir.clone()),
        (Some(dir), _) => {
            let path = dir.join("bpftrace");
            match StateDir::open(&path) {
                Ok(d) => IdStore::Dir(d),
                Err(e @ StoreError::Locked { .. }) => {
                    log(&format!("{e}; using its ids read-only"));
                    IdStore::ReadOnly(path)
                }
                Err(e) => {
                    log(&format!("{e}; ids kept in memory"));
                    IdStore::Memory
                }
            }
        }
    }
}

/// Parses `bpftrace --version` output (`bpftrace v0.17.0`).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch_text = parts.next()?;
    let end = patch_text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(patch_text.len());
    let patch = patch_text[..end].parse().ok()?;
    Some((major, minor, patch))
}

fn check_version(path: &str) -> Result<String, BpftraceError> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| BpftraceError::Spawn {
            path: path.to_string(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(BpftraceError::Version {
            path: path.to_string(),
            detail: format!(
                "{}: {}{}",
                out.status,
                text,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    match parse_version(&text) {
        Some(v) if v < MIN_VERSION => Err(BpftraceError::TooOld {
            path: path.to_string(),
            found: text,
            need: format!("v{}.{}.{}", MIN_VERSION.0, MIN_VERSION.1, MIN_VERSION.2),
        }),
        Some(_) => Ok(text),
        None => {
            log(&format!(
                "unrecognised bpftrace version {text:?}; assuming a recent one"
            ));
            Ok(text)
        }
    }
}

fn uid_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r writes into pwd and buf, both ours and sized.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points into buf, NUL-terminated.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// The client's user name, as pmdabpftrace takes it from pmcd's credentials
/// (a name, or a uid looked up in the password database).
pub(crate) fn client_user(client: &ClientContext) -> Option<String> {
    client
        .user_name
        .clone()
        .or_else(|| client.user_id.and_then(uid_name))
}

fn check_root_only(path: &Path) -> Result<(), BpftraceError> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).map_err(|source| BpftraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = md.mode();
    let detail = if mode & 0o200 != 0 && md.uid() != 0 {
        Some(format!("owner uid {} can write it", md.uid()))
    } else if mode & 0o020 != 0 && md.gid() != 0 {
        Some(format!(
            "group gid {} can write it (mode {:o})",
            md.gid(),
            mode & 0o7777
        ))
    } else if mode & 0o002 != 0 {
        Some(format!("everyone can write it (mode {:o})", mode & 0o7777))
    } else {
        None
    };
    match detail {
        Some(detail) => Err(BpftraceError::AutostartPermission {
            path: path.to_path_buf(),
            detail,
        }),
        None => Ok(()),
    }
}

/// The autostart scripts of `dirs`, checked as pmdabpftrace checks them:
/// a directory or script writable by anyone but root is skipped (a
/// directory with all its scripts), as is one that cannot be read; each
/// skip comes back with its reason, for the log. In directory order within
/// each directory.
fn autostart_scripts(dirs: &[PathBuf]) -> (Vec<(PathBuf, String)>, Vec<BpftraceError>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        if let Err(e) = check_root_only(dir) {
            skipped.push(e);
            continue;
        }
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(source) => {
                skipped.push(BpftraceError::Io {
                    path: dir.clone(),
                    source,
                });
                continue;
            }
        };
        // In directory order, as pmdabpftrace's glob() takes them: the
        // order decides the scripts' clusters.
        let files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "bt") && p.is_file())
            .collect();
        for f in files {
            if let Err(e) = check_root_only(&f) {
                skipped.push(e);
                continue;
            }
            match std::fs::read_to_string(&f) {
                Ok(code) => out.push((f, code)),
                Err(source) => skipped.push(BpftraceError::Io { path: f, source }),
            }
        }
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("bpftrace v0.17.0"), Some((0, 17, 0)));
        assert_eq!(parse_version("bpftrace v0.20.1-3-gabc"), Some((0, 20, 1)));
        assert_eq!(parse_version("bpftrace 0.17"), None);
        assert!(parse_version("bpftrace v0.9.2").unwrap() < MIN_VERSION);
    }
}
