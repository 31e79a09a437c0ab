//! The rules of a correct answer, in one place: what every agent's fetch
//! result is made to obey before a client sees it, in process ([`crate::Host`])
//! and under pmcd ([`crate::daemon`]) alike, so one agent gives one answer
//! whichever way it is reached.
//!
//! For each metric of a fetch:
//! - every value has the descriptor's type (converted when it can be, else
//!   the metric fails with the conversion's error: `PM_ERR_CONV`,
//!   `PM_ERR_TRUNC`, `PM_ERR_SIGN`);
//! - a singular metric has at most one value, for instance `PM_IN_NULL`; a
//!   metric with an instance domain has no `PM_IN_NULL` value (either
//!   breach fails the metric with `PM_ERR_INST`: a client could not tell
//!   what the values belong to);
//! - an instance appears at most once (the first value of an instance is
//!   kept, later ones dropped);
//! - only instances the client's profile wants are kept.
//!
//! [`crate::testing::check_agent`] reports each breach as an agent bug;
//! this module makes sure no client ever sees one.
//!
//! ```
//! use pcp_core::answer::normalise;
//! use pcp_core::*;
//!
//! let desc = Desc::new(Pmid::from_parts(400, 0, 0), Type::U32, InDom::NULL,
//!                      Semantics::Instant, Units::NONE);
//! // An agent that answered with a 64-bit value for a 32-bit metric:
//! let fixed = normalise(&desc, &Profile::all(), Ok(vec![(PM_IN_NULL, Value::U64(7))]));
//! assert_eq!(fixed, Ok(vec![(PM_IN_NULL, Value::U32(7))]));
//! // ... and with an instance id on a singular metric:
//! let wrong = normalise(&desc, &Profile::all(), Ok(vec![(3, Value::U32(7))]));
//! assert_eq!(wrong, Err(PmError::INST));
//! ```

use std::collections::HashSet;

use crate::desc::{Desc, Type};
use crate::error::PmError;
use crate::id::PM_IN_NULL;
use crate::indom::Profile;
use crate::pmda::MetricResult;
use crate::value::Value;

/// Makes one metric's answer obey the rules above, given its descriptor
/// and the client's profile. Errors pass through unchanged.
pub fn normalise(desc: &Desc, profile: &Profile, result: MetricResult) -> MetricResult {
    let mut vals = result?;
    if vals.is_empty() {
        return Ok(vals);
    }
    if desc.indom.is_null() {
        if vals.len() != 1 || vals[0].0 != PM_IN_NULL {
            return Err(PmError::INST);
        }
    } else {
        if vals.iter().any(|(i, _)| *i == PM_IN_NULL) {
            return Err(PmError::INST);
        }
        if !profile.is_all() {
            vals.retain(|(i, _)| profile.wants(desc.indom, *i));
        }
        dedup_instances(&mut vals);
    }
    for (_, v) in vals.iter_mut() {
        if !type_matches(v, desc.ty) {
            *v = v.convert(desc.ty)?;
        }
    }
    Ok(vals)
}

/// True when `v` may stand as a value of type `ty` as it is.
pub fn type_matches(v: &Value, ty: Type) -> bool {
    v.ty() == ty || (ty == Type::AggregateStatic && matches!(v, Value::Aggregate(_)))
}

/// Drops every value of an instance after the first. Answers in ascending
/// instance order (the usual case) are checked in one pass; others (a map
/// listed by value, say) with a bitmap when their ids are dense (at most 8
/// bytes of bitmap per value), else by sorting their ids: both far cheaper
/// than hashing each. Only an answer that has a duplicate pays for a set.
pub(crate) fn dedup_instances(vals: &mut Vec<(u32, Value)>) {
    if vals.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    let max = vals.iter().map(|(i, _)| *i as usize).max().unwrap_or(0);
    let unique = if max < vals.len().saturating_mul(64) {
        let mut bits = vec![0u64; max / 64 + 1];
        vals.iter().all(|(i, _)| {
            let (word, bit) = (*i as usize / 64, 1u64 << (i % 64));
            let fresh = bits[word] & bit == 0;
            bits[word] |= bit;
            fresh
        })
    } else {
        let mut ids: Vec<u32> = vals.iter().map(|(i, _)| *i).collect();
        ids.sort_unstable();
        ids.windows(2).all(|w| w[0] < w[1])
    };
    if unique {
        return;
    }
    let mut seen = HashSet::with_capacity(vals.len());
    vals.retain(|(i, _)| seen.insert(*i));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{Semantics, Units};
    use crate::id::{InDom, Pmid};

    fn desc(ty: Type, indom: InDom) -> Desc {
        Desc::new(
            Pmid::from_parts(400, 0, 0),
            ty,
            indom,
            Semantics::Instant,
            Units::NONE,
        )
    }

    #[test]
    fn duplicate_instances_keep_the_first_value() {
        let d = desc(Type::U32, InDom::from_parts(400, 1));
        let r = normalise(
            &d,
            &Profile::all(),
            Ok(vec![
                (2, Value::U32(1)),
                (1, Value::U32(2)),
                (2, Value::U32(3)),
            ]),
        );
        assert_eq!(r, Ok(vec![(2, Value::U32(1)), (1, Value::U32(2))]));
    }

    #[test]
    fn unique_instances_in_any_order_are_kept_in_their_order() {
        let d = desc(Type::U32, InDom::from_parts(400, 1));
        let vals: Vec<(u32, Value)> = [5u32, 1, 9, 3]
            .iter()
            .map(|&i| (i, Value::U32(i)))
            .collect();
        assert_eq!(normalise(&d, &Profile::all(), Ok(vals.clone())), Ok(vals));
    }

    #[test]
    fn sparse_ids_out_of_order_are_checked_too() {
        let d = desc(Type::U32, InDom::from_parts(400, 1));
        let ids = [4_000_000_000u32, 7, 4_000_000_000, 1];
        let vals: Vec<(u32, Value)> = ids.iter().map(|&i| (i, Value::U32(1))).collect();
        let r = normalise(&d, &Profile::all(), Ok(vals)).unwrap();
        let kept: Vec<u32> = r.iter().map(|v| v.0).collect();
        assert_eq!(kept, [4_000_000_000, 7, 1]);
    }

    #[test]
    fn indom_metric_may_not_answer_for_pm_in_null() {
        let d = desc(Type::U32, InDom::from_parts(400, 1));
        let r = normalise(&d, &Profile::all(), Ok(vec![(PM_IN_NULL, Value::U32(1))]));
        assert_eq!(r, Err(PmError::INST));
    }

    #[test]
    fn singular_metric_may_not_answer_twice() {
        let d = desc(Type::U32, InDom::NULL);
        let two = vec![(PM_IN_NULL, Value::U32(1)), (PM_IN_NULL, Value::U32(2))];
        assert_eq!(normalise(&d, &Profile::all(), Ok(two)), Err(PmError::INST));
    }

    #[test]
    fn profile_and_conversion_apply() {
        let indom = InDom::from_parts(400, 1);
        let d = desc(Type::Double, indom);
        let r = normalise(
            &d,
            &Profile::only(indom, [1]),
            Ok(vec![(0, Value::U32(1)), (1, Value::U64(2))]),
        );
        assert_eq!(r, Ok(vec![(1, Value::Double(2.0))]));
        let d = desc(Type::U32, InDom::NULL);
        let r = normalise(&d, &Profile::all(), Ok(vec![(PM_IN_NULL, Value::I64(-1))]));
        assert!(r.is_err());
    }
}
