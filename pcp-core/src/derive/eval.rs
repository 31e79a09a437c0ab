//! Evaluation of a bound expression over one fetch, as libpcp does it:
//! leaves take their operand's values from the fetch, each node combines
//! its operands' values, and `delta()`/`rate()` keep the previous fetch's
//! values in the tree (so the first fetch has no value for them).
//!
//! Values travel as typed columns (see [`super::column`]): each node
//! converts an operand's column to the type it computes in once, then runs
//! one loop of that type over the instances.
//!
//! Instance matching follows libpcp: binary operators pair instances by
//! identifier (trying the same position first), `delta`/`rate` pair the
//! current and previous lists the same way, and the ternary operator picks
//! per position. An operand whose fetch failed makes the whole expression
//! fail with that error (except under `count()`, which counts 0).

use std::time::SystemTime;

use super::arith::promote;
use super::ast::{BinOp, Func};
use super::bind::{Kind, Node, Vals};
use super::column::{self, with_num, Num, Pairs};
use crate::desc::Type;
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::pmda::MetricResult;
use crate::PM_IN_NULL;

/// How often (in evaluations) matchinst() forgets instances it has seen in
/// fewer than half of them (libpcp's REGEX_INST_COMPACT), so a dynamic
/// instance domain cannot grow its cache without bound.
const MATCH_SWEEP: u32 = 100;

/// What evaluation needs from the fetch and the context.
pub(crate) trait Env {
    /// The fetched values of an operand.
    fn operand(&self, pmid: Pmid) -> Option<&MetricResult>;
    /// The instances of `indom` (for instance names).
    fn instances(&mut self, indom: InDom) -> Option<&[Instance]>;
    /// The fetch's timestamp.
    fn stamp(&self) -> SystemTime;
}

/// Working space an evaluation reuses from node to node and fetch to
/// fetch: operands converted to a node's type, and instance pairings.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    left: Vec<u64>,
    right: Vec<u64>,
    pairs: Vec<(u32, u32)>,
}

/// Finds, for the `i`th instance of a list, the position of the same
/// instance in `other`: the same position first, else a search (libpcp's
/// order).
fn pair(cur: u32, i: usize, other: &[u32]) -> Option<usize> {
    if other.get(i) == Some(&cur) {
        return Some(i);
    }
    other.iter().position(|&e| e == cur)
}

/// How the entries of `cur` pair with those of `other` by instance (at
/// most `cap` pairs, in `cur`'s order): every position with itself when
/// the instances agree position by position (the usual case), else the
/// pairs found, listed in `list`.
fn pairing<'a>(cur: &[u32], other: &[u32], cap: usize, list: &'a mut Vec<(u32, u32)>) -> Pairs<'a> {
    let n = cur.len().min(other.len()).min(cap);
    if cur[..n] == other[..n] && (n == cap || n == cur.len()) {
        return Pairs::Same(n);
    }
    list.clear();
    for (i, &inst) in cur.iter().enumerate() {
        if list.len() == cap {
            break;
        }
        if let Some(j) = pair(inst, i, other) {
            list.push((i as u32, j as u32));
        }
    }
    Pairs::Listed(list)
}

/// The instances of the pairs' left (or only) side, appended to `out`.
fn pair_instances(pairs: Pairs<'_>, left: &[u32], right: &[u32], out: &mut Vec<u32>) {
    match pairs {
        Pairs::Same(n) => out.extend_from_slice(&left[..n]),
        Pairs::LeftAll(_) => out.extend_from_slice(left),
        Pairs::RightAll(_) => out.extend_from_slice(right),
        Pairs::Listed(list) => out.extend(list.iter().map(|&(i, _)| left[i as usize])),
    }
}

/// A node's numbers in type `to` (scaled by `scale` when given and not
/// 1): its own column when nothing changes, else a converted copy in
/// `buf`.
fn typed<'a>(n: &'a Node, to: Type, scale: Option<(f64, f64)>, buf: &'a mut Vec<u64>) -> &'a [u64] {
    let scale = scale.filter(|s| *s != (1.0, 1.0));
    if n.desc.ty == to && scale.is_none() {
        return &n.vals.num;
    }
    buf.clear();
    column::convert(n.desc.ty, to, &n.vals.num, buf);
    if let Some(s) = scale {
        column::scale_doubles(buf, s);
    }
    buf
}

impl Node {
    /// Evaluates the node over one fetch; the result is left in `vals`.
    pub(crate) fn eval(&mut self, env: &mut dyn Env, s: &mut Scratch) {
        let Node {
            desc, kind, vals, ..
        } = self;
        let ty = desc.ty;
        match kind {
            Kind::Const => {}
            Kind::Anon => vals.clear(),
            Kind::Name { pmid, last, keep } => {
                if *keep {
                    // The values now become the history; the history's
                    // space takes this fetch's values.
                    let before = last.get_or_insert_with(Box::default);
                    std::mem::swap(&mut **before, vals);
                }
                match env.operand(*pmid) {
                    Some(answer) => vals.fill(ty, answer),
                    None => vals.fail(PmError::PMID),
                }
            }
            Kind::Binary(op, l, r) => {
                vals.clear();
                l.eval(env, s);
                if let Some(e) = l.vals.err {
                    return vals.fail(e);
                }
                r.eval(env, s);
                if let Some(e) = r.vals.err {
                    return vals.fail(e);
                }
                binary(*op, ty, l, r, vals, s);
            }
            Kind::Neg(x) => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                vals.inst.extend_from_slice(&x.vals.inst);
                column::convert(x.desc.ty, ty, &x.vals.num, &mut vals.num);
                with_num!(ty, T => vals.num.iter_mut().for_each(|b| *b = T::get(*b).neg().put()));
            }
            Kind::Not(x) => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                vals.inst.extend_from_slice(&x.vals.inst);
                let xt = x.desc.ty;
                vals.num.extend(
                    x.vals
                        .num
                        .iter()
                        .map(|&b| column::of_bool(ty, !column::truth(xt, b))),
                );
            }
            Kind::Ternary(g, y, n) => {
                vals.clear();
                for x in [&mut **g, &mut **y, &mut **n] {
                    x.eval(env, s);
                    if let Some(e) = x.vals.err {
                        return vals.fail(e);
                    }
                }
                ternary(g, y, n, vals);
            }
            Kind::Aggregate(f, x) => {
                vals.clear();
                x.eval(env, s);
                aggregate(*f, ty, x, vals, s);
            }
            Kind::Delta(x) => {
                vals.clear();
                x.eval(env, s);
                let Some((cur, last)) = history(x) else {
                    return vals.fail(PmError::PMID);
                };
                if let Some(e) = cur.err.or(last.and_then(|l| l.err)) {
                    return vals.fail(e);
                }
                let Some(last) = last else { return };
                let pairs = pairing(&cur.inst, &last.inst, usize::MAX, &mut s.pairs);
                pair_instances(pairs, &cur.inst, &last.inst, &mut vals.inst);
                column::delta_pairs(x.desc.ty, &cur.num, &last.num, pairs, &mut vals.num);
            }
            Kind::Rate {
                x,
                stamp,
                time_scale,
            } => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                let now = env.stamp();
                let previous = stamp.replace(now);
                let Some((cur, last)) = history(x) else {
                    return vals.fail(PmError::PMID);
                };
                if let Some(e) = last.and_then(|l| l.err) {
                    return vals.fail(e);
                }
                let (Some(previous), Some(last)) = (previous, last) else {
                    return;
                };
                let secs = match now.duration_since(previous) {
                    Ok(d) => d.as_secs_f64(),
                    Err(e) => -e.duration().as_secs_f64(),
                };
                let scale = *time_scale;
                let pairs = pairing(&cur.inst, &last.inst, usize::MAX, &mut s.pairs);
                pair_instances(pairs, &cur.inst, &last.inst, &mut vals.inst);
                let (a, b, out) = (&cur.num, &last.num, &mut vals.num);
                with_num!(x.desc.ty, T => column::map_pairs(a, b, pairs, out, |p: T, q: T| {
                    T::diff_f64(p, q) / secs * scale
                }));
            }
            Kind::Instant(x) => {
                x.eval(env, s);
                vals.clone_from(&x.vals);
            }
            Kind::Rescale(x, to) => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                // Values that cannot be rescaled are left out.
                let Ok((mult, div)) = crate::units::factors(x.desc.units, *to) else {
                    return;
                };
                vals.inst.extend_from_slice(&x.vals.inst);
                let src = typed(x, ty, None, &mut s.left);
                with_num!(ty, T => vals.num.extend(src.iter().map(|&b| T::get(b).rescale(mult, div).put())));
            }
            Kind::MatchInst {
                pattern,
                x,
                seen,
                evaluations,
            } => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                let indom = x.desc.indom;
                for (i, &inst) in x.vals.inst.iter().enumerate() {
                    let entry = seen.entry(inst).or_insert_with(|| {
                        let hit = env
                            .instances(indom)
                            .and_then(|all| all.iter().find(|e| e.id == inst))
                            .map(|e| {
                                // Only the first word of an external name is matched.
                                let word = e.name.split(' ').next().unwrap_or("");
                                pattern.regex.is_match(word) != pattern.invert
                            })
                            .unwrap_or(false);
                        (hit, 0)
                    });
                    entry.1 += 1;
                    if entry.0 {
                        vals.push_from(&x.vals, i, inst);
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
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                if id.is_none() {
                    *id = env
                        .instances(x.desc.indom)
                        .and_then(|all| crate::indom::find_by_name(all, name).map(|i| i.id));
                }
                if let Some(want) = *id {
                    if let Some(i) = x.vals.inst.iter().position(|&inst| inst == want) {
                        vals.push_from(&x.vals, i, want);
                    }
                }
            }
            Kind::Scalar(x) => {
                vals.clear();
                x.eval(env, s);
                if let Some(e) = x.vals.err {
                    return vals.fail(e);
                }
                if x.vals.len() > 0 {
                    vals.push_from(&x.vals, 0, PM_IN_NULL);
                }
            }
        }
    }
}

/// A delta/rate operand's values now and before (`None` before: no
/// history yet, no value); `None` when the operand is not a metric.
fn history(x: &Node) -> Option<(&Vals, Option<&Vals>)> {
    match &x.kind {
        Kind::Name { last, .. } => Some((&x.vals, last.as_deref())),
        _ => None,
    }
}

fn binary(op: BinOp, ty: Type, l: &Node, r: &Node, out: &mut Vals, s: &mut Scratch) {
    let (lv, rv) = (&l.vals, &r.vals);
    if lv.len() == 0 || rv.len() == 0 {
        return;
    }
    let Scratch { left, right, pairs } = s;
    let pairs = match (!l.desc.indom.is_null(), !r.desc.indom.is_null()) {
        (true, true) => {
            // At most as many results as the shorter list, as libpcp.
            let p = pairing(&lv.inst, &rv.inst, lv.len().min(rv.len()), pairs);
            pair_instances(p, &lv.inst, &rv.inst, &mut out.inst);
            p
        }
        (true, false) => {
            out.inst.extend_from_slice(&lv.inst);
            Pairs::LeftAll(0)
        }
        (false, true) => {
            out.inst.extend_from_slice(&rv.inst);
            Pairs::RightAll(0)
        }
        (false, false) => {
            out.inst.push(rv.inst[0]);
            Pairs::Same(1)
        }
    };
    if op.is_relational() || op.is_boolean() {
        // Compared in the operands' promoted type; the answer is 0 or 1.
        let cty = promote(l.desc.ty, r.desc.ty);
        let (a, b) = (typed(l, cty, None, left), typed(r, cty, None, right));
        with_num!(cty, T => column::compare_pairs::<T>(op, a, b, pairs, &mut out.num));
        return;
    }
    // Unit scale factors apply only to a double result, as libpcp.
    let double = ty == Type::Double;
    let a = typed(l, ty, double.then_some(l.scale), left);
    let b = typed(r, ty, double.then_some(r.scale), right);
    with_num!(ty, T => column::arith_pairs::<T>(op, a, b, pairs, &mut out.num));
}

/// `guard ? yes : no`, position by position as libpcp does: the guard's
/// i-th value picks the i-th value of one branch (a singular branch gives
/// its one value everywhere); instances come from the branch with an
/// instance domain.
fn ternary(g: &Node, y: &Node, n: &Node, out: &mut Vals) {
    let (gl, yl, nl) = (&g.vals, &y.vals, &n.vals);
    if gl.len() == 0 || yl.len() == 0 || nl.len() == 0 {
        return;
    }
    let count = yl.len().max(nl.len());
    let insts = if y.desc.indom.is_null() && !n.desc.indom.is_null() {
        &nl.inst
    } else {
        &yl.inst
    };
    let gty = g.desc.ty;
    if y.desc.ty.is_numeric() && yl.num.len() == yl.len() && nl.num.len() == nl.len() {
        // Numbers: one loop over the guard's truth, no per-value dispatch.
        out.inst
            .extend((0..count).map(|i| insts.get(i).copied().unwrap_or(PM_IN_NULL)));
        let (yn, nn) = (&yl.num, &nl.num);
        let guard = &gl.num;
        with_num!(gty, G => {
            let mut pick_yes = true;
            out.num.extend((0..count).map(|i| {
                if let Some(&b) = guard.get(i) {
                    pick_yes = G::get(b) != G::default();
                }
                let branch = if pick_yes { yn } else { nn };
                *branch.get(i).unwrap_or(&branch[0])
            }));
        });
        return;
    }
    let mut pick_yes = true;
    for i in 0..count {
        if let Some(&b) = gl.num.get(i) {
            pick_yes = column::truth(gty, b);
        }
        let branch = if pick_yes { yl } else { nl };
        let k = if i < branch.len() { i } else { 0 };
        out.push_from(branch, k, insts.get(i).copied().unwrap_or(PM_IN_NULL));
    }
}

fn aggregate(f: Func, ty: Type, x: &Node, out: &mut Vals, s: &mut Scratch) {
    if f == Func::Count {
        let n = match x.vals.err {
            Some(_) => 0,
            None => x.vals.len() as u32,
        };
        out.inst.push(PM_IN_NULL);
        out.num
            .push(column::bits_of(ty, &crate::value::Value::U32(n)));
        return;
    }
    if let Some(e) = x.vals.err {
        return out.fail(e);
    }
    let xs = &x.vals.num;
    let bits = match f {
        Func::Avg => {
            let n = xs.len() as f32;
            let mut acc = 0f32;
            with_num!(x.desc.ty, T => for &b in xs {
                acc += T::get(b).to_f64() as f32 / n;
            });
            column::bits_of(ty, &crate::value::Value::Float(acc))
        }
        Func::Sum => {
            let xs = typed(x, ty, None, &mut s.left);
            with_num!(ty, T => xs
                .iter()
                .fold(T::default(), |acc, &b| T::arith(BinOp::Add, acc, T::get(b)))
                .put())
        }
        _ => {
            // libpcp leaves max()/min() of no values undefined; none here.
            let xs = typed(x, ty, None, &mut s.left);
            let Some(&first) = xs.first() else {
                return;
            };
            let max = f == Func::Max;
            with_num!(ty, T => xs[1..]
                .iter()
                .map(|&b| T::get(b))
                .fold(T::get(first), |best, v| {
                    let better = if max { v > best } else { v < best };
                    if better { v } else { best }
                })
                .put())
        }
    };
    out.inst.push(PM_IN_NULL);
    out.num.push(bits);
}
