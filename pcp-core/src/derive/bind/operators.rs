//! The semantic rules of functions, the ternary and binary operators:
//! the result's type, semantics, units and instance domain, and the scale
//! factors the operands need (pmRegisterDerived(3)'s rules).

use super::{boxed, check, leaf, name_node, semantic, BindError, Kind, Node, Resolved};
use crate::derive::arith::promote;
use crate::derive::ast::{BinOp, Expr, Func};
use crate::desc::{Desc, Semantics, Type, Units};
use crate::id::InDom;

pub(super) fn function(f: Func, name: &str, names: &Resolved) -> Result<Node, BindError> {
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

pub(super) fn ternary(g: &Expr, y: &Expr, n: &Expr, names: &Resolved) -> Result<Node, BindError> {
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

pub(super) fn binary(
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
