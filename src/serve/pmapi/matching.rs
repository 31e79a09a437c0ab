//! Instance-name matching of `/pmapi/indom`, `/pmapi/profile` and
//! `/pmapi/store` (`match=exact|glob|regex`), as pmproxy matches them.

use super::super::query::Query;
use super::ApiError;

/// How instance names are matched (`match=`), as pmproxy does for
/// `/pmapi/indom` and `/pmapi/profile` (and we for `/pmapi/store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Match {
    /// The whole name, byte for byte (the default).
    Exact,
    /// fnmatch(3) patterns.
    Glob,
    /// Regular expressions matched anywhere in the name, as pmproxy's
    /// regexec(3) of an extended (POSIX ERE) expression does; the syntax
    /// is the regex crate's, which accepts ERE's usual forms (`^`, `$`,
    /// `|`, groups, bounds, bracket classes with `[:alpha:]` and so on).
    Regex,
}

pub(super) fn parse_match(q: &Query, ctx: Option<u32>) -> Result<Match, ApiError> {
    match q.get("match") {
        None | Some("exact") => Ok(Match::Exact),
        Some("glob") => Ok(Match::Glob),
        Some("regex") => Ok(Match::Regex),
        Some(m) => Err(ApiError::bad(
            ctx,
            format!("{m} - invalid 'match' parameter value"),
        )),
    }
}

/// Largest compiled size of one `match=regex` pattern (and of its lazy
/// DFA cache): hostile patterns are refused instead of eating memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Instance-name patterns of one request, compiled once.
#[derive(Debug)]
pub(super) enum NameMatcher {
    Exact(Vec<String>),
    Glob(Vec<String>),
    Regex(Vec<regex::Regex>),
}

impl NameMatcher {
    /// Compiles `names` under `how`; a bad regular expression is a 400
    /// naming the pattern and what is wrong with it.
    pub(super) fn new(
        how: Match,
        names: Vec<String>,
        ctx: Option<u32>,
    ) -> Result<NameMatcher, ApiError> {
        Ok(match how {
            Match::Exact => NameMatcher::Exact(names),
            Match::Glob => NameMatcher::Glob(names),
            Match::Regex => NameMatcher::Regex(
                names
                    .iter()
                    .map(|n| {
                        regex::RegexBuilder::new(n)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .dfa_size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| {
                                ApiError::bad(
                                    ctx,
                                    format!(
                                        "{n} - invalid regular expression in 'iname': {}",
                                        regex_error(&e)
                                    ),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// True if any pattern matches `name`.
    pub(super) fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::Exact(v) => v.iter().any(|n| n == name),
            NameMatcher::Glob(v) => v.iter().any(|n| glob_match(n, name)),
            NameMatcher::Regex(v) => v.iter().any(|r| r.is_match(name)),
        }
    }
}

/// The regex crate's error on one line (its syntax errors span several,
/// with a caret under the offending spot).
fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled pattern would exceed {limit} bytes")
        }
        other => {
            let text = other.to_string();
            text.lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error:"))
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("error:")
                        .trim()
                        .to_string()
                })
                .unwrap_or_else(|| text.lines().last().unwrap_or("").trim().to_string())
        }
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^` and ranges),
/// and `\` escapes.
pub(super) fn glob_match(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative with one backtrack point for the last `*`: linear-ish, no
    // exponential blow-up on hostile patterns.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class_match(&p, pi, t[ti]) {
                        if ok {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == t[ti] {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if c == t[ti] {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`: Some((hit,
/// index after the class)), or None if the class is not closed.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if lo == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*minute", "15 minute"));
        assert!(glob_match("1?", "15"));
        assert!(!glob_match("1?", "1"));
        assert!(glob_match("[0-9]*", "5 minute"));
        assert!(!glob_match("[!0-9]*", "5 minute"));
        assert!(glob_match("re[dx]", "red"));
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(glob_match("*", ""));
        // Hostile patterns stay fast.
        let long = "a".repeat(5000);
        let t0 = std::time::Instant::now();
        assert!(!glob_match(&format!("{}b", "*a".repeat(200)), &long));
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn regexes_match_anywhere_and_bad_ones_are_refused() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = NameMatcher::new(Match::Regex, names(&["^1 ", "15$"]), Some(7)).unwrap();
        assert!(m.matches("1 minute"));
        assert!(m.matches("15"));
        assert!(!m.matches("5 minute"));
        let m =
            NameMatcher::new(Match::Regex, names(&["sd[a-c]", "[[:digit:]]{2}"]), None).unwrap();
        assert!(m.matches("/dev/sdb1"), "unanchored, as regexec(3)");
        assert!(m.matches("nvme0n12"));
        assert!(!m.matches("sdd"));
        let e = NameMatcher::new(Match::Regex, names(&["ok", "(re"]), Some(7)).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.context, Some(7));
        assert_eq!(
            e.message,
            "(re - invalid regular expression in 'iname': unclosed group"
        );
        let e = NameMatcher::new(Match::Regex, names(&["(a{1000}){1000}"]), None).unwrap_err();
        assert!(e.message.contains("exceed"), "{}", e.message);
        let m = NameMatcher::new(Match::Exact, names(&["red"]), None).unwrap();
        assert!(m.matches("red") && !m.matches("reddish"));
    }
}
