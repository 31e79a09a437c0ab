//! The syntax tree of one derived-metric expression, as the parser builds
//! it (before any metric is looked up).

use std::fmt;
use std::sync::Arc;

use crate::desc::{Semantics, Type, Units};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `!=`
    Ne,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// The operator as written (`+`, `<=`, `&&`).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Eq => "==",
            BinOp::Ge => ">=",
            BinOp::Gt => ">",
            BinOp::Ne => "!=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// libpcp's node name for the operator (`PLUS`, `LEQ`), used in its
    /// syntax error messages.
    pub fn node_name(self) -> &'static str {
        match self {
            BinOp::Add => "PLUS",
            BinOp::Sub => "MINUS",
            BinOp::Mul => "STAR",
            BinOp::Div => "SLASH",
            BinOp::Lt => "LT",
            BinOp::Le => "LEQ",
            BinOp::Eq => "EQ",
            BinOp::Ge => "GEQ",
            BinOp::Gt => "GT",
            BinOp::Ne => "NEQ",
            BinOp::And => "AND",
            BinOp::Or => "OR",
        }
    }

    /// True for the relational operators.
    pub fn is_relational(self) -> bool {
        matches!(
            self,
            BinOp::Lt | BinOp::Le | BinOp::Eq | BinOp::Ge | BinOp::Gt | BinOp::Ne
        )
    }

    /// True for `&&` and `||`.
    pub fn is_boolean(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }
}

/// A function of one metric name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `avg(x)`: the mean over instances, a float.
    Avg,
    /// `count(x)`: the number of instances (0 when the fetch fails).
    Count,
    /// `delta(x)`: the change since the previous fetch.
    Delta,
    /// `max(x)`
    Max,
    /// `min(x)`
    Min,
    /// `sum(x)`
    Sum,
    /// `rate(x)`: the change per second since the previous fetch.
    Rate,
    /// `instant(x)`: the current value, even of a counter.
    Instant,
    /// `defined(x)`: 1 if `x` is in the namespace, else 0.
    Defined,
}

impl Func {
    /// libpcp's node name (`AVG`), used in its semantic error messages.
    pub fn node_name(self) -> &'static str {
        match self {
            Func::Avg => "AVG",
            Func::Count => "COUNT",
            Func::Delta => "DELTA",
            Func::Max => "MAX",
            Func::Min => "MIN",
            Func::Sum => "SUM",
            Func::Rate => "RATE",
            Func::Instant => "INSTANT",
            Func::Defined => "DEFINED",
        }
    }
}

/// A numeric constant: a literal (a 32-bit unsigned integer or a double,
/// discrete and dimensionless) or `mkconst(...)` with its own metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    /// The number as written.
    pub text: String,
    /// Written with a decimal point.
    pub is_double: bool,
    /// Its type.
    pub ty: Type,
    /// Its semantics.
    pub sem: Semantics,
    /// Its units.
    pub units: Units,
}

/// An instance filter pattern of `matchinst()`: a regular expression
/// matched against the first word of each instance name.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The expression as written between the slashes.
    pub text: String,
    /// Select the instances that do not match.
    pub invert: bool,
    /// The compiled expression.
    pub regex: Arc<regex::Regex>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text && self.invert == other.invert
    }
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeric constant.
    Const(Constant),
    /// A metric name.
    Name(String),
    /// `l op r`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
    /// `!x`
    Not(Box<Expr>),
    /// `guard ? yes : no`
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `f(name)`
    Func(Func, String),
    /// `anon(PM_TYPE_...)`: an anonymous metric with no values.
    Anon(Type),
    /// `rescale(x, "units")`
    Rescale(Box<Expr>, Units),
    /// `matchinst([!]/re/, x)`
    MatchInst(Pattern, Box<Expr>),
    /// `name[instance]` or `(x)[instance]`: one instance by external name.
    Instance(Box<Expr>, String),
    /// `scalar(x)`: the first value, without its instance domain.
    Scalar(Box<Expr>),
}

impl Expr {
    /// How libpcp names an operand in a semantic error message: names and
    /// numbers as written, anything else as `<expr>`.
    pub fn operand_text(&self) -> &str {
        match self {
            Expr::Name(n) => n,
            Expr::Const(c) => &c.text,
            _ => "<expr>",
        }
    }

    /// Every metric name the expression reads (including `defined()`'s).
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Const(_) | Expr::Anon(_) => {}
            Expr::Name(n) | Expr::Func(_, n) => out.push(n.clone()),
            Expr::Binary(_, l, r) => {
                l.names(out);
                r.names(out);
            }
            Expr::Ternary(g, y, n) => {
                g.names(out);
                y.names(out);
                n.names(out);
            }
            Expr::Neg(x)
            | Expr::Not(x)
            | Expr::Rescale(x, _)
            | Expr::MatchInst(_, x)
            | Expr::Instance(x, _)
            | Expr::Scalar(x) => x.names(out),
        }
    }
}

impl fmt::Display for Expr {
    /// The expression with full parentheses (for tests and debugging).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(c) => f.write_str(&c.text),
            Expr::Name(n) => f.write_str(n),
            Expr::Binary(op, l, r) => write!(f, "({l} {} {r})", op.symbol()),
            Expr::Neg(x) => write!(f, "(-{x})"),
            Expr::Not(x) => write!(f, "(!{x})"),
            Expr::Ternary(g, y, n) => write!(f, "({g} ? {y} : {n})"),
            Expr::Func(func, n) => write!(f, "{}({n})", func.node_name().to_lowercase()),
            Expr::Anon(t) => write!(f, "anon({})", t.code()),
            Expr::Rescale(x, u) => write!(f, "rescale({x}, \"{u}\")"),
            Expr::MatchInst(p, x) => write!(
                f,
                "matchinst({}/{}/, {x})",
                if p.invert { "!" } else { "" },
                p.text
            ),
            Expr::Instance(x, i) => write!(f, "{x}[{i}]"),
            Expr::Scalar(x) => write!(f, "scalar({x})"),
        }
    }
}
