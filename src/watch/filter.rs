//! pmrep's instance selection and value filters (PCP 6.0.3's pmconfig).
//!
//! Instances are asked for as a list of specifications (`-i`, a metric
//! spec's instances field, a verbose `.instances` key). Each one is
//! tried against a metric's instance names in turn:
//! - all digits: the instance whose name's first word is that number
//!   (`-i 4242` selects `"004242 sleep"`, `-i 1` selects `"1 minute"`),
//!   when the domain's names start with a number;
//! - letters, digits, `.`, `_`, `-` only: every process-style instance
//!   (`"NNNNNN name ..."`) whose command's base name is that text (`sleep`
//!   for `"004242 /bin/sleep 60"`, `kthreadd` for `"000002 (kthreadd)"`);
//! - otherwise, or when neither of those found anything: a regular
//!   expression that must match the whole instance name.
//!
//! The selection is made once, on the instances present at the start
//! (pmrep's default: then only those instances are fetched, through the
//! fetch profile), or on every sample (`--live-filter`, where the number
//! rule is not applied, as in pmrep). Values are then filtered by a limit
//! (`--limit-filter`: at least N, or at most |N| when negative) and ranked
//! (`--rank N`: the N highest, or the |N| lowest when negative); with
//! `--invert-filter` a live filter is applied after the ranking instead of
//! before it.

use regex::Regex;

use super::metrics::Cell;

/// Splits an instances string as pmrep's parse_instances does: Python's
/// csv reader (`,` between fields, `"` quoting, `""` inside quotes), then
/// one leading and one trailing quote (`"` or `'`) dropped from each field.
pub fn parse_instances(s: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum St {
        Start,
        Field,
        Quoted,
        QuoteInQuoted,
    }
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut st = St::Start;
    for c in s.chars() {
        st = match (st, c) {
            (St::Start, '"') => St::Quoted,
            (St::Start | St::Field | St::QuoteInQuoted, ',') => {
                fields.push(std::mem::take(&mut cur));
                St::Start
            }
            (St::Start | St::Field, c) => {
                cur.push(c);
                St::Field
            }
            (St::Quoted, '"') => St::QuoteInQuoted,
            (St::Quoted, c) => {
                cur.push(c);
                St::Quoted
            }
            (St::QuoteInQuoted, '"') => {
                cur.push('"');
                St::Quoted
            }
            (St::QuoteInQuoted, c) => {
                cur.push(c);
                St::Field
            }
        };
    }
    if !(st == St::Start && fields.is_empty() && s.is_empty()) {
        fields.push(cur);
    }
    fields
        .into_iter()
        .map(|f| {
            let f = f.strip_prefix(['"', '\'']).unwrap_or(&f);
            f.strip_suffix(['"', '\'']).unwrap_or(f).to_string()
        })
        .collect()
}

/// pmrep's parse_metric_spec_instances: takes the instances (third field,
/// possibly a quoted list with commas) out of a compact metric
/// specification `name,label,instances,unit,...` and returns the
/// specification left (with at least two commas) and the instances.
pub fn spec_instances(spec: &str) -> (String, Vec<String>) {
    if spec.matches(',').count() < 2 {
        return (format!("{spec},,"), Vec::new());
    }
    let third = spec.split(',').nth(2).unwrap_or("");
    let quoted = third.chars().count() > 2 && third.starts_with(['"', '\'']);
    let mut spec = spec.to_string();
    let mut insts = Vec::new();
    if spec.contains(['"', '\'']) {
        // Everything after the second comma, up to the last occurrence of
        // its first character (the closing quote).
        let rest = spec.splitn(3, ',').nth(2).unwrap_or("").to_string();
        if let Some(q) = rest.chars().next() {
            let end = rest.rfind(q).map_or(0, |i| i + q.len_utf8());
            let inststr = rest[..end].to_string();
            insts = if quoted && inststr.len() >= 2 {
                parse_instances(&inststr[1..inststr.len() - 1])
            } else {
                parse_instances(&inststr)
            };
            if !inststr.is_empty() {
                spec = spec.replace(&inststr, "");
            }
        }
    } else if !third.is_empty() {
        insts = vec![third.to_string()];
    }
    if spec.matches(',').count() < 2 {
        spec.push_str(",,");
    }
    (spec, insts)
}

/// pmrep's get_proc_basename: a process instance's command as a name
/// (`(kthreadd)` is `kthreadd`, `-bash` is `bash`, `/usr/bin/x:` is `x`).
pub fn proc_basename(cmd: &str) -> &str {
    if let Some(inner) = cmd.strip_prefix('(') {
        let mut chars = inner.chars();
        chars.next_back();
        return chars.as_str();
    }
    let cmd = cmd.strip_prefix('-').unwrap_or(cmd);
    let cmd = cmd.strip_suffix(':').unwrap_or(cmd);
    cmd.rsplit('/').next().unwrap_or(cmd)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// Python's `str.isalnum()` after `.`, `_` and `-` are taken out: the test
/// for "this might be a process name".
fn is_name_like(s: &str) -> bool {
    let rest: String = s
        .chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .collect();
    !rest.is_empty() && rest.chars().all(char::is_alphanumeric)
}

/// A process-style instance name (`"004242 sleep 60"`): its command word.
fn proc_command(name: &str) -> Option<&str> {
    if !name.contains(' ') {
        return None;
    }
    let mut words = name.split_whitespace();
    if !is_digits(words.next()?) {
        return None;
    }
    words.next()
}

/// Two decimal numbers equal as integers (leading zeros ignored).
fn same_number(a: &str, b: &str) -> bool {
    a.trim_start_matches('0') == b.trim_start_matches('0')
}

/// An instance specification as pmrep's regular expression: it must match
/// the whole name from its start (Python's `re.match(r'\A' + r + r'\Z')`,
/// the pattern pasted in as pmrep pastes it).
pub fn compile(spec: &str) -> Result<Regex, String> {
    Regex::new(&format!(r"\A(?:\A{spec}\z)")).map_err(|e| {
        let text = e.to_string();
        let why = text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text.trim())
            .to_string();
        format!("Invalid regex '{spec}': {why}.")
    })
}

/// The instances of `insts` (id, name) that `specs` select, in the order
/// pmrep finds them (by specification, then by instance).
pub fn select<T: Clone + AsRef<str>>(
    specs: &[String],
    insts: &[(u32, T)],
) -> Result<Vec<(u32, T)>, String> {
    let mut found: Vec<(u32, T)> = Vec::new();
    let Some(first) = insts.first().map(|i| i.1.as_ref()) else {
        return Ok(found);
    };
    let numbered = first.split_whitespace().next().is_some_and(is_digits);
    let procs = proc_command(first).is_some();
    for r in specs {
        let mut hit = false;
        if is_digits(r) && numbered {
            if let Some(i) = insts.iter().find(|(_, s)| {
                s.as_ref()
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| is_digits(w) && same_number(w, r))
            }) {
                found.push(i.clone());
                hit = true;
            }
        }
        if is_name_like(r) && procs {
            for i in insts {
                if proc_command(i.1.as_ref()).is_some_and(|c| proc_basename(c) == r) {
                    found.push(i.clone());
                    hit = true;
                }
            }
        }
        if !hit {
            let re = compile(r)?;
            found.extend(
                insts
                    .iter()
                    .filter(|(_, s)| re.is_match(s.as_ref()))
                    .cloned(),
            );
        }
    }
    Ok(found)
}

/// The live filter of one metric (pmrep's filter_instance): a process
/// base name or a whole-name regular expression.
#[derive(Debug, Clone)]
pub struct LiveFilter {
    specs: Vec<String>,
    regexes: Vec<Regex>,
}

impl LiveFilter {
    /// Compiles `specs` (an empty list lets every instance through).
    pub fn new(specs: &[String]) -> Result<LiveFilter, String> {
        Ok(LiveFilter {
            specs: specs.to_vec(),
            regexes: specs.iter().map(|s| compile(s)).collect::<Result<_, _>>()?,
        })
    }

    /// True when instance `name` passes.
    pub fn passes(&self, name: &str) -> bool {
        if self.specs.is_empty() {
            return true;
        }
        if let Some(cmd) = proc_command(name) {
            let base = proc_basename(cmd);
            if self.specs.iter().any(|r| is_name_like(r) && r == base) {
                return true;
            }
        }
        self.regexes.iter().any(|re| re.is_match(name))
    }
}

/// Orders two values as Python compares them (numbers by value, strings
/// by text; a number before a string).
fn cmp_cells(a: &Cell, b: &Cell) -> std::cmp::Ordering {
    let num = |c: &Cell| match c {
        Cell::Int(i) => Some(*i as f64),
        Cell::Float(x) => Some(*x),
        Cell::Str(_) => None,
    };
    match (a, b) {
        (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
        (Cell::Str(x), Cell::Str(y)) => x.cmp(y),
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
    }
}

/// pmrep's rank: the `n` highest values (the `|n|` lowest when negative),
/// highest (lowest) first; ties keep their order.
pub fn rank<T>(row: &mut Vec<T>, n: i64, value: impl Fn(&T) -> &Cell) {
    if n == 0 {
        return;
    }
    if n > 0 {
        row.sort_by(|a, b| cmp_cells(value(b), value(a)));
    } else {
        row.sort_by(|a, b| cmp_cells(value(a), value(b)));
    }
    row.truncate(n.unsigned_abs().min(usize::MAX as u64) as usize);
}

/// pmrep's value limit: a positive limit keeps values at least that large,
/// a negative one values at most its size; 0 keeps everything.
pub fn within_limit(limit: i64, cell: &Cell) -> bool {
    let x = match cell {
        Cell::Int(i) => *i as f64,
        Cell::Float(x) => *x,
        Cell::Str(_) => return true,
    };
    match limit {
        0 => true,
        l if l > 0 => x >= l as f64,
        l => x <= l.unsigned_abs() as f64,
    }
}

/// A Python list of strings as `print()` shows it (`['a', "b'c"]`).
pub fn python_list(items: &[String]) -> String {
    let one = |s: &str| {
        let q = if s.contains('\'') && !s.contains('"') {
            '"'
        } else {
            '\''
        };
        let mut out = String::from(q);
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c == q => {
                    out.push('\\');
                    out.push(c);
                }
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c => out.push(c),
            }
        }
        out.push(q);
        out
    };
    let parts: Vec<String> = items.iter().map(|s| one(s)).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn instance_lists_split_as_pythons_csv_reader() {
        // Values printed by python3's csv.reader on this machine.
        assert_eq!(
            parse_instances("1 minute\",\"15 minute"),
            v(&["1 minute", "15 minute"])
        );
        assert_eq!(parse_instances("\"abc"), v(&["abc"]));
        assert_eq!(parse_instances("a,\"b,c\",d"), v(&["a", "b,c", "d"]));
        assert_eq!(parse_instances("a\"b,c"), v(&["a\"b", "c"]));
        assert_eq!(parse_instances("\"a\"x,y"), v(&["ax", "y"]));
        assert_eq!(parse_instances(""), Vec::<String>::new());
        assert_eq!(parse_instances("a,,b"), v(&["a", "", "b"]));
    }

    #[test]
    fn metric_specs_give_up_their_instances() {
        assert_eq!(
            spec_instances("kernel.all.load"),
            ("kernel.all.load,,".into(), vec![])
        );
        assert_eq!(
            spec_instances("kernel.all.load,,1 minute,,,8"),
            ("kernel.all.load,,1 minute,,,8".into(), v(&["1 minute"]))
        );
        let (spec, insts) = spec_instances("kernel.all.load,l,\"1 minute\",\"15 minute\",,,8");
        assert_eq!(spec, "kernel.all.load,l,,,,8");
        assert_eq!(insts, v(&["1 minute", "15 minute"]));
    }

    #[test]
    fn selection_as_pmrep() {
        let procs: Vec<(u32, String)> = vec![
            (1, "000001 /sbin/init splash".into()),
            (2, "000002 (kthreadd)".into()),
            (4242, "004242 sleep 60".into()),
            (4243, "004243 -bash".into()),
        ];
        let ids = |r: Vec<(u32, String)>| r.into_iter().map(|i| i.0).collect::<Vec<_>>();
        assert_eq!(ids(select(&v(&["4242"]), &procs).unwrap()), vec![4242]);
        assert_eq!(
            ids(select(&v(&["sleep", "init"]), &procs).unwrap()),
            vec![4242, 1]
        );
        assert_eq!(
            ids(select(&v(&["kthreadd", "bash"]), &procs).unwrap()),
            vec![2, 4243]
        );
        assert_eq!(
            ids(select(&v(&["00424.*"]), &procs).unwrap()),
            vec![4242, 4243]
        );
        // A regex matches the whole name.
        assert!(select(&v(&["00424"]), &procs).unwrap().is_empty());
        assert!(select(&v(&["a|b"]), &procs).unwrap().is_empty());
        let load: Vec<(u32, String)> = vec![(1, "1 minute".into()), (15, "15 minute".into())];
        assert_eq!(ids(select(&v(&["1"]), &load).unwrap()), vec![1]);
        assert_eq!(ids(select(&v(&["15 minute"]), &load).unwrap()), vec![15]);
        let cpus: Vec<(u32, String)> = vec![(0, "cpu0".into()), (1, "cpu1".into())];
        assert_eq!(ids(select(&v(&["cpu0"]), &cpus).unwrap()), vec![0]);
        assert_eq!(ids(select(&v(&["cpu."]), &cpus).unwrap()), vec![0, 1]);
        assert!(select(&v(&["0"]), &cpus).unwrap().is_empty());
        let e = select(&v(&["cpu("]), &cpus).unwrap_err();
        assert!(e.starts_with("Invalid regex 'cpu(': "), "{e}");
        // Live: base names and regexes, never pid numbers.
        let f = LiveFilter::new(&v(&["sleep", "0000.*"])).unwrap();
        assert!(f.passes("004242 sleep 60"));
        assert!(f.passes("000001 /sbin/init"));
        assert!(!f.passes("014242 bash"));
        assert!(!LiveFilter::new(&v(&["4242"]))
            .unwrap()
            .passes("004242 sleep"));
    }

    #[test]
    fn rank_and_limit_as_pmrep() {
        let mut r = vec![Cell::Int(3), Cell::Float(7.5), Cell::Int(1), Cell::Int(7)];
        rank(&mut r, 2, |c| c);
        assert_eq!(r, vec![Cell::Float(7.5), Cell::Int(7)]);
        let mut r = vec![Cell::Int(3), Cell::Float(7.5), Cell::Int(1)];
        rank(&mut r, -1, |c| c);
        assert_eq!(r, vec![Cell::Int(1)]);
        assert!(within_limit(5, &Cell::Int(5)));
        assert!(!within_limit(5, &Cell::Float(4.9)));
        assert!(within_limit(-5, &Cell::Int(5)));
        assert!(!within_limit(-5, &Cell::Int(6)));
        assert_eq!(python_list(&v(&["a", "b'c"])), "['a', \"b'c\"]");
    }
}
