//! Derived metric configuration files, read as pmLoadDerivedConfig(3)
//! reads them: `#` comments, `NAME = EXPRESSION` lines, and
//! `NAME(oneline) = text` / `NAME(helptext) = 'text'` attributes (a quoted
//! value may span lines; `\x` gives `x`, a `\` at the end of a line joins
//! it to the next). Mistakes are reported in libpcp's words with the file
//! and line, and the rest of the file is still read.
//!
//! Where definitions come from by default, as libpcp decides it:
//! `$PCP_DERIVED_CONFIG` (a `:`-separated list of files and directories;
//! empty means none), else `$PCP_VAR_DIR/config/derived` when it exists
//! (PCP's packages link `/etc/pcp/derived/*.conf` there), else
//! `/etc/pcp/derived`; and when PCP is not installed at all, the copy the
//! caller ships.

use std::path::{Path, PathBuf};

use super::{valid_name, AttrError, Registry};

/// PCP's directory of derived metric configuration files.
pub const DEFAULT_DIR: &str = "/etc/pcp/derived";

/// Largest configuration file read.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Deepest directory recursion followed.
const MAX_DIR_DEPTH: usize = 8;
/// Most files read from one path list.
const MAX_FILES: usize = 10_000;

/// What loading found: how many metrics were defined, and the diagnostics
/// (the lines libpcp prints with pmprintf).
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Definitions registered.
    pub loaded: usize,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Diagnostics, each one or more lines.
    pub messages: Vec<String>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// The marker line of a syntax error in a file: the text after `=` with
/// every visible byte blanked and `^` at the error.
fn marker(after_eq: &str, at: usize) -> String {
    after_eq
        .char_indices()
        .map(|(i, c)| {
            if i == at {
                '^'
            } else if c.is_ascii() && is_space(c as u8) {
                c
            } else {
                ' '
            }
        })
        .collect()
}

impl Registry {
    /// Reads one configuration text (the contents of `origin`).
    pub fn load_text(&mut self, origin: &str, text: &str, report: &mut LoadReport) {
        let mut lines = text.split_inclusive('\n').peekable();
        let mut lineno = 0usize;
        while let Some(raw) = lines.next() {
            lineno += 1;
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("[{origin}:{lineno}]");
            let Some(eq) = line.find('=') else {
                report.messages.push(format!(
                    "{at} Error: pmLoadDerivedConfig: missing ``='' after derived metric name\n{line}"
                ));
                continue;
            };
            let head = &line[..eq];
            let lp = head.find('(');
            let rp = head.find(')');
            let name = trim(&head[..lp.unwrap_or(eq)]);
            if name.is_empty() {
                report.messages.push(format!(
                    "{at} Error: pmLoadDerivedConfig: derived metric name missing\n{line}"
                ));
                continue;
            }
            if !valid_name(name) {
                report.messages.push(format!(
                    "{at} Error: pmLoadDerivedConfig: illegal derived metric name ({name})"
                ));
                continue;
            }
            match (lp, rp) {
                (Some(_), None) => {
                    report.messages.push(format!(
                        "{at} Error: pmLoadDerivedConfig: missing ')' after attribute\n{line}"
                    ));
                    continue;
                }
                (None, Some(_)) => {
                    report.messages.push(format!(
                        "{at} Error: pmLoadDerivedConfig: missing '(' before attribute\n{line}"
                    ));
                    continue;
                }
                (None, None) => {
                    self.definition_line(&at, name, line, eq, report);
                    continue;
                }
                (Some(l), Some(r)) => {
                    let attr = if r > l { trim(&head[l + 1..r]) } else { "" };
                    if attr.is_empty() {
                        report.messages.push(format!(
                            "{at} Error: pmLoadDerivedConfig: attribute name missing\n{line}"
                        ));
                        continue;
                    }
                    let value = trim_start(&line[eq + 1..]);
                    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
                    let body = if quote.is_some() { &value[1..] } else { value };
                    if body.is_empty() {
                        report.messages.push(format!(
                            "{at} Error: pmLoadDerivedConfig: attribute value missing\n{line}"
                        ));
                        continue;
                    }
                    let text = match quote {
                        None => Some(body.to_string()),
                        Some(q) => {
                            let (text, extra) = quoted_value(body, q, &mut lines, &mut lineno);
                            let at = format!("[{origin}:{lineno}]");
                            if let Some(extra) = extra {
                                report.messages.push(format!(
                                    "{at} Warning: pmLoadDerivedConfig: extra text ({extra}) after attribute value will be ignored"
                                ));
                            }
                            if text.is_none() {
                                report.messages.push(format!(
                                    "{at} Error: pmLoadDerivedConfig: missing termination ({q}) for value"
                                ));
                            }
                            text
                        }
                    };
                    let Some(text) = text else { continue };
                    let problem = match self.set_attribute(name, attr, &text) {
                        Ok(()) => continue,
                        Err(AttrError::NotDefined) => {
                            format!("cannot set attribute, derived metric ({name}) not defined")
                        }
                        Err(AttrError::Unknown) => {
                            format!("attribute ({attr}) is unknown for metric ({name})")
                        }
                        Err(AttrError::Duplicate) => {
                            format!("duplicate value for attribute ({attr}) of metric ({name})")
                        }
                    };
                    report.messages.push(format!(
                        "{at} Error: pmLoadDerivedConfig: {problem}\n{line}"
                    ));
                }
            }
        }
    }

    fn definition_line(
        &mut self,
        at: &str,
        name: &str,
        line: &str,
        eq: usize,
        report: &mut LoadReport,
    ) {
        let after_eq = &line[eq + 1..];
        let expr = trim_start(after_eq);
        if expr.is_empty() {
            report.messages.push(format!(
                "{at} Error: pmLoadDerivedConfig: expression missing\n{line}"
            ));
            return;
        }
        let skipped = after_eq.len() - expr.len();
        match self.register(name, expr) {
            Ok(_) => report.loaded += 1,
            Err(e) => {
                let pos = (skipped as isize + e.pos().max(0)) as usize;
                let mut msg = format!(
                    "{at} Error: pmRegisterDerived({name}, ...) syntax error\n{after_eq}\n{}",
                    marker(after_eq, pos)
                );
                if let Some(d) = e.diagnostic() {
                    msg.push('\n');
                    msg.push_str(d);
                }
                report.messages.push(msg);
            }
        }
    }

    /// Reads a file, or every file below a directory (in directory order,
    /// as libpcp's readdir walk, so PMIDs come out as libpcp gives them).
    pub fn load_path(&mut self, path: &Path, report: &mut LoadReport) -> std::io::Result<()> {
        self.load_path_at(path, 0, report)
    }

    fn load_path_at(
        &mut self,
        path: &Path,
        depth: usize,
        report: &mut LoadReport,
    ) -> std::io::Result<()> {
        let meta = std::fs::metadata(path)?;
        if meta.is_file() {
            if report.files.len() >= MAX_FILES {
                report.messages.push(format!(
                    "{}: not read: more than {MAX_FILES} derived metric files",
                    path.display()
                ));
                return Ok(());
            }
            if meta.len() > MAX_FILE_BYTES {
                report.messages.push(format!(
                    "{}: not read: larger than {MAX_FILE_BYTES} bytes",
                    path.display()
                ));
                return Ok(());
            }
            let bytes = std::fs::read(path)?;
            let text = String::from_utf8_lossy(&bytes);
            report.files.push(path.to_path_buf());
            self.load_text(&path.display().to_string(), &text, report);
            return Ok(());
        }
        if meta.is_dir() {
            if depth >= MAX_DIR_DEPTH {
                report.messages.push(format!(
                    "{}: not read: directories nested deeper than {MAX_DIR_DEPTH}",
                    path.display()
                ));
                return Ok(());
            }
            for entry in std::fs::read_dir(path)? {
                let entry = entry?;
                self.load_path_at(&entry.path(), depth + 1, report)?;
            }
        }
        Ok(())
    }

    /// Reads a `:`-separated list of files and directories, as
    /// `$PCP_DERIVED_CONFIG`; parts that cannot be read are skipped.
    pub fn load_spec(&mut self, spec: &str, report: &mut LoadReport) {
        for part in spec.split(':').filter(|p| !p.is_empty()) {
            let _ = self.load_path(Path::new(part), report);
        }
    }

    /// Loads the definitions a PCP client loads by default (see the
    /// module docs); `shipped` (name, text) pairs stand in when PCP's
    /// directories are absent and `$PCP_DERIVED_CONFIG` is unset. Returns
    /// where they came from, for messages.
    pub fn load_default(&mut self, shipped: &[(&str, &str)], report: &mut LoadReport) -> String {
        if let Some(spec) = std::env::var_os("PCP_DERIVED_CONFIG") {
            let spec = spec.to_string_lossy().into_owned();
            if spec.is_empty() {
                return "none ($PCP_DERIVED_CONFIG is empty)".into();
            }
            self.load_spec(&spec, report);
            return format!("$PCP_DERIVED_CONFIG ({spec})");
        }
        for dir in [
            pcp_var_dir().join("config/derived"),
            PathBuf::from(DEFAULT_DIR),
        ] {
            if dir.exists() {
                let _ = self.load_path(&dir, report);
                return dir.display().to_string();
            }
        }
        for (name, text) in shipped {
            self.load_text(name, text, report);
        }
        "the built-in copy".into()
    }
}

/// A quoted attribute value from `body` (after the opening quote) on, with
/// libpcp's escapes, reading further lines when it spans them. Returns the
/// value (None if never closed) and any text after the closing quote.
fn quoted_value<'a>(
    body: &str,
    quote: char,
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    lineno: &mut usize,
) -> (Option<String>, Option<String>) {
    let mut out = String::new();
    let mut escape = false;
    let mut chunk = format!("{body}\n");
    loop {
        for (i, c) in chunk.char_indices() {
            if escape {
                escape = false;
                if c != '\n' {
                    out.push(c);
                }
                continue;
            }
            if c == '\\' {
                escape = true;
                continue;
            }
            if c == quote {
                let rest = trim(&chunk[i + c.len_utf8()..]);
                let extra = (!rest.is_empty()).then(|| rest.to_string());
                return (Some(out), extra);
            }
            out.push(c);
        }
        match lines.next() {
            Some(next) => {
                *lineno += 1;
                chunk = next.to_string();
                if !chunk.ends_with('\n') {
                    chunk.push('\n');
                }
            }
            None => return (None, None),
        }
    }
}

/// `$PCP_VAR_DIR`, else its value in `$PCP_CONF` (or /etc/pcp.conf), else
/// PCP's default.
fn pcp_var_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("PCP_VAR_DIR") {
        return PathBuf::from(v);
    }
    let conf =
        std::env::var_os("PCP_CONF").map_or_else(|| PathBuf::from("/etc/pcp.conf"), PathBuf::from);
    if let Ok(text) = std::fs::read_to_string(conf) {
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("PCP_VAR_DIR=") {
                return PathBuf::from(v.trim().trim_matches('"'));
            }
        }
    }
    PathBuf::from("/var/lib/pcp")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The definitions and mistakes of a test file run through PCP 6.0.3's
    // pminfo (PCP_DERIVED_CONFIG=FILE pminfo -dtT t): these are the
    // messages it printed.
    #[test]
    fn definitions_attributes_and_mistakes() {
        let text = "\
t.n = 3 + +
t.o = kernel.all.cpu.user
t.o = 5
t.o(oneline) = hello
t.o(helptext) = \"multi
line \\\"quoted\\\"\\
joined\"
t.p(oneline) = x
t.o(colour) = red
bad name = 1
# comment
";
        let mut r = Registry::new();
        let mut rep = LoadReport::default();
        r.load_text("/tmp/t2.conf", text, &mut rep);
        assert_eq!(rep.loaded, 1);
        assert_eq!(
            rep.messages,
            vec![
                "[/tmp/t2.conf:1] Error: pmRegisterDerived(t.n, ...) syntax error\n 3 + +\n     ^\nArithmetic expression expected to follow PLUS",
                "[/tmp/t2.conf:3] Error: pmRegisterDerived(t.o, ...) syntax error\n 5\n ^\nDuplicate global derived metric name",
                "[/tmp/t2.conf:8] Error: pmLoadDerivedConfig: cannot set attribute, derived metric (t.p) not defined\nt.p(oneline) = x",
                "[/tmp/t2.conf:9] Error: pmLoadDerivedConfig: attribute (colour) is unknown for metric (t.o)\nt.o(colour) = red",
                "[/tmp/t2.conf:10] Error: pmLoadDerivedConfig: illegal derived metric name (bad name)",
            ]
        );
        let d = r.get("t.o").unwrap();
        assert_eq!(d.oneline.as_deref(), Some("hello"));
        assert_eq!(d.help.as_deref(), Some("multi\nline \"quoted\"joined"));
    }

    #[test]
    fn unquoted_values_keep_trailing_space() {
        let mut r = Registry::new();
        let mut rep = LoadReport::default();
        r.load_text("x", "a = 1\na(oneline) = two words \n", &mut rep);
        assert_eq!(r.get("a").unwrap().oneline.as_deref(), Some("two words "));
        r.load_text("y", "b = 1\nb(helptext) = 'never closed\nmore\n", &mut rep);
        assert!(rep
            .messages
            .last()
            .unwrap()
            .contains("missing termination (') for value"));
    }
}
