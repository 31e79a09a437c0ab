//! Registering, deregistering and starting scripts: the checks and limits
//! a script passes (pmdabpftrace's refusals, word for word where its users
//! match them), its cluster and items, and the JSON a refused
//! registration answers with.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use pcp_core::IdCache;

use crate::agent::Bpftrace;
use crate::code::{self, analyse, CodeInfo};
use crate::data::{BoundedText, ScriptData, FIRST_DATA_ITEM, LAST_DATA_ITEM};
use crate::process::log;
use crate::pyjson;
use crate::script::{
    new_script_id, script_json, variables, Proc, Script, State, StateJson, Status,
};
use crate::DOMAIN;

/// Why a registration was refused: the message and the JSON result.
pub(crate) struct Refused {
    pub(crate) message: String,
    pub(crate) json: String,
}

impl Bpftrace {
    pub(crate) fn find(&self, name_or_id: &str) -> Option<Arc<Script>> {
        self.reg
            .scripts
            .lock()
            .values()
            .find(|s| s.name == name_or_id || s.script_id == name_or_id)
            .cloned()
    }

    fn refused(
        &self,
        code: &str,
        user: Option<&str>,
        info: Option<&CodeInfo>,
        message: String,
    ) -> Refused {
        let now = SystemTime::now();
        let empty = CodeInfo::default();
        let info = info.unwrap_or(&empty);
        let json = script_json(
            &new_script_id(),
            user,
            info.metadata.name.is_some(),
            now,
            now,
            code,
            &info.metadata,
            &variables(info, None),
            StateJson {
                status: Status::Error.as_str(),
                pid: -1,
                exit_code: 0,
                error: message.clone(),
                probes: 0,
                data_bytes: 0,
            },
        );
        Refused {
            message,
            json: pyjson::dumps(&json),
        }
    }

    /// Registers and starts a script. `stem` names autostart scripts (a
    /// `// name:` comment overrides it); `dynamic` applies the limits.
    pub(crate) fn register(
        &mut self,
        code: &str,
        user: Option<String>,
        stem: Option<String>,
        dynamic: bool,
    ) -> Result<Arc<Script>, Refused> {
        let s = self.settings.clone();
        if code.len() > s.max_code_size {
            return Err(self.refused(
                "",
                user.as_deref(),
                None,
                format!(
                    "script is {} bytes, larger than the limit of {} bytes (max_code_size)",
                    code.len(),
                    s.max_code_size
                ),
            ));
        }
        let mut info = match analyse(code) {
            Ok(i) => i,
            Err(e) => return Err(self.refused(code, user.as_deref(), None, e)),
        };
        if info.metadata.name.is_none() {
            info.metadata.name = stem.clone();
        }
        let exports_something = info.maps.iter().any(|m| m.func.is_some())
            || (info.has_output && info.exports_output());
        if !exports_something {
            // pmdabpftrace's refusal, word for word (its users match it).
            let msg = "no bpftrace variables or printf statements found, please include at least one variable or printf statement in your script".to_string();
            return Err(self.refused(code, user.as_deref(), Some(&info), msg));
        }
        if info.has_output && info.exports_output() && info.maps.iter().any(|m| m.name == "@output")
        {
            let msg = "output from printf(), time() etc. is exported as @output: rename the @output map or remove the output calls".to_string();
            return Err(self.refused(code, user.as_deref(), Some(&info), msg));
        }
        if dynamic {
            let scripts = self.reg.scripts.lock();
            if scripts.len() >= s.max_scripts {
                drop(scripts);
                let msg = format!(
                    "too many scripts: the limit is {} (max_scripts)",
                    s.max_scripts
                );
                return Err(self.refused(code, user.as_deref(), Some(&info), msg));
            }
            let mine = scripts
                .values()
                .filter(|x| !x.autostart && x.username == user)
                .count();
            if mine >= s.max_scripts_per_user {
                drop(scripts);
                let msg = format!(
                    "user {} has {mine} scripts registered, the limit is {} (max_scripts_per_user)",
                    user.as_deref().unwrap_or("anonymous"),
                    s.max_scripts_per_user
                );
                return Err(self.refused(code, user.as_deref(), Some(&info), msg));
            }
        }
        let script_id = new_script_id();
        let name = info
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| script_id.clone());
        if self.find(&name).is_some() {
            let msg = format!("Script name {name} is already in use by another script.");
            return Err(self.refused(code, user.as_deref(), Some(&info), msg));
        }
        let persistent = info.metadata.name.is_some();
        let no_cluster = || "no free cluster for another script".to_string();
        let cluster = if !dynamic {
            self.clusters.in_order().ok_or_else(no_cluster)
        } else if persistent {
            self.clusters.named(&name)
        } else {
            self.clusters.unnamed().ok_or_else(no_cluster)
        };
        let cluster = match cluster {
            Ok(c) => c,
            Err(msg) => return Err(self.refused(code, user.as_deref(), Some(&info), msg)),
        };
        // Items in code order, as pmdabpftrace's, for autostart scripts;
        // dynamic named ones keep theirs across restarts.
        let items = if persistent && dynamic {
            self.ids
                .cache(&format!("items.{name}"), FIRST_DATA_ITEM, LAST_DATA_ITEM)
        } else {
            IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM)
        };
        let program = code::program(code, &info, s.print_interval.as_millis() as u64);
        let info = Arc::new(info);
        let mut data = ScriptData::new(DOMAIN, cluster, info.clone(), items, s.max_output_bytes);
        for w in std::mem::take(&mut data.warnings) {
            log(&format!("script {name}: {w}"));
        }
        let now = SystemTime::now();
        let script = Arc::new(Script {
            script_id,
            name,
            cluster,
            code: code.to_string(),
            program,
            info,
            username: user,
            autostart: stem.is_some(),
            persistent,
            created_at: now,
            last_access: Mutex::new(now),
            removed: Default::default(),
            state: Mutex::new(State {
                status: Status::Starting,
                pid: -1,
                exit_code: 0,
                error: BoundedText::new(s.max_error_bytes),
                probes: 0,
                data_bytes: 0,
                lost_events: 0,
                ready: false,
                data,
                proc: Proc::default(),
            }),
        });
        if let Err(e) = self.script_insts.assign(&script.name) {
            log(&format!("bpftrace.info.scripts: {e}"));
        }
        self.reg.scripts.lock().insert(cluster, script.clone());
        self.reg.names_changed();
        // pmdabpftrace's "name=..., user=..." words: its users grep for them.
        log(&format!(
            "script {} (name={}, user={}) registered as cluster {cluster}",
            script.script_id,
            script.name,
            script.username.as_deref().unwrap_or("anonymous")
        ));
        self.manager.start(script.clone());
        Ok(script)
    }

    pub(crate) fn deregister(&mut self, name_or_id: &str) -> bool {
        let Some(script) = self.find(name_or_id) else {
            return false;
        };
        self.reg.scripts.lock().remove(&script.cluster);
        script.removed.store(true, Ordering::Release);
        self.manager.stop(&script, None);
        self.clusters.release(script.cluster);
        self.reg.names_changed();
        log(&format!("script {} deregistered", script.name));
        true
    }

    pub(crate) fn start_script(&mut self, script: &Arc<Script>) {
        let mut st = script.state.lock();
        // The reference starts only stopped scripts; a script in error can
        // be restarted here too, without deregistering it.
        if matches!(st.status, Status::Stopped | Status::Error) && st.proc.pid.is_none() {
            st.status = Status::Starting;
            drop(st);
            self.manager.start(script.clone());
        }
    }
}
