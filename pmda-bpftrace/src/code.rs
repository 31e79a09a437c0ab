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

use std::collections::HashMap;

/// The printf text that ends every appended print block. Maps that were not
/// printed between two markers are empty (bpftrace prints nothing for an
/// empty map), so their instances vanish.
pub const SYNC_MARKER: &str = "__pcp_agent_bpftrace_sync__\n";

/// Metadata comments (`// name: X`, `// include: @a,@b`,
/// `// table-retain-lines: N`, `// custom-output-block`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    /// The script's name: its metric subtree; named scripts never expire.
    pub name: Option<String>,
    /// Only these variables are exported (exact `@name` strings).
    pub include: Option<Vec<String>>,
    /// Keep the first output line plus the last N lines.
    pub table_retain_lines: Option<usize>,
    /// Don't append the print block: the script prints its maps itself.
    pub custom_output_block: bool,
}

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

fn valid_script_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads the metadata comments: lines starting with `//`, a key of word
/// characters and `-`, and an optional `: value`.
pub fn parse_metadata(code: &str) -> Result<Metadata, String> {
    let mut md = Metadata::default();
    for line in code.lines() {
        let Some(rest) = line.strip_prefix("//") else {
            continue;
        };
        let rest = rest.trim();
        let key_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            continue;
        }
        let key = &rest[..key_len];
        let after = rest[key_len..].trim_start();
        let value = if after.is_empty() {
            ""
        } else if let Some(v) = after.strip_prefix(':') {
            v.trim()
        } else {
            // Ordinary prose in a comment ("// name the thing"): not metadata.
            continue;
        };
        match key {
            "name" => {
                if !valid_script_name(value) {
                    return Err(format!(
                        "invalid value '{value}' for name: must start with a letter and contain only letters, digits and '_'"
                    ));
                }
                md.name = Some(value.to_string());
            }
            "include" => {
                md.include = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "table-retain-lines" => {
                md.table_retain_lines = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            format!(
                                "invalid value '{value}' for table-retain-lines, must be numeric"
                            )
                        })?,
                )
            }
            "custom-output-block" => md.custom_output_block = true,
            _ => {}
        }
    }
    Ok(md)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Skips a comment or string literal starting at `i`, returning the index
/// after it, or `None` if none starts there.
fn skip_trivia(s: &[u8], i: usize) -> Option<usize> {
    match (s[i], s.get(i + 1)) {
        (b'/', Some(b'/')) => Some(
            s[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |p| i + p + 1),
        ),
        (b'/', Some(b'*')) => Some(
            s[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(s.len(), |p| i + 2 + p + 2),
        ),
        (b'"', _) => {
            let mut j = i + 1;
            while j < s.len() {
                match s[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            Some(s.len())
        }
        _ => None,
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        // Comments count as white space between tokens.
        if i + 1 < s.len() && s[i] == b'/' && (s[i + 1] == b'/' || s[i + 1] == b'*') {
            i = skip_trivia(s, i).unwrap_or(s.len());
            continue;
        }
        return i;
    }
}

/// From `i` at a `[`, the index after the matching `]`.
fn skip_brackets(s: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < s.len() {
        if let Some(next) = skip_trivia(s, j) {
            j = next;
            continue;
        }
        match s[j] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    s.len()
}

fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|b| !is_ident(*b)).filter(|w| !w.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'a>(info: &'a CodeInfo, name: &str) -> &'a MapUse {
        info.maps.iter().find(|m| m.name == name).unwrap()
    }

    #[test]
    fn every_assignment_form_is_found() {
        let code = r#"
            tracepoint:syscalls:sys_enter_read { @x += 1; @y++; ++@z; @c[comm] = count(); }
            tracepoint:syscalls:sys_exit_read /@x == 3/ { @h[pid] = hist(args->ret); @s = sum(args->ret); @w -= 2; }
        "#;
        let info = analyse(code).unwrap();
        let names: Vec<&str> = info.maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["@x", "@y", "@z", "@c", "@h", "@s", "@w"]);
        assert_eq!(map(&info, "@x").func, Some(Func::Plain));
        assert_eq!(map(&info, "@c").func, Some(Func::Count));
        assert!(map(&info, "@c").keyed);
        assert_eq!(map(&info, "@h").func, Some(Func::Hist));
        assert!(map(&info, "@h").keyed);
        assert_eq!(map(&info, "@s").func, Some(Func::Sum));
        assert!(!info.has_output);
    }

    #[test]
    fn strings_and_comments_are_skipped() {
        let code = "// @notamap = 1\n/* @nor = 2 */ BEGIN { printf(\"@fake = %d \\\" @x\\n\", 1); @real = 1; }";
        let info = analyse(code).unwrap();
        let names: Vec<&str> = info.maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["@real"]);
        assert!(info.has_output);
    }

    #[test]
    fn anonymous_stacks_and_mentions() {
        let code = "profile:hz:99 { @[kstack, comm] = count(); @u[ustack(perf, 3)] = count(); }\n\
                    END { print(@); clear(@never); }";
        let info = analyse(code).unwrap();
        let anon = map(&info, "@");
        assert!(anon.keyed && anon.stacks);
        assert_eq!(anon.func, Some(Func::Count));
        assert!(map(&info, "@u").stacks);
        // Mentioned but never assigned: last, without a function.
        assert_eq!(info.maps.last().unwrap().name, "@never");
        assert_eq!(info.maps.last().unwrap().func, None);
        assert!(!info.has_output, "print(@map) is not text output");
    }

    #[test]
    fn metadata_comments() {
        let md = parse_metadata(
            "// name: runq_lat\n// include: @a, @output\n// table-retain-lines: 5\n// custom-output-block\n// name the maps below\nBEGIN {}",
        )
        .unwrap();
        assert_eq!(md.name.as_deref(), Some("runq_lat"));
        assert_eq!(md.include.unwrap(), ["@a", "@output"]);
        assert_eq!(md.table_retain_lines, Some(5));
        assert!(md.custom_output_block);
        assert!(parse_metadata("// name: 9lives\n").is_err());
        assert!(parse_metadata("// name: a-b\n").is_err());
        assert!(parse_metadata("// table-retain-lines: ten\n").is_err());
        assert!(parse_metadata("// table-retain-lines: -1\n").is_err());
    }

    #[test]
    fn include_filters_maps_and_output() {
        let info = analyse("// include: @a\nBEGIN { @a = 1; @b = 2; printf(\"x\"); }").unwrap();
        assert_eq!(info.maps.len(), 1);
        assert!(!info.exports_output());
        assert!(info.exports("@a") && !info.exports("@b"));
    }

    #[test]
    fn program_appends_print_block_with_marker() {
        let code = "BEGIN { @a = 1; @b[1] = count(); }";
        let info = analyse(code).unwrap();
        let p = program(code, &info, 1000);
        assert!(p.starts_with(code));
        assert!(p.ends_with(
            "interval:ms:1000 { print(@a); print(@b); printf(\"__pcp_agent_bpftrace_sync__\\n\"); }\n"
        ));
        let custom = "// custom-output-block\nBEGIN { @a = 1; }";
        assert_eq!(program(custom, &analyse(custom).unwrap(), 1000), custom);
    }
}
