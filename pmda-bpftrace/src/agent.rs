//! The agent on pcp-core's table layer: what each metric's value is, the
//! instance domains, labels, and the control protocol behind stores.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_core::agent::{Agent, Fetch, Metrics, Sink};
use pcp_core::{
    ClientContext, IdCache, InDom, Instance, LabelSet, LabelTarget, PmError, Value, PM_IN_NULL,
};

use crate::config::Settings;
use crate::ids::{Clusters, IdStore};
use crate::process::{log, Manager, Registry};
use crate::profiler::{self, ProfilerMetrics};
use crate::pyjson;
use crate::script::{Script, ScriptJson};
use crate::startup::client_user;
use crate::tables::{self, Fixed, Handle, ScriptItem, INFO};

/// How long the `bpftrace -l` list is kept.
const TRACEPOINTS_TTL: Duration = Duration::from_secs(600);

/// The control commands, in item order (for the log).
const COMMANDS: [&str; 4] = ["register", "deregister", "start", "stop"];

/// The bpftrace agent. Dropping it stops every bpftrace it started.
pub struct Bpftrace {
    pub(crate) settings: Arc<Settings>,
    pub(crate) reg: Arc<Registry>,
    pub(crate) manager: Manager,
    pub(crate) ids: IdStore,
    pub(crate) clusters: Clusters,
    /// Instance ids of `bpftrace.info.scripts`: by script name, in order of
    /// first registration, as pmdabpftrace numbers them (never persisted).
    pub(crate) script_insts: IdCache,
    /// Each client's last result per control command.
    pub(crate) results: HashMap<u32, [Option<String>; 4]>,
    pub(crate) tracepoints: Option<(Instant, Result<String, String>)>,
    pub(crate) version: String,
    pub(crate) username: Option<String>,
    pub(crate) profiler: Option<ProfilerMetrics>,
    pub(crate) autostart_skipped: Vec<String>,
    /// The registry generation the table was last built from.
    pub(crate) names_built: u64,
}

impl std::fmt::Debug for Bpftrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpftrace")
            .field("bpftrace", &self.settings.bpftrace_path)
            .field("version", &self.version)
            .field("scripts", &self.reg.scripts.lock().len())
            .field("ids", &self.ids)
            .finish()
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        self.manager.shutdown();
    }
}

impl Bpftrace {
    /// Why autostart directories or scripts were skipped at start-up (not
    /// exclusively writable by root, unreadable).
    pub fn autostart_skipped(&self) -> &[String] {
        &self.autostart_skipped
    }

    /// The bpftrace version line in use.
    pub fn bpftrace_version(&self) -> &str {
        &self.version
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn script_by_cluster(&self, cluster: u32) -> Option<Arc<Script>> {
        self.reg.scripts.lock().get(&cluster).cloned()
    }

    fn tracepoints(&mut self) -> Result<String, PmError> {
        let fresh = self
            .tracepoints
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < TRACEPOINTS_TTL);
        if !fresh {
            let out = std::process::Command::new(&self.settings.bpftrace_path)
                .arg("-l")
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output();
            let value = match out {
                Ok(o) if o.status.success() => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    let mut probes: Vec<&str> = text.split_whitespace().collect();
                    probes.sort_unstable();
                    probes.dedup();
                    Ok(probes.join(","))
                }
                Ok(o) => Err(format!("bpftrace -l: {}", o.status)),
                Err(e) => Err(format!("bpftrace -l: {e}")),
            };
            if let Err(e) = &value {
                log(e);
            }
            self.tracepoints = Some((Instant::now(), value));
        }
        match self.tracepoints.as_ref().map(|c| &c.1) {
            Some(Ok(s)) => Ok(s.clone()),
            _ => Err(PmError::AGAIN),
        }
    }

    fn fixed_value(&mut self, m: Fixed, out: &mut Sink<'_>) -> Result<(), PmError> {
        if let Some(which) = m.command() {
            let slot = out.client().slot;
            let v = self
                .results
                .get_mut(&slot)
                .and_then(|r| r[which].take())
                .unwrap_or_else(|| "{}".into());
            out.set(v);
            return Ok(());
        }
        match m {
            Fixed::Scripts => {
                // In instance order (by name), as pmdabpftrace answers.
                let scripts = self.reg.scripts.lock();
                let mut v: Vec<(&str, u32, &str)> = scripts
                    .values()
                    .filter_map(|s| Some((&*s.name, self.script_insts.lookup(&s.name)?, &*s.code)))
                    .collect();
                v.sort_by(|a, b| a.0.cmp(b.0));
                for (_, id, code) in v {
                    out.put(id, code);
                }
            }
            Fixed::ScriptsJson => {
                let scripts: Vec<Arc<Script>> = self.reg.scripts.lock().values().cloned().collect();
                let all: Vec<ScriptJson> = scripts.iter().map(|s| s.to_json()).collect();
                out.set(pyjson::dumps(&all));
            }
            Fixed::Tracepoints => out.set(self.tracepoints()?),
            _ => return Err(PmError::PMID),
        }
        Ok(())
    }

    fn script_value(
        &self,
        cluster: u32,
        item: ScriptItem,
        out: &mut Sink<'_>,
    ) -> Result<(), PmError> {
        let s = self.script_by_cluster(cluster).ok_or(PmError::PMID)?;
        s.touch();
        let st = s.state.lock();
        match item {
            ScriptItem::Status => out.set(st.status.as_str()),
            ScriptItem::Pid if st.pid < 0 => return Err(PmError::VALUE),
            ScriptItem::Pid => out.set(st.pid as u32),
            ScriptItem::ExitCode => out.set(st.exit_code),
            ScriptItem::Error => out.set(st.error.text().trim()),
            ScriptItem::Probes => out.set(st.probes.min(u64::from(u32::MAX)) as u32),
            ScriptItem::Code => out.set(s.code.as_str()),
            ScriptItem::DataBytes => out.set(st.data_bytes as u32),
        }
        Ok(())
    }

    fn data_value(&self, cluster: u32, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
        let s = self.script_by_cluster(cluster).ok_or(PmError::PMID)?;
        s.touch();
        let st = s.state.lock();
        match &*st.data.values(item)? {
            [(PM_IN_NULL, v)] => out.set(v.clone()),
            // A keyed map: straight from the list kept since the last print.
            values => out.put_slice(values),
        }
        Ok(())
    }

    fn set_result(&mut self, slot: u32, which: usize, json: String) {
        self.results.entry(slot).or_default()[which] = Some(json);
    }

    fn authorize(&self, client: &ClientContext) -> Result<Option<String>, String> {
        if !self.settings.dynamic_enabled {
            return Err(
                "dynamic scripts are disabled in the configuration ([dynamic_scripts] enabled)"
                    .into(),
            );
        }
        let user = client_user(client);
        if self.settings.auth_enabled {
            match &user {
                None => return Err("permission denied for unauthenticated user".into()),
                Some(u) if !self.settings.allowed_users.iter().any(|a| a == u) => {
                    return Err(format!("permission denied for user {u}"))
                }
                Some(_) => {}
            }
        }
        Ok(user)
    }

    /// Runs control command `which` (a [`Fixed::command`]) with `arg`,
    /// keeping its JSON result for the client's next fetch.
    fn command(&mut self, which: usize, arg: &str, client: &ClientContext) -> Result<(), PmError> {
        let user = match self.authorize(client) {
            Ok(u) => u,
            Err(msg) => {
                log(&format!("bpftrace.control.{}: {msg}", COMMANDS[which]));
                self.set_result(client.slot, which, failure(&msg));
                return Err(PmError::PERMISSION);
            }
        };
        match which {
            0 => match self.register(arg, user, None, true) {
                Ok(script) => {
                    let json = pyjson::dumps(&script.to_json());
                    self.set_result(client.slot, 0, json);
                    Ok(())
                }
                Err(r) => {
                    log(&format!("register refused: {}", r.message));
                    self.set_result(client.slot, 0, r.json);
                    Err(PmError::BADSTORE)
                }
            },
            1 => {
                let mut ok = true;
                for name in arg.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    ok &= self.deregister(name);
                }
                if ok {
                    self.set_result(client.slot, 1, success());
                    Ok(())
                } else {
                    let msg = failure("one or more scripts were not found");
                    self.set_result(client.slot, 1, msg);
                    Err(PmError::BADSTORE)
                }
            }
            _ => {
                let Some(script) = self.find(arg.trim()) else {
                    self.set_result(client.slot, which, failure("script not found"));
                    return Err(PmError::BADSTORE);
                };
                if which == 2 {
                    self.start_script(&script);
                } else {
                    self.manager.stop(&script, None);
                }
                self.set_result(client.slot, which, success());
                Ok(())
            }
        }
    }
}

fn success() -> String {
    pyjson::dumps(&serde_json::json!({"success": "true"}))
}

fn failure(msg: &str) -> String {
    pyjson::dumps(&serde_json::json!({ "error": msg }))
}

impl Agent for Bpftrace {
    type Metric = Handle;

    fn refresh(&mut self, fetch: &Fetch<'_, Handle>) {
        if fetch.asks_cluster(profiler::CLUSTER) {
            if let Some(p) = &mut self.profiler {
                p.refresh();
            }
        }
    }

    fn value(&mut self, m: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            Handle::Fixed(f) => self.fixed_value(f, out),
            Handle::Profiler(p) => {
                self.profiler.as_mut().ok_or(PmError::PMID)?.value(p, out);
                Ok(())
            }
            Handle::Script { cluster, item } => self.script_value(cluster, item, out),
            Handle::Data { cluster, item } => self.data_value(cluster, item, out),
        }
    }

    fn instances(&mut self, indom: InDom, _: &ClientContext) -> Result<Vec<Instance>, PmError> {
        let serial = indom.serial();
        if serial == profiler::INDOM_SERIAL {
            return Ok(self.profiler.as_mut().ok_or(PmError::INDOM)?.instances());
        }
        if serial == tables::SCRIPTS.serial {
            let mut v: Vec<Instance> = self
                .reg
                .scripts
                .lock()
                .values()
                .filter_map(|s| {
                    let id = self.script_insts.lookup(&s.name)?;
                    Some(Instance::new(id, s.name.clone()))
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(v);
        }
        let s = self
            .script_by_cluster(serial / 1000)
            .ok_or(PmError::INDOM)?;
        let mut st = s.state.lock();
        st.data.instances(serial).ok_or(PmError::INDOM)
    }

    fn labels(&self, target: LabelTarget, _: &ClientContext) -> LabelSet {
        // Script items stay unlabelled: the reference means to label them
        // "control" but compares the wrong numbers and never does; clients
        // see no label there, so neither do ours. Data metrics carry their
        // `metrictype` in the table.
        match target {
            LabelTarget::Cluster(INFO) => LabelSet::new().with("metrictype", "control"),
            _ => LabelSet::new(),
        }
    }

    fn store(
        &mut self,
        m: Handle,
        _inst: u32,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let Handle::Fixed(f) = m else {
            return Err(PmError::PERMISSION);
        };
        let which = f.command().ok_or(PmError::PERMISSION)?;
        let Value::String(arg) = value else {
            return Err(PmError::BADSTORE);
        };
        self.command(which, arg, client)
    }

    fn refresh_names(&mut self, table: &mut Metrics<Handle>) -> bool {
        let expired: Vec<Arc<Script>> = std::mem::take(&mut *self.reg.expired.lock());
        for s in expired {
            self.clusters.release(s.cluster);
        }
        let generation = self.reg.generation.load(Ordering::Acquire);
        if generation == self.names_built {
            return false;
        }
        let before = table.namespace().traverse("").unwrap_or_default();
        let scripts: Vec<Arc<Script>> = self.reg.scripts.lock().values().cloned().collect();
        *table = tables::build(self.profiler.is_some(), &scripts);
        self.names_built = generation;
        table.namespace().traverse("").unwrap_or_default() != before
    }

    fn client_closed(&mut self, slot: u32) {
        self.results.remove(&slot);
    }

    fn wait_ready(&mut self, timeout: Duration) {
        self.reg.wait_ready(timeout);
    }
}
