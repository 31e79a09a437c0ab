//! Binding an expression in a context: every operand name is looked up,
//! and the semantic rules of pmRegisterDerived(3) give each node its
//! descriptor (type, semantics, units, instance domain) and the scale
//! factors its operands need, or refuse the expression in libpcp's words.

use std::collections::HashMap;

use super::arith::{constant, promote};
use super::ast::{BinOp, Expr, Func, Pattern};
use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::value::Value;

/// Values of one node: a list of (instance, value), or the error that
/// stands for the whole list (libpcp's negative `numval`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Vals {
    pub err: Option<PmError>,
    pub list: Vec<(u32, Value)>,
}

impl Node {
    /// Lets go of the operands' answers that no `delta()`/`rate()` keeps
    /// as history (after the tree's evaluation and its result is taken).
    pub fn release(&mut self) {
        match &mut self.kind {
            Kind::Name { cur, keep, .. } => {
                if !*keep {
                    *cur = None;
                }
            }
            Kind::Const | Kind::Anon => {}
            Kind::Binary(_, a, b) => {
                a.release();
                b.release();
            }
            Kind::Ternary(g, y, n) => {
                g.release();
                y.release();
                n.release();
            }
            Kind::Neg(x)
            | Kind::Not(x)
            | Kind::Aggregate(_, x)
            | Kind::Delta(x)
            | Kind::Instant(x)
            | Kind::Rescale(x, _)
            | Kind::Scalar(x)
            | Kind::Rate { x, .. }
            | Kind::MatchInst { x, .. }
            | Kind::Instance { x, .. } => x.release(),
        }
    }

    /// What the node gave in the last evaluation: an error, or its list.
    pub fn out(&self) -> (Option<PmError>, &[(u32, Value)]) {
        match &self.kind {
            Kind::Name { cur, .. } => shared_out(cur.as_deref()),
            _ => (self.vals.err, &self.vals.list),
        }
    }
}

/// An operand's answer as (error, list); none yet is PM_ERR_PMID.
pub(crate) fn shared_out(
    r: Option<&crate::pmda::MetricResult>,
) -> (Option<PmError>, &[(u32, Value)]) {
    match r {
        Some(Ok(list)) => (None, list),
        Some(Err(e)) => (Some(*e), &[]),
        None => (Some(PmError::PMID), &[]),
    }
}

impl Vals {
    pub fn clear(&mut self) {
        self.err = None;
        self.list.clear();
    }

    pub fn fail(&mut self, e: PmError) {
        self.err = Some(e);
        self.list.clear();
    }
}

/// One operand's answer in a fetch, shared between the fetch result and
/// the nodes that read it (and keep it as their history).
pub(crate) type Shared = std::sync::Arc<crate::pmda::MetricResult>;

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
        /// This fetch's answer, shared with the fetch result.
        cur: Option<Shared>,
        /// Under delta/rate (`keep`), the previous fetch's answer.
        last: Option<Shared>,
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
                cur: None,
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
            n.vals
                .list
                .push((crate::PM_IN_NULL, constant(c.ty, &c.text)));
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
            node.vals
                .list
                .push((crate::PM_IN_NULL, Value::U32(defined as u32)));
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

fn function(f: Func, name: &str, names: &Resolved) -> Result<Node, BindError> {
    let save_last = matches!(f, Func::Delta | Func::Rate);
    let inner = name_node(name, names, save_last)?;
    let mut desc = inner.desc;
    let shown = || format!("{}({name})", f.node_name());
    match f {
        Func::Count => {
            desc.ty = Type::U32;
            desc.units = Units::COUNT;
            desc.sem = Semantics::Instant;
            desc.indom = InDom::NULL;
            return Ok(leaf(desc, Kind::Aggregate(f, boxed(inner))));
        }
        Func::Instant => {
            if desc.sem == Semantics::Counter {
                desc.sem = Semantics::Instant;
            }
            return Ok(leaf(desc, Kind::Instant(boxed(inner))));
        }
        _ => {}
    }
    if !desc.ty.is_numeric() {
        return semantic(shown(), "Non-arithmetic operand for function");
    }
    if f != Func::Sum {
        desc.sem = Semantics::Instant;
    }
    Ok(match f {
        Func::Delta => {
            desc.ty = match desc.ty {
                Type::U32 => Type::I64,
                Type::U64 => Type::Double,
                t => t,
            };
            leaf(desc, Kind::Delta(boxed(inner)))
        }
        Func::Rate => {
            let u = inner.desc.units;
            if u.dim_time != 0 && u.dim_time != 1 {
                return semantic(shown(), "Incorrect time dimension for operand");
            }
            desc.ty = Type::Double;
            desc.units.dim_time -= 1;
            desc.units.scale_time = if desc.units.dim_time == 0 {
                0
            } else {
                crate::desc::time::SEC
            };
            let mut time_scale = 1.0;
            if u.dim_time == 1 {
                let s = u.scale_time as i32;
                let sec = crate::desc::time::SEC as i32;
                if s > sec {
                    time_scale = 60f64.powi(s - sec);
                } else {
                    time_scale = 1000f64.powi(s - sec);
                }
            }
            leaf(
                desc,
                Kind::Rate {
                    x: boxed(inner),
                    stamp: None,
                    time_scale,
                },
            )
        }
        _ => {
            desc.indom = InDom::NULL;
            if f == Func::Avg {
                desc.ty = Type::Float;
            }
            leaf(desc, Kind::Aggregate(f, boxed(inner)))
        }
    })
}

fn ternary(g: &Expr, y: &Expr, n: &Expr, names: &Resolved) -> Result<Node, BindError> {
    let guard = check(g, names)?;
    let yes = check(y, names)?;
    let no = check(n, names)?;
    let colon = || format!("{} : {}", y.operand_text(), n.operand_text());
    let (a, b) = (yes.desc, no.desc);
    if a.ty != b.ty {
        return semantic(colon(), "Different types for ternary operands");
    }
    if a.indom != b.indom && !a.indom.is_null() && !b.indom.is_null() {
        return semantic(colon(), "Different instance domains for ternary operands");
    }
    let mut desc = a;
    if a.indom.is_null() {
        desc.indom = b.indom;
    }
    if a.sem != b.sem {
        return semantic(colon(), "Different semantics for ternary operands");
    }
    let (ua, ub) = (a.units, b.units);
    if ua.dim_space != ub.dim_space || ua.scale_space != ub.scale_space {
        return semantic(
            colon(),
            "Different units or scale (space) for ternary operands",
        );
    }
    if ua.dim_time != ub.dim_time || ua.scale_time != ub.scale_time {
        return semantic(
            colon(),
            "Different units or scale (time) for ternary operands",
        );
    }
    if ua.dim_count != ub.dim_count || ua.scale_count != ub.scale_count {
        return semantic(
            colon(),
            "Different units or scale (count) for ternary operands",
        );
    }
    let quest = || format!("{} ? {}", g.operand_text(), colon());
    if !guard.desc.ty.is_numeric() {
        return semantic(quest(), "Non-arithmetic operand for ternary guard");
    }
    if a.indom.is_null() && b.indom.is_null() && !guard.desc.indom.is_null() {
        return semantic(quest(), "Non-scalar ternary guard with scalar expressions");
    }
    Ok(leaf(
        desc,
        Kind::Ternary(boxed(guard), boxed(yes), boxed(no)),
    ))
}

fn is_const(e: &Expr) -> bool {
    matches!(e, Expr::Const(_))
}

fn dims_equal(a: Units, b: Units) -> bool {
    a.dim_space == b.dim_space && a.dim_time == b.dim_time && a.dim_count == b.dim_count
}

/// "none" against "count" is allowed where dimensions must agree
/// (pmConvScale's special case).
fn none_versus_count(a: Units, b: Units) -> bool {
    a.dim_time == 0
        && b.dim_time == 0
        && a.dim_space == 0
        && b.dim_space == 0
        && ((a.dim_count == 0 && b.dim_count == 1) || (a.dim_count == 1 && b.dim_count == 0))
}

fn binary(
    op: BinOp,
    le: &Expr,
    mut left: Node,
    re: &Expr,
    mut right: Node,
) -> Result<Node, BindError> {
    let shown = || {
        format!(
            "{} {} {}",
            le.operand_text(),
            op.symbol(),
            re.operand_text()
        )
    };
    let (l, r) = (left.desc, right.desc);
    let counter = |d: &Desc| d.sem == Semantics::Counter;
    let logical = op.is_relational() || op.is_boolean();
    if !logical {
        match (counter(&l), counter(&r)) {
            (true, true) if !matches!(op, BinOp::Add | BinOp::Sub) => {
                return semantic(shown(), "Illegal operator for counters")
            }
            (true, false) if !matches!(op, BinOp::Mul | BinOp::Div) => {
                return semantic(shown(), "Illegal operator for counter and non-counter")
            }
            (false, true) if op != BinOp::Mul => {
                return semantic(shown(), "Illegal operator for non-counter and counter")
            }
            _ => {}
        }
    }
    // Prefer a metric's (or expression's) descriptor over a constant's.
    let mut desc = if !is_const(le) { l } else { r };
    if !counter(&l) && !counter(&r) {
        desc.sem = if l.sem == Semantics::Discrete && r.sem == Semantics::Discrete {
            Semantics::Discrete
        } else {
            Semantics::Instant
        };
    }
    if !l.ty.is_numeric() {
        return semantic(shown(), "Non-arithmetic type for left operand");
    }
    if !r.ty.is_numeric() {
        return semantic(shown(), "Non-arithmetic type for right operand");
    }
    desc.ty = if op == BinOp::Div {
        Type::Double
    } else if logical {
        Type::U32
    } else {
        promote(l.ty, r.ty)
    };
    if matches!(op, BinOp::Add | BinOp::Sub)
        && !dims_equal(l.units, r.units)
        && !none_versus_count(l.units, r.units)
    {
        return semantic(shown(), "Dimensions are not the same");
    }
    // libpcp means "unless one operand is a numeric constant" here, but
    // compares the operands' *types* with its node codes, so the check is
    // skipped whenever either operand is an unsigned 32-bit value.
    if op.is_relational()
        && l.ty != Type::U32
        && r.ty != Type::U32
        && !dims_equal(l.units, r.units)
        && !none_versus_count(l.units, r.units)
    {
        return semantic(shown(), "Dimensions are not the same");
    }
    if op.is_boolean() && (!l.units.is_dimensionless() || !r.units.is_dimensionless()) {
        return semantic(shown(), "Dimensions are not the same");
    }
    if matches!(op, BinOp::Mul | BinOp::Div) || op.is_relational() {
        if counter(&l) && !counter(&r) && !r.units.is_dimensionless() {
            return semantic(
                shown(),
                "Non-counter and not dimensionless for right operand",
            );
        }
        if !counter(&l) && counter(&r) && !l.units.is_dimensionless() {
            return semantic(
                shown(),
                "Non-counter and not dimensionless for left operand",
            );
        }
    }
    if logical {
        desc.units = Units::NONE;
    } else {
        map_units(op, &mut desc, &mut left, &mut right);
    }
    if !l.indom.is_null() && !r.indom.is_null() && l.indom != r.indom {
        return semantic(shown(), "Operands should have the same instance domain");
    }
    if !l.indom.is_null() {
        desc.indom = l.indom;
    } else if !r.indom.is_null() {
        desc.indom = r.indom;
    }
    Ok(leaf(desc, Kind::Binary(op, boxed(left), boxed(right))))
}

/// Steps between time scales (ns to us ... min to hour).
const TIME_STEPS: [f64; 5] = [1000.0, 1000.0, 1000.0, 60.0, 60.0];

/// The units of an arithmetic result, as libpcp's map_units: the larger
/// scale of each shared dimension wins and the other operand is rescaled
/// (which makes the result a double); products and quotients add and
/// subtract dimensions.
fn map_units(op: BinOp, desc: &mut Desc, left: &mut Node, right: &mut Node) {
    let (l, r) = (left.desc.units, right.desc.units);
    let bump = |node: &mut Node, positive: bool, f: f64| {
        if positive {
            node.scale.1 *= f;
        } else {
            node.scale.0 *= f;
        }
    };
    if l.dim_count != 0 && r.dim_count != 0 {
        let diff = l.scale_count as i32 - r.scale_count as i32;
        if diff > 0 {
            for _ in 0..diff {
                bump(right, r.dim_count > 0, 10.0);
            }
            desc.ty = Type::Double;
        } else if diff < 0 {
            desc.units.scale_count = r.scale_count;
            for _ in diff..0 {
                bump(left, l.dim_count > 0, 10.0);
            }
            desc.ty = Type::Double;
        }
    }
    if l.dim_time != 0 && r.dim_time != 0 {
        let (ls, rs) = (l.scale_time as usize, r.scale_time as usize);
        if ls > rs {
            for step in TIME_STEPS.iter().take(ls).skip(rs) {
                bump(right, r.dim_time > 0, *step);
            }
            desc.ty = Type::Double;
        } else if ls < rs {
            desc.units.scale_time = r.scale_time;
            for step in TIME_STEPS.iter().take(rs).skip(ls) {
                // libpcp decides by the right operand's sign here.
                bump(left, r.dim_time > 0, *step);
            }
            desc.ty = Type::Double;
        }
    }
    if l.dim_space != 0 && r.dim_space != 0 {
        let diff = l.scale_space as i32 - r.scale_space as i32;
        if diff > 0 {
            for _ in 0..diff {
                bump(right, r.dim_space > 0, 1024.0);
            }
            desc.ty = Type::Double;
        } else if diff < 0 {
            desc.units.scale_space = r.scale_space;
            for _ in diff..0 {
                bump(left, r.dim_space > 0, 1024.0);
            }
            desc.ty = Type::Double;
        }
    }
    let u = &mut desc.units;
    match op {
        BinOp::Mul => {
            u.dim_count = l.dim_count + r.dim_count;
            u.dim_time = l.dim_time + r.dim_time;
            u.dim_space = l.dim_space + r.dim_space;
        }
        BinOp::Div => {
            u.dim_count = l.dim_count - r.dim_count;
            u.dim_time = l.dim_time - r.dim_time;
            u.dim_space = l.dim_space - r.dim_space;
        }
        _ => {}
    }
    if u.dim_count != 0 && l.dim_count == 0 {
        u.scale_count = r.scale_count;
    }
    if u.dim_time != 0 && l.dim_time == 0 {
        u.scale_time = r.scale_time;
    }
    if u.dim_space != 0 && l.dim_space == 0 {
        u.scale_space = r.scale_space;
    }
    if u.dim_count == 0 {
        u.scale_count = 0;
    }
    if u.dim_time == 0 {
        u.scale_time = 0;
    }
    if u.dim_space == 0 {
        u.scale_space = 0;
    }
}
