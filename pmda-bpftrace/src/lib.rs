//! The bpftrace agent (domain 151): runs bpftrace scripts and exports their
//! maps as metrics, with the metric tree, PMIDs, control protocol and
//! configuration of PCP's pmdabpftrace (6.0.3), which grafana-pcp depends on.
//!
//! ```text
//! bpftrace.control.{register,deregister,start,stop}   151.0.{0..3}  store code / names; fetch the JSON result
//! bpftrace.info.{scripts,scripts_json,tracepoints}     151.1.{0..2}
//! bpftrace.scripts.NAME.{status,pid,exit_code,error,probes,code,data_bytes}  151.C.{0..6}
//! bpftrace.scripts.NAME.data.VAR                       151.C.{10..}
//! bpftrace.scripts.NAME.folded.VAR                     folded stacks of a stack map (not in the reference)
//! ```
//!
//! Where it differs from the reference (see `README.md` in this crate):
//! maps are discovered from what bpftrace prints (no regex over the code);
//! keyed histograms, `stats()`, signed and string values are exported
//! faithfully; maps that become empty lose their instances; output and
//! error text are bounded; limits on scripts, code size and per-user
//! scripts; named scripts keep their cluster and items across restarts;
//! bpftrace runs in its own process group and dies with the agent.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod code;
pub mod config;
pub mod data;
pub mod error;
pub mod event;
pub mod process;
pub mod profiler;
pub mod pyjson;
pub mod script;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use pcp_core::idstore::read_only_cache;
use pcp_core::{
    ClientContext, Desc, FetchRequest, IdCache, InDom, Instance, LabelSet, LabelTarget,
    MetricResult, Namespace, PmError, Pmda, Pmid, Semantics, StateDir, StoreError, TextKind,
    TextTarget, Type, Units, Value, PM_IN_NULL,
};

pub use config::{BpftraceConfig, Settings};
pub use error::BpftraceError;

use crate::code::{analyse, CodeInfo};
use crate::data::{BoundedText, ScriptData, FIRST_DATA_ITEM, LAST_DATA_ITEM};
use crate::process::{log, Manager, Registry};
use crate::script::{
    new_script_id, script_json, variables, Proc, Script, State, StateJson, Status,
};

/// The agent's domain, as pmdabpftrace's.
pub const DOMAIN: u32 = 151;

const CONTROL: u32 = 0;
const INFO: u32 = 1;
/// First script cluster: pmdabpftrace numbers every script from 100 in the
/// order they register, and so does this agent on a fresh start; named
/// scripts then keep theirs across restarts (unnamed ones take the next
/// number no named script holds).
const FIRST_SCRIPT_CLUSTER: u32 = 100;
/// The last cluster (12 bits): past it, unnamed scripts reuse the clusters
/// of removed unnamed scripts (oldest first), where pmdabpftrace overflows
/// the cluster field.
const LAST_CLUSTER: u32 = 4095;
/// Oldest bpftrace with `-f json` and the program on stdin (`-`).
const MIN_VERSION: (u32, u32, u32) = (0, 11, 0);

const CONTROL_NAMES: [&str; 4] = ["register", "deregister", "start", "stop"];

struct ScriptItem {
    item: u32,
    leaf: &'static str,
    ty: Type,
    sem: Semantics,
    units: Units,
    help: &'static str,
}

/// The metrics of every script, with pmdabpftrace's descriptors and help
/// (its `pid` and `data_bytes` are `U32`: a stopped script's pid has no
/// value, and the byte count wraps as a 32-bit counter).
const SCRIPT_ITEMS: [ScriptItem; 7] = [
    ScriptItem {
        item: 0,
        leaf: "status",
        ty: Type::String,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "status of bpftrace script",
    },
    ScriptItem {
        item: 1,
        leaf: "pid",
        ty: Type::U32,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "pid of bpftrace process",
    },
    ScriptItem {
        item: 2,
        leaf: "exit_code",
        ty: Type::I32,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "exit code of bpftrace process",
    },
    ScriptItem {
        item: 3,
        leaf: "error",
        ty: Type::String,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "errors of the bpftrace script",
    },
    ScriptItem {
        item: 4,
        leaf: "probes",
        ty: Type::U32,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "number of attached probes",
    },
    ScriptItem {
        item: 5,
        leaf: "code",
        ty: Type::String,
        sem: Semantics::Instant,
        units: Units::NONE,
        help: "bpftrace script",
    },
    ScriptItem {
        item: 6,
        leaf: "data_bytes",
        ty: Type::U32,
        sem: Semantics::Counter,
        units: Units::BYTES,
        help: "count of bytes read from bpftrace script",
    },
];

fn pmid(cluster: u32, item: u32) -> Pmid {
    Pmid::from_parts(DOMAIN, cluster, item)
}

fn scripts_indom() -> InDom {
    InDom::from_parts(DOMAIN, 0)
}

enum IdStore {
    Memory,
    Dir(StateDir),
    ReadOnly(PathBuf),
    /// Files `151.<cache>.ids` in PCP's agents' cache directory (under pmcd).
    Pcp(PathBuf),
}

impl std::fmt::Debug for IdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdStore::Memory => f.write_str("Memory"),
            IdStore::Dir(d) => write!(f, "Dir({})", d.path().display()),
            IdStore::ReadOnly(p) => write!(f, "ReadOnly({})", p.display()),
            IdStore::Pcp(p) => write!(f, "Pcp({})", p.display()),
        }
    }
}

impl IdStore {
    fn cache(&self, name: &str, min: u32, max: u32) -> IdCache {
        let (cache, warnings) = match self {
            IdStore::Memory => (IdCache::in_memory(name, min, max), Vec::new()),
            IdStore::Dir(d) => match d.cache(name, min, max) {
                Ok(c) => c,
                Err(e) => (
                    IdCache::in_memory(name, min, max),
                    vec![format!("id cache {name}: {e}; ids kept in memory")],
                ),
            },
            IdStore::Pcp(dir) => {
                let file = dir.join(format!("{DOMAIN}.{name}.ids"));
                match IdCache::open_file(&file, name, min, max, pcp_core::FileFormat::Text) {
                    Ok(c) => c,
                    Err(e) => (
                        IdCache::in_memory(name, min, max),
                        vec![format!("id cache {name}: {e}; ids kept in memory")],
                    ),
                }
            }
            IdStore::ReadOnly(p) => read_only_cache(p, name, min, max),
        };
        for w in warnings {
            log(&w);
        }
        cache
    }
}

/// Script clusters: one sequence from 100 for every script, as
/// pmdabpftrace's. Autostart scripts take it in order, whatever was kept
/// (so ours numbers them as pmdabpftrace does on the same directories, and
/// the ids hold across a switch between the two either way); dynamically
/// registered named scripts also keep theirs in `named`, across restarts,
/// where no autostart script took it.
#[derive(Debug)]
struct Clusters {
    named: IdCache,
    next: u32,
    in_use: std::collections::HashSet<u32>,
    free_unnamed: VecDeque<u32>,
}

impl Clusters {
    fn new(named: IdCache) -> Clusters {
        Clusters {
            named,
            next: FIRST_SCRIPT_CLUSTER,
            in_use: Default::default(),
            free_unnamed: VecDeque::new(),
        }
    }

    /// The next number of the sequence that no named script holds.
    fn fresh(&mut self) -> Option<u32> {
        while self.next <= LAST_CLUSTER {
            let c = self.next;
            self.next += 1;
            if !self.named.holds(c) && !self.in_use.contains(&c) {
                return Some(c);
            }
        }
        None
    }

    /// The next number of the sequence, for an autostart script.
    fn in_order(&mut self) -> Option<u32> {
        while self.next <= LAST_CLUSTER {
            let c = self.next;
            self.next += 1;
            if self.in_use.insert(c) {
                return Some(c);
            }
        }
        let c = self.free_unnamed.pop_front()?;
        self.in_use.insert(c);
        Some(c)
    }

    fn named(&mut self, name: &str) -> Result<u32, String> {
        let c = match self.named.lookup(name) {
            Some(c) if !self.in_use.contains(&c) => c,
            // An autostart script has it this time: a fresh one, not kept
            // (the name gets its own back when it is free again).
            Some(_) => self
                .fresh()
                .ok_or_else(|| "no free cluster for another script".to_string())?,
            None => {
                let c = self
                    .fresh()
                    .ok_or_else(|| "no free cluster for another script".to_string())?;
                self.named.assign_id(name, c).map_err(|e| e.to_string())?;
                if let Err(e) = self.named.save() {
                    log(&format!("saving cluster ids: {e}"));
                }
                c
            }
        };
        self.in_use.insert(c);
        Ok(c)
    }

    fn unnamed(&mut self) -> Option<u32> {
        let c = self.fresh().or_else(|| self.free_unnamed.pop_front())?;
        self.in_use.insert(c);
        Some(c)
    }

    fn release(&mut self, cluster: u32) {
        if self.in_use.remove(&cluster) && !self.named.holds(cluster) {
            self.free_unnamed.push_back(cluster);
        }
    }
}

/// The bpftrace agent. Dropping it stops every bpftrace it started.
pub struct BpftracePmda {
    settings: Arc<Settings>,
    reg: Arc<Registry>,
    manager: Manager,
    ns: Namespace,
    ns_generation: u64,
    ids: IdStore,
    clusters: Clusters,
    /// Instance ids of `bpftrace.info.scripts`: by script name, in order of
    /// first registration, as pmdabpftrace numbers them (never persisted).
    script_insts: IdCache,
    results: HashMap<u32, [Option<String>; 4]>,
    tracepoints: Mutex<Option<(Instant, Result<String, String>)>>,
    version: String,
    username: Option<String>,
    profiler: Option<profiler::ProfilerMetrics>,
    autostart_skipped: Vec<String>,
}

impl std::fmt::Debug for BpftracePmda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpftracePmda")
            .field("bpftrace", &self.settings.bpftrace_path)
            .field("version", &self.version)
            .field("scripts", &self.reg.scripts.lock().len())
            .field("ids", &self.ids)
            .finish()
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

/// Why a registration was refused: the message and the JSON result.
struct Refused {
    message: String,
    json: String,
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
fn client_user(client: &ClientContext) -> Option<String> {
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

impl BpftracePmda {
    /// Starts the agent: reads the configuration, checks bpftrace, checks
    /// and starts the autostart scripts. Fails with a clear error when
    /// bpftrace is missing or too old, the configuration is bad, or an
    /// autostart directory or script is writable by anyone but root.
    pub fn new(config: BpftraceConfig) -> Result<BpftracePmda, BpftraceError> {
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
        let ids = match (&config.state_dir, &config.pcp_dir) {
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
        };
        let settings = Arc::new(settings);
        let reg = Arc::new(Registry::new(settings.clone()));
        let manager = Manager::spawn(reg.clone()).map_err(|source| BpftraceError::Io {
            path: PathBuf::from("bpftrace-manager thread"),
            source,
        })?;
        let clusters = Clusters::new(ids.cache("clusters", FIRST_SCRIPT_CLUSTER, LAST_CLUSTER));
        // SAFETY: getuid cannot fail.
        let username = uid_name(unsafe { libc::getuid() });
        let mut agent = BpftracePmda {
            settings,
            reg,
            manager,
            ns: Namespace::new(),
            ns_generation: 0,
            ids,
            clusters,
            script_insts: IdCache::in_memory("scripts", 0, i32::MAX as u32),
            results: HashMap::new(),
            tracepoints: Mutex::new(None),
            version,
            username,
            profiler: config.profiler.clone().map(profiler::ProfilerMetrics::new),
            autostart_skipped: autostart_skipped.iter().map(|e| e.to_string()).collect(),
        };
        log(&format!(
            "using {} ({})",
            agent.settings.bpftrace_path, agent.version
        ));
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
        agent.rebuild_namespace();
        Ok(agent)
    }

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

    fn find(&self, name_or_id: &str) -> Option<Arc<Script>> {
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
    fn register(
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

    fn deregister(&mut self, name_or_id: &str) -> bool {
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

    fn start_script(&mut self, script: &Arc<Script>) {
        let mut st = script.state.lock();
        // The reference starts only stopped scripts; a script in error can
        // be restarted here too, without deregistering it.
        if matches!(st.status, Status::Stopped | Status::Error) && st.proc.pid.is_none() {
            st.status = Status::Starting;
            drop(st);
            self.manager.start(script.clone());
        }
    }

    /// Rebuilds the names. pmdabpftrace's namespace lists children newest
    /// first (the reverse of the order it adds metrics: control, info, then
    /// each script's status..data_bytes and data in item order), and
    /// pminfo walks it in that order; ours is built to list the same way.
    fn rebuild_namespace(&mut self) {
        let generation = self.reg.generation.load(Ordering::Acquire);
        let mut names: Vec<(String, Pmid)> = Vec::new();
        for (i, n) in CONTROL_NAMES.iter().enumerate() {
            names.push((format!("bpftrace.control.{n}"), pmid(CONTROL, i as u32)));
        }
        names.push(("bpftrace.info.scripts".into(), pmid(INFO, 0)));
        names.push(("bpftrace.info.scripts_json".into(), pmid(INFO, 1)));
        names.push(("bpftrace.info.tracepoints".into(), pmid(INFO, 2)));
        names.extend(self.profiler.iter().flat_map(|p| p.names()));
        let scripts: Vec<Arc<Script>> = self.reg.scripts.lock().values().cloned().collect();
        for s in scripts {
            for it in &SCRIPT_ITEMS {
                names.push((
                    format!("bpftrace.scripts.{}.{}", s.name, it.leaf),
                    pmid(s.cluster, it.item),
                ));
            }
            let data = s.state.lock().data.names();
            for (suffix, p) in data {
                names.push((format!("bpftrace.scripts.{}.{suffix}", s.name), p));
            }
        }
        let mut ns = Namespace::new();
        for (name, p) in names.into_iter().rev() {
            if let Err(e) = ns.insert(&name, p) {
                log(&format!("metric {name}: {e}"));
            }
        }
        self.ns = ns;
        self.ns_generation = generation;
    }

    fn script_by_cluster(&self, cluster: u32) -> Option<Arc<Script>> {
        self.reg.scripts.lock().get(&cluster).cloned()
    }

    fn tracepoints(&self) -> Result<String, PmError> {
        let mut cache = self.tracepoints.lock();
        let fresh = cache
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(600));
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
            *cache = Some((Instant::now(), value));
        }
        match cache.as_ref().map(|c| &c.1) {
            Some(Ok(s)) => Ok(s.clone()),
            _ => Err(PmError::AGAIN),
        }
    }

    fn fetch_one(&mut self, p: Pmid, slot: u32) -> MetricResult {
        let one = |v: Value| Ok(vec![(PM_IN_NULL, v)]);
        match p.cluster() {
            CONTROL => {
                let i = p.item() as usize;
                if i >= CONTROL_NAMES.len() {
                    return Err(PmError::PMID);
                }
                let v = self
                    .results
                    .get_mut(&slot)
                    .and_then(|r| r[i].take())
                    .unwrap_or_else(|| "{}".into());
                one(Value::String(v))
            }
            INFO => match p.item() {
                0 => {
                    // In instance order (by name), as pmdabpftrace answers.
                    let mut v: Vec<(&str, u32, Value)> = Vec::new();
                    let scripts = self.reg.scripts.lock();
                    for s in scripts.values() {
                        if let Some(id) = self.script_insts.lookup(&s.name) {
                            v.push((&s.name, id, Value::String(s.code.clone())));
                        }
                    }
                    v.sort_by(|a, b| a.0.cmp(b.0));
                    Ok(v.into_iter().map(|(_, id, val)| (id, val)).collect())
                }
                1 => {
                    let scripts: Vec<Arc<Script>> =
                        self.reg.scripts.lock().values().cloned().collect();
                    let all: Vec<script::ScriptJson> =
                        scripts.iter().map(|s| s.to_json()).collect();
                    one(Value::String(pyjson::dumps(&all)))
                }
                2 => one(Value::String(self.tracepoints()?)),
                _ => Err(PmError::PMID),
            },
            profiler::CLUSTER => self.profiler.as_mut().ok_or(PmError::PMID)?.fetch(p),
            c => {
                let s = self.script_by_cluster(c).ok_or(PmError::PMID)?;
                s.touch();
                let st = s.state.lock();
                match p.item() {
                    0 => one(Value::String(st.status.as_str().into())),
                    1 if st.pid < 0 => Err(PmError::VALUE),
                    1 => one(Value::U32(st.pid as u32)),
                    2 => one(Value::I32(st.exit_code)),
                    3 => one(Value::String(st.error.text().trim().to_string())),
                    4 => one(Value::U32(st.probes.min(u32::MAX as u64) as u32)),
                    5 => one(Value::String(s.code.clone())),
                    6 => one(Value::U32(st.data_bytes as u32)),
                    item => st.data.fetch(item),
                }
            }
        }
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
}

impl Drop for BpftracePmda {
    fn drop(&mut self) {
        self.manager.shutdown();
    }
}

fn success() -> String {
    pyjson::dumps(&serde_json::json!({"success": "true"}))
}

fn failure(msg: &str) -> String {
    pyjson::dumps(&serde_json::json!({ "error": msg }))
}

impl Pmda for BpftracePmda {
    fn name(&self) -> &str {
        "bpftrace"
    }

    fn domain(&self) -> u32 {
        DOMAIN
    }

    fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn refresh_namespace(&mut self) -> bool {
        let expired: Vec<Arc<Script>> = std::mem::take(&mut *self.reg.expired.lock());
        for s in expired {
            self.clusters.release(s.cluster);
        }
        if self.reg.generation.load(Ordering::Acquire) == self.ns_generation {
            return false;
        }
        let before: Vec<(String, Pmid)> = self.ns.traverse("").unwrap_or_default();
        self.rebuild_namespace();
        self.ns.traverse("").unwrap_or_default() != before
    }

    fn desc(&self, p: Pmid) -> Result<Desc, PmError> {
        let string = |indom| {
            Ok(Desc::new(
                p,
                Type::String,
                indom,
                Semantics::Instant,
                Units::NONE,
            ))
        };
        match (p.cluster(), p.item()) {
            (CONTROL, 0..=3) => string(InDom::NULL),
            (INFO, 0) => string(scripts_indom()),
            (INFO, 1 | 2) => string(InDom::NULL),
            (CONTROL | INFO, _) => Err(PmError::PMID),
            (profiler::CLUSTER, _) => self.profiler.as_ref().ok_or(PmError::PMID)?.desc(p),
            (c, item) => {
                let s = self.script_by_cluster(c).ok_or(PmError::PMID)?;
                if let Some(it) = SCRIPT_ITEMS.iter().find(|it| it.item == item) {
                    return Ok(Desc::new(p, it.ty, InDom::NULL, it.sem, it.units));
                }
                let st = s.state.lock();
                st.data.metric_desc(item).ok_or(PmError::PMID)
            }
        }
    }

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.domain() != DOMAIN {
            return Err(PmError::INDOM);
        }
        let serial = indom.serial();
        if serial == profiler::INDOM_SERIAL {
            return Ok(self.profiler.as_mut().ok_or(PmError::INDOM)?.instances());
        }
        if serial == 0 {
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

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        let _ = kind;
        match target {
            TextTarget::Metric(p) => match (p.cluster(), p.item()) {
                // pmdabpftrace's words.
                (CONTROL, 0) => Ok("register a new bpftrace script".into()),
                (CONTROL, 1) => Ok("deregister a bpftrace script".into()),
                (CONTROL, 2) => Ok("start a stopped bpftrace script".into()),
                (CONTROL, 3) => Ok("stop a running bpftrace script".into()),
                (INFO, 0) => Ok("list all registered bpftrace scripts".into()),
                (INFO, 1) => Ok("expose all scripts in JSON format".into()),
                (INFO, 2) => Ok("list all available tracepoints".into()),
                (CONTROL | INFO, _) => Err(PmError::TEXT),
                (profiler::CLUSTER, _) => self.profiler.as_ref().ok_or(PmError::TEXT)?.help(p),
                (c, item) => {
                    let s = self.script_by_cluster(c).ok_or(PmError::TEXT)?;
                    if let Some(it) = SCRIPT_ITEMS.iter().find(|it| it.item == item) {
                        return Ok(it.help.to_string());
                    }
                    let st = s.state.lock();
                    st.data.desc(item).map(|d| d.1).ok_or(PmError::TEXT)
                }
            },
            TextTarget::InDom(i) if i == scripts_indom() => {
                Ok("registered bpftrace scripts".into())
            }
            TextTarget::InDom(i)
                if i == profiler::ProfilerMetrics::indom() && self.profiler.is_some() =>
            {
                Ok("target groups of the continuous profiler (service_name)".into())
            }
            TextTarget::InDom(i) => {
                let cluster = i.serial() / 1000;
                let item = i.serial() % 1000;
                let s = self.script_by_cluster(cluster).ok_or(PmError::TEXT)?;
                let st = s.state.lock();
                let name = st
                    .data
                    .defs()
                    .find(|d| d.item == item)
                    .map(|d| d.name.clone())
                    .ok_or(PmError::TEXT)?;
                Ok(format!("keys (or buckets) of the bpftrace map {name}"))
            }
        }
    }

    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => LabelSet::new().with("agent", "bpftrace"),
            LabelTarget::Cluster(INFO) => LabelSet::new().with("metrictype", "control"),
            LabelTarget::Item(p) if p.cluster() > INFO && p.cluster() != profiler::CLUSTER => {
                if SCRIPT_ITEMS.iter().any(|it| it.item == p.item()) {
                    // The reference means to label these "control" but
                    // compares the wrong numbers and never does; clients
                    // see no label there, so neither do ours.
                    LabelSet::new()
                } else {
                    let s = self.script_by_cluster(p.cluster()).ok_or(PmError::PMID)?;
                    let st = s.state.lock();
                    match st.data.desc(p.item()) {
                        Some((_, _, Some(mt))) => LabelSet::new().with("metrictype", mt),
                        Some(_) => LabelSet::new(),
                        None => return Err(PmError::PMID),
                    }
                }
            }
            _ => LabelSet::new(),
        })
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        req.pmids
            .iter()
            .map(|&p| {
                if p.domain() != DOMAIN {
                    return Err(PmError::PMID);
                }
                self.fetch_one(p, req.client.slot)
            })
            .collect()
    }

    fn store(
        &mut self,
        p: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        if p.domain() != DOMAIN || p.cluster() != CONTROL || p.item() > 3 {
            return Err(if self.desc(p).is_ok() {
                PmError::PERMISSION
            } else {
                PmError::PMID
            });
        }
        let which = p.item() as usize;
        let user = match self.authorize(client) {
            Ok(u) => u,
            Err(msg) => {
                log(&format!("bpftrace.control.{}: {msg}", CONTROL_NAMES[which]));
                self.set_result(client.slot, which, failure(&msg));
                return Err(PmError::PERMISSION);
            }
        };
        let arg = match values.first().map(|v| &v.1) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Aggregate(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => return Err(PmError::BADSTORE),
        };
        match which {
            0 => match self.register(&arg, user, None, true) {
                Ok(script) => {
                    let json = pyjson::dumps(&script.to_json());
                    self.set_result(client.slot, 0, json);
                    self.rebuild_namespace();
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
                self.rebuild_namespace();
                if ok {
                    self.set_result(client.slot, 1, success());
                    Ok(())
                } else {
                    self.set_result(
                        client.slot,
                        1,
                        failure("one or more scripts were not found"),
                    );
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

    fn client_closed(&mut self, slot: u32) {
        self.results.remove(&slot);
    }

    fn wait_ready(&mut self, timeout: Duration) {
        self.reg.wait_ready(timeout);
    }
}

/// Scripts currently registered: name, status and pid (for tests and tools).
pub fn script_summary(agent: &BpftracePmda) -> BTreeMap<String, (String, i32)> {
    agent
        .reg
        .scripts
        .lock()
        .values()
        .map(|s| {
            let st = s.state.lock();
            (s.name.clone(), (st.status.as_str().to_string(), st.pid))
        })
        .collect()
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

    #[test]
    fn unnamed_clusters_are_reused_only_when_exhausted() {
        let mut c = Clusters::new(IdCache::in_memory(
            "clusters",
            FIRST_SCRIPT_CLUSTER,
            LAST_CLUSTER,
        ));
        c.next = LAST_CLUSTER - 2;
        assert_eq!(c.named("a").unwrap(), LAST_CLUSTER - 2);
        let a = c.unnamed().unwrap();
        c.release(a);
        let b = c.unnamed().unwrap();
        assert_ne!(a, b, "a fresh cluster is preferred");
        assert_eq!(c.unnamed(), Some(a), "then the oldest freed one");
        assert_eq!(c.unnamed(), None);
    }

    #[test]
    fn every_script_numbered_in_order_from_100_and_named_ones_kept() {
        let mut c = Clusters::new(IdCache::in_memory(
            "clusters",
            FIRST_SCRIPT_CLUSTER,
            LAST_CLUSTER,
        ));
        assert_eq!(c.unnamed(), Some(100));
        assert_eq!(c.named("a").unwrap(), 101);
        assert_eq!(c.unnamed(), Some(102));
        // A restart: the named cache survives, the sequence starts again.
        let mut again = Clusters::new(c.named.clone());
        assert_eq!(again.unnamed(), Some(100));
        assert_eq!(again.unnamed(), Some(102), "101 stays a's");
        assert_eq!(again.named("a").unwrap(), 101);
        again.release(101);
        assert_eq!(again.named("a").unwrap(), 101);
    }

    #[test]
    fn autostart_scripts_take_the_sequence_whatever_was_kept() {
        let mut c = Clusters::new(IdCache::in_memory(
            "clusters",
            FIRST_SCRIPT_CLUSTER,
            LAST_CLUSTER,
        ));
        assert_eq!(c.named("dyn").unwrap(), 100);
        // A restart with two autostart scripts: 100 and 101, as
        // pmdabpftrace gives them, though "dyn" kept 100.
        let mut again = Clusters::new(c.named.clone());
        assert_eq!(again.in_order(), Some(100));
        assert_eq!(again.in_order(), Some(101));
        assert_eq!(again.named("dyn").unwrap(), 102, "100 is taken this time");
        assert_eq!(again.unnamed(), Some(103));
        // Once 100 is free again, "dyn" gets its own back.
        let mut third = Clusters::new(again.named.clone());
        assert_eq!(third.named("dyn").unwrap(), 100);
    }
}
