//! pmcd.conf edits: finding agent lines, putting ours in, taking ours out
//! and putting back the lines a `--replace` culled, each in place.

/// pmcd.conf splits on white space and groups with double quotes.
pub(crate) fn quote(s: &str) -> String {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace()) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// One agent line of pmcd.conf: (label, domain).
pub(crate) fn agent_line(line: &str) -> Option<(&str, u32)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let mut f = t.split_whitespace();
    let label = f.next()?;
    let domain = f.next()?.parse().ok()?;
    Some((label, domain))
}

/// True when the agent line `line` runs our `agent` (`... pmda AGENT
/// ...`), from whichever binary: PCP's own agents often have the same
/// label (linux, bpftrace) and are told apart by their command.
pub(crate) fn runs_our_agent(line: &str, agent: &str) -> bool {
    let mut words = line.split_whitespace().skip(4);
    let mut prev = "";
    for w in words.by_ref() {
        if prev == "pmda" && w.trim_matches('"') == agent {
            return true;
        }
        prev = w;
    }
    false
}

/// The command of a pipe agent's line (`LABEL DOMAIN pipe binary
/// [notready] COMMAND...`) as pmcd splits it into arguments: on white
/// space, double quotes grouping.
pub(crate) fn pipe_command(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
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
        words.push(cur);
    }
    if words.get(2).map(String::as_str) != Some("pipe") || words.len() < 5 {
        return None;
    }
    let skip = if words[4] == "notready" { 5 } else { 4 };
    let command = words.split_off(skip);
    (!command.is_empty()).then_some(command)
}

/// What installing `line` (label `label`, running our `agent`, domain
/// `domain`) does to a pmcd.conf.
#[derive(Debug, Default)]
pub(crate) struct InstallEdit {
    /// The new text.
    pub text: String,
    /// Human-readable changes, in order.
    pub changes: Vec<String>,
    /// Lines of other agents at our domain, taken out (only with replace).
    pub culled: Vec<String>,
}

/// Puts `line` into `conf`: an identical line is kept (a duplicate
/// dropped), older lines of ours with `label` go, and lines of other
/// agents at `domain` or with `label` are culled when `replace` allows it. Our line takes the place
/// of the first line it replaces (so `remove` can put a culled line back
/// exactly where it was), else goes before the `[access]` section.
pub(crate) fn install_edit(
    conf: &str,
    line: &str,
    label: &str,
    agent: &str,
    domain: u32,
    replace: bool,
) -> Result<InstallEdit, String> {
    let mut edit = InstallEdit::default();
    let mut kept: Vec<&str> = Vec::new();
    let mut have = false;
    // Where our line goes if it is not there: the first line it replaces.
    let mut slot: Option<usize> = None;
    for l in conf.lines() {
        match agent_line(l) {
            Some(_) if l.trim_end() == line => {
                if have {
                    edit.changes
                        .push(format!("pmcd.conf: remove duplicate line: {l}"));
                } else {
                    have = true;
                    kept.push(l);
                }
            }
            Some((lab, _)) if lab == label && runs_our_agent(l, agent) => {
                edit.changes
                    .push(format!("pmcd.conf: remove old line: {l}"));
                slot.get_or_insert(kept.len());
            }
            Some((lab, d)) if d == domain || lab == label => {
                if !replace {
                    return Err(if d == domain {
                        format!(
                            "domain {domain} is used by pmcd agent {lab:?}; use --replace to stand in for it, or another --domain"
                        )
                    } else {
                        format!(
                            "pmcd agent {lab:?} (domain {d}) has our label; use --replace to stand in for it"
                        )
                    });
                }
                edit.changes
                    .push(format!("pmcd.conf: cull agent {lab} (domain {d}): {l}"));
                edit.culled.push(l.to_string());
                slot.get_or_insert(kept.len());
            }
            _ => kept.push(l),
        }
    }
    let at = if have {
        None
    } else {
        Some(slot.unwrap_or_else(|| access_index(&kept)))
    };
    edit.text = join_with(&kept, at, &[line.to_string()]);
    if !have {
        edit.changes.push(format!("pmcd.conf: add line: {line}"));
    }
    Ok(edit)
}

/// What removing agent `label` does to a pmcd.conf.
#[derive(Debug, Default)]
pub(crate) struct RemoveEdit {
    /// The new text.
    pub text: String,
    /// Human-readable changes, in order.
    pub changes: Vec<String>,
    /// The saved lines put back.
    pub restored: Vec<String>,
    /// Our lines taken out.
    pub removed: Vec<String>,
}

/// Takes our lines of `label` (running our `agent`) out of `conf` and puts
/// `saved` lines (those an install culled) back where ours was, unless
/// another agent holds their label or domain by now (reported, not
/// restored) or they are there already.
pub(crate) fn remove_edit(conf: &str, label: &str, agent: &str, saved: &[String]) -> RemoveEdit {
    let mut edit = RemoveEdit::default();
    let mut kept: Vec<&str> = Vec::new();
    let mut slot = None;
    for l in conf.lines() {
        match agent_line(l) {
            Some((lab, _)) if lab == label && runs_our_agent(l, agent) => {
                edit.changes.push(format!("pmcd.conf: remove line: {l}"));
                edit.removed.push(l.to_string());
                slot.get_or_insert(kept.len());
            }
            _ => kept.push(l),
        }
    }
    let mut back = Vec::new();
    for s in saved {
        let Some((lab, domain)) = agent_line(s) else {
            continue;
        };
        if kept.iter().any(|l| l.trim_end() == s.trim_end()) {
            continue;
        }
        if let Some((other, _)) = kept
            .iter()
            .filter_map(|l| agent_line(l))
            .find(|(o, d)| *d == domain || *o == lab)
        {
            edit.changes.push(format!(
                "pmcd.conf: not restoring agent {lab} (domain {domain}): agent {other} holds its label or domain now: {s}"
            ));
            continue;
        }
        edit.changes.push(format!(
            "pmcd.conf: restore agent {lab} (domain {domain}): {s}"
        ));
        back.push(s.clone());
    }
    let at = slot.unwrap_or_else(|| access_index(&kept));
    edit.text = join_with(&kept, Some(at), &back);
    edit.restored = back;
    edit
}

/// The index of the `[access]` line (or the end).
fn access_index(lines: &[&str]) -> usize {
    lines
        .iter()
        .position(|l| l.trim_start().starts_with("[access]"))
        .unwrap_or(lines.len())
}

/// `lines` joined with newlines, with `insert` placed before index `at`.
fn join_with(lines: &[&str], at: Option<usize>, insert: &[String]) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if at == Some(i) {
            for n in insert {
                out.push_str(n);
                out.push('\n');
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    if at.is_some_and(|a| a >= lines.len()) {
        for n in insert {
            out.push_str(n);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "# agents\npmcd\t2\tdso\tpmcd_init\tpmda_pmcd.so\n\
                        linux\t60\tpipe\tbinary\t\t/pmdas/linux/pmdalinux\n\
                        kvm\t95\tpipe\tbinary\t\t/pmdas/kvm/pmdakvm -d 95\n\
                        \n[access]\nallow \".*\" : all;\n";
    const OURS: &str = "linux\t60\tpipe\tbinary notready\t/bin/pcp-agent pmda linux --notready";

    #[test]
    fn replace_takes_the_culled_lines_place_and_remove_gives_it_back() {
        // PCP's pmdalinux has our label: told apart by its command.
        let err = install_edit(CONF, OURS, "linux", "linux", 60, false).unwrap_err();
        assert!(err.contains("--replace"), "{err}");
        let e = install_edit(CONF, OURS, "linux", "linux", 60, true).unwrap();
        let pcp = "linux\t60\tpipe\tbinary\t\t/pmdas/linux/pmdalinux";
        assert_eq!(e.culled, vec![pcp]);
        let lines: Vec<&str> = e.text.lines().collect();
        assert_eq!(lines[2], OURS, "{}", e.text);
        let r = remove_edit(&e.text, "linux", "linux", &e.culled);
        assert_eq!(r.text, CONF);
        assert_eq!(r.restored, e.culled);
        // Another label at the domain.
        let mine = OURS.replace("linux\t60", "ours\t60");
        let e = install_edit(CONF, &mine, "ours", "linux", 60, true).unwrap();
        assert_eq!(e.culled, vec![pcp]);
        assert_eq!(remove_edit(&e.text, "ours", "linux", &e.culled).text, CONF);
        // Our older line (another binary, other arguments) is ours.
        let old = OURS.replace("/bin/pcp-agent", "/opt/old/pcp-agent");
        let conf = CONF.replace(pcp, &old);
        let e = install_edit(&conf, OURS, "linux", "linux", 60, false).unwrap();
        assert!(e.culled.is_empty());
        assert!(e.changes[0].contains("remove old line"), "{:?}", e.changes);
        assert!(runs_our_agent(OURS, "linux"));
        assert!(!runs_our_agent(pcp, "linux"));
    }

    #[test]
    fn a_fresh_line_goes_before_access_and_an_identical_one_stays() {
        let line = "simple\t253\tpipe\tbinary\t/bin/pcp-agent pmda simple";
        let e = install_edit(CONF, line, "simple", "simple", 253, false).unwrap();
        assert!(e.text.find(line) < e.text.find("[access]"));
        let again = install_edit(&e.text, line, "simple", "simple", 253, false).unwrap();
        assert_eq!(again.text, e.text);
        assert!(again.changes.is_empty());
        let r = remove_edit(&e.text, "simple", "simple", &[]);
        assert_eq!(r.text, CONF);
    }

    #[test]
    fn a_saved_line_is_not_restored_over_another_agent() {
        let saved = vec!["kvm\t95\tpipe\tbinary\t\t/elsewhere/pmdakvm".to_string()];
        let r = remove_edit(CONF, "nothere", "nothere", &saved);
        assert!(r.restored.is_empty());
        assert!(
            r.changes[0].contains("not restoring agent kvm"),
            "{:?}",
            r.changes
        );
        assert_eq!(r.text, CONF);
    }

    #[test]
    fn agent_lines_are_told_from_comments_and_sections() {
        assert_eq!(agent_line("linux 60 pipe binary x"), Some(("linux", 60)));
        assert_eq!(agent_line("[access]"), None);
        assert_eq!(agent_line("# linux 60"), None);
        assert_eq!(agent_line("allow \".*\" : all;"), None);
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(
            pipe_command("x\t9\tpipe\tbinary notready\t/bin/a pmda x \"/a b\" \"\""),
            Some(vec![
                "/bin/a".into(),
                "pmda".into(),
                "x".into(),
                "/a b".into(),
                String::new()
            ])
        );
        assert_eq!(
            pipe_command("x 9 pipe binary /bin/a -d 9"),
            Some(vec!["/bin/a".into(), "-d".into(), "9".into()])
        );
        assert_eq!(pipe_command("pmcd\t2\tdso\tpmcd_init\tpmda_pmcd.so"), None);
    }
}
