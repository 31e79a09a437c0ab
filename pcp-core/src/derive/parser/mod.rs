//! The grammar of pmRegisterDerived(3), PCP 6.0.3, as its yacc parser
//! accepts it, with its error positions and messages.
//!
//! Precedence, lowest first, all left-associative (so `a ? b : c ? d : e`
//! is `(a ? b : c) ? d : e`, and `!a > b || c` is `(!(a > b)) || c`,
//! which is what libpcp computes, whatever the man page says):
//! `? :`, `&& ||`, prefix `!`, relational operators, `+ -` (and prefix
//! `-`), `* /`.
//!
//! A syntax error is reported at the token where the input stopped making
//! sense (the end of input sits on its last byte), with the message of the
//! innermost construct still open there that libpcp has a message for
//! ("Arithmetic expression expected to follow PLUS", "Metric name expected
//! to follow rate(", ...), or the scanner's own message, or none. The open
//! constructs are kept on a stack as the parse goes, in the same places
//! the yacc parser keeps its states with an `error` action.

use std::sync::Arc;

use super::ast::{BinOp, Constant, Expr, Func, Pattern};
use super::lexer::{FuncWord, Lexer, Tok, Token};
use crate::desc::{Semantics, Type, Units};

/// A syntax error: where (a byte offset into the expression; the end of
/// input is its last byte, -1 for an empty one) and libpcp's message, when
/// it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset of the offending token.
    pub pos: isize,
    /// The diagnostic line, when libpcp gives one.
    pub message: Option<String>,
}

impl SyntaxError {
    /// The marker line pmRegisterDerivedMetric prints under the expression:
    /// spaces up to the offending byte, then `^`.
    pub fn caret(&self) -> String {
        let spaces = match self.pos {
            0 => 0,
            p if p < 0 => 1,
            p => p as usize,
        };
        format!("{}^", " ".repeat(spaces))
    }
}

/// Deepest nesting of parentheses and prefix operators accepted: deeper
/// input is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Most nodes (names, numbers, operators, functions) in one expression:
/// bounds the work and the recursion of checking and evaluating it (the
/// iostat expressions have about 15).
pub const MAX_NODES: usize = 256;

const PREC_QUEST: u8 = 1;
const PREC_BOOL: u8 = 2;
const PREC_REL: u8 = 4;
const PREC_ADD: u8 = 5;
const PREC_MUL: u8 = 6;

const AEXPR: &str = "Arithmetic expression";
const BEXPR: &str = "Boolean expression";
const OPERATOR: &str = "Arithmetic or relational or boolean operator";

fn follow(what: &str, after: &str) -> String {
    format!("{what} expected to follow {after}")
}

fn binop(tok: &Tok) -> Option<(BinOp, u8)> {
    Some(match tok {
        Tok::Plus => (BinOp::Add, PREC_ADD),
        Tok::Minus => (BinOp::Sub, PREC_ADD),
        Tok::Star => (BinOp::Mul, PREC_MUL),
        Tok::Slash => (BinOp::Div, PREC_MUL),
        Tok::Lt => (BinOp::Lt, PREC_REL),
        Tok::Leq => (BinOp::Le, PREC_REL),
        Tok::Eq => (BinOp::Eq, PREC_REL),
        Tok::Geq => (BinOp::Ge, PREC_REL),
        Tok::Gt => (BinOp::Gt, PREC_REL),
        Tok::Neq => (BinOp::Ne, PREC_REL),
        Tok::And => (BinOp::And, PREC_BOOL),
        Tok::Or => (BinOp::Or, PREC_BOOL),
        _ => return None,
    })
}

/// The tokens on which a bare metric name is complete (libpcp reduces it
/// only on these; anything else is "an operator expected").
fn ends_a_name(tok: &Tok) -> bool {
    binop(tok).is_some()
        || matches!(
            tok,
            Tok::Eos | Tok::LParen | Tok::RParen | Tok::Quest | Tok::Colon | Tok::Comma
        )
}

/// How an operator token is quoted in "Unexpected '+'".
fn quoted(tok: &Tok) -> Option<&'static str> {
    Some(match tok {
        Tok::Plus => "+",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Lt => "<",
        Tok::Leq => "<=",
        Tok::Eq => "==",
        Tok::Geq => ">=",
        Tok::Gt => ">",
        Tok::Neq => "!=",
        Tok::And => "&&",
        Tok::Or => "||",
        Tok::Quest => "?",
        Tok::Colon => ":",
        _ => return None,
    })
}

/// pmTypeStr's short names, as mkconst's messages print them.
fn type_word(t: Type) -> &'static str {
    match t {
        Type::I32 => "32",
        Type::U32 => "U32",
        Type::I64 => "64",
        Type::U64 => "U64",
        Type::Float => "FLOAT",
        Type::Double => "DOUBLE",
        _ => "???",
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    look: Option<Token>,
    /// The open constructs, innermost last, with libpcp's message for each
    /// that has one.
    frames: Vec<Option<String>>,
    depth: usize,
    nodes: usize,
}

type Parsed<T> = Result<T, SyntaxError>;

/// Parses one expression.
///
/// ```
/// use pcp_core::derive::parse;
/// assert_eq!(parse("100 * rate(a.b) / c").unwrap().to_string(), "((100 * rate(a.b)) / c)");
/// let e = parse("a +").unwrap_err();
/// assert_eq!((e.pos, e.message.as_deref()), (2, Some("Arithmetic expression expected to follow PLUS")));
/// ```
pub fn parse(text: &str) -> Result<Expr, SyntaxError> {
    let mut p = Parser {
        lex: Lexer::new(text),
        look: None,
        frames: Vec::new(),
        depth: 0,
        nodes: 0,
    };
    p.defn()
}

impl Parser<'_> {
    fn peek(&mut self) -> &Token {
        if self.look.is_none() {
            self.look = Some(self.lex.next_token());
        }
        self.look.as_ref().expect("just filled")
    }

    fn bump(&mut self) -> Token {
        self.peek();
        self.look.take().expect("peeked")
    }

    /// Counts one more node; refuses an expression with too many.
    fn node(&mut self) -> Parsed<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            let at = self.peek().clone();
            return Self::action_error(&at, format!("expression has more than {MAX_NODES} terms"));
        }
        Ok(())
    }

    /// A syntax error at the current token: the scanner's message if it
    /// refused the token, else the innermost open construct's.
    fn error<T>(&mut self) -> Parsed<T> {
        let t = self.peek().clone();
        let message = match t.tok {
            Tok::Error(m) => Some(m.to_string()),
            _ => self.frames.iter().rev().flatten().next().cloned(),
        };
        Err(SyntaxError {
            pos: t.pos,
            message,
        })
    }

    /// An error found by a rule's action (bad units, a bad type name):
    /// reported at the token just read, with its own message.
    fn action_error<T>(at: &Token, message: String) -> Parsed<T> {
        Err(SyntaxError {
            pos: at.pos,
            message: Some(message),
        })
    }

    fn expect(&mut self, want: &Tok) -> Parsed<Token> {
        if &self.peek().tok == want {
            Ok(self.bump())
        } else {
            self.error()
        }
    }

    fn with_frame<T>(
        &mut self,
        msg: Option<String>,
        f: impl FnOnce(&mut Self) -> Parsed<T>,
    ) -> Parsed<T> {
        self.frames.push(msg);
        let r = f(self);
        self.frames.pop();
        r
    }

    fn defn(&mut self) -> Parsed<Expr> {
        let first = self.peek().tok.clone();
        if first != Tok::LParen {
            if let Some(q) = quoted(&first) {
                self.bump();
                self.frames.push(Some(format!("Unexpected initial '{q}'")));
                return self.error();
            }
        }
        let e = self.expr_first(PREC_QUEST, true)?;
        let t = self.peek().tok.clone();
        match t {
            Tok::Eos => Ok(e),
            Tok::LParen | Tok::RParen => {
                self.bump();
                let q = quoted(&t).unwrap_or("?");
                self.frames.push(Some(format!("Unexpected '{q}'")));
                self.error()
            }
            _ => self.error(),
        }
    }

    fn expr(&mut self, min: u8) -> Parsed<Expr> {
        self.expr_first(min, false)
    }

    fn expr_first(&mut self, min: u8, first: bool) -> Parsed<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let at = self.peek().clone();
            return Self::action_error(&at, "expression nested too deeply".into());
        }
        let r = self.expr_inner(min, first);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min: u8, first: bool) -> Parsed<Expr> {
        let mut left = self.unary(first)?;
        loop {
            let tok = self.peek().tok.clone();
            if tok == Tok::Quest {
                if PREC_QUEST < min {
                    return Ok(left);
                }
                self.node()?;
                self.bump();
                let yes = self.with_frame(Some(follow(AEXPR, "QUEST")), |p| {
                    let yes = p.expr(PREC_QUEST)?;
                    p.expect(&Tok::Colon)?;
                    Ok(yes)
                })?;
                let no =
                    self.with_frame(Some(follow(AEXPR, "COLON")), |p| p.expr(PREC_QUEST + 1))?;
                left = Expr::Ternary(Box::new(left), Box::new(yes), Box::new(no));
                continue;
            }
            let Some((op, prec)) = binop(&tok) else {
                return Ok(left);
            };
            if prec < min {
                return Ok(left);
            }
            self.node()?;
            self.bump();
            let what = if op.is_boolean() { BEXPR } else { AEXPR };
            let right =
                self.with_frame(Some(follow(what, op.node_name())), |p| p.expr(prec + 1))?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, first: bool) -> Parsed<Expr> {
        match self.peek().tok {
            Tok::Minus => {
                self.bump();
                let x = self.with_frame(Some(follow(AEXPR, "NEG")), |p| p.expr(PREC_MUL))?;
                Ok(Expr::Neg(Box::new(x)))
            }
            Tok::Not => {
                self.bump();
                let x = self.with_frame(Some(follow(BEXPR, "NOT")), |p| p.expr(PREC_REL))?;
                Ok(Expr::Not(Box::new(x)))
            }
            _ => self.primary(first),
        }
    }

    fn primary(&mut self, first: bool) -> Parsed<Expr> {
        self.node()?;
        let t = self.peek().clone();
        match t.tok {
            Tok::Int(text) => {
                self.bump();
                Ok(Expr::Const(literal(text, false)))
            }
            Tok::Double(text) => {
                self.bump();
                Ok(Expr::Const(literal(text, true)))
            }
            Tok::Name(name) => {
                self.bump();
                match self.peek().tok.clone() {
                    Tok::InstName(inst) => {
                        self.bump();
                        Ok(Expr::Instance(Box::new(Expr::Name(name)), inst))
                    }
                    ref next if ends_a_name(next) => Ok(Expr::Name(name)),
                    _ => {
                        self.frames.push(Some(follow(OPERATOR, "NAME")));
                        self.error()
                    }
                }
            }
            Tok::LParen => {
                self.bump();
                let msg = first.then(|| "Unexpected initial '('".to_string());
                let x = self.with_frame(msg, |p| {
                    let x = p.expr(PREC_QUEST)?;
                    p.expect(&Tok::RParen)?;
                    Ok(x)
                })?;
                if let Tok::InstName(inst) = self.peek().tok.clone() {
                    self.bump();
                    return Ok(Expr::Instance(Box::new(x), inst));
                }
                Ok(x)
            }
            Tok::Func(f) => {
                self.bump();
                self.function(f)
            }
            _ => self.error(),
        }
    }

    fn function(&mut self, f: FuncWord) -> Parsed<Expr> {
        self.expect(&Tok::LParen)?;
        let of_name = |f: FuncWord| {
            Some(match f {
                FuncWord::Avg => Func::Avg,
                FuncWord::Count => Func::Count,
                FuncWord::Delta => Func::Delta,
                FuncWord::Max => Func::Max,
                FuncWord::Min => Func::Min,
                FuncWord::Sum => Func::Sum,
                FuncWord::Rate => Func::Rate,
                FuncWord::Instant => Func::Instant,
                FuncWord::Defined => Func::Defined,
                _ => return None,
            })
        };
        if let Some(func) = of_name(f) {
            // libpcp has an error rule for each of these but defined().
            let msg =
                (func != Func::Defined).then(|| follow("Metric name", &format!("{}(", f.word())));
            return self.with_frame(msg, |p| {
                let name = p.metric_name()?;
                p.expect(&Tok::RParen)?;
                Ok(Expr::Func(func, name))
            });
        }
        match f {
            FuncWord::Anon => self.with_frame(Some(follow("Metric name", "anon(")), |p| {
                let name = p.metric_name()?;
                let close = p.expect(&Tok::RParen)?;
                let ty = match name.as_str() {
                    "PM_TYPE_32" => Type::I32,
                    "PM_TYPE_U32" => Type::U32,
                    "PM_TYPE_64" => Type::I64,
                    "PM_TYPE_U64" => Type::U64,
                    "PM_TYPE_FLOAT" => Type::Float,
                    "PM_TYPE_DOUBLE" => Type::Double,
                    _ => {
                        return Self::action_error(
                            &close,
                            format!("type={name} not allowed for anon()"),
                        )
                    }
                };
                Ok(Expr::Anon(ty))
            }),
            FuncWord::Mkconst => self.mkconst(),
            FuncWord::Rescale => self.with_frame(Some(follow(OPERATOR, "rescale(")), |p| {
                let x = p.expr(PREC_QUEST)?;
                p.expect(&Tok::Comma)?;
                p.with_frame(Some(follow("Units string", "rescale(<expr>,")), |p| {
                    let Tok::Str(spec) = p.peek().tok.clone() else {
                        return p.error();
                    };
                    p.bump();
                    let close = p.expect(&Tok::RParen)?;
                    match crate::units::parse(&spec) {
                        Ok(u) => Ok(Expr::Rescale(Box::new(x), u.units)),
                        Err(e) => Self::action_error(&close, format!("Illegal units: '{e}'")),
                    }
                })
            }),
            FuncWord::Matchinst => {
                let r = self.matchinst();
                self.lex.in_matchinst = false;
                r
            }
            FuncWord::Scalar => self.with_frame(Some(follow("<expr>", "scalar(")), |p| {
                let x = p.expr(PREC_QUEST)?;
                p.expect(&Tok::RParen)?;
                Ok(Expr::Scalar(Box::new(x)))
            }),
            _ => self.error(),
        }
    }

    fn metric_name(&mut self) -> Parsed<String> {
        match self.peek().tok.clone() {
            Tok::Name(n) => {
                self.bump();
                Ok(n)
            }
            _ => self.error(),
        }
    }

    fn matchinst(&mut self) -> Parsed<Expr> {
        self.with_frame(Some(follow("<filter>, <expr>)", "matchinst(")), |p| {
            let invert = if p.peek().tok == Tok::Not {
                p.bump();
                true
            } else {
                false
            };
            let Tok::Pattern(text) = p.peek().tok.clone() else {
                return p.error();
            };
            let at = p.bump();
            let regex = match regex::RegexBuilder::new(&text)
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20)
                .build()
            {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    return Self::action_error(
                        &at,
                        format!("bad regular expression: '{}'", regerror(&e)),
                    )
                }
            };
            let pattern = Pattern {
                text,
                invert,
                regex,
            };
            p.with_frame(Some(follow(", <expr>)", "matchinst(<filter>")), |p| {
                p.expect(&Tok::Comma)?;
                p.with_frame(Some(follow("<expr>)", "matchinst(<filter>,")), |p| {
                    let x = p.expr(PREC_QUEST)?;
                    p.expect(&Tok::RParen)?;
                    Ok(Expr::MatchInst(pattern, Box::new(x)))
                })
            })
        })
    }

    /// `mkconst(N, spec[, spec...])`: libpcp has no error rules here, so
    /// mistakes are reported by the enclosing construct.
    fn mkconst(&mut self) -> Parsed<Expr> {
        let (text, is_double) = match self.peek().tok.clone() {
            Tok::Int(t) => (t, false),
            Tok::Double(t) => (t, true),
            _ => return self.error(),
        };
        self.bump();
        self.expect(&Tok::Comma)?;
        let mut c = literal(text, is_double);
        loop {
            self.spec(&mut c)?;
            if self.peek().tok == Tok::Comma {
                self.bump();
                continue;
            }
            break;
        }
        let close = self.expect(&Tok::RParen)?;
        if is_double && !matches!(c.ty, Type::Float | Type::Double) {
            return Self::action_error(
                &close,
                format!(
                    "Incompatible floating point constant and type '{}'",
                    type_word(c.ty)
                ),
            );
        }
        Ok(Expr::Const(c))
    }

    fn spec(&mut self, c: &mut Constant) -> Parsed<()> {
        let key = self.peek().tok.clone();
        if !matches!(key, Tok::TypeKw | Tok::SemanticsKw | Tok::UnitsKw) {
            return self.error();
        }
        self.bump();
        self.expect(&Tok::Assign)?;
        let value = match self.peek().tok.clone() {
            Tok::Str(s) | Tok::Name(s) | Tok::Int(s) => s,
            _ => return self.error(),
        };
        let at = self.bump();
        match key {
            Tok::TypeKw => {
                c.ty = match value.to_ascii_uppercase().as_str() {
                    "32" => Type::I32,
                    "U32" => Type::U32,
                    "64" => Type::I64,
                    "U64" => Type::U64,
                    "FLOAT" => Type::Float,
                    "DOUBLE" => Type::Double,
                    _ => {
                        return Self::action_error(
                            &at,
                            format!("Unrecognized value for type '{value}'"),
                        )
                    }
                }
            }
            Tok::SemanticsKw => {
                c.sem = match value.to_ascii_lowercase().as_str() {
                    "counter" => Semantics::Counter,
                    "instant" => Semantics::Instant,
                    "discrete" => Semantics::Discrete,
                    _ => {
                        return Self::action_error(
                            &at,
                            format!("Unrecognized value for semantics '{value}'"),
                        )
                    }
                }
            }
            _ => match crate::units::parse(&value) {
                Ok(u) => c.units = u.units,
                Err(e) => return Self::action_error(&at, format!("Illegal units: '{e}'")),
            },
        }
        Ok(())
    }
}

fn literal(text: String, is_double: bool) -> Constant {
    Constant {
        text,
        is_double,
        ty: if is_double { Type::Double } else { Type::U32 },
        sem: Semantics::Discrete,
        units: Units::NONE,
    }
}

/// regcomp(3)'s words (glibc) for a pattern the regex crate refuses.
fn regerror(e: &regex::Error) -> &'static str {
    let text = e.to_string();
    let kind = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .unwrap_or("");
    if matches!(e, regex::Error::CompiledTooBig(_)) {
        "Regular expression too big"
    } else if kind.contains("unclosed group") {
        "Unmatched ( or \\("
    } else if kind.contains("unopened group") {
        "Unmatched ) or \\)"
    } else if kind.contains("unclosed character class") {
        "Unmatched [, [^, [:, [., or [="
    } else if kind.contains("repetition operator missing expression") {
        "Invalid preceding regular expression"
    } else if kind.contains("invalid character class range") {
        "Invalid range end"
    } else if kind.contains("repetition") || kind.contains("counted") {
        "Invalid content of \\{\\}"
    } else if kind.contains("incomplete escape") {
        "Trailing backslash"
    } else if kind.contains("class") {
        "Invalid character class name"
    } else {
        "Invalid regular expression"
    }
}

#[cfg(test)]
mod tests;
