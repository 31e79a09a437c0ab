//! Running our agents under PCP's pmcd: the daemon-PMDA entry point
//! (`pcp-agent pmda NAME`) and what PCP's Install/Remove scripts do
//! (`pcp-agent install NAME`, `pcp-agent remove NAME`).
//!
//! Install, as `pmdaproc.sh` does it for a PMDA with a dynamic namespace:
//!
//! 1. for each top-level name the agent serves, a `PREFIX DOMAIN:*:*`
//!    entry merged into pmcd's PMNS root with `pmnsadd` (an existing
//!    subtree of that name is first removed with `pmnsdel`, which needs
//!    `replace` unless it is already ours);
//! 2. the pmcd.conf line `LABEL DOMAIN pipe binary [notready] BINARY pmda
//!    AGENT [--notready] [-d DOMAIN] ARGS...`, before the `[access]`
//!    section; an older line of the same label is replaced, and another
//!    agent at the same domain is culled only with `replace` (standing in
//!    for PCP's own pmdalinux at 60, pmdaopenmetrics at 144, pmdabpftrace
//!    at 151), our line taking its place;
//! 3. SIGHUP to pmcd (`pmsignal -a -s HUP pmcd`, or a given pid), then a
//!    wait until the agent's process runs, pmcd reports it answering
//!    (`pmcd.agent.status` 0 for its label and domain) and serves names
//!    below its first prefix. Remove waits for our process to exit and
//!    for the restored agents to answer.
//!
//! What `replace` takes out (the culled pmcd.conf lines, the replaced PMNS
//! subtrees, and PCP's dynamic entries it keeps as they were) is first
//! written beside pmcd.conf (see [`saved`]); `remove` takes our line and
//! our entries out and puts exactly that back, so PCP's agent answers
//! again as before.
//!
//! Every step is idempotent: a second install changes nothing, and
//! `dry_run` lists the changes without making them.
//!
//! The PMNS and pmcd.conf paths, the pmcd to signal and the host to wait
//! on are all options, so the same code installs into a private pmcd in
//! tests.

mod conf;
mod pmns;
mod procs;
mod saved;
mod wait;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pcp_core::daemon::{run_stdio_with, DaemonOptions};

use conf::quote;

/// Runs the agent `agent_factory` builds as a daemon PMDA on stdin/stdout,
/// until pmcd closes the pipe. With `notready` (which the pmcd.conf line
/// must also say) pmcd is told when the agent is ready, so a slow start-up
/// (loading scripts, first scrape) does not time pmcd out. Client
/// credentials are requested from pmcd, for agents that authorise.
/// `PCP_AGENT_PDU_TRACE=1` logs every PDU to stderr (pmcd's log).
pub fn run_pmda(
    agent_factory: impl FnOnce() -> Result<Box<dyn pcp_core::Pmda>, String> + Send,
    notready: bool,
) -> Result<(), String> {
    let opts = DaemonOptions {
        notready,
        credentials: true,
        trace: std::env::var_os("PCP_AGENT_PDU_TRACE").is_some_and(|v| v == "1"),
        ..DaemonOptions::default()
    };
    run_stdio_with(agent_factory, &opts).map_err(|e| e.to_string())
}

/// How to signal pmcd after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The system pmcd: `pmsignal -a -s HUP pmcd`.
    System,
    /// A pmcd with this pid (a private pmcd).
    Pid(u32),
    /// Do not signal (the caller restarts pmcd).
    None,
}

/// What to install or remove, and where.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The pmcd.conf label (`linux`, `prometheus`, `bpftrace`, `simple`;
    /// `simple_498` for an agent at another domain than its own).
    pub name: String,
    /// The agent the line runs (`pmda AGENT`); usually the label.
    pub agent: String,
    /// The domain (1..=510).
    pub domain: u32,
    /// The domain the agent serves natively: when `domain` differs, the
    /// line passes `-d DOMAIN` and the agent's identifiers are moved.
    pub own_domain: u32,
    /// Cull another agent at this domain, and replace existing PMNS
    /// subtrees of our top-level names.
    pub replace: bool,
    /// Only report the changes.
    pub dry_run: bool,
    /// The absolute path of the agent binary (`pcp-agent`).
    pub binary: PathBuf,
    /// Arguments after `pmda AGENT` on the pmcd.conf line.
    pub agent_args: Vec<String>,
    /// The agent announces readiness (`notready` on the pmcd.conf line and
    /// `--notready` passed to `pmda AGENT`).
    pub notready: bool,
    /// pmcd's PMNS directory (its `root` file is edited).
    pub pmns_dir: PathBuf,
    /// pmcd's configuration file.
    pub pmcd_conf: PathBuf,
    /// Top-level names the agent serves, each made a dynamic subtree.
    pub prefixes: Vec<String>,
    /// How to tell pmcd.
    pub reload: Reload,
    /// The pmcd to wait on after reloading (`-h` argument), e.g.
    /// `localhost:44321`; `None` waits on the default.
    pub host: Option<String>,
    /// How long to wait for the agent to answer after a reload.
    pub wait: Duration,
}

impl InstallOptions {
    /// Options for agent `name` at its own `domain`, for the system pmcd
    /// with PCP's default paths.
    pub fn system(
        name: &str,
        domain: u32,
        binary: PathBuf,
        prefixes: Vec<String>,
    ) -> InstallOptions {
        InstallOptions {
            name: name.to_string(),
            agent: name.to_string(),
            domain,
            own_domain: domain,
            replace: false,
            dry_run: false,
            binary,
            agent_args: Vec::new(),
            notready: true,
            pmns_dir: PathBuf::from("/var/lib/pcp/pmns"),
            pmcd_conf: PathBuf::from("/etc/pcp/pmcd/pmcd.conf"),
            prefixes,
            reload: Reload::System,
            host: None,
            wait: Duration::from_secs(20),
        }
    }

    /// The same agent served at `domain`: labelled `AGENT_DOMAIN` there
    /// when that is not its own domain, so that copies of one agent at
    /// several domains have lines of their own.
    pub fn at_domain(mut self, domain: u32) -> InstallOptions {
        self.domain = domain;
        self.name = if domain == self.own_domain {
            self.agent.clone()
        } else {
            format!("{}_{domain}", self.agent)
        };
        self
    }

    fn root(&self) -> PathBuf {
        self.pmns_dir.join("root")
    }

    /// Where what `replace` took out is kept for `remove`.
    pub fn saved_path(&self) -> PathBuf {
        saved::path(&self.pmcd_conf, &self.name)
    }

    /// The pmcd.conf line for this agent.
    pub fn conf_line(&self) -> String {
        let mut cmd = vec![
            quote(&self.binary.to_string_lossy()),
            "pmda".to_string(),
            quote(&self.agent),
        ];
        if self.notready {
            cmd.push("--notready".into());
        }
        if self.domain != self.own_domain {
            cmd.extend(["-d".to_string(), self.domain.to_string()]);
        }
        cmd.extend(self.agent_args.iter().map(|a| quote(a)));
        format!(
            "{}\t{}\tpipe\t{}\t{}",
            self.name,
            self.domain,
            if self.notready {
                "binary notready"
            } else {
                "binary"
            },
            cmd.join(" ")
        )
    }
}

fn validate(opts: &InstallOptions) -> Result<(), String> {
    if !(1..=pcp_core::id::MAX_DOMAIN).contains(&opts.domain) {
        return Err(format!("domain {} out of range 1..=510", opts.domain));
    }
    let valid = |s: &str| pcp_core::namespace::valid_component(s);
    if !valid(&opts.name) {
        return Err(format!("invalid agent label {:?}", opts.name));
    }
    if !valid(&opts.agent) {
        return Err(format!("invalid agent name {:?}", opts.agent));
    }
    if opts.prefixes.is_empty() {
        return Err("no top-level names to register".into());
    }
    if let Some(p) = opts.prefixes.iter().find(|p| !valid(p)) {
        return Err(format!("invalid top-level name {p:?}"));
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `text` to `path` through a temporary file and a rename, keeping
/// the original's permissions.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("pcp-agent.new");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn signal(opts: &InstallOptions) -> Result<(), String> {
    match opts.reload {
        Reload::System => pmns::run_tool(
            Command::new(pmns::pcp_tool("pmsignal")).args(["-a", "-s", "HUP", "pmcd"]),
        ),
        Reload::Pid(pid) => pmns::run_tool(Command::new("kill").args(["-HUP", &pid.to_string()])),
        Reload::None => Ok(()),
    }
}

/// What pmcd should look like once it has reloaded.
#[derive(Debug, Default)]
struct Expect {
    /// Agents (label, domain) that must answer (status 0).
    running: Vec<(String, u32)>,
    /// Labels that must be gone.
    gone: Vec<String>,
    /// Agent commands whose processes must have exited.
    exited: Vec<Vec<String>>,
    /// Agent commands whose processes must run.
    started: Vec<Vec<String>>,
    /// Prefixes that must have names below them.
    present: Vec<String>,
    /// Prefixes that must have none.
    absent: Vec<String>,
}

/// Waits until pmcd matches `expect`, failing at once if an agent it
/// waits for has failed, with pmcd's own word on it.
fn wait_for(opts: &InstallOptions, expect: &Expect) -> Result<(), String> {
    let deadline = Instant::now() + opts.wait;
    let host = opts.host.as_deref();
    loop {
        let agents = wait::agents(host);
        let mut missing: Vec<String> = Vec::new();
        if let Some(states) = &agents {
            for (label, domain) in &expect.running {
                match states
                    .iter()
                    .find(|s| &s.label == label && s.domain == *domain)
                {
                    Some(s) if s.status == 0 => {}
                    Some(s) if s.failed() => {
                        return Err(format!(
                            "{}; see pmcd's log (pmcd.log in $PCP_LOG_DIR/pmcd)",
                            s.describe()
                        ))
                    }
                    Some(s) => missing.push(s.describe()),
                    None => missing.push(format!(
                        "pmcd does not run agent {label} (domain {domain}) yet"
                    )),
                }
            }
            for label in &expect.gone {
                if let Some(s) = states.iter().find(|s| &s.label == label) {
                    missing.push(format!("{} still", s.describe()));
                }
            }
        }
        for argv in &expect.started {
            if !procs::process_runs(argv) {
                missing.push(format!("the agent {} does not run", argv.join(" ")));
            }
        }
        for argv in &expect.exited {
            if procs::process_runs(argv) {
                missing.push(format!("the agent {} still runs", argv.join(" ")));
            }
        }
        for p in &expect.present {
            if !wait::serves_names(host, p) {
                missing.push(format!("pmcd serves no names below {p}"));
            }
        }
        for p in &expect.absent {
            if wait::serves_names(host, p) {
                missing.push(format!("pmcd still serves names below {p}"));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pmcd did not reload as expected within {:?}: {}",
                opts.wait,
                missing.join("; ")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Registers the agent with pmcd (see the module docs). Returns the
/// changes made, or with `dry_run` the changes that would be made; an
/// empty list means it was installed already.
pub fn install(opts: &InstallOptions) -> Result<Vec<String>, String> {
    validate(opts)?;
    if !opts.binary.is_absolute() {
        return Err(format!(
            "{}: the agent binary must be an absolute path",
            opts.binary.display()
        ));
    }
    let line = opts.conf_line();
    let edit = conf::install_edit(
        &read(&opts.pmcd_conf)?,
        &line,
        &opts.name,
        &opts.agent,
        opts.domain,
        opts.replace,
    )
    .map_err(|e| format!("{}: {e}", opts.pmcd_conf.display()))?;
    let mut changes = edit.changes;
    let conf_changed = !changes.is_empty();

    // PMNS: a dynamic subtree per top-level name.
    let root = read(&opts.root())?;
    let entries = pmns::root_entries(&root);
    let ours = format!("{}:*:*", opts.domain);
    let mut replaced = saved::Replaced {
        conf_lines: edit.culled.clone(),
        ..Default::default()
    };
    let mut pmns_ops: Vec<(bool, String)> = Vec::new(); // (delete first, name)
    for p in &opts.prefixes {
        match entries.iter().find(|(n, _)| n == p) {
            Some((_, Some(id))) if *id == ours => {
                // Already what ours would be: the culled agent's entry
                // (PCP's dynamic agents use the same form), kept for it.
                if !edit.culled.is_empty() {
                    replaced.kept.push(p.clone());
                }
            }
            Some((_, existing)) => {
                if !opts.replace {
                    return Err(format!(
                        "{p} is already in pmcd's namespace ({}); use --replace to take it over",
                        existing.as_deref().unwrap_or("a static subtree")
                    ));
                }
                changes.push(format!(
                    "PMNS {}: replace {p} with {p} {ours}",
                    opts.root().display()
                ));
                if let Some(text) = pmns::subtree(&root, p) {
                    replaced.subtrees.push(saved::Subtree {
                        name: p.clone(),
                        text,
                    });
                }
                pmns_ops.push((true, p.clone()));
            }
            None => {
                changes.push(format!("PMNS {}: add {p} {ours}", opts.root().display()));
                pmns_ops.push((false, p.clone()));
            }
        }
    }
    let saved_path = opts.saved_path();
    if !replaced.is_empty() {
        changes.push(format!(
            "keep what is replaced in {} (for remove)",
            saved_path.display()
        ));
    }
    if changes.is_empty() || opts.dry_run {
        if !changes.is_empty() {
            changes.push("signal pmcd to reload (SIGHUP)".into());
        }
        return Ok(changes);
    }
    // The record first: whatever fails later, what was taken out is known.
    if !replaced.is_empty() {
        let mut record = saved::load(&saved_path)?;
        record.merge(replaced);
        write_atomically(&saved_path, &record.to_text(&opts.name))?;
    }
    for (delete, p) in &pmns_ops {
        if *delete {
            pmns::pmnsdel(&opts.root(), p)?;
        }
        pmns::pmnsadd(&opts.root(), p, &pmns::dynamic_entry(p, opts.domain))?;
    }
    if conf_changed {
        write_atomically(&opts.pmcd_conf, &edit.text)?;
    }
    signal(opts)?;
    changes.push("signalled pmcd to reload (SIGHUP)".into());
    if opts.reload != Reload::None {
        wait_for(
            opts,
            &Expect {
                running: vec![(opts.name.clone(), opts.domain)],
                started: conf::pipe_command(&line).into_iter().collect(),
                present: vec![opts.prefixes[0].clone()],
                ..Default::default()
            },
        )?;
        // A culled agent that outlives its pipe (pmdabpftrace's Python
        // child keeps it open) is stopped, as PCP's cull does.
        let pmcds = match opts.reload {
            Reload::Pid(pid) => vec![pid],
            _ => procs::pmcds_reading(&opts.pmcd_conf),
        };
        for argv in edit.culled.iter().filter_map(|l| conf::pipe_command(l)) {
            for pid in procs::stop_children(&pmcds, &argv, Duration::from_secs(3)) {
                changes.push(format!(
                    "stopped pid {pid} ({}), still running after pmcd let it go",
                    argv.join(" ")
                ));
            }
        }
    }
    Ok(changes)
}

/// Unregisters the agent: its pmcd.conf line and its dynamic PMNS entries
/// go, and what `install --replace` took out for it comes back (the
/// culled agent's pmcd.conf line in our line's place, the replaced PMNS
/// subtrees); pmcd reloads. Returns the changes (or with `dry_run` those
/// it would make).
pub fn remove(opts: &InstallOptions) -> Result<Vec<String>, String> {
    validate(opts)?;
    let saved_path = opts.saved_path();
    let record = saved::load(&saved_path)?;
    let edit = conf::remove_edit(
        &read(&opts.pmcd_conf)?,
        &opts.name,
        &opts.agent,
        &record.conf_lines,
    );
    let mut changes = edit.changes;
    let conf_changed = edit.text != read(&opts.pmcd_conf)?;
    let root = read(&opts.root())?;
    let entries = pmns::root_entries(&root);
    let ours = format!("{}:*:*", opts.domain);
    let mut dels = Vec::new();
    for (name, id) in &entries {
        if opts.prefixes.contains(name)
            && id.as_deref() == Some(ours.as_str())
            && !record.kept.contains(name)
        {
            changes.push(format!(
                "PMNS {}: delete {name} {ours}",
                opts.root().display()
            ));
            dels.push(name.clone());
        }
    }
    let mut adds = Vec::new();
    for s in &record.subtrees {
        let there = entries.iter().any(|(n, _)| n == &s.name);
        if there && !dels.contains(&s.name) {
            changes.push(format!(
                "PMNS {}: not restoring {}: something else holds it now",
                opts.root().display(),
                s.name
            ));
            continue;
        }
        changes.push(format!(
            "PMNS {}: restore {} as it was",
            opts.root().display(),
            s.name
        ));
        adds.push(s);
    }
    let have_record = saved_path.exists();
    if have_record {
        changes.push(format!("delete {}", saved_path.display()));
    }
    if changes.is_empty() || opts.dry_run {
        if !changes.is_empty() {
            changes.push("signal pmcd to reload (SIGHUP)".into());
        }
        return Ok(changes);
    }
    for name in &dels {
        pmns::pmnsdel(&opts.root(), name)?;
    }
    for s in &adds {
        pmns::pmnsadd(&opts.root(), &s.name, &s.text)?;
    }
    if conf_changed {
        write_atomically(&opts.pmcd_conf, &edit.text)?;
    }
    if have_record {
        std::fs::remove_file(&saved_path).map_err(|e| format!("{}: {e}", saved_path.display()))?;
    }
    signal(opts)?;
    changes.push("signalled pmcd to reload (SIGHUP)".into());
    if opts.reload != Reload::None {
        let restored: Vec<(String, u32)> = edit
            .restored
            .iter()
            .filter_map(|l| conf::agent_line(l).map(|(lab, d)| (lab.to_string(), d)))
            .collect();
        let back: Vec<&String> = adds.iter().map(|s| &s.name).collect();
        let (present, absent): (Vec<String>, Vec<String>) =
            opts.prefixes.iter().cloned().partition(|p| {
                back.contains(&p) || (record.kept.contains(p) && !restored.is_empty())
            });
        // A restored agent may have our label (PCP's linux, bpftrace):
        // then ours is gone when its process is.
        let gone = if restored.iter().any(|(l, _)| *l == opts.name) {
            Vec::new()
        } else {
            vec![opts.name.clone()]
        };
        wait_for(
            opts,
            &Expect {
                running: restored,
                gone,
                exited: edit
                    .removed
                    .iter()
                    .filter_map(|l| conf::pipe_command(l))
                    .collect(),
                present,
                absent,
                ..Default::default()
            },
        )?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_line_quotes_and_marks_notready() {
        let mut o = InstallOptions::system(
            "linux",
            60,
            "/usr/bin/pcp-agent".into(),
            vec!["kernel".into()],
        );
        o.agent_args = vec!["--config".into(), "/etc/a b".into()];
        assert_eq!(
            o.conf_line(),
            "linux\t60\tpipe\tbinary notready\t/usr/bin/pcp-agent pmda linux --notready --config \"/etc/a b\""
        );
        assert_eq!(conf::agent_line(&o.conf_line()), Some(("linux", 60)));
    }

    #[test]
    fn another_domain_gets_its_own_label_and_dash_d() {
        let o = InstallOptions::system(
            "simple",
            253,
            "/bin/pcp-agent".into(),
            vec!["simple".into()],
        )
        .at_domain(498);
        assert_eq!(o.name, "simple_498");
        assert_eq!(
            o.conf_line(),
            "simple_498\t498\tpipe\tbinary notready\t/bin/pcp-agent pmda simple --notready -d 498"
        );
        let back = o.at_domain(253);
        assert_eq!(back.name, "simple");
        assert!(!back.conf_line().contains("-d"));
    }
}
