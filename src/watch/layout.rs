//! pmrep's standard-output layout: a header (labels, instance names, units)
//! and one line per sample with a column per metric instance, or with
//! `colxrow` one line per instance with a column per label; values fitted
//! to their columns as pmrep fits them (decimals dropped before a number
//! is cut, `xxx` for what cannot fit, `N/A` for no value, `~` for an
//! instance a metric does not have, `=` for singular metrics' row).
//!
//! The header is static (the instances at the start) as pmrep's default,
//! or dynamic (rewritten when the instances in the results change, as
//! pmrep's `--dynamic-header`). `watch` switches to the dynamic header by
//! itself the first time an instance appears that the header lacks, so
//! instances that come later are always shown.

use std::fmt::Write as _;

use super::metrics::{Cell, Metric, TRUNC};
use super::options::{Options, Repeat};
use pcp_core::PM_IN_NULL;

/// One metric's values in a sample: (instance, name, value) for every
/// instance that has one.
pub type Row = Vec<(u32, Option<String>, Cell)>;

/// Formats a string right-aligned and cut to `w` characters (Python's
/// `{:>w.w}`).
fn fit(s: &str, w: usize) -> String {
    let cut: String = s.chars().take(w).collect();
    format!("{cut:>w$}")
}

/// pmrep's format_stdout_value: a value in a column of width `w`.
pub fn format_cell(cell: &Cell, w: usize, precision: usize, delimiter: &str) -> String {
    match cell {
        Cell::Int(i) => {
            let s = i.to_string();
            if s.len() > w {
                fit(TRUNC, w)
            } else {
                format!("{s:>w$}")
            }
        }
        Cell::Float(x) if x.is_finite() => {
            let int_len = (x.trunc() as i128).to_string().len();
            if int_len > w {
                fit(TRUNC, w)
            } else if int_len + 2 > w {
                format!("{:>w$}", x.trunc() as i128)
            } else {
                let mut c = precision;
                loop {
                    let s = format!("{x:>w$.c$}");
                    if s.len() <= w || c == 0 {
                        return s;
                    }
                    c -= 1;
                }
            }
        }
        Cell::Float(x) => {
            let s = if x.is_nan() {
                if w >= 3 {
                    "NaN"
                } else {
                    TRUNC
                }
            } else if *x > 0.0 {
                if w >= 3 {
                    "inf"
                } else {
                    TRUNC
                }
            } else if w >= 4 {
                "-inf"
            } else {
                TRUNC
            };
            fit(s, w)
        }
        Cell::Str(s) => {
            let mut v = s.replace('\n', "\\n");
            if !delimiter.is_empty() && !delimiter.chars().all(char::is_whitespace) {
                v = v.replace(delimiter, if delimiter == "_" { " " } else { "_" });
            }
            fit(&v, w)
        }
    }
}

/// The writer's state across samples.
#[derive(Debug)]
pub struct Layout {
    opts: Options,
    /// Header repetition, resolved (samples between headers).
    repeat: Option<usize>,
    lines: usize,
    /// The (metric, instances) of the header in force (dynamic mode).
    prev: Option<Vec<(usize, Vec<u32>)>>,
    dynamic: bool,
    ts_width: usize,
}

fn terminal_lines() -> usize {
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_row > 0 {
        return ws.ws_row as usize;
    }
    std::env::var("LINES")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(24)
}

impl Layout {
    /// A writer for `metrics` with `opts`; `ts_width` is the width of a
    /// formatted timestamp.
    pub fn new(opts: Options, metrics: &[Metric], ts_width: usize) -> Layout {
        let dynamic = opts.dynamic_header;
        let mut repeat = match opts.repeat_header {
            Repeat::Never => None,
            Repeat::Every(n) => Some(n),
            Repeat::Auto if dynamic || opts.fixed_header => None,
            Repeat::Auto => {
                let lines = terminal_lines();
                let indom = metrics.iter().any(|m| !m.desc.indom.is_null());
                Some(match &opts.colxrow {
                    None => {
                        lines.saturating_sub(if opts.unitinfo { 3 } else { 2 } + indom as usize)
                    }
                    Some(_) => {
                        let mut ids: Vec<u32> = metrics
                            .iter()
                            .flat_map(|m| m.insts.iter().map(|i| i.0))
                            .collect();
                        ids.sort_unstable();
                        ids.dedup();
                        (lines / ids.len().max(1)).saturating_sub(if opts.unitinfo { 2 } else { 1 })
                    }
                })
            }
        };
        if !opts.header {
            repeat = None;
        }
        Layout {
            repeat,
            lines: 0,
            prev: None,
            dynamic,
            ts_width: if opts.timestamp { ts_width } else { 0 },
            opts,
        }
    }

    fn stamp_part(&self, stamp: &str) -> String {
        if self.opts.timestamp {
            format!("{stamp:<w$}", w = self.ts_width)
        } else {
            String::new()
        }
    }

    /// The columns of the standard layout: (metric, instance, name).
    fn columns(&self, metrics: &[Metric], results: &[Row]) -> Vec<(usize, u32, Option<String>)> {
        let mut cols = Vec::new();
        for (i, m) in metrics.iter().enumerate() {
            if self.dynamic {
                cols.extend(results[i].iter().map(|(id, n, _)| (i, *id, n.clone())));
            } else {
                cols.extend(m.insts.iter().map(|(id, n)| (i, *id, n.clone())));
            }
        }
        cols
    }

    /// The header lines for the standard layout.
    fn header_std(
        &self,
        out: &mut String,
        metrics: &[Metric],
        cols: &[(usize, u32, Option<String>)],
    ) {
        let d = self.opts.delim();
        let lead = self.stamp_part("");
        let (mut names, mut insts, mut units) = (lead.clone(), lead.clone(), lead);
        let mut prnti = false;
        let mut last_metric = usize::MAX;
        for (i, _, name) in cols {
            let m = &metrics[*i];
            if *i != last_metric {
                prnti |= !m.desc.indom.is_null();
                last_metric = *i;
            }
            let w = m.width;
            let _ = write!(names, "{d}{}", fit(&m.label, w));
            let inst = match name {
                Some(n) if prnti => n.as_str(),
                _ => d,
            };
            let _ = write!(insts, "{d}{}", fit(inst, w));
            let _ = write!(units, "{d}{}", fit(&m.unit_label, w));
        }
        out.push_str(&names);
        out.push('\n');
        if self.opts.instinfo && prnti {
            out.push_str(&insts);
            out.push('\n');
        }
        if self.opts.unitinfo {
            out.push_str(&units);
            out.push('\n');
        }
    }

    /// The labels of the colxrow layout, each once, with the metrics
    /// under it.
    fn labels(metrics: &[Metric], results: &[Row], dynamic: bool) -> Vec<(String, Vec<usize>)> {
        let mut labels: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, m) in metrics.iter().enumerate() {
            if dynamic && results[i].is_empty() {
                continue;
            }
            match labels.iter_mut().find(|(l, _)| *l == m.label) {
                Some((_, v)) => v.push(i),
                None => labels.push((m.label.clone(), vec![i])),
            }
        }
        labels
    }

    fn header_colxrow(&self, out: &mut String, metrics: &[Metric], results: &[Row], title: &str) {
        let d = self.opts.delim();
        let cw = if title.is_empty() { 8 } else { title.len() };
        let lead = self.stamp_part("");
        let mut names = format!("{lead}{d}{}", fit(title, cw));
        let mut units = format!("{lead}{d}{}", fit("", cw));
        for (_, idx) in Self::labels(metrics, results, self.dynamic) {
            let m = &metrics[idx[0]];
            let _ = write!(names, "{d}{}", fit(&m.label, m.width));
            let _ = write!(units, "{d}{}", fit(&m.unit_label, m.width));
        }
        out.push_str(&names);
        out.push('\n');
        if self.opts.unitinfo {
            out.push_str(&units);
            out.push('\n');
        }
    }

    /// Writes the first header (pmrep writes it before the first fetch,
    /// unless the header is dynamic).
    pub fn start(&mut self, out: &mut String, metrics: &[Metric]) {
        if !self.opts.header || self.dynamic {
            return;
        }
        let none: Vec<Row> = vec![Vec::new(); metrics.len()];
        match self.opts.colxrow.clone() {
            None => {
                let cols = self.columns(metrics, &none);
                self.header_std(out, metrics, &cols);
            }
            Some(t) => self.header_colxrow(out, metrics, &none, &t),
        }
    }

    /// True when `results` hold an instance the static header lacks (the
    /// point where `watch` turns the header dynamic).
    fn unseen_instance(metrics: &[Metric], results: &[Row]) -> bool {
        metrics.iter().zip(results).any(|(m, r)| {
            r.iter()
                .any(|(id, _, _)| *id != PM_IN_NULL && !m.insts.iter().any(|(i, _)| i == id))
        })
    }

    /// Writes one sample.
    pub fn sample(&mut self, out: &mut String, metrics: &[Metric], results: &[Row], stamp: &str) {
        if !self.dynamic && Self::unseen_instance(metrics, results) {
            self.dynamic = true;
            self.repeat = None;
            self.prev = Some(Vec::new());
        }
        if self.dynamic {
            let insts: Vec<(usize, Vec<u32>)> = results
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_empty())
                .map(|(i, r)| (i, r.iter().map(|e| e.0).collect()))
                .collect();
            let changed = self.prev.as_ref() != Some(&insts);
            if self.opts.header && !insts.is_empty() && (changed || self.repeat == Some(self.lines))
            {
                if self.prev.is_some() {
                    out.push('\n');
                }
                match self.opts.colxrow.clone() {
                    None => {
                        let cols = self.columns(metrics, results);
                        self.header_std(out, metrics, &cols);
                    }
                    Some(t) => self.header_colxrow(out, metrics, results, &t),
                }
                self.lines = 0;
            }
            self.lines += 1;
            self.prev = Some(insts);
        } else if let Some(r) = self.repeat {
            if self.opts.header && self.lines >= r && r > 0 {
                out.push('\n');
                let none: Vec<Row> = vec![Vec::new(); metrics.len()];
                match self.opts.colxrow.clone() {
                    None => {
                        let cols = self.columns(metrics, &none);
                        self.header_std(out, metrics, &cols);
                    }
                    Some(t) => self.header_colxrow(out, metrics, &none, &t),
                }
                self.lines = 0;
            }
            self.lines += 1;
        }
        match self.opts.colxrow.clone() {
            None => self.line_std(out, metrics, results, stamp),
            Some(_) => self.lines_colxrow(out, metrics, results, stamp),
        }
    }

    fn value_of(results: &[Row], i: usize, id: u32) -> Option<&Cell> {
        results[i]
            .iter()
            .find(|(inst, _, _)| *inst == id)
            .map(|(_, _, c)| c)
    }

    fn line_std(&self, out: &mut String, metrics: &[Metric], results: &[Row], stamp: &str) {
        let d = self.opts.delim().to_string();
        let cols = self.columns(metrics, results);
        let mut line = self.stamp_part(stamp);
        if self.dynamic && cols.is_empty() {
            let _ = write!(line, "{d}{:>w$}", "N/A", w = self.opts.width);
        }
        for (i, id, _) in &cols {
            let m = &metrics[*i];
            let text = match Self::value_of(results, *i, *id) {
                Some(c) => format_cell(c, m.width, m.precision, &d),
                None => fit("N/A", m.width),
            };
            let _ = write!(line, "{d}{text}");
        }
        out.push_str(&line);
        out.push('\n');
    }

    fn lines_colxrow(&self, out: &mut String, metrics: &[Metric], results: &[Row], stamp: &str) {
        let d = self.opts.delim().to_string();
        let title = self.opts.colxrow.clone().unwrap_or_default();
        let cw = if title.is_empty() { 8 } else { title.len() };
        let labels = Self::labels(metrics, results, self.dynamic);
        // The instances in play, by name, in order of first appearance.
        let mut found: Vec<Option<String>> = Vec::new();
        for (i, m) in metrics.iter().enumerate() {
            let names: Vec<Option<String>> = if self.dynamic {
                results[i].iter().map(|e| e.1.clone()).collect()
            } else {
                m.insts.iter().map(|e| e.1.clone()).collect()
            };
            for n in names {
                if !found.contains(&n) {
                    found.push(n);
                }
            }
        }
        let lead = if self.opts.timestamp {
            let s: String = stamp.chars().take(self.ts_width).collect();
            format!("{s:<w$}", w = self.ts_width)
        } else {
            String::new()
        };
        let mut written = false;
        for inst in &found {
            let mut line = format!("{lead}{d}{}", fit(inst.as_deref().unwrap_or("="), cw));
            let mut only_missing = true;
            for (_, idx) in &labels {
                let mut text = None;
                for &i in idx {
                    let m = &metrics[i];
                    let has = if self.dynamic {
                        results[i].iter().any(|e| &e.1 == inst)
                    } else {
                        m.insts.iter().any(|e| &e.1 == inst)
                    };
                    if !has {
                        continue;
                    }
                    let value = results[i].iter().find(|e| &e.1 == inst).map(|e| &e.2);
                    text = Some(match value {
                        Some(c) => format_cell(c, m.width, m.precision, &d),
                        None => fit(if self.dynamic { "~" } else { "N/A" }, m.width),
                    });
                    break;
                }
                let w = metrics[idx[0]].width;
                let t = text.unwrap_or_else(|| fit("~", w));
                if t.trim() != "~" {
                    only_missing = false;
                }
                let _ = write!(line, "{d}{t}");
            }
            if self.dynamic && only_missing {
                continue;
            }
            out.push_str(&line);
            out.push('\n');
            written = true;
        }
        if !written {
            let mut line = format!("{lead}{d}N/A");
            if !self.dynamic {
                for _ in metrics {
                    let _ = write!(line, "{d}~");
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fit_their_columns_as_pmrep_fits_them() {
        assert_eq!(format_cell(&Cell::Float(10.63), 8, 3, "  "), "  10.630");
        assert_eq!(
            format_cell(&Cell::Float(1283.4967), 10, 3, "  "),
            "  1283.497"
        );
        assert_eq!(format_cell(&Cell::Float(12345.678), 7, 2, " "), "12345.7");
        // pmrep prints int(value) there: truncated, not rounded.
        assert_eq!(format_cell(&Cell::Float(123456.7), 7, 2, " "), " 123456");
        assert_eq!(format_cell(&Cell::Float(12345678.9), 7, 2, " "), "    xxx");
        assert_eq!(format_cell(&Cell::Int(14335240), 8, 0, " "), "14335240");
        assert_eq!(format_cell(&Cell::Int(143352401), 8, 0, " "), "     xxx");
        assert_eq!(
            format_cell(&Cell::Str("6.18.44-fc-v1252".into()), 11, 3, "  "),
            "6.18.44-fc-"
        );
        assert_eq!(format_cell(&Cell::Float(f64::NAN), 5, 3, " "), "  NaN");
    }
}
