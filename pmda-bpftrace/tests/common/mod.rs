//! Helpers for tests that run real bpftrace (root, bpftrace, tracefs).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pcp_core::testing::{have_program, require};
use pcp_core::{
    ClientContext, FetchRequest, InDom, MetricResult, PmError, Pmda, Pmid, Profile, Value,
};
use pmda_bpftrace::{BpftraceConfig, BpftracePmda};

/// Whether real bpftrace runs can be tested here (skips or, under CI, fails).
pub fn available() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let tracefs = std::fs::read_dir("/sys/kernel/tracing")
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    require(
        "bpftrace",
        root && have_program("bpftrace") && tracefs,
        "needs root, bpftrace and a mounted tracefs (scripts/setup-systems.sh)",
    )
}

/// Test configuration: dynamic scripts for root, fast prints, short stops.
pub const CONF: &str = "[bpftrace]\nprint_interval_ms = 200\nstop_timeout = 2\n\
                        [dynamic_scripts]\nenabled = true\nauth_enabled = true\nallowed_users = root\n";

/// An agent with its temporary directory.
pub struct Agent {
    pub a: BpftracePmda,
    pub dir: tempfile::TempDir,
}

/// Starts an agent with `conf` as its config file and optional autostart dirs.
pub fn agent(conf: &str, autostart: &[PathBuf]) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let conf_path = dir.path().join("bpftrace.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let a = BpftracePmda::new(BpftraceConfig {
        autostart_dirs: autostart.to_vec(),
        config_file: Some(conf_path),
        state_dir: None,
        pcp_dir: None,
        ..Default::default()
    })
    .unwrap();
    Agent { a, dir }
}

/// A root client in slot `slot`.
pub fn root(slot: u32) -> ClientContext {
    ClientContext {
        slot,
        user_id: Some(0),
        ..Default::default()
    }
}

impl Agent {
    pub fn pmid(&mut self, name: &str) -> Option<Pmid> {
        self.a.refresh_namespace();
        self.a.namespace().lookup(name)
    }

    pub fn fetch_as(&mut self, name: &str, client: &ClientContext) -> MetricResult {
        let Some(p) = self.pmid(name) else {
            return Err(PmError::NAME);
        };
        let profile = Profile::all();
        self.a
            .fetch(&FetchRequest {
                pmids: &[p],
                profile: &profile,
                client,
            })
            .remove(0)
    }

    pub fn fetch(&mut self, name: &str) -> MetricResult {
        self.fetch_as(name, &root(0))
    }

    /// The singular value of `name`.
    pub fn value(&mut self, name: &str) -> Option<Value> {
        self.fetch(name)
            .ok()
            .and_then(|mut v| (!v.is_empty()).then(|| v.remove(0).1))
    }

    pub fn string(&mut self, name: &str) -> String {
        match self.value(name) {
            Some(Value::String(s)) => s,
            other => panic!("{name}: expected a string, got {other:?}"),
        }
    }

    /// Instance names and values of `name`, in the indom's order.
    pub fn instances(&mut self, name: &str) -> Vec<(String, Value)> {
        let p = self
            .pmid(name)
            .unwrap_or_else(|| panic!("no metric {name}"));
        let desc = self.a.desc(p).unwrap();
        if desc.indom == InDom::NULL {
            panic!("{name} is singular");
        }
        let insts = self
            .a
            .instances(desc.indom, &pcp_core::ClientContext::local())
            .unwrap();
        let vals = self.fetch(name).unwrap();
        insts
            .into_iter()
            .filter_map(|i| {
                vals.iter()
                    .find(|v| v.0 == i.id)
                    .map(|v| (i.name.clone(), v.1.clone()))
            })
            .collect()
    }

    /// Polls until `f` is true (fetching counts as access), at most `secs`.
    pub fn wait_until(&mut self, secs: u64, what: &str, mut f: impl FnMut(&mut Agent) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status: Vec<String> = pmda_bpftrace::script_summary(&self.a)
            .into_iter()
            .map(|(n, (s, p))| format!("{n}: {s} pid {p}"))
            .collect();
        panic!("timed out after {secs} s waiting for {what}; scripts: {status:?}");
    }

    pub fn store(
        &mut self,
        control: &str,
        arg: &str,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let p = self.pmid(&format!("bpftrace.control.{control}")).unwrap();
        self.a.store(
            p,
            &[(pcp_core::PM_IN_NULL, Value::String(arg.into()))],
            client,
        )
    }

    /// Registers `code` as root and returns the JSON result.
    pub fn register(&mut self, code: &str) -> serde_json::Value {
        self.store("register", code, &root(0)).unwrap_or_else(|e| {
            let r = self.fetch_as("bpftrace.control.register", &root(0));
            panic!("register failed: {e:?}: {r:?}")
        });
        self.result("register", &root(0))
    }

    pub fn result(&mut self, control: &str, client: &ClientContext) -> serde_json::Value {
        match self.fetch_as(&format!("bpftrace.control.{control}"), client) {
            Ok(v) => match &v[0].1 {
                Value::String(s) => serde_json::from_str(s).unwrap(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e:?}"),
        }
    }

    pub fn status(&mut self, script: &str) -> String {
        self.string(&format!("bpftrace.scripts.{script}.status"))
    }

    pub fn wait_status(&mut self, script: &str, want: &str, secs: u64) {
        let name = format!("bpftrace.scripts.{script}.status");
        self.wait_until(
            secs,
            &format!("{script} to be {want}"),
            |a| matches!(a.value(&name), Some(Value::String(s)) if s == want),
        );
    }
}

/// Whether process `pid` exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A directory writable by root only, holding `files`.
pub fn root_only_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, code) in files {
        let p = d.path().join(name);
        std::fs::write(&p, code).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    d
}

pub fn path(d: &tempfile::TempDir) -> PathBuf {
    d.path().to_path_buf()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// A stand-in for bpftrace in `dir`: answers `--version` as bpftrace
/// 0.17.0 and, run on a program, reads it, then writes `replay` (a
/// recorded `-f json` transcript) if given and exits, else waits to be
/// stopped. For tests of what does not need real probes.
pub fn fake_bpftrace(dir: &Path, replay: Option<&Path>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let fake = dir.join("bpftrace");
    let run = match replay {
        Some(t) => format!("cat '{}'", t.display()),
        None => "exec sleep 600".to_string(),
    };
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\n\
             case \"$1\" in --version) echo 'bpftrace v0.17.0'; exit 0 ;; esac\n\
             cat >/dev/null\n\
             {run}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake
}
