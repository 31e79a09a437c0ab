//! The agent lines of a pmcd.conf-style file (pmcd(1)): `NAME DOMAIN pipe
//! binary [notready] COMMAND [ARGS...]`, `#` comments, double quotes
//! grouping words, a backslash continuing a line; reading stops at the
//! `[access]` section. Only pipe agents are hosted: a `dso` or `socket`
//! line is refused with the reason.

use std::path::{Path, PathBuf};

/// One daemon PMDA to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Its label (`sample`).
    pub name: String,
    /// Its domain.
    pub domain: u32,
    /// It starts not ready and says when it is (PM_ERR_PMDAREADY).
    pub notready: bool,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// The directory it runs in, where a PMDA's relative log file (PCP's
    /// `NAME.log`) lands: pmcd runs its agents in `$PCP_LOG_DIR/pmcd`.
    /// `None` keeps the host's own working directory. Not read from the
    /// file; the host sets it.
    pub work_dir: Option<PathBuf>,
}

impl AgentSpec {
    /// Where its namespace file is: `pmns` beside the first absolute path
    /// in its command that is a file (the binary, or a Python PMDA's
    /// script), else PCP's `/var/lib/pcp/pmdas/NAME/pmns`.
    pub fn pmns_path(&self) -> Option<PathBuf> {
        self.argv
            .iter()
            .map(Path::new)
            .filter(|p| p.is_absolute() && p.is_file())
            .filter_map(|p| p.parent().map(|d| d.join("pmns")))
            .chain(std::iter::once(
                Path::new("/var/lib/pcp/pmdas")
                    .join(&self.name)
                    .join("pmns"),
            ))
            .find(|p| p.is_file())
    }
}

/// Why a configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pmcd.conf line {line}: {message}")]
pub struct ConfError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Splits a line into words, double quotes grouping.
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The pipe agents of a pmcd.conf-style text.
pub fn parse_conf(text: &str) -> Result<Vec<AgentSpec>, ConfError> {
    let mut specs = Vec::new();
    let mut pending = String::new();
    let mut first_line = 0;
    for (n, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if pending.is_empty() {
            first_line = n + 1;
            if t.starts_with('[') && t.to_ascii_lowercase().contains("access") {
                break;
            }
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let line = std::mem::take(&mut pending);
        let err = |message: String| ConfError {
            line: first_line,
            message,
        };
        let w = split(&line);
        if w.len() < 3 {
            return Err(err("expected NAME DOMAIN pipe binary COMMAND".into()));
        }
        let domain: u32 = w[1]
            .parse()
            .ok()
            .filter(|d| (1..=510).contains(d))
            .ok_or_else(|| err(format!("domain {:?} is not in 1..=510", w[1])))?;
        match w[2].as_str() {
            "pipe" => {}
            other => {
                return Err(err(format!(
                    "agent {}: {other} agents are not supported, only pipe agents (a DSO needs pmcd's address space)",
                    w[0]
                )))
            }
        }
        if w.get(3).map(String::as_str) != Some("binary") {
            return Err(err(format!(
                "agent {}: the protocol must be `binary`",
                w[0]
            )));
        }
        let notready = w.get(4).map(String::as_str) == Some("notready");
        let argv: Vec<String> = w[if notready { 5 } else { 4 }..].to_vec();
        if argv.is_empty() {
            return Err(err(format!("agent {}: no command", w[0])));
        }
        if specs
            .iter()
            .any(|s: &AgentSpec| s.name == w[0] || s.domain == domain)
        {
            return Err(err(format!(
                "agent {}: name or domain {domain} given twice",
                w[0]
            )));
        }
        specs.push(AgentSpec {
            name: w[0].clone(),
            domain,
            notready,
            argv,
            work_dir: None,
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_lines_are_read_until_the_access_section() {
        let text = "# agents\n\
            sample\t29\tpipe\tbinary\t\t/var/lib/pcp/pmdas/sample/pmdasample -d 29\n\
            om 144 pipe binary notready \"/usr/bin/python3\" /x/pmdaom.python \\\n   -c /etc/om\n\
            \n[access]\nallow * : all;\n";
        let s = parse_conf(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].argv,
            vec!["/var/lib/pcp/pmdas/sample/pmdasample", "-d", "29"]
        );
        assert!(!s[0].notready);
        assert!(s[1].notready);
        assert_eq!(
            s[1].argv,
            vec!["/usr/bin/python3", "/x/pmdaom.python", "-c", "/etc/om"]
        );
    }

    #[test]
    fn other_kinds_and_bad_lines_are_refused() {
        for (text, line) in [
            ("pmcd 2 dso pmcd_init /x.so\n", 1),
            ("\nx 0 pipe binary /bin/x\n", 2),
            ("x 5 pipe text /bin/x\n", 1),
            ("x 5 pipe binary\n", 1),
            ("x 5 pipe binary /a\ny 5 pipe binary /b\n", 2),
        ] {
            let e = parse_conf(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
        }
    }
}
