//! Evaluation of a bound expression over one fetch, as libpcp does it:
//! leaves take their operand's values from the fetch, each node combines
//! its operands' lists, and `delta()`/`rate()` keep the previous fetch's
//! values in the tree (so the first fetch has no value for them).
//!
//! Instance matching follows libpcp: binary operators pair instances by
//! identifier (trying the same position first), `delta`/`rate` pair the
//! current and previous lists the same way, and the ternary operator picks
//! per position. An operand whose fetch failed makes the whole expression
//! fail with that error (except under `count()`, which counts 0).

use std::time::SystemTime;

use super::arith::{arith, as_f64, compare, delta, is_true, negate, of_type, rate_difference};
use super::ast::Func;
use super::bind::{Kind, Node, Vals};
use crate::desc::Type;
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::value::Value;
use crate::PM_IN_NULL;

/// How often (in evaluations) matchinst() forgets instances it has seen in
/// fewer than half of them (libpcp's REGEX_INST_COMPACT), so a dynamic
/// instance domain cannot grow its cache without bound.
const MATCH_SWEEP: u32 = 100;

/// What evaluation needs from the fetch and the context.
pub(crate) trait Env {
    /// The fetched values of an operand.
    fn operand(&self, pmid: Pmid) -> Option<super::bind::Shared>;
    /// The instances of `indom` (for instance names).
    fn instances(&mut self, indom: InDom) -> Option<&[Instance]>;
    /// The fetch's timestamp.
    fn stamp(&self) -> SystemTime;
}

/// Finds, for the `i`th entry of `cur`, the entry of `other` with the same
/// instance: the same position first, else a search (libpcp's order).
fn pair(cur: u32, i: usize, other: &[(u32, Value)]) -> Option<usize> {
    let j = if i < other.len() { i } else { 0 };
    if other.get(j).is_some_and(|e| e.0 == cur) {
        return Some(j);
    }
    other.iter().position(|e| e.0 == cur)
}

impl Node {
    /// Evaluates the node over one fetch; the result is left in `vals`
    /// (a metric's in `cur`), read with [`Node::out`].
    pub(crate) fn eval(&mut self, env: &mut dyn Env) {
        let Node {
            desc, kind, vals, ..
        } = self;
        let ty = desc.ty;
        match kind {
            Kind::Const => {}
            Kind::Anon => vals.clear(),
            Kind::Name {
                pmid,
                cur,
                last,
                keep,
            } => {
                let now = env
                    .operand(*pmid)
                    .unwrap_or_else(|| std::sync::Arc::new(Err(PmError::PMID)));
                let before = cur.replace(now);
                if *keep {
                    *last = before;
                }
            }
            Kind::Binary(op, l, r) => {
                vals.clear();
                l.eval(env);
                if let (Some(e), _) = l.out() {
                    return vals.fail(e);
                }
                r.eval(env);
                if let (Some(e), _) = r.out() {
                    return vals.fail(e);
                }
                binary(*op, ty, l, r, vals);
            }
            Kind::Neg(x) => {
                vals.clear();
                x.eval(env);
                match x.out() {
                    (Some(e), _) => vals.fail(e),
                    (None, list) => vals
                        .list
                        .extend(list.iter().map(|(i, v)| (*i, negate(ty, v)))),
                }
            }
            Kind::Not(x) => {
                vals.clear();
                x.eval(env);
                match x.out() {
                    (Some(e), _) => vals.fail(e),
                    (None, list) => vals.list.extend(
                        list.iter()
                            .map(|(i, v)| (*i, of_type(ty, (!is_true(v)) as u32))),
                    ),
                }
            }
            Kind::Ternary(g, y, n) => {
                vals.clear();
                for x in [&mut **g, &mut **y, &mut **n] {
                    x.eval(env);
                    if let (Some(e), _) = x.out() {
                        return vals.fail(e);
                    }
                }
                ternary(g, y, n, vals);
            }
            Kind::Aggregate(f, x) => {
                vals.clear();
                x.eval(env);
                aggregate(*f, ty, x, vals);
            }
            Kind::Delta(x) => {
                vals.clear();
                x.eval(env);
                let (cur, last) = history(x);
                let (list, last) = match (cur, last) {
                    ((Some(e), _), _) | (_, (Some(e), _)) => return vals.fail(e),
                    ((None, list), (None, last)) => (list, last),
                };
                let operand = x.desc.ty;
                for (i, (inst, v)) in list.iter().enumerate() {
                    if let Some(j) = pair(*inst, i, last) {
                        vals.list.push((*inst, delta(operand, v, &last[j].1)));
                    }
                }
            }
            Kind::Rate {
                x,
                stamp,
                time_scale,
            } => {
                vals.clear();
                x.eval(env);
                if let (Some(e), _) = x.out() {
                    return vals.fail(e);
                }
                let now = env.stamp();
                let previous = stamp.replace(now);
                let (cur, last) = history(x);
                let (list, last) = match (cur, last) {
                    ((Some(e), _), _) | (_, (Some(e), _)) => return vals.fail(e),
                    ((None, list), (None, last)) => (list, last),
                };
                let Some(previous) = previous else {
                    return;
                };
                let secs = match now.duration_since(previous) {
                    Ok(d) => d.as_secs_f64(),
                    Err(e) => -e.duration().as_secs_f64(),
                };
                for (i, (inst, v)) in list.iter().enumerate() {
                    if let Some(j) = pair(*inst, i, last) {
                        let r = rate_difference(v, &last[j].1) / secs * *time_scale;
                        vals.list.push((*inst, Value::Double(r)));
                    }
                }
            }
            Kind::Instant(x) => {
                x.eval(env);
                vals.clear();
                match x.out() {
                    (Some(e), _) => vals.fail(e),
                    (None, list) => vals.list.extend_from_slice(list),
                }
            }
            Kind::Rescale(x, to) => {
                vals.clear();
                x.eval(env);
                let from = x.desc.units;
                match x.out() {
                    (Some(e), _) => vals.fail(e),
                    (None, list) => {
                        for (inst, v) in list {
                            if let Ok(out) = crate::units::conv_scale(ty, v, from, *to) {
                                vals.list.push((*inst, out));
                            }
                        }
                    }
                }
            }
            Kind::MatchInst {
                pattern,
                x,
                seen,
                evaluations,
            } => {
                vals.clear();
                x.eval(env);
                let indom = x.desc.indom;
                let list = match x.out() {
                    (Some(e), _) => return vals.fail(e),
                    (None, list) => list,
                };
                for (inst, v) in list {
                    if !seen.contains_key(inst) {
                        let hit = env
                            .instances(indom)
                            .and_then(|all| all.iter().find(|i| i.id == *inst))
                            .map(|i| {
                                // Only the first word of an external name is matched.
                                let word = i.name.split(' ').next().unwrap_or("");
                                pattern.regex.is_match(word) != pattern.invert
                            })
                            .unwrap_or(false);
                        seen.insert(*inst, (hit, 0));
                    }
                    if let Some(entry) = seen.get_mut(inst) {
                        entry.1 += 1;
                        if entry.0 {
                            vals.list.push((*inst, v.clone()));
                        }
                    }
                }
                *evaluations += 1;
                if *evaluations >= MATCH_SWEEP {
                    seen.retain(|_, (_, used)| *used >= MATCH_SWEEP / 2);
                    seen.values_mut().for_each(|(_, used)| *used = 0);
                    *evaluations = 0;
                }
            }
            Kind::Instance { name, x, id } => {
                vals.clear();
                x.eval(env);
                if let (Some(e), _) = x.out() {
                    return vals.fail(e);
                }
                if id.is_none() {
                    *id = env
                        .instances(x.desc.indom)
                        .and_then(|all| crate::indom::find_by_name(all, name).map(|i| i.id));
                }
                if let Some(want) = id {
                    if let Some(found) = x.out().1.iter().find(|(inst, _)| inst == want) {
                        vals.list.push(found.clone());
                    }
                }
            }
            Kind::Scalar(x) => {
                vals.clear();
                x.eval(env);
                match x.out() {
                    (Some(e), _) => vals.fail(e),
                    (None, list) => {
                        if let Some((_, v)) = list.first() {
                            vals.list.push((PM_IN_NULL, v.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// A delta/rate operand's current and previous answers (none before the
/// first fetch counts as an empty list: no value yet).
#[allow(clippy::type_complexity)]
fn history(
    x: &Node,
) -> (
    (Option<PmError>, &[(u32, Value)]),
    (Option<PmError>, &[(u32, Value)]),
) {
    match &x.kind {
        Kind::Name { cur, last, .. } => (
            super::bind::shared_out(cur.as_deref()),
            match last {
                None => (None, &[][..]),
                Some(l) => super::bind::shared_out(Some(l)),
            },
        ),
        _ => ((Some(PmError::PMID), &[][..]), (None, &[][..])),
    }
}

fn binary(op: super::ast::BinOp, ty: Type, l: &Node, r: &Node, out: &mut Vals) {
    let (ll, rl) = (l.out().1, r.out().1);
    if ll.is_empty() || rl.is_empty() {
        return;
    }
    let (l_set, r_set) = (!l.desc.indom.is_null(), !r.desc.indom.is_null());
    let logical = op.is_relational() || op.is_boolean();
    let apply = |a: &Value, b: &Value| {
        if logical {
            compare(op, l.desc.ty, a, r.desc.ty, b)
        } else {
            arith(ty, op, a, l.scale, b, r.scale)
        }
    };
    match (l_set, r_set) {
        (true, true) => {
            // At most as many results as the shorter list, as libpcp.
            let cap = ll.len().min(rl.len());
            for (i, (inst, a)) in ll.iter().enumerate() {
                if out.list.len() == cap {
                    break;
                }
                if let Some(j) = pair(*inst, i, rl) {
                    out.list.push((*inst, apply(a, &rl[j].1)));
                }
            }
        }
        (true, false) => {
            let b = &rl[0].1;
            out.list
                .extend(ll.iter().map(|(inst, a)| (*inst, apply(a, b))));
        }
        (false, true) => {
            let a = &ll[0].1;
            out.list
                .extend(rl.iter().map(|(inst, b)| (*inst, apply(a, b))));
        }
        (false, false) => out.list.push((rl[0].0, apply(&ll[0].1, &rl[0].1))),
    }
}

/// `guard ? yes : no`, position by position as libpcp does: the guard's
/// i-th value picks the i-th value of one branch (a singular branch gives
/// its one value everywhere); instances come from the branch with an
/// instance domain.
fn ternary(g: &Node, y: &Node, n: &Node, out: &mut Vals) {
    let (gl, yl, nl) = (g.out().1, y.out().1, n.out().1);
    if gl.is_empty() || yl.is_empty() || nl.is_empty() {
        return;
    }
    let count = yl.len().max(nl.len());
    let insts = if y.desc.indom.is_null() && !n.desc.indom.is_null() {
        nl
    } else {
        yl
    };
    let mut pick_yes = true;
    for i in 0..count {
        if let Some((_, gv)) = gl.get(i) {
            pick_yes = is_true(gv);
        }
        let branch = if pick_yes { yl } else { nl };
        let v = branch.get(i).unwrap_or(&branch[0]).1.clone();
        let inst = insts.get(i).map_or(PM_IN_NULL, |e| e.0);
        out.list.push((inst, v));
    }
}

fn aggregate(f: Func, ty: Type, x: &Node, out: &mut Vals) {
    if f == Func::Count {
        let n = match x.out() {
            (Some(_), _) => 0,
            (None, list) => list.len() as u32,
        };
        out.list.push((PM_IN_NULL, Value::U32(n)));
        return;
    }
    let list = match x.out() {
        (Some(e), _) => return out.fail(e),
        (None, list) => list,
    };
    let value = match f {
        Func::Avg => {
            let n = list.len() as f32;
            let mut acc = 0f32;
            for (_, v) in list {
                acc += as_f64(v) as f32 / n;
            }
            Value::Float(acc)
        }
        Func::Sum => {
            let zero = of_type(ty, 0);
            list.iter().fold(zero, |acc, (_, v)| {
                super::arith::arith(ty, super::ast::BinOp::Add, &acc, (1.0, 1.0), v, (1.0, 1.0))
            })
        }
        _ => {
            // libpcp leaves max()/min() of no values undefined; none here.
            let Some((_, first)) = list.first() else {
                return;
            };
            let mut best = first.clone();
            for (_, v) in &list[1..] {
                let better = match f {
                    Func::Max => super::arith::compare(super::ast::BinOp::Gt, ty, v, ty, &best),
                    _ => super::arith::compare(super::ast::BinOp::Lt, ty, v, ty, &best),
                };
                if better == Value::U32(1) {
                    best = v.clone();
                }
            }
            best
        }
    };
    out.list.push((PM_IN_NULL, value));
}
