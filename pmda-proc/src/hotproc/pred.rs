//! The hot-process predicate language of pmdaproc's `hotproc.conf`:
//!
//! ```text
//! predicate := predicate "||" predicate | predicate "&&" predicate
//!            | "!" predicate | "(" predicate ")" | "true" | "false"
//!            | num OP num | str ("==" | "!=") str | str ("~" | "!~") /regex/
//! num := NUMBER | uid | gid | cpuburn | syscalls | ctxswitch
//!      | virtualsize | residentsize | iodemand | iowait | schedwait
//! str := "STRING" | uname | gname | fname | psargs
//! OP  := < <= > >= == !=
//! ```
//!
//! `||` binds loosest, then `&&`, then `!`; an optional `Version 1.0`
//! leads; `#` starts a comment. Errors name the byte where they are.
//!
//! ```
//! use pmda_proc::hotproc::pred::{parse, Vars};
//! let p = parse("cpuburn > 0.1 && uname == \"root\" || fname ~ /^ssh/").unwrap();
//! let mut v = Vars { cpuburn: 0.5, uname: "root".into(), ..Default::default() };
//! assert!(p.eval(&v));
//! v.uname = "daemon".into();
//! assert!(!p.eval(&v));
//! v.fname = "sshd".into();
//! assert!(p.eval(&v));
//! assert!(parse("cpuburn >").unwrap_err().to_string().contains("byte 9"));
//! ```

use regex::Regex;

/// What a predicate is evaluated against: one process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    /// Real user id.
    pub uid: f64,
    /// Real group id.
    pub gid: f64,
    /// User name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Command name (comm).
    pub fname: String,
    /// Command line.
    pub psargs: String,
    /// Fraction of a CPU used over the last interval.
    pub cpuburn: f64,
    /// System calls per second (not measured on Linux: 0, as pmdaproc).
    pub syscalls: f64,
    /// Context switches per second.
    pub ctxswitch: f64,
    /// Virtual size, Kbytes.
    pub virtualsize: f64,
    /// Resident size, Kbytes.
    pub residentsize: f64,
    /// Bytes read and written per second.
    pub iodemand: f64,
    /// Fraction of the interval blocked on I/O.
    pub iowait: f64,
    /// Fraction of the interval waiting for a CPU.
    pub schedwait: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Lit(f64),
    Uid,
    Gid,
    CpuBurn,
    Syscalls,
    CtxSwitch,
    VirtualSize,
    ResidentSize,
    IoDemand,
    IoWait,
    SchedWait,
}

#[derive(Debug, Clone, PartialEq)]
enum Str {
    Lit(String),
    Uname,
    Gname,
    Fname,
    Psargs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A parsed predicate.
#[derive(Debug, Clone)]
pub struct Pred(Node);

#[derive(Debug, Clone)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Const(bool),
    NumCmp(Cmp, Num, Num),
    StrCmp(bool, Str, Str),
    Match(bool, Str, Regex),
}

/// Why a predicate did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hotproc predicate, byte {at}: {msg}")]
pub struct PredError {
    /// Byte offset.
    pub at: usize,
    /// What was expected or found.
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    And,
    Or,
    Not,
    LParen,
    RParen,
    Op(Cmp),
    Match,
    NMatch,
    Num(f64),
    Str(String),
    Pat(String),
    Word(String),
}

fn lex(text: &str) -> Result<Vec<(usize, Tok)>, PredError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err = |at: usize, msg: &str| PredError {
        at,
        msg: msg.to_string(),
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push((start, Tok::And));
                i += 2;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push((start, Tok::Or));
                i += 2;
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((start, Tok::Op(Cmp::Ne)));
                i += 2;
            }
            b'!' if b.get(i + 1) == Some(&b'~') => {
                out.push((start, Tok::NMatch));
                i += 2;
            }
            b'!' => {
                out.push((start, Tok::Not));
                i += 1;
            }
            b'=' if b.get(i + 1) == Some(&b'=') => {
                out.push((start, Tok::Op(Cmp::Eq)));
                i += 2;
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                let op = match (c, eq) {
                    (b'<', false) => Cmp::Lt,
                    (b'<', true) => Cmp::Le,
                    (_, false) => Cmp::Gt,
                    (_, true) => Cmp::Ge,
                };
                out.push((start, Tok::Op(op)));
                i += 1 + usize::from(eq);
            }
            b'~' => {
                out.push((start, Tok::Match));
                i += 1;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            b'"' | b'/' => {
                let end = text[i + 1..]
                    .find([c as char, '\n'])
                    .map(|e| i + 1 + e)
                    .ok_or_else(|| err(start, "unterminated string or pattern"))?;
                let body = text[i + 1..end].to_string();
                out.push((
                    start,
                    if c == b'"' {
                        Tok::Str(body)
                    } else {
                        Tok::Pat(body)
                    },
                ));
                i = end + 1;
            }
            b'0'..=b'9' | b'.' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                let n = text[start..i]
                    .parse()
                    .map_err(|_| err(start, "bad number"))?;
                out.push((start, Tok::Num(n)));
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                out.push((start, Tok::Word(text[start..i].to_string())));
            }
            _ => return Err(err(start, &format!("unexpected character {:?}", c as char))),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.0)
    }

    fn err<T>(&self, msg: &str) -> Result<T, PredError> {
        Err(PredError {
            at: self.at(),
            msg: msg.to_string(),
        })
    }

    fn or(&mut self) -> Result<Node, PredError> {
        let mut l = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            l = Node::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Node, PredError> {
        let mut l = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            l = Node::And(Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Node, PredError> {
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let p = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected ')'");
                }
                self.pos += 1;
                Ok(p)
            }
            Some(Tok::Word(w)) if w == "true" || w == "false" => {
                let v = w == "true";
                self.pos += 1;
                Ok(Node::Const(v))
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Node, PredError> {
        if let Some(s) = self.string()? {
            return match self.peek().cloned() {
                Some(Tok::Op(Cmp::Eq)) | Some(Tok::Op(Cmp::Ne)) => {
                    let eq = self.peek() == Some(&Tok::Op(Cmp::Eq));
                    self.pos += 1;
                    match self.string()? {
                        Some(r) => Ok(Node::StrCmp(eq, s, r)),
                        None => self.err("expected a string or string variable"),
                    }
                }
                Some(Tok::Match) | Some(Tok::NMatch) => {
                    let yes = self.peek() == Some(&Tok::Match);
                    self.pos += 1;
                    match self.peek().cloned() {
                        Some(Tok::Pat(p)) => {
                            let re = Regex::new(&p)
                                .or_else(|e| self.err(&format!("bad pattern: {e}")))?;
                            self.pos += 1;
                            Ok(Node::Match(yes, s, re))
                        }
                        _ => self.err("expected /pattern/"),
                    }
                }
                _ => self.err("expected ==, !=, ~ or !~ after a string"),
            };
        }
        let Some(l) = self.number()? else {
            return self.err("expected a comparison");
        };
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            return self.err("expected a comparison operator");
        };
        self.pos += 1;
        match self.number()? {
            Some(r) => Ok(Node::NumCmp(op, l, r)),
            None => self.err("expected a number or numeric variable"),
        }
    }

    fn string(&mut self) -> Result<Option<Str>, PredError> {
        let s = match self.peek() {
            Some(Tok::Str(s)) => Str::Lit(s.clone()),
            Some(Tok::Word(w)) => match w.as_str() {
                "uname" => Str::Uname,
                "gname" => Str::Gname,
                "fname" => Str::Fname,
                "psargs" => Str::Psargs,
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        self.pos += 1;
        Ok(Some(s))
    }

    fn number(&mut self) -> Result<Option<Num>, PredError> {
        let n = match self.peek() {
            Some(Tok::Num(n)) => Num::Lit(*n),
            Some(Tok::Word(w)) => match w.as_str() {
                "uid" => Num::Uid,
                "gid" => Num::Gid,
                "cpuburn" => Num::CpuBurn,
                "syscalls" => Num::Syscalls,
                "ctxswitch" => Num::CtxSwitch,
                "virtualsize" => Num::VirtualSize,
                "residentsize" => Num::ResidentSize,
                "iodemand" => Num::IoDemand,
                "iowait" => Num::IoWait,
                "schedwait" => Num::SchedWait,
                other => return self.err(&format!("illegal word {other:?}")),
            },
            _ => return Ok(None),
        };
        self.pos += 1;
        Ok(Some(n))
    }
}

/// Parses a predicate; an empty text (comments only) is `Ok(None)`, which
/// turns hotproc off.
pub fn parse_config(text: &str) -> Result<Option<Pred>, PredError> {
    let mut toks = lex(text)?;
    if matches!(toks.first(), Some((_, Tok::Word(w))) if w == "Version") {
        match toks.get(1) {
            Some((_, Tok::Num(v))) if *v == 1.0 => {
                toks.drain(..2);
            }
            Some((at, _)) => {
                return Err(PredError {
                    at: *at,
                    msg: "only Version 1.0 is known".into(),
                })
            }
            None => {
                return Err(PredError {
                    at: text.len(),
                    msg: "expected a version number".into(),
                })
            }
        }
    }
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
    };
    let pred = p.or()?;
    if p.pos != p.toks.len() {
        return p.err("unexpected text after the predicate");
    }
    Ok(Some(Pred(pred)))
}

/// Parses a predicate that must not be empty.
pub fn parse(text: &str) -> Result<Pred, PredError> {
    parse_config(text)?.ok_or(PredError {
        at: 0,
        msg: "empty predicate".into(),
    })
}

impl Pred {
    /// True when the process `v` is hot.
    pub fn eval(&self, v: &Vars) -> bool {
        self.0.eval(v)
    }
}

impl Node {
    fn eval(&self, v: &Vars) -> bool {
        match self {
            Node::And(a, b) => a.eval(v) && b.eval(v),
            Node::Or(a, b) => a.eval(v) || b.eval(v),
            Node::Not(a) => !a.eval(v),
            Node::Const(c) => *c,
            Node::NumCmp(op, l, r) => {
                let (x, y) = (num(l, v), num(r, v));
                match op {
                    Cmp::Lt => x < y,
                    Cmp::Le => x <= y,
                    Cmp::Gt => x > y,
                    Cmp::Ge => x >= y,
                    Cmp::Eq => x == y,
                    Cmp::Ne => x != y,
                }
            }
            Node::StrCmp(eq, l, r) => (string(l, v) == string(r, v)) == *eq,
            Node::Match(yes, s, re) => re.is_match(string(s, v)) == *yes,
        }
    }
}

fn num(n: &Num, v: &Vars) -> f64 {
    match n {
        Num::Lit(x) => *x,
        Num::Uid => v.uid,
        Num::Gid => v.gid,
        Num::CpuBurn => v.cpuburn,
        Num::Syscalls => v.syscalls,
        Num::CtxSwitch => v.ctxswitch,
        Num::VirtualSize => v.virtualsize,
        Num::ResidentSize => v.residentsize,
        Num::IoDemand => v.iodemand,
        Num::IoWait => v.iowait,
        Num::SchedWait => v.schedwait,
    }
}

fn string<'a>(s: &'a Str, v: &'a Vars) -> &'a str {
    match s {
        Str::Lit(x) => x,
        Str::Uname => &v.uname,
        Str::Gname => &v.gname,
        Str::Fname => &v.fname,
        Str::Psargs => &v.psargs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_forms() {
        let v = Vars {
            uid: 0.0,
            cpuburn: 0.2,
            fname: "bash".into(),
            ..Default::default()
        };
        for (text, want) in [
            ("true || false && false", true),
            ("(true || false) && false", false),
            ("!false && !(uid != 0)", true),
            ("cpuburn >= 0.2 && cpuburn <= 0.2", true),
            ("fname !~ /^b/", false),
            ("\"bash\" == fname", true),
            ("Version 1.0\n# hot shells\nfname == \"bash\"", true),
        ] {
            assert_eq!(parse(text).unwrap().eval(&v), want, "{text}");
        }
        assert_eq!(parse_config("# nothing\n").unwrap().map(|_| ()), None);
        for bad in [
            "cpuburn",
            "uname > 3",
            "bogus == 1",
            "fname ~ \"x\"",
            "(true",
            "Version 2.0 true",
            "fname ~ /[/",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
