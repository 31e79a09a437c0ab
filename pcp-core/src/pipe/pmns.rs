//! PCP's ASCII namespace files (pmns(5)), as a PMDA ships them beside its
//! binary (`/var/lib/pcp/pmdas/NAME/pmns`): blocks of `path { child
//! [DOMAIN:CLUSTER:ITEM | DOMAIN:*:*] ... }`, run through a small part of
//! what `pmcpp` does (C comments, `#define NAME VALUE`, `#include "file"`
//! relative to the including file, `#ifdef`/`#ifndef`/`#else`/`#endif`).
//!
//! ```
//! use pcp_core::pipe::pmns::parse_pmns;
//! let text = "#define SAMPLE 29\n/* metrics */\nsample {\n  long\n  secret SAMPLE:*:*\n}\n\
//!             sample.long {\n  one SAMPLE:0:10\n}\n";
//! let p = parse_pmns(text, None).unwrap();
//! assert_eq!(p.leaves(), vec![("sample.long.one".to_string(), pcp_core::Pmid::from_parts(29, 0, 10))]);
//! assert_eq!(p.dynamic(), vec![("sample.secret".to_string(), 29)]);
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::id::Pmid;

/// One entry of a namespace, in the order pmcd lists names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A leaf: full name and PMID.
    Leaf(String, Pmid),
    /// The root of a subtree whose names the agent of a domain gives
    /// (`DOMAIN:*:*`).
    Dynamic(String, u32),
}

/// A namespace file's content: its entries depth first, children in the
/// order their block lists them (the order pmcd's namespace keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PmnsFile {
    /// The entries.
    pub entries: Vec<Entry>,
}

impl PmnsFile {
    /// The leaves, in order.
    pub fn leaves(&self) -> Vec<(String, Pmid)> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Leaf(n, p) => Some((n.clone(), *p)),
                Entry::Dynamic(..) => None,
            })
            .collect()
    }

    /// The dynamic roots and their domains, in order.
    pub fn dynamic(&self) -> Vec<(String, u32)> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Dynamic(n, d) => Some((n.clone(), *d)),
                Entry::Leaf(..) => None,
            })
            .collect()
    }
}

/// Why a namespace file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PmnsError {
    /// A file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The text does not follow pmns(5).
    #[error("namespace line {line}: {message}")]
    Syntax {
        /// 1-based line of the (preprocessed) text.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads and parses a namespace file (includes relative to it), with
/// `defines` predefined: a PMDA's file names its domain by a macro its
/// Install script substitutes (`SAMPLE:0:1` for pmdasample at 29).
pub fn read_pmns(path: &Path, defines: &[(&str, u32)]) -> Result<PmnsFile, PmnsError> {
    let text = std::fs::read_to_string(path).map_err(|e| PmnsError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_pmns_with(&text, path.parent(), defines)
}

/// Parses namespace text; `#include`s are found in `dir`.
pub fn parse_pmns(text: &str, dir: Option<&Path>) -> Result<PmnsFile, PmnsError> {
    parse_pmns_with(text, dir, &[])
}

/// [`parse_pmns`] with macros predefined.
pub fn parse_pmns_with(
    text: &str,
    dir: Option<&Path>,
    predefined: &[(&str, u32)],
) -> Result<PmnsFile, PmnsError> {
    let mut defines: HashMap<String, String> = predefined
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut lines = Vec::new();
    preprocess(text, dir, &mut defines, &mut lines, 0)?;
    parse_blocks(&lines, &defines)
}

/// Removes C comments (keeping line breaks so line numbers hold).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut prev = ' ';
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                }
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
            out.push(' ');
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn preprocess(
    text: &str,
    dir: Option<&Path>,
    defines: &mut HashMap<String, String>,
    out: &mut Vec<String>,
    depth: usize,
) -> Result<(), PmnsError> {
    if depth > 8 {
        return Err(PmnsError::Syntax {
            line: out.len(),
            message: "#include nested too deeply".into(),
        });
    }
    // Each level of #if: whether its lines are kept.
    let mut keep: Vec<bool> = Vec::new();
    for line in strip_comments(text).lines() {
        let t = line.trim();
        let active = keep.iter().all(|k| *k);
        if let Some(d) = t.strip_prefix('#') {
            let mut words = d.split_whitespace();
            let directive = words.next().unwrap_or("");
            match directive {
                "ifdef" | "ifndef" => {
                    let name = words.next().unwrap_or("");
                    let defined = defines.contains_key(name);
                    keep.push(if directive == "ifdef" {
                        defined
                    } else {
                        !defined
                    });
                }
                "else" => {
                    if let Some(k) = keep.last_mut() {
                        *k = !*k;
                    }
                }
                "endif" => {
                    keep.pop();
                }
                "define" if active => {
                    let name = words.next().unwrap_or("").to_string();
                    let value = words.collect::<Vec<_>>().join(" ");
                    defines.insert(name, value);
                }
                "undef" if active => {
                    defines.remove(words.next().unwrap_or(""));
                }
                "include" if active => {
                    let file = words.next().unwrap_or("").trim_matches(['"', '<', '>']);
                    let path: PathBuf = match dir {
                        Some(d) => d.join(file),
                        None => PathBuf::from(file),
                    };
                    let inc = std::fs::read_to_string(&path).map_err(|e| PmnsError::Io {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                    preprocess(&inc, path.parent(), defines, out, depth + 1)?;
                }
                _ => {}
            }
            out.push(String::new());
            continue;
        }
        out.push(if active {
            line.to_string()
        } else {
            String::new()
        });
    }
    Ok(())
}

/// A word with its line number.
fn words(lines: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, l) in lines.iter().enumerate() {
        for w in l.split_whitespace() {
            // Braces may touch names: "root{".
            let mut rest = w;
            while !rest.is_empty() {
                if let Some(i) = rest.find(['{', '}']) {
                    if i > 0 {
                        out.push((n + 1, rest[..i].to_string()));
                    }
                    out.push((n + 1, rest[i..i + 1].to_string()));
                    rest = &rest[i + 1..];
                } else {
                    out.push((n + 1, rest.to_string()));
                    break;
                }
            }
        }
    }
    out
}

fn number(w: &str, defines: &HashMap<String, String>, line: usize) -> Result<u32, PmnsError> {
    let v = defines.get(w).map(String::as_str).unwrap_or(w);
    v.trim().parse().map_err(|_| PmnsError::Syntax {
        line,
        message: format!("{w:?} is not a number or a #define'd one"),
    })
}

/// One child of a block.
enum Child {
    Inner(String),
    Leaf(String, Pmid),
    Dynamic(String, u32),
}

fn parse_blocks(
    lines: &[String],
    defines: &HashMap<String, String>,
) -> Result<PmnsFile, PmnsError> {
    let w = words(lines);
    // Blocks by path, in file order, each its children in order.
    let mut blocks: Vec<(String, Vec<Child>)> = Vec::new();
    let mut i = 0;
    let bad = |line, message: String| Err(PmnsError::Syntax { line, message });
    while i < w.len() {
        let (line, path) = &w[i];
        if w.get(i + 1).map(|x| x.1.as_str()) != Some("{") {
            return bad(*line, format!("expected `{{` after {path:?}"));
        }
        let prefix = if path == "root" {
            String::new()
        } else {
            format!("{path}.")
        };
        let mut children = Vec::new();
        i += 2;
        loop {
            let Some((line, word)) = w.get(i) else {
                return bad(lines.len(), format!("block {path:?} is not closed"));
            };
            if word == "}" {
                i += 1;
                break;
            }
            let name = format!("{prefix}{word}");
            // A PMID follows the name when the next word has colons.
            match w.get(i + 1) {
                Some((_, id)) if id.contains(':') => {
                    let parts: Vec<&str> = id.split(':').collect();
                    if parts.len() != 3 {
                        return bad(*line, format!("bad PMID {id:?}"));
                    }
                    let domain = number(parts[0], defines, *line)?;
                    if parts[1] == "*" && parts[2] == "*" {
                        children.push(Child::Dynamic(name, domain));
                    } else {
                        let c = number(parts[1], defines, *line)?;
                        let it = number(parts[2], defines, *line)?;
                        let pmid = Pmid::new(domain, c, it).map_err(|e| PmnsError::Syntax {
                            line: *line,
                            message: e.to_string(),
                        })?;
                        children.push(Child::Leaf(name, pmid));
                    }
                    i += 2;
                }
                _ => {
                    children.push(Child::Inner(name));
                    i += 1;
                }
            }
        }
        blocks.push((path.clone(), children));
    }
    // Depth first from the blocks no other block names, children in block
    // order: the order pmcd's namespace lists them in.
    let index: HashMap<&str, usize> = blocks
        .iter()
        .enumerate()
        .map(|(k, (p, _))| (p.as_str(), k))
        .collect();
    let named: std::collections::HashSet<&str> = blocks
        .iter()
        .flat_map(|(_, c)| c.iter())
        .filter_map(|c| match c {
            Child::Inner(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let mut out = PmnsFile::default();
    let mut seen = vec![false; blocks.len()];
    fn walk(
        k: usize,
        blocks: &[(String, Vec<Child>)],
        index: &HashMap<&str, usize>,
        seen: &mut [bool],
        out: &mut PmnsFile,
    ) {
        if std::mem::replace(&mut seen[k], true) {
            return;
        }
        for c in &blocks[k].1 {
            match c {
                Child::Leaf(n, p) => out.entries.push(Entry::Leaf(n.clone(), *p)),
                Child::Dynamic(n, d) => out.entries.push(Entry::Dynamic(n.clone(), *d)),
                Child::Inner(n) => {
                    if let Some(&j) = index.get(n.as_str()) {
                        walk(j, blocks, index, seen, out);
                    }
                }
            }
        }
    }
    for (k, (path, _)) in blocks.iter().enumerate() {
        if !named.contains(path.as_str()) {
            walk(k, &blocks, &index, &mut seen, &mut out);
        }
    }
    // Blocks reached from nowhere (a cycle or a misspelt parent) still count.
    for k in 0..blocks.len() {
        walk(k, &blocks, &index, &mut seen, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditionals_and_includes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("domain.h"), "#define DEMO 450\n").unwrap();
        let text = "#include \"domain.h\"\n#ifndef DEMO\n#define DEMO 1\n#endif\n\
                    root { demo }\ndemo {\n  a DEMO:0:1 // first\n  b DEMO:1:2\n}\n";
        let p = parse_pmns(text, Some(dir.path())).unwrap();
        let names: Vec<_> = p
            .leaves()
            .into_iter()
            .map(|(n, p)| (n, p.domain()))
            .collect();
        assert_eq!(
            names,
            vec![("demo.a".to_string(), 450), ("demo.b".to_string(), 450)]
        );
    }

    #[test]
    fn inner_nodes_keep_their_place_in_the_parent_block() {
        let text =
            "top {\n  first 1:0:1\n  mid\n  dyn 1:*:*\n  last 1:0:2\n}\ntop.mid {\n  x 1:0:3\n}\n";
        let p = parse_pmns(text, None).unwrap();
        let order: Vec<String> = p
            .entries
            .iter()
            .map(|e| match e {
                Entry::Leaf(n, _) | Entry::Dynamic(n, _) => n.clone(),
            })
            .collect();
        assert_eq!(order, ["top.first", "top.mid.x", "top.dyn", "top.last"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_pmns("demo {\n  a X:0:1\n}\n", None).unwrap_err();
        assert!(matches!(e, PmnsError::Syntax { line: 2, .. }), "{e}");
        assert!(parse_pmns("demo {\n  a 1:0:1\n", None).is_err());
        assert!(parse_pmns("demo a 1:0:1 }", None).is_err());
        assert!(parse_pmns("demo { a 600:0:1 }", None).is_err());
    }

    #[test]
    fn pcps_own_sample_namespace_when_installed() {
        let path = Path::new("/var/lib/pcp/pmdas/sample/pmns");
        if !crate::testing::require("pcp", path.exists(), "PCP's sample PMDA namespace") {
            return;
        }
        let p = read_pmns(path, &[("SAMPLE", 29)]).unwrap();
        assert!(p.leaves().len() > 100, "{}", p.leaves().len());
        assert!(p.leaves().iter().all(|(_, id)| id.domain() == 29));
        assert!(p
            .dynamic()
            .iter()
            .any(|(n, d)| n == "sample.secret" && *d == 29));
    }
}
