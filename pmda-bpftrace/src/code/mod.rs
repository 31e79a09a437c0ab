//! What the agent reads from a script's source: metadata comments and the
//! maps it uses, and the program actually given to bpftrace (the source plus
//! an appended block printing the maps).
//!
//! pmdabpftrace finds variables with a regular expression that misreads
//! `@x += 1` (as a variable called `@x +`), misses `@x++`, and looks inside
//! strings and comments. Here a small lexer skips comments and string
//! literals and understands every assignment form; in any case the maps that
//! bpftrace actually prints become metrics whether or not they were found
//! here, so this analysis only decides semantics (`count()` is a counter)
//! and which maps the appended block prints.

mod lex;
mod metadata;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use metadata::{parse_metadata, Metadata};

use lex::{is_ident, is_ident_start, skip_brackets, skip_trivia, skip_ws, words};

/// The printf text that ends every appended print block. Maps that were not
/// printed between two markers are empty (bpftrace prints nothing for an
/// empty map), so their instances vanish.
pub const SYNC_MARKER: &str = "__pcp_agent_bpftrace_sync__\n";

/// The aggregation function assigned to a map, which decides its type and
/// semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// A plain value (`@x = expr`, `@x += 1`, `@x++`).
    Plain,
    /// `count()`: a counter.
    Count,
    /// `sum()`: a running total (a signed counter).
    Sum,
    /// `min()`.
    Min,
    /// `max()`.
    Max,
    /// `avg()`.
    Avg,
    /// `stats()`: count, average and total.
    Stats,
    /// `hist()`: power-of-two buckets.
    Hist,
    /// `lhist()`: linear buckets.
    Lhist,
}

impl Func {
    fn from_name(name: &str) -> Func {
        match name {
            "count" => Func::Count,
            "sum" => Func::Sum,
            "min" => Func::Min,
            "max" => Func::Max,
            "avg" => Func::Avg,
            "stats" => Func::Stats,
            "hist" => Func::Hist,
            "lhist" => Func::Lhist,
            _ => Func::Plain,
        }
    }
}

/// A map the script uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapUse {
    /// The name with its `@` (`@` alone for the anonymous map).
    pub name: String,
    /// Indexed with `[...]` somewhere.
    pub keyed: bool,
    /// A key contains `kstack` or `ustack`.
    pub stacks: bool,
    /// The function assigned, if an assignment was seen.
    pub func: Option<Func>,
}

/// The result of [`analyse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeInfo {
    /// Metadata comments.
    pub metadata: Metadata,
    /// Maps in order of first assignment (then of first mention), filtered
    /// by `// include:`.
    pub maps: Vec<MapUse>,
    /// The script produces text (printf, time, cat, join, system, print of a
    /// value), exported as `data.output` unless `// include:` leaves it out.
    pub has_output: bool,
}

impl CodeInfo {
    /// Whether `@output` is exported.
    pub fn exports_output(&self) -> bool {
        match &self.metadata.include {
            Some(list) => list.iter().any(|v| v == "@output"),
            None => true,
        }
    }

    /// Whether the map `name` is exported.
    pub fn exports(&self, name: &str) -> bool {
        match &self.metadata.include {
            Some(list) => list.iter().any(|v| v == name),
            None => true,
        }
    }
}

#[derive(Default)]
struct Found {
    first_assign: Option<usize>,
    first_mention: usize,
    keyed: bool,
    stacks: bool,
    func: Option<Func>,
}

/// Analyses a script: metadata comments, the maps used and how each is
/// assigned, and whether it produces text output.
pub fn analyse(code: &str) -> Result<CodeInfo, String> {
    let metadata = parse_metadata(code)?;
    let s = code.as_bytes();
    let mut found: HashMap<String, Found> = HashMap::new();
    let mut has_output = false;
    let mut prev_op: [u8; 2] = [0, 0];
    let mut i = 0;
    while i < s.len() {
        if let Some(next) = skip_trivia(s, i) {
            i = next;
            prev_op = [0, 0];
            continue;
        }
        let b = s[i];
        if b == b'@' {
            let start = i;
            let mut j = i + 1;
            while j < s.len() && is_ident(s[j]) {
                j += 1;
            }
            let name = String::from_utf8_lossy(&s[start..j]).into_owned();
            let pre_increment = prev_op == [b'+', b'+'] || prev_op == [b'-', b'-'];
            let mut k = skip_ws(s, j);
            let mut keyed = false;
            let mut stacks = false;
            if k < s.len() && s[k] == b'[' {
                let end = skip_brackets(s, k);
                keyed = true;
                stacks = words(&s[k..end]).any(|w| w == b"kstack" || w == b"ustack");
                k = skip_ws(s, end);
            }
            let rest = &s[k.min(s.len())..];
            let mut func = None;
            if rest.first() == Some(&b'=') && rest.get(1) != Some(&b'=') {
                // Plain assignment: look for `fname(`.
                let mut m = skip_ws(s, k + 1);
                let fstart = m;
                if m < s.len() && is_ident_start(s[m]) {
                    while m < s.len() && is_ident(s[m]) {
                        m += 1;
                    }
                    let fname = &code[fstart..m];
                    let after = skip_ws(s, m);
                    func = Some(if after < s.len() && s[after] == b'(' {
                        Func::from_name(fname)
                    } else {
                        Func::Plain
                    });
                } else {
                    func = Some(Func::Plain);
                }
            } else if rest.starts_with(b"++")
                || rest.starts_with(b"--")
                || pre_increment
                || (rest.len() >= 2
                    && rest[1] == b'='
                    && matches!(
                        rest[0],
                        b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^'
                    ))
                || rest.starts_with(b"<<=")
                || rest.starts_with(b">>=")
            {
                func = Some(Func::Plain);
            }
            let f = found.entry(name).or_insert_with(|| Found {
                first_mention: start,
                ..Default::default()
            });
            f.keyed |= keyed;
            f.stacks |= stacks;
            if let Some(func) = func {
                if f.first_assign.is_none() {
                    f.first_assign = Some(start);
                }
                if f.func.is_none() || f.func == Some(Func::Plain) {
                    f.func = Some(func);
                }
            }
            prev_op = [0, 0];
            i = j;
            continue;
        }
        if is_ident_start(b) {
            let start = i;
            while i < s.len() && is_ident(s[i]) {
                i += 1;
            }
            let word = &code[start..i];
            if matches!(
                word,
                "printf" | "time" | "cat" | "join" | "system" | "print"
            ) {
                let after = skip_ws(s, i);
                if after < s.len() && s[after] == b'(' {
                    let arg = skip_ws(s, after + 1);
                    if word != "print" || (arg < s.len() && s[arg] != b'@') {
                        has_output = true;
                    }
                }
            }
            prev_op = [0, 0];
            continue;
        }
        if !b.is_ascii_whitespace() {
            prev_op = [prev_op[1], b];
        }
        i += 1;
    }
    let mut maps: Vec<(usize, usize, MapUse)> = found
        .into_iter()
        .map(|(name, f)| {
            let order = (
                f.first_assign.map_or(1, |_| 0),
                f.first_assign.unwrap_or(f.first_mention),
            );
            (
                order.0,
                order.1,
                MapUse {
                    name,
                    keyed: f.keyed,
                    stacks: f.stacks,
                    func: f.func,
                },
            )
        })
        .collect();
    maps.sort_by_key(|(a, b, _)| (*a, *b));
    let mut info = CodeInfo {
        metadata,
        maps: maps.into_iter().map(|(_, _, m)| m).collect(),
        has_output,
    };
    let include = info.metadata.include.clone();
    if let Some(list) = include {
        info.maps.retain(|m| list.contains(&m.name));
    }
    Ok(info)
}

/// The program given to bpftrace: the code plus, unless
/// `// custom-output-block` is set, a block printing every exported map each
/// `interval_ms` and then [`SYNC_MARKER`].
pub fn program(code: &str, info: &CodeInfo, interval_ms: u64) -> String {
    let mut out = String::with_capacity(code.len() + 64 + info.maps.len() * 16);
    out.push_str(code);
    if info.metadata.custom_output_block || info.maps.is_empty() {
        return out;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("interval:ms:{} {{", interval_ms.max(1)));
    for m in &info.maps {
        out.push_str(" print(");
        out.push_str(&m.name);
        out.push_str(");");
    }
    out.push_str(" printf(\"");
    out.push_str(&SYNC_MARKER.replace('\n', "\\n"));
    out.push_str("\"); }\n");
    out
}
