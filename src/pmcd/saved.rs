//! What `install --replace` took out of pmcd's configuration, kept in a
//! file beside pmcd.conf (`pmcd.conf.replaced-by-pcp-agent-LABEL`) so that
//! `remove` puts back exactly that: the culled pmcd.conf lines, the PMNS
//! subtrees that were replaced (as PMNS text), and the names whose entry
//! was already what ours would be (PCP's own dynamic entry, kept for the
//! agent we culled).
//!
//! The format is plain text in sections (pmcd.conf and PMNS lines are
//! kept verbatim, tabs included):
//!
//! ```text
//! # comment lines
//! [pmcd.conf]
//! linux    60    pipe    binary        /var/lib/pcp/pmdas/linux/pmdalinux
//! [kept]
//! openmetrics
//! [pmns kernel]
//! root {
//!     kernel
//! }
//! kernel {
//! ...
//! ```

use std::path::{Path, PathBuf};

/// One replaced PMNS subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subtree {
    /// Its top-level name.
    pub name: String,
    /// A PMNS file holding it (see [`crate::pmcd::pmns::subtree`]).
    pub text: String,
}

/// What one agent's `install --replace` replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Replaced {
    /// Culled pmcd.conf lines.
    pub conf_lines: Vec<String>,
    /// Top-level names left as they were, for the culled agent.
    pub kept: Vec<String>,
    /// Replaced subtrees.
    pub subtrees: Vec<Subtree>,
}

impl Replaced {
    /// True when nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.conf_lines.is_empty() && self.kept.is_empty() && self.subtrees.is_empty()
    }

    /// Adds what `other` holds and this does not (a later install that
    /// replaced more).
    pub fn merge(&mut self, other: Replaced) {
        for l in other.conf_lines {
            if !self.conf_lines.contains(&l) {
                self.conf_lines.push(l);
            }
        }
        for k in other.kept {
            if !self.kept.contains(&k) {
                self.kept.push(k);
            }
        }
        for s in other.subtrees {
            if !self.subtrees.iter().any(|t| t.name == s.name) {
                self.subtrees.push(s);
            }
        }
    }

    /// The file's text.
    pub fn to_text(&self, label: &str) -> String {
        let mut out = format!(
            "# What `pcp-agent install {label} --replace` took out of pmcd's configuration.\n\
             # `pcp-agent remove` puts it back and deletes this file. Written by pcp-agent.\n"
        );
        if !self.conf_lines.is_empty() {
            out.push_str("[pmcd.conf]\n");
            for l in &self.conf_lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        if !self.kept.is_empty() {
            out.push_str("[kept]\n");
            for k in &self.kept {
                out.push_str(k);
                out.push('\n');
            }
        }
        for s in &self.subtrees {
            out.push_str(&format!("[pmns {}]\n", s.name));
            out.push_str(&s.text);
            if !s.text.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// Reads the file's text; unknown sections are an error (the file is
    /// not ours, or is damaged: better to stop than to restore half).
    pub fn from_text(text: &str) -> Result<Replaced, String> {
        enum Section {
            None,
            Conf,
            Kept,
            Pmns,
        }
        let mut r = Replaced::default();
        let mut section = Section::None;
        for (n, line) in text.lines().enumerate() {
            if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = match head {
                    "pmcd.conf" => Section::Conf,
                    "kept" => Section::Kept,
                    _ => match head.strip_prefix("pmns ") {
                        Some(name) => {
                            r.subtrees.push(Subtree {
                                name: name.to_string(),
                                text: String::new(),
                            });
                            Section::Pmns
                        }
                        None => return Err(format!("line {}: unknown section [{head}]", n + 1)),
                    },
                };
                continue;
            }
            match section {
                Section::None if line.starts_with('#') || line.trim().is_empty() => {}
                Section::None => return Err(format!("line {}: outside any section", n + 1)),
                Section::Conf if !line.trim().is_empty() => r.conf_lines.push(line.to_string()),
                Section::Kept if !line.trim().is_empty() => r.kept.push(line.trim().to_string()),
                Section::Conf | Section::Kept => {}
                Section::Pmns => {
                    let s = r.subtrees.last_mut().expect("a [pmns] section is open");
                    s.text.push_str(line);
                    s.text.push('\n');
                }
            }
        }
        Ok(r)
    }
}

/// Where agent `label`'s record lives: beside `pmcd_conf`.
pub(crate) fn path(pmcd_conf: &Path, label: &str) -> PathBuf {
    let file = format!(
        "{}.replaced-by-pcp-agent-{label}",
        pmcd_conf
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pmcd.conf".into())
    );
    pmcd_conf.with_file_name(file)
}

/// Reads the record at `path`; none if there is no file.
pub(crate) fn load(path: &Path) -> Result<Replaced, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Replaced::from_text(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Replaced::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_reads_back_as_written() {
        let r = Replaced {
            conf_lines: vec!["linux\t60\tpipe\tbinary\t\t/pmdas/linux/pmdalinux".into()],
            kept: vec!["openmetrics".into()],
            subtrees: vec![
                Subtree {
                    name: "kernel".into(),
                    text: "root {\n\tkernel\n}\nkernel {\n\tx\t60:0:0\n}\n".into(),
                },
                Subtree {
                    name: "mem".into(),
                    text: "root {\n\tmem\n}\nmem {\n\n\ty\t60:1:0\n}\n".into(),
                },
            ],
        };
        let text = r.to_text("linux");
        assert_eq!(Replaced::from_text(&text).unwrap(), r);
        assert!(Replaced::from_text("[other]\nx\n").is_err());
        assert!(Replaced::from_text("stray\n").is_err());
        assert!(Replaced::from_text("").unwrap().is_empty());
    }

    #[test]
    fn merging_keeps_what_was_saved_first() {
        let mut a = Replaced {
            conf_lines: vec!["a 1 pipe binary x".into()],
            ..Default::default()
        };
        a.merge(Replaced {
            conf_lines: vec!["a 1 pipe binary x".into(), "b 2 pipe binary y".into()],
            kept: vec!["k".into()],
            subtrees: Vec::new(),
        });
        assert_eq!(a.conf_lines.len(), 2);
        assert_eq!(a.kept, vec!["k".to_string()]);
        assert_eq!(
            path(Path::new("/etc/pcp/pmcd/pmcd.conf"), "linux"),
            Path::new("/etc/pcp/pmcd/pmcd.conf.replaced-by-pcp-agent-linux")
        );
    }
}
