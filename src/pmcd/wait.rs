//! Waiting for pmcd after a reload: which agents it runs and in what
//! state (`pmcd.agent.status`, one instance per agent: its domain and
//! pmcd.conf label), and whether names below a prefix are served.

use std::process::Command;

use pcp_core::namespace::valid_name;

/// A PCP client command at `host` (the local pmcd if none), without PCP's
/// derived metrics: /etc/pcp/derived defines names under kernel.* that
/// would look like an agent answering.
fn client(program: &str, host: Option<&str>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PCP_DERIVED_CONFIG", "");
    if let Some(h) = host {
        cmd.args(["-h", h]);
    }
    cmd
}

/// One agent pmcd runs: domain, label and `pmcd.agent.status` (0 when it
/// answers; bit 0 not ready yet, bit 1 exited, bit 2 failed to start, bit
/// 3 cut off for a protocol error or timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentState {
    /// The agent's domain.
    pub domain: u32,
    /// Its pmcd.conf label.
    pub label: String,
    /// Its status.
    pub status: u32,
}

impl AgentState {
    /// The status in words.
    pub fn describe(&self) -> String {
        let s = self.status;
        let mut why = Vec::new();
        if s & 1 != 0 {
            why.push("connected but not ready".to_string());
        }
        if s & 2 != 0 {
            why.push("exited".to_string());
        }
        if s & 4 != 0 {
            why.push("could not be started".to_string());
        }
        if s & 8 != 0 {
            why.push("cut off by pmcd (protocol error or timeout)".to_string());
        }
        if (s >> 8) & 0xff != 0 {
            why.push(format!("exit status {}", (s >> 8) & 0xff));
        }
        if (s >> 16) & 0xff != 0 {
            why.push(format!("killed by signal {}", (s >> 16) & 0xff));
        }
        if why.is_empty() {
            why.push("answering".into());
        }
        format!(
            "pmcd agent {} (domain {}): {}",
            self.label,
            self.domain,
            why.join(", ")
        )
    }

    /// True when the agent will not come up without help (it exited,
    /// failed or was cut off).
    pub fn failed(&self) -> bool {
        self.status & (2 | 4 | 8) != 0
    }
}

/// A PMNS holding only `pmcd.agent.status` (PMID 2.4.1 in pmcd's own
/// agent since PCP 1), so pmcd's agent list can be read whatever names
/// the pmcd's own PMNS holds (a private pmcd's may hold none of pmcd's).
const STATUS_PMNS: &str =
    "root {\n\tpmcd\n}\npmcd {\n\tagent\n}\npmcd.agent {\n\tstatus\t2:4:1\n}\n";

/// The agents pmcd runs (`pminfo -f pmcd.agent.status`), or `None` when
/// pmcd or its own agent does not answer.
pub(crate) fn agents(host: Option<&str>) -> Option<Vec<AgentState>> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pmns = std::env::temp_dir().join(format!(
        "pcp-agent-status-{}-{call}.pmns",
        std::process::id()
    ));
    std::fs::write(&pmns, STATUS_PMNS).ok()?;
    let out = client("pminfo", host)
        .arg("-n")
        .arg(&pmns)
        .args(["-f", "pmcd.agent.status"])
        .output();
    let _ = std::fs::remove_file(&pmns);
    let out = out.ok()?;
    if !out.status.success() {
        return None;
    }
    let states = parse_agent_status(&String::from_utf8_lossy(&out.stdout));
    (!states.is_empty()).then_some(states)
}

/// Reads `inst [60 or "linux"] value 0` lines.
pub(crate) fn parse_agent_status(text: &str) -> Vec<AgentState> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("inst [")?;
            let (domain, rest) = rest.split_once(" or \"")?;
            let (label, rest) = rest.split_once("\"] value ")?;
            Some(AgentState {
                domain: domain.trim().parse().ok()?,
                label: label.to_string(),
                status: rest.trim().parse().ok()?,
            })
        })
        .collect()
}

/// True when pmcd serves metric names below `prefix` (`pminfo PREFIX`
/// lists at least one). Lines that are not names (pminfo's messages, such
/// as "Try again" while an agent starts) do not count; a name that merely
/// contains a word such as "Error" does.
pub(crate) fn serves_names(host: Option<&str>, prefix: &str) -> bool {
    let Ok(out) = client("pminfo", host).arg(prefix).output() else {
        return false;
    };
    out.status.success() && lists_names_below(&String::from_utf8_lossy(&out.stdout), prefix)
}

/// True when `pminfo_output` has a line that is a metric name below
/// `prefix`.
pub(crate) fn lists_names_below(pminfo_output: &str, prefix: &str) -> bool {
    let below = format!("{prefix}.");
    pminfo_output
        .lines()
        .any(|l| l.starts_with(&below) && valid_name(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_error_in_them_are_names() {
        let out = "openmetrics.control.calls\nopenmetrics.node.node_netstat_Udp_InErrors\n";
        assert!(lists_names_below(out, "openmetrics"));
        assert!(!lists_names_below(
            "openmetrics: Try again. Information not currently available\n",
            "openmetrics"
        ));
        assert!(!lists_names_below("openmetrics\n", "openmetrics"));
        assert!(!lists_names_below(
            "openmetrics.x: Error: Unknown metric name\n",
            "openmetrics"
        ));
        assert!(!lists_names_below("openmetricsx.y\n", "openmetrics"));
    }

    #[test]
    fn agent_status_lines_are_read() {
        let text = "\npmcd.agent.status\n    inst [2 or \"pmcd\"] value 0\n    \
                    inst [144 or \"prometheus_x\"] value 1\n    inst [60 or \"linux\"] value 516\n";
        let s = parse_agent_status(text);
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[1].domain, s[1].label.as_str(), s[1].status),
            (144, "prometheus_x", 1)
        );
        assert!(!s[1].failed());
        assert!(s[2].failed());
        assert!(
            s[2].describe().contains("could not be started"),
            "{}",
            s[2].describe()
        );
        assert!(
            s[2].describe().contains("exit status 2"),
            "{}",
            s[2].describe()
        );
    }
}
