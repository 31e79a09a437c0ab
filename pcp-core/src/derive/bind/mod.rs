//! Binding an expression in a context: every operand name is looked up,
//! and the semantic rules of pmRegisterDerived(3) give each node its
//! descriptor (type, semantics, units, instance domain) and the scale
//! factors its operands need, or refuse the expression in libpcp's words.

use std::collections::HashMap;

use super::arith::constant;
use super::ast::{BinOp, Expr, Func, Pattern};
use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::value::Value;

/// Values of one node: instances and their values by position, or the
/// error that stands for the whole list (libpcp's negative `numval`). A
/// numeric node keeps its numbers in `num` as bit patterns of its own type
/// (see [`super::column`]); any other node keeps its values in `other`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vals {
    pub err: Option<PmError>,
    pub inst: Vec<u32>,
    pub num: Vec<u64>,
    pub other: Vec<Value>,
}

impl Vals {
    pub fn clear(&mut self) {
        self.err = None;
        self.inst.clear();
        self.num.clear();
        self.other.clear();
    }

    pub fn fail(&mut self, e: PmError) {
        self.clear();
        self.err = Some(e);
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.inst.len()
    }

    /// One value without instance, of type `ty`.
    pub fn single(ty: Type, v: Value) -> Vals {
        let mut out = Vals::default();
        out.inst.push(crate::PM_IN_NULL);
        if ty.is_numeric() {
            out.num.push(super::column::bits_of(ty, &v));
        } else {
            out.other.push(v);
        }
        out
    }

    /// Appends `src`'s `i`th value under instance `inst`.
    pub fn push_from(&mut self, src: &Vals, i: usize, inst: u32) {
        if let Some(&b) = src.num.get(i) {
            self.num.push(b);
        } else if let Some(v) = src.other.get(i) {
            self.other.push(v.clone());
        } else {
            return;
        }
        self.inst.push(inst);
    }

    /// Fills the columns, in type `ty`, from a fetched answer.
    pub fn fill(&mut self, ty: Type, answer: &crate::pmda::MetricResult) {
        self.clear();
        match answer {
            Err(e) => self.err = Some(*e),
            Ok(list) => {
                self.inst.extend(list.iter().map(|(i, _)| *i));
                if ty.is_numeric() {
                    super::column::with_num!(ty, D => self.num.extend(
                        list.iter()
                            .map(|(_, v)| super::column::bits_as::<D>(v)),
                    ));
                } else {
                    self.other.extend(list.iter().map(|(_, v)| v.clone()));
                }
            }
        }
    }

    /// The answer these values give, of type `ty`.
    pub fn answer(&self, ty: Type) -> crate::pmda::MetricResult {
        if let Some(e) = self.err {
            return Err(e);
        }
        Ok(if ty.is_numeric() {
            super::column::with_num!(ty, T => self
                .inst
                .iter()
                .zip(&self.num)
                .map(|(i, &b)| (*i, super::column::Num::value(<T as super::column::Num>::get(b))))
                .collect())
        } else {
            self.inst
                .iter()
                .copied()
                .zip(self.other.iter().cloned())
                .collect()
        })
    }
}

/// A bound expression node: its descriptor, the scale factors applied when
/// it is an operand of arithmetic, what it is, and its values (and history)
/// in this context.
#[derive(Debug)]
pub(crate) struct Node {
    pub desc: Desc,
    /// (multiplier, divisor) for unit scale conversion.
    pub scale: (f64, f64),
    pub kind: Kind,
    pub vals: Vals,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// A constant (also `defined()`): its value is set once.
    Const,
    /// A metric.
    Name {
        pmid: Pmid,
        /// Under delta/rate (`keep`), the previous fetch's values (none
        /// before the second fetch).
        last: Option<Box<Vals>>,
        keep: bool,
    },
    Binary(BinOp, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Not(Box<Node>),
    Ternary(Box<Node>, Box<Node>, Box<Node>),
    /// avg, count, max, min, sum.
    Aggregate(Func, Box<Node>),
    Delta(Box<Node>),
    Rate {
        x: Box<Node>,
        stamp: Option<std::time::SystemTime>,
        /// Seconds per unit of the operand's time (for time utilisation).
        time_scale: f64,
    },
    Instant(Box<Node>),
    Anon,
    Rescale(Box<Node>, Units),
    MatchInst {
        pattern: Pattern,
        x: Box<Node>,
        /// instance -> (matches, times seen since the last sweep)
        seen: HashMap<u32, (bool, u32)>,
        evaluations: u32,
    },
    Instance {
        name: String,
        x: Box<Node>,
        id: Option<u32>,
    },
    Scalar(Box<Node>),
}

/// Why an expression cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BindError {
    /// An operand is not in the namespace, or has no descriptor (libpcp
    /// drops such metrics silently).
    Operand { name: String, error: PmError },
    /// A semantic rule refused a node: the node as libpcp shows it, and
    /// the rule's message.
    Semantic { node: String, message: &'static str },
}

/// What binding needs from the context: names to PMIDs and descriptors.
pub(crate) trait Resolver {
    fn resolve(&mut self, name: &str) -> Result<(Pmid, Desc), PmError>;
}

fn leaf(desc: Desc, kind: Kind) -> Node {
    Node {
        desc,
        scale: (1.0, 1.0),
        kind,
        vals: Vals::default(),
    }
}

fn const_desc(ty: Type, sem: Semantics, units: Units) -> Desc {
    Desc::new(Pmid::NULL, ty, InDom::NULL, sem, units)
}

fn boxed(n: Node) -> Box<Node> {
    Box::new(n)
}

/// Binds `expr`: first every operand name (a missing one fails the whole
/// expression before any semantic check, as in libpcp), then the checks.
pub(crate) fn bind(expr: &Expr, r: &mut dyn Resolver) -> Result<Node, BindError> {
    let mut names = HashMap::new();
    lookup_all(expr, r, &mut names)?;
    check(expr, &names)
}

type Resolved = HashMap<String, Result<(Pmid, Desc), PmError>>;

fn lookup_all(expr: &Expr, r: &mut dyn Resolver, names: &mut Resolved) -> Result<(), BindError> {
    let mut want = |name: &str, optional: bool, names: &mut Resolved| -> Result<(), BindError> {
        let got = *names
            .entry(name.to_string())
            .or_insert_with(|| r.resolve(name));
        match got {
            Err(error) if !optional => Err(BindError::Operand {
                name: name.to_string(),
                error,
            }),
            _ => Ok(()),
        }
    };
    match expr {
        Expr::Const(_) | Expr::Anon(_) => Ok(()),
        Expr::Name(n) => want(n, false, names),
        Expr::Func(f, n) => want(n, *f == Func::Defined, names),
        Expr::Binary(_, a, b) => {
            lookup_all(a, r, names)?;
            lookup_all(b, r, names)
        }
        Expr::Ternary(g, y, n) => {
            lookup_all(g, r, names)?;
            lookup_all(y, r, names)?;
            lookup_all(n, r, names)
        }
        Expr::Neg(x)
        | Expr::Not(x)
        | Expr::Rescale(x, _)
        | Expr::MatchInst(_, x)
        | Expr::Instance(x, _)
        | Expr::Scalar(x) => lookup_all(x, r, names),
    }
}

fn semantic<T>(node: String, message: &'static str) -> Result<T, BindError> {
    Err(BindError::Semantic { node, message })
}

fn name_node(name: &str, names: &Resolved, save_last: bool) -> Result<Node, BindError> {
    match names.get(name) {
        Some(Ok((pmid, desc))) => Ok(leaf(
            *desc,
            Kind::Name {
                pmid: *pmid,
                last: None,
                keep: save_last,
            },
        )),
        Some(Err(e)) => Err(BindError::Operand {
            name: name.to_string(),
            error: *e,
        }),
        None => Err(BindError::Operand {
            name: name.to_string(),
            error: PmError::NAME,
        }),
    }
}

fn check(expr: &Expr, names: &Resolved) -> Result<Node, BindError> {
    Ok(match expr {
        Expr::Const(c) => {
            let mut n = leaf(const_desc(c.ty, c.sem, c.units), Kind::Const);
            n.vals = Vals::single(c.ty, constant(c.ty, &c.text));
            n
        }
        Expr::Anon(ty) => leaf(
            const_desc(*ty, Semantics::Discrete, Units::NONE),
            Kind::Anon,
        ),
        Expr::Name(n) => name_node(n, names, false)?,
        Expr::Func(Func::Defined, n) => {
            let defined = matches!(names.get(n), Some(Ok(_)));
            let mut node = leaf(
                const_desc(Type::U32, Semantics::Discrete, Units::NONE),
                Kind::Const,
            );
            node.vals = Vals::single(Type::U32, Value::U32(defined as u32));
            node
        }
        Expr::Func(f, n) => function(*f, n, names)?,
        Expr::Binary(op, l, r) => {
            let left = check(l, names)?;
            let right = check(r, names)?;
            binary(*op, l, left, r, right)?
        }
        Expr::Neg(x) => {
            let inner = check(x, names)?;
            if !inner.desc.ty.is_numeric() {
                return semantic(
                    format!("- {}", x.operand_text()),
                    "Non-arithmetic operand for unary negation",
                );
            }
            let mut desc = inner.desc;
            desc.sem = Semantics::Instant;
            desc.ty = match desc.ty {
                Type::U32 => Type::I32,
                Type::U64 => Type::I64,
                t => t,
            };
            leaf(desc, Kind::Neg(boxed(inner)))
        }
        Expr::Not(x) => {
            // libpcp gives `!x` the operand's descriptor unchanged. It also
            // accepts a string operand and then returns whatever memory
            // holds; we refuse that one.
            let inner = check(x, names)?;
            if !inner.desc.ty.is_numeric() {
                return semantic(
                    format!("! {}", x.operand_text()),
                    "Non-arithmetic operand for boolean negation",
                );
            }
            let desc = inner.desc;
            leaf(desc, Kind::Not(boxed(inner)))
        }
        Expr::Ternary(g, y, n) => ternary(g, y, n, names)?,
        Expr::Rescale(x, units) => {
            let inner = check(x, names)?;
            let shown = || {
                let u = units.to_string();
                format!("{} RESCALE {}", x.operand_text(), u)
            };
            if !inner.desc.ty.is_numeric() {
                return semantic(shown(), "Non-arithmetic operand for function");
            }
            if !crate::units::convertible(inner.desc.units, *units) {
                return semantic(shown(), "Incompatible dimensions");
            }
            let mut desc = inner.desc;
            desc.units = *units;
            leaf(desc, Kind::Rescale(boxed(inner), *units))
        }
        Expr::MatchInst(p, x) => {
            let inner = check(x, names)?;
            let desc = inner.desc;
            leaf(
                desc,
                Kind::MatchInst {
                    pattern: p.clone(),
                    x: boxed(inner),
                    seen: HashMap::new(),
                    evaluations: 0,
                },
            )
        }
        Expr::Instance(x, name) => {
            let inner = check(x, names)?;
            let desc = inner.desc;
            leaf(
                desc,
                Kind::Instance {
                    name: name.clone(),
                    x: boxed(inner),
                    id: None,
                },
            )
        }
        Expr::Scalar(x) => {
            let inner = check(x, names)?;
            let mut desc = inner.desc;
            desc.indom = InDom::NULL;
            leaf(desc, Kind::Scalar(boxed(inner)))
        }
    })
}

mod operators;
use operators::{binary, function, ternary};
