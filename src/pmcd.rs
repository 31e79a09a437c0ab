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
//! 2. the pmcd.conf line `NAME DOMAIN pipe binary [notready] BINARY pmda
//!    NAME [--notready] ARGS...`, before the `[access]` section; an older
//!    line of the same name is replaced, and another agent at the same
//!    domain is culled only with `replace` (standing in for PCP's own
//!    pmdalinux at 60, pmdaopenmetrics at 144, pmdabpftrace at 151);
//! 3. SIGHUP to pmcd (`pmsignal -a -s HUP pmcd`, or a given pid), then a
//!    wait until the agent answers.
//!
//! Both steps are idempotent: a second install changes nothing, and
//! `dry_run` lists the changes without making them. Remove deletes our
//! pmcd.conf line and our dynamic PMNS entries and signals pmcd; it does
//! not restore the PCP agent a `replace` culled (reinstall it with its own
//! `Install` script, e.g. `cd /var/lib/pcp/pmdas/linux && ./Install`).
//!
//! The PMNS and pmcd.conf paths, the pmcd to signal and the host to wait
//! on are all options, so the same code installs into a private pmcd in
//! tests.
// The binary uses part of this module; tests include all of it by path.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pcp_core::daemon::{run_stdio_with, DaemonOptions};

/// Runs the agent `agent_factory` builds as a daemon PMDA on stdin/stdout,
/// until pmcd closes the pipe. With `notready` (which the pmcd.conf line
/// must also say) pmcd is told when the agent is ready, so a slow start-up
/// (loading scripts, first scrape) does not time pmcd out. Client
/// credentials are requested from pmcd, for agents that authorise.
/// `PCP_AGENT_PDU_TRACE=1` logs every PDU to stderr (pmcd's log).
pub fn run_pmda(
    agent_factory: impl FnOnce() -> Result<Box<dyn pcp_core::Pmda>, String>,
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
    /// Agent name: the pmcd.conf label (`linux`, `prometheus`, `bpftrace`,
    /// `simple`).
    pub name: String,
    /// The domain (1..=510).
    pub domain: u32,
    /// Cull another agent at this domain, and replace existing PMNS
    /// subtrees of our top-level names.
    pub replace: bool,
    /// Only report the changes.
    pub dry_run: bool,
    /// The absolute path of the agent binary (`pcp-agent`).
    pub binary: PathBuf,
    /// Arguments after `pmda NAME` on the pmcd.conf line.
    pub agent_args: Vec<String>,
    /// The agent announces readiness (`notready` on the pmcd.conf line and
    /// `--notready` passed to `pmda NAME`).
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
    /// Options for the system pmcd with PCP's default paths.
    pub fn system(
        name: &str,
        domain: u32,
        binary: PathBuf,
        prefixes: Vec<String>,
    ) -> InstallOptions {
        InstallOptions {
            name: name.to_string(),
            domain,
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

    fn root(&self) -> PathBuf {
        self.pmns_dir.join("root")
    }

    /// The pmcd.conf line for this agent.
    pub fn conf_line(&self) -> String {
        let mut cmd = vec![
            quote(&self.binary.to_string_lossy()),
            "pmda".to_string(),
            quote(&self.name),
        ];
        if self.notready {
            cmd.push("--notready".into());
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

/// pmcd.conf splits on white space and groups with double quotes.
fn quote(s: &str) -> String {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace()) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// One agent line of pmcd.conf: (label, domain).
fn agent_line(line: &str) -> Option<(&str, u32)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let mut f = t.split_whitespace();
    let label = f.next()?;
    let domain = f.next()?.parse().ok()?;
    Some((label, domain))
}

/// The names directly under `root { ... }` of a PMNS file, with their PMID
/// text if any (`490:*:*` for a dynamic subtree, none for a static one).
fn root_entries(pmns: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in pmns.lines() {
        let t = line.trim();
        if !inside {
            if t.starts_with("root") && t.ends_with('{') {
                inside = true;
            }
            continue;
        }
        if t.starts_with('}') {
            break;
        }
        let t = t.split("/*").next().unwrap_or("").trim();
        let mut f = t.split_whitespace();
        if let Some(name) = f.next() {
            out.push((name.to_string(), f.next().map(str::to_string)));
        }
    }
    out
}

fn validate(opts: &InstallOptions) -> Result<(), String> {
    if !(1..=510).contains(&opts.domain) {
        return Err(format!("domain {} out of range 1..=510", opts.domain));
    }
    let valid = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !valid(&opts.name) {
        return Err(format!("invalid agent name {:?}", opts.name));
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

fn pcp_tool(name: &str) -> PathBuf {
    for dir in ["/usr/lib/pcp/bin", "/usr/libexec/pcp/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}{}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn pmnsdel(opts: &InstallOptions, name: &str) -> Result<(), String> {
    run_tool(
        Command::new(pcp_tool("pmnsdel"))
            .arg("-n")
            .arg(opts.root())
            .arg(name),
    )
}

fn pmnsadd_dynamic(opts: &InstallOptions, name: &str) -> Result<(), String> {
    // One directory per call: installs may run at once in one process
    // (each removes its own directory when done).
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pcp-agent-pmns-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(name);
    let text = format!("root {{\n\t{name}\t{}:*:*\n}}\n", opts.domain);
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    let r = run_tool(
        Command::new(pcp_tool("pmnsadd"))
            .current_dir(&opts.pmns_dir)
            .arg("-n")
            .arg(opts.root())
            .arg(&file),
    );
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn signal(opts: &InstallOptions) -> Result<(), String> {
    match opts.reload {
        Reload::System => {
            run_tool(Command::new(pcp_tool("pmsignal")).args(["-a", "-s", "HUP", "pmcd"]))
        }
        Reload::Pid(pid) => run_tool(Command::new("kill").args(["-HUP", &pid.to_string()])),
        Reload::None => Ok(()),
    }
}

/// Waits until pmcd answers for our first top-level name (`pminfo`).
fn wait_for_agent(opts: &InstallOptions, present: bool) -> Result<(), String> {
    let deadline = Instant::now() + opts.wait;
    let prefix = &opts.prefixes[0];
    loop {
        let mut cmd = Command::new("pminfo");
        // Without PCP's derived metrics: /etc/pcp/derived defines names
        // under kernel.* that would look like our agent answering.
        cmd.env("PCP_DERIVED_CONFIG", "");
        if let Some(h) = &opts.host {
            cmd.args(["-h", h]);
        }
        // While a notready agent starts, pminfo lists the dynamic root as
        // a leaf of its own (or prints "Try again"), and exits 0.
        let below = format!("{prefix}.");
        let ok = cmd
            .arg(prefix)
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout);
                o.status.success()
                    && !text.contains("Error")
                    && text.lines().any(|l| l.starts_with(&below))
            })
            .unwrap_or(false);
        if ok == present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "pmcd did not {} {prefix} within {:?}",
                if present { "serve" } else { "drop" },
                opts.wait
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
    let mut changes = Vec::new();

    // pmcd.conf: our line, culling older lines of our name and (with
    // replace) another agent at our domain.
    let conf = read(&opts.pmcd_conf)?;
    let line = opts.conf_line();
    let mut kept: Vec<&str> = Vec::new();
    let mut have = false;
    for l in conf.lines() {
        match agent_line(l) {
            Some(_) if l.trim_end() == line => {
                if have {
                    changes.push(format!("pmcd.conf: remove duplicate line: {l}"));
                } else {
                    have = true;
                    kept.push(l);
                }
            }
            Some((label, _)) if label == opts.name => {
                changes.push(format!("pmcd.conf: remove old line: {l}"));
            }
            Some((label, domain)) if domain == opts.domain => {
                if !opts.replace {
                    return Err(format!(
                        "domain {} is used by pmcd agent {label:?} in {}; use --replace to stand in for it, or another --domain",
                        opts.domain,
                        opts.pmcd_conf.display()
                    ));
                }
                changes.push(format!(
                    "pmcd.conf: cull agent {label} (domain {domain}): {l}"
                ));
            }
            _ => kept.push(l),
        }
    }
    let mut new_conf = String::with_capacity(conf.len() + line.len() + 1);
    let mut placed = have;
    for l in &kept {
        if !placed && l.trim_start().starts_with("[access]") {
            new_conf.push_str(&line);
            new_conf.push('\n');
            placed = true;
        }
        new_conf.push_str(l);
        new_conf.push('\n');
    }
    if !placed {
        new_conf.push_str(&line);
        new_conf.push('\n');
    }
    if !have {
        changes.push(format!("pmcd.conf: add line: {line}"));
    }
    let conf_changed = !changes.is_empty();

    // PMNS: a dynamic subtree per top-level name.
    let root = read(&opts.root())?;
    let entries = root_entries(&root);
    let ours = format!("{}:*:*", opts.domain);
    let mut pmns_ops: Vec<(bool, String)> = Vec::new(); // (delete first, name)
    for p in &opts.prefixes {
        match entries.iter().find(|(n, _)| n == p) {
            Some((_, Some(id))) if *id == ours => {}
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
                pmns_ops.push((true, p.clone()));
            }
            None => {
                changes.push(format!("PMNS {}: add {p} {ours}", opts.root().display()));
                pmns_ops.push((false, p.clone()));
            }
        }
    }
    if changes.is_empty() || opts.dry_run {
        if !changes.is_empty() {
            changes.push("signal pmcd to reload (SIGHUP)".into());
        }
        return Ok(changes);
    }
    for (delete, p) in &pmns_ops {
        if *delete {
            pmnsdel(opts, p)?;
        }
        pmnsadd_dynamic(opts, p)?;
    }
    if conf_changed {
        write_atomically(&opts.pmcd_conf, &new_conf)?;
    }
    signal(opts)?;
    changes.push("signalled pmcd to reload (SIGHUP)".into());
    if opts.reload != Reload::None {
        wait_for_agent(opts, true)?;
    }
    Ok(changes)
}

/// Unregisters the agent: its pmcd.conf line and its dynamic PMNS entries
/// go, pmcd reloads. An agent that `install --replace` culled is not
/// restored. Returns the changes (or with `dry_run` those it would make).
pub fn remove(opts: &InstallOptions) -> Result<Vec<String>, String> {
    validate(opts)?;
    let mut changes = Vec::new();
    let conf = read(&opts.pmcd_conf)?;
    let mut new_conf = String::with_capacity(conf.len());
    for l in conf.lines() {
        match agent_line(l) {
            Some((label, _)) if label == opts.name => {
                changes.push(format!("pmcd.conf: remove line: {l}"));
            }
            _ => {
                new_conf.push_str(l);
                new_conf.push('\n');
            }
        }
    }
    let conf_changed = !changes.is_empty();
    let root = read(&opts.root())?;
    let ours = format!("{}:*:*", opts.domain);
    let mut dels = Vec::new();
    for (name, id) in root_entries(&root) {
        if opts.prefixes.contains(&name) && id.as_deref() == Some(ours.as_str()) {
            changes.push(format!(
                "PMNS {}: delete {name} {ours}",
                opts.root().display()
            ));
            dels.push(name);
        }
    }
    if changes.is_empty() || opts.dry_run {
        if !changes.is_empty() {
            changes.push("signal pmcd to reload (SIGHUP)".into());
        }
        return Ok(changes);
    }
    for name in &dels {
        pmnsdel(opts, name)?;
    }
    if conf_changed {
        write_atomically(&opts.pmcd_conf, &new_conf)?;
    }
    signal(opts)?;
    changes.push("signalled pmcd to reload (SIGHUP)".into());
    if opts.reload != Reload::None {
        wait_for_agent(opts, false)?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_entries_reads_the_root_block() {
        let pmns =
            "#define X 1\nroot {\n\tkernel\n\tmmv\t70:*:* /* dyn */\n}\nkernel {\n\tall\n}\n";
        assert_eq!(
            root_entries(pmns),
            vec![
                ("kernel".to_string(), None),
                ("mmv".to_string(), Some("70:*:*".to_string()))
            ]
        );
    }

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
        assert_eq!(agent_line(&o.conf_line()), Some(("linux", 60)));
        assert_eq!(agent_line("[access]"), None);
        assert_eq!(agent_line("# linux 60"), None);
    }
}
