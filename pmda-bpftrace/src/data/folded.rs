//! Folded stacks: a stack map rendered as the `outer;inner;leaf count`
//! lines flame-graph tools read.

use std::collections::HashMap;

/// Renders a stack map as folded stacks: one line per key, frames from the
/// outermost to the leaf joined by `;` (offsets `+123` dropped), other key
/// parts (comm, pid) first, then a space and the count. Lines are sorted.
pub fn folded(entries: impl Iterator<Item = (String, i128)>) -> String {
    let mut merged: HashMap<String, i128> = HashMap::new();
    for (key, count) in entries {
        *merged.entry(fold_key(&key)).or_default() += count;
    }
    let mut lines: Vec<(String, i128)> = merged.into_iter().collect();
    lines.sort();
    let mut out = String::new();
    for (k, c) in lines {
        out.push_str(&k);
        out.push(' ');
        out.push_str(&c.to_string());
        out.push('\n');
    }
    out
}

fn strip_offset(frame: &str) -> &str {
    match frame.rfind('+') {
        Some(p)
            if p > 0
                && frame[p + 1..]
                    .strip_prefix("0x")
                    .unwrap_or(&frame[p + 1..])
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit())
                && p + 1 < frame.len() =>
        {
            &frame[..p]
        }
        _ => frame,
    }
}

/// Splits bpftrace's rendering of a key into its parts: a stack is a
/// newline, then one indented frame per line; other parts end at a comma.
fn fold_key(key: &str) -> String {
    let mut plain: Vec<&str> = Vec::new();
    let mut frames: Vec<&str> = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(mut s) = rest.strip_prefix('\n') {
            let mut stack: Vec<&str> = Vec::new();
            while s.starts_with(' ') || s.starts_with('\t') {
                let end = s.find('\n').unwrap_or(s.len());
                let frame = s[..end].trim();
                if !frame.is_empty() {
                    stack.push(strip_offset(frame));
                }
                s = s.get(end + 1..).unwrap_or("");
            }
            // bpftrace prints the leaf first; folded stacks start at the root.
            frames.extend(stack.into_iter().rev());
            rest = s.strip_prefix(',').unwrap_or(s);
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let part = &rest[..end];
            if !part.is_empty() {
                plain.push(part);
            }
            rest = rest.get(end + 1..).unwrap_or("");
        }
    }
    let mut out: Vec<&str> = plain;
    out.extend(frames);
    if out.is_empty() {
        // An empty stack (a kernel stack sampled in user mode): flame graph
        // tools' name for an unknown frame.
        return "[unknown]".into();
    }
    out.join(";")
}
