//! Tokens of the derived-metric language, read one at a time as libpcp's
//! scanner reads them: names run over letters, digits, `_` and `.`; a name
//! directly followed by `(` may be a function; `type`, `semantics` and
//! `units` are keywords; `"..."` strings, `[...]` instance names and, inside
//! `matchinst(`, `/.../` patterns (both with `\` escapes); integers must fit
//! 32 bits. Each token carries the byte offset where it starts (the end of
//! input sits on the last byte, as libpcp reports it).

use nom::bytes::complete::{take_while, take_while1};
use nom::IResult;

/// A function or constructor word (always directly followed by `(`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FuncWord {
    Avg,
    Count,
    Delta,
    Max,
    Min,
    Sum,
    Anon,
    Rate,
    Instant,
    Mkconst,
    Rescale,
    Defined,
    Matchinst,
    Scalar,
}

impl FuncWord {
    fn from_name(name: &[u8]) -> Option<FuncWord> {
        Some(match name {
            b"avg" => FuncWord::Avg,
            b"count" => FuncWord::Count,
            b"delta" => FuncWord::Delta,
            b"max" => FuncWord::Max,
            b"min" => FuncWord::Min,
            b"sum" => FuncWord::Sum,
            b"anon" => FuncWord::Anon,
            b"rate" => FuncWord::Rate,
            b"instant" => FuncWord::Instant,
            b"mkconst" => FuncWord::Mkconst,
            b"rescale" => FuncWord::Rescale,
            b"defined" => FuncWord::Defined,
            b"matchinst" => FuncWord::Matchinst,
            b"scalar" => FuncWord::Scalar,
            _ => return None,
        })
    }

    /// The word as written.
    pub(crate) fn word(self) -> &'static str {
        match self {
            FuncWord::Avg => "avg",
            FuncWord::Count => "count",
            FuncWord::Delta => "delta",
            FuncWord::Max => "max",
            FuncWord::Min => "min",
            FuncWord::Sum => "sum",
            FuncWord::Anon => "anon",
            FuncWord::Rate => "rate",
            FuncWord::Instant => "instant",
            FuncWord::Mkconst => "mkconst",
            FuncWord::Rescale => "rescale",
            FuncWord::Defined => "defined",
            FuncWord::Matchinst => "matchinst",
            FuncWord::Scalar => "scalar",
        }
    }
}

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// End of input.
    Eos,
    /// A token the scanner refuses, with libpcp's message.
    Error(&'static str),
    Int(String),
    Double(String),
    Name(String),
    Str(String),
    InstName(String),
    Pattern(String),
    Plus,
    Minus,
    Star,
    Slash,
    Quest,
    Colon,
    LParen,
    RParen,
    Lt,
    Leq,
    Eq,
    Geq,
    Gt,
    Neq,
    And,
    Or,
    Not,
    Assign,
    Comma,
    Func(FuncWord),
    TypeKw,
    SemanticsKw,
    UnitsKw,
}

/// A token and where it starts (-1 only for the end of an empty input).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: isize,
}

/// The scanner: a position in the text, and whether a `/` starts a
/// pattern (set on `matchinst(`, cleared when the parser closes it).
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    at: usize,
    pub in_matchinst: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn digits(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b: u8| b.is_ascii_digit())(i)
}

fn name(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(name_char)(i)
}

impl<'a> Lexer<'a> {
    /// A scanner over `src` (C semantics: the text ends at a NUL byte).
    pub fn new(src: &'a str) -> Lexer<'a> {
        let bytes = src.as_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Lexer {
            src: &bytes[..end],
            at: 0,
            in_matchinst: false,
        }
    }

    /// Reads the next token.
    pub fn next_token(&mut self) -> Token {
        while self.at < self.src.len() && is_space(self.src[self.at]) {
            self.at += 1;
        }
        if self.at >= self.src.len() {
            return Token {
                tok: Tok::Eos,
                pos: self.src.len() as isize - 1,
            };
        }
        let start = self.at;
        let tok = self.scan();
        Token {
            tok,
            pos: start as isize,
        }
    }

    fn rest(&self) -> &'a [u8] {
        &self.src[self.at..]
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn scan(&mut self) -> Tok {
        let rest = self.rest();
        let c = rest[0];
        if c.is_ascii_digit() || c == b'.' {
            return self.number();
        }
        if c.is_ascii_alphabetic() {
            return self.word();
        }
        let next = rest.get(1).copied();
        let (tok, len) = match c {
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'*' => (Tok::Star, 1),
            b'/' if self.in_matchinst => return self.delimited(b'/', "unterminated pattern"),
            b'/' => (Tok::Slash, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'?' => (Tok::Quest, 1),
            b':' => (Tok::Colon, 1),
            b',' => (Tok::Comma, 1),
            b'<' if next == Some(b'=') => (Tok::Leq, 2),
            b'<' => (Tok::Lt, 1),
            b'>' if next == Some(b'=') => (Tok::Geq, 2),
            b'>' => (Tok::Gt, 1),
            b'=' if next == Some(b'=') => (Tok::Eq, 2),
            b'=' => (Tok::Assign, 1),
            b'!' if next == Some(b'=') => (Tok::Neq, 2),
            b'!' => (Tok::Not, 1),
            b'&' if next == Some(b'&') => (Tok::And, 2),
            b'|' if next == Some(b'|') => (Tok::Or, 2),
            b'"' => return self.string(),
            b'[' => return self.delimited(b']', "unterminated instance name"),
            _ => (Tok::Error("Illegal character"), 1),
        };
        self.at += len;
        tok
    }

    fn number(&mut self) -> Tok {
        let rest = self.rest();
        let (after_int, int_part) = digits(rest).unwrap_or((rest, &[]));
        if after_int.first() == Some(&b'.') {
            let (after, frac) = digits(&after_int[1..]).unwrap_or((&[], &[]));
            let len = int_part.len() + 1 + frac.len();
            let _ = after;
            self.at += len;
            return Tok::Double(Self::text(&rest[..len]));
        }
        self.at += int_part.len();
        // strtoull, then the 32-bit limit: "Constant value too large".
        let fits = int_part.len() <= 20
            && std::str::from_utf8(int_part)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .is_some_and(|v| v <= u32::MAX as u64);
        if !fits {
            return Tok::Error("Constant value too large");
        }
        Tok::Int(Self::text(int_part))
    }

    fn word(&mut self) -> Tok {
        let rest = self.rest();
        let (after, w) = name(rest).unwrap_or((rest, rest));
        self.at += w.len();
        if after.first() == Some(&b'(') {
            if let Some(f) = FuncWord::from_name(w) {
                if f == FuncWord::Matchinst {
                    self.in_matchinst = true;
                }
                return Tok::Func(f);
            }
        }
        match w {
            b"type" => Tok::TypeKw,
            b"semantics" => Tok::SemanticsKw,
            b"units" => Tok::UnitsKw,
            _ => Tok::Name(Self::text(w)),
        }
    }

    /// `"..."`: no escapes; the end of input leaves it unterminated.
    fn string(&mut self) -> Tok {
        let rest = &self.rest()[1..];
        match rest.iter().position(|&b| b == b'"') {
            Some(end) => {
                self.at += end + 2;
                Tok::Str(Self::text(&rest[..end]))
            }
            None => {
                self.at = self.src.len();
                Tok::Error("unterminated STRING")
            }
        }
    }

    /// `[...]` or `/.../`: a backslash keeps the next byte whatever it is.
    fn delimited(&mut self, close: u8, unterminated: &'static str) -> Tok {
        let rest = &self.rest()[1..];
        let mut out = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let b = rest[i];
            if b == b'\\' && i + 1 < rest.len() {
                out.push(rest[i + 1]);
                i += 2;
                continue;
            }
            if b == b'\\' {
                break;
            }
            if b == close {
                self.at += i + 2;
                let text = Self::text(&out);
                return if close == b']' {
                    Tok::InstName(text)
                } else {
                    Tok::Pattern(text)
                };
            }
            out.push(b);
            i += 1;
        }
        self.at = self.src.len();
        Tok::Error(unterminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<(Tok, isize)> {
        let mut l = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = l.next_token();
            let end = matches!(t.tok, Tok::Eos | Tok::Error(_));
            out.push((t.tok, t.pos));
            if end {
                return out;
            }
        }
    }

    #[test]
    fn names_numbers_and_operators() {
        assert_eq!(
            toks("disk.dev.read_bytes*2>=.5"),
            vec![
                (Tok::Name("disk.dev.read_bytes".into()), 0),
                (Tok::Star, 19),
                (Tok::Int("2".into()), 20),
                (Tok::Geq, 21),
                (Tok::Double(".5".into()), 23),
                (Tok::Eos, 24),
            ]
        );
        assert_eq!(toks("")[0], (Tok::Eos, -1));
        assert_eq!(toks("a  ").last().unwrap().1, 2);
    }

    #[test]
    fn functions_need_an_adjacent_paren() {
        assert_eq!(toks("rate(x)")[0].0, Tok::Func(FuncWord::Rate));
        assert_eq!(toks("rate (x)")[0].0, Tok::Name("rate".into()));
        assert_eq!(toks("type=")[0].0, Tok::TypeKw);
    }

    #[test]
    fn errors_carry_their_position() {
        assert_eq!(toks("a &b")[1], (Tok::Error("Illegal character"), 2));
        assert_eq!(
            toks("99999999999")[0],
            (Tok::Error("Constant value too large"), 0)
        );
        assert_eq!(toks("4294967295")[0].0, Tok::Int("4294967295".into()));
        assert_eq!(
            toks("x[ab")[1],
            (Tok::Error("unterminated instance name"), 1)
        );
        assert_eq!(toks("\"ab")[0], (Tok::Error("unterminated STRING"), 0));
        assert_eq!(toks("#")[0], (Tok::Error("Illegal character"), 0));
    }

    #[test]
    fn escapes_and_patterns() {
        assert_eq!(toks("x[a\\]b]")[1].0, Tok::InstName("a]b".into()));
        let mut l = Lexer::new("matchinst(!/^s\\/d/, x)");
        assert_eq!(l.next_token().tok, Tok::Func(FuncWord::Matchinst));
        assert_eq!(l.next_token().tok, Tok::LParen);
        assert_eq!(l.next_token().tok, Tok::Not);
        assert_eq!(l.next_token().tok, Tok::Pattern("^s/d".into()));
    }
}
