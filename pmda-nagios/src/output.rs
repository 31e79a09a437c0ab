//! Plugin output as Nagios reads it: a first line of status text with
//! optional performance data after a `|`, then optional long text lines;
//! from the first later line holding a `|`, the text after it and every
//! line after that are performance data too.
//!
//! ```text
//! DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968
//! / 15272 MB (77%);
//! /boot 68 MB (69%);
//! /home 69357 MB (27%); | /boot=68MB;88;93;0;98
//! /home=69357MB;253404;253409;0;253414
//! ```
//!
//! ```
//! use pmda_nagios::output::PluginOutput;
//! let out = PluginOutput::split("OK - fine | a=1\nmore text\nlast | b=2\nc=3\n");
//! assert_eq!(out.status, "OK - fine");
//! assert_eq!(out.long_text, vec!["more text", "last"]);
//! assert_eq!(out.perfdata, vec!["a=1", "b=2", "c=3"]);
//! ```

/// Plugin output split into its parts (all borrowed from the text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginOutput<'a> {
    /// The first line's status text.
    pub status: &'a str,
    /// Long text lines (without any perfdata part).
    pub long_text: Vec<&'a str>,
    /// Performance-data strings, in order (each holds space-separated items).
    pub perfdata: Vec<&'a str>,
}

impl<'a> PluginOutput<'a> {
    /// Splits `text` as Nagios does.
    pub fn split(text: &'a str) -> PluginOutput<'a> {
        let mut lines = text.lines();
        let mut out = PluginOutput::default();
        let first = lines.next().unwrap_or("");
        match first.split_once('|') {
            Some((status, perf)) => {
                out.status = status.trim();
                push_perf(&mut out.perfdata, perf);
            }
            None => out.status = first.trim(),
        }
        let mut in_perf = false;
        for line in lines {
            if in_perf {
                push_perf(&mut out.perfdata, line);
                continue;
            }
            match line.split_once('|') {
                Some((text, perf)) => {
                    if !text.trim().is_empty() {
                        out.long_text.push(text.trim_end());
                    }
                    push_perf(&mut out.perfdata, perf);
                    in_perf = true;
                }
                None => out.long_text.push(line.trim_end()),
            }
        }
        while out.long_text.last().is_some_and(|l| l.is_empty()) {
            out.long_text.pop();
        }
        out
    }
}

fn push_perf<'a>(v: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        v.push(s);
    }
}
