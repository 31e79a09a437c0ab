//! pmcd's PMNS root file: reading its top-level entries, cutting out a
//! whole subtree as text (so a replaced subtree can be put back), and
//! PCP's `pmnsadd`/`pmnsdel` to change it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A line of a PMNS file without its `/* ... */` comment, trimmed.
fn uncommented(line: &str) -> &str {
    line.split("/*").next().unwrap_or("").trim()
}

/// The names directly under `root { ... }` of a PMNS file, with their PMID
/// text if any (`490:*:*` for a dynamic subtree, none for a static one).
pub(crate) fn root_entries(pmns: &str) -> Vec<(String, Option<String>)> {
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
        let mut f = uncommented(t).split_whitespace();
        if let Some(name) = f.next() {
            out.push((name.to_string(), f.next().map(str::to_string)));
        }
    }
    out
}

/// The whole subtree `name` of a PMNS file, as a PMNS file of its own
/// that `pmnsadd` merges back: a `root` block holding the entry of `name`
/// as it was (`kernel`, or `openmetrics 144:*:*`), then every block of
/// `name` and below, line for line. `None` if `name` is not under root.
pub(crate) fn subtree(pmns: &str, name: &str) -> Option<String> {
    let entry = pmns_root_line(pmns, name)?;
    let mut out = format!("root {{\n{entry}\n}}\n");
    let below = format!("{name}.");
    let mut copying = false;
    for line in pmns.lines() {
        let t = uncommented(line);
        if !copying {
            if let Some(path) = t.strip_suffix('{').map(str::trim) {
                copying = path == name || path.starts_with(&below);
            }
        }
        if copying {
            out.push_str(line);
            out.push('\n');
            if t.starts_with('}') {
                copying = false;
            }
        }
    }
    Some(out)
}

/// The line of `name` inside the `root` block, as written there.
fn pmns_root_line(pmns: &str, name: &str) -> Option<String> {
    let mut inside = false;
    for line in pmns.lines() {
        let t = line.trim();
        if !inside {
            inside = t.starts_with("root") && t.ends_with('{');
            continue;
        }
        if t.starts_with('}') {
            return None;
        }
        if uncommented(t).split_whitespace().next() == Some(name) {
            return Some(line.to_string());
        }
    }
    None
}

/// Where PCP's administrative tools live.
pub(crate) fn pcp_tool(name: &str) -> PathBuf {
    for dir in ["/usr/lib/pcp/bin", "/usr/libexec/pcp/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Runs a tool; its output becomes the error when it fails.
pub(crate) fn run_tool(cmd: &mut Command) -> Result<(), String> {
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

/// Deletes subtree `name` from the PMNS file `root`.
pub(crate) fn pmnsdel(root: &Path, name: &str) -> Result<(), String> {
    run_tool(
        Command::new(pcp_tool("pmnsdel"))
            .arg("-n")
            .arg(root)
            .arg(name),
    )
}

/// Merges `text` (a PMNS file whose root holds `name`) into `root`.
pub(crate) fn pmnsadd(root: &Path, name: &str, text: &str) -> Result<(), String> {
    // One directory per call: installs may run at once in one process
    // (each removes its own directory when done).
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pcp-agent-pmns-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join(name);
    let r = std::fs::write(&file, text)
        .map_err(|e| format!("{}: {e}", file.display()))
        .and_then(|()| {
            let mut cmd = Command::new(pcp_tool("pmnsadd"));
            if let Some(d) = root.parent() {
                cmd.current_dir(d);
            }
            run_tool(cmd.arg("-n").arg(root).arg(&file))
        });
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The PMNS file text of one dynamic subtree `name` at `domain`.
pub(crate) fn dynamic_entry(name: &str, domain: u32) -> String {
    format!("root {{\n\t{name}\t{domain}:*:*\n}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PMNS: &str = "root {\n\tkernel\n\tmmv\t70:*:* /* dyn */\n\tkvm\n}\n\
                        kernel {\n\tall\n\tuname\n}\n\
                        kernel.all {\n\tload\t60:2:0\n}\n\
                        kernel.uname {\n\trelease\t60:12:0\n}\n\
                        kvm {\n\tkernelish\t95:0:0\n}\n";

    #[test]
    fn root_entries_reads_the_root_block() {
        assert_eq!(
            root_entries(PMNS),
            vec![
                ("kernel".to_string(), None),
                ("mmv".to_string(), Some("70:*:*".to_string())),
                ("kvm".to_string(), None),
            ]
        );
    }

    #[test]
    fn a_subtree_is_cut_out_whole_and_alone() {
        assert_eq!(
            subtree(PMNS, "kernel").unwrap(),
            "root {\n\tkernel\n}\nkernel {\n\tall\n\tuname\n}\n\
             kernel.all {\n\tload\t60:2:0\n}\nkernel.uname {\n\trelease\t60:12:0\n}\n"
        );
        assert_eq!(
            subtree(PMNS, "mmv").unwrap(),
            "root {\n\tmmv\t70:*:* /* dyn */\n}\n"
        );
        assert_eq!(
            subtree(PMNS, "kvm").unwrap(),
            "root {\n\tkvm\n}\nkvm {\n\tkernelish\t95:0:0\n}\n"
        );
        assert_eq!(subtree(PMNS, "nosuch"), None);
    }
}
