//! Rate conversion: successive fetches of counters become per-second rates,
//! as pmval and pmrep show them.
//!
//! - A counter's rate is `(v2 - v1) / (t2 - t1)`; the first sample of an
//!   instance gives no rate.
//! - A counter that goes backwards wrapped: 32-bit counters wrap at 2^32,
//!   64-bit ones at 2^64 (as pmval assumes); doubles cannot wrap, so a
//!   decrease gives no rate (a reset).
//! - Instances that appear get a rate from their second sample on; those
//!   that vanish are forgotten.
//! - A counter in time units (milliseconds of CPU time) becomes a
//!   utilisation: seconds of that time per second, a ratio.
//! - Instant and discrete metrics pass through unchanged.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::desc::{time, Desc, Semantics, Type, Units};
use crate::id::Pmid;
use crate::pmda::MetricResult;
use crate::value::Value;

/// A value after rate conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    /// A number (a rate, a utilisation, or an instant value; a 32-bit
    /// float as the double nearest its shortest decimal, see
    /// [`crate::render::number`]).
    Number(f64),
    /// A non-numeric value, passed through (strings, aggregates).
    Other(Value),
}

/// The units a converted value is in: counters become per second, and time
/// counters become dimensionless utilisation.
pub fn rate_units(desc: &Desc) -> Units {
    if desc.sem != Semantics::Counter {
        return desc.units;
    }
    let u = desc.units;
    if u.dim_time == 1 && u.dim_space == 0 && u.dim_count == 0 {
        return Units::NONE;
    }
    let mut r = u;
    r.dim_time -= 1;
    if r.dim_time == -1 || u.dim_time == 0 {
        r.scale_time = time::SEC;
    }
    r
}

/// Remembers the previous sample of every counter instance and converts new
/// samples into rates.
#[derive(Debug, Default)]
pub struct RateConverter {
    prev: HashMap<(Pmid, u32), (f64, SystemTime)>,
}

impl RateConverter {
    /// A converter with no history.
    pub fn new() -> RateConverter {
        RateConverter::default()
    }

    /// Converts one metric's values fetched at `at`. Counters yield a rate
    /// only for instances seen in the previous sample; other values pass
    /// through. Instances missing from this sample are forgotten.
    pub fn convert(
        &mut self,
        desc: &Desc,
        values: &[(u32, Value)],
        at: SystemTime,
    ) -> Vec<(u32, Option<Converted>)> {
        if desc.sem != Semantics::Counter || !desc.ty.is_numeric() {
            self.prev.retain(|(p, _), _| *p != desc.pmid);
            return values
                .iter()
                .map(|(i, v)| {
                    let c = match crate::render::number::value_decimal(v) {
                        Some(x) => Converted::Number(x),
                        None => Converted::Other(v.clone()),
                    };
                    (*i, Some(c))
                })
                .collect();
        }
        let time_util =
            desc.units.dim_time == 1 && desc.units.dim_space == 0 && desc.units.dim_count == 0;
        let time_scale = if time_util {
            desc.units.conversion_factor(Units::SEC).unwrap_or(1.0)
        } else {
            1.0
        };
        let mut seen = Vec::with_capacity(values.len());
        let out = values
            .iter()
            .map(|(inst, v)| {
                let Some(now) = crate::render::number::value_decimal(v) else {
                    return (*inst, None);
                };
                seen.push(*inst);
                let key = (desc.pmid, *inst);
                let rate = self.prev.get(&key).and_then(|&(before, then)| {
                    let dt = at.duration_since(then).ok()?.as_secs_f64();
                    if dt <= 0.0 {
                        return None;
                    }
                    let delta = counter_delta(desc.ty, before, now)?;
                    Some(delta * time_scale / dt)
                });
                self.prev.insert(key, (now, at));
                (*inst, rate.map(Converted::Number))
            })
            .collect();
        self.prev
            .retain(|(p, i), _| *p != desc.pmid || seen.contains(i));
        out
    }

    /// Converts a whole metric result (errors pass through as `None`).
    pub fn convert_result(
        &mut self,
        desc: &Desc,
        result: &MetricResult,
        at: SystemTime,
    ) -> Option<Vec<(u32, Option<Converted>)>> {
        result.as_ref().ok().map(|v| self.convert(desc, v, at))
    }
}

/// The increase of a counter from `before` to `now`, allowing one wrap of
/// its integer width. `None` when it went backwards and cannot wrap.
fn counter_delta(ty: Type, before: f64, now: f64) -> Option<f64> {
    if now >= before {
        return Some(now - before);
    }
    match ty {
        Type::U32 | Type::I32 => Some(now + 4_294_967_296.0 - before),
        Type::U64 | Type::I64 => Some(now + 18_446_744_073_709_551_616.0 - before),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::InDom;
    use std::time::Duration;

    fn desc(ty: Type, sem: Semantics, units: Units) -> Desc {
        Desc::new(
            Pmid::from_parts(60, 0, 1),
            ty,
            InDom::from_parts(60, 1),
            sem,
            units,
        )
    }

    fn num(x: &Option<Converted>) -> Option<f64> {
        match x {
            Some(Converted::Number(n)) => Some(*n),
            _ => None,
        }
    }

    #[test]
    fn first_sample_gives_no_rate_then_rates() {
        let d = desc(Type::U64, Semantics::Counter, Units::BYTES);
        let mut rc = RateConverter::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let r = rc.convert(&d, &[(0, Value::U64(100))], t0);
        assert_eq!(r[0].1, None);
        let r = rc.convert(&d, &[(0, Value::U64(300))], t0 + Duration::from_secs(2));
        assert_eq!(num(&r[0].1), Some(100.0));
    }

    #[test]
    fn wraps_32_and_64_bit() {
        let mut rc = RateConverter::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let d32 = desc(Type::U32, Semantics::Counter, Units::COUNT);
        rc.convert(&d32, &[(0, Value::U32(u32::MAX - 9))], t0);
        let r = rc.convert(&d32, &[(0, Value::U32(10))], t0 + Duration::from_secs(1));
        assert_eq!(num(&r[0].1), Some(20.0));
        let mut rc = RateConverter::new();
        let d64 = desc(Type::U64, Semantics::Counter, Units::COUNT);
        rc.convert(&d64, &[(0, Value::U64(u64::MAX - 1023))], t0);
        let r = rc.convert(&d64, &[(0, Value::U64(1024))], t0 + Duration::from_secs(1));
        // 2^64 is not exact in f64 arithmetic at this magnitude; allow rounding.
        let v = num(&r[0].1).unwrap();
        assert!((v - 2048.0).abs() <= 4096.0, "{v}");
        let dd = desc(Type::Double, Semantics::Counter, Units::COUNT);
        rc.convert(&dd, &[(0, Value::Double(10.0))], t0);
        let r = rc.convert(&dd, &[(0, Value::Double(5.0))], t0 + Duration::from_secs(1));
        assert_eq!(r[0].1, None);
    }

    #[test]
    fn instances_that_appear_and_vanish() {
        let d = desc(Type::U64, Semantics::Counter, Units::COUNT);
        let mut rc = RateConverter::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        rc.convert(&d, &[(0, Value::U64(1)), (1, Value::U64(1))], t0);
        let r = rc.convert(
            &d,
            &[(0, Value::U64(3)), (2, Value::U64(5))],
            t0 + Duration::from_secs(1),
        );
        assert_eq!(num(&r[0].1), Some(2.0));
        assert_eq!(r[1].1, None, "new instance has no rate yet");
        // Instance 1 vanished: when it comes back it starts afresh.
        let r = rc.convert(&d, &[(1, Value::U64(100))], t0 + Duration::from_secs(2));
        assert_eq!(r[0].1, None);
    }

    #[test]
    fn time_counters_become_utilisation() {
        // kernel.all.cpu.user: U64 counter in millisec. 500 ms over 1 s = 0.5.
        let d = desc(Type::U64, Semantics::Counter, Units::MILLISEC);
        assert_eq!(rate_units(&d), Units::NONE);
        let mut rc = RateConverter::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        rc.convert(&d, &[(0, Value::U64(1000))], t0);
        let r = rc.convert(&d, &[(0, Value::U64(1500))], t0 + Duration::from_secs(1));
        assert_eq!(num(&r[0].1), Some(0.5));
    }

    #[test]
    fn rate_units_of_a_byte_counter() {
        let d = desc(Type::U64, Semantics::Counter, Units::KBYTES);
        assert_eq!(rate_units(&d).to_string(), "Kbyte / sec");
        let d = desc(Type::U64, Semantics::Counter, Units::COUNT);
        assert_eq!(rate_units(&d).to_string(), "count / sec");
        let d = desc(Type::Float, Semantics::Instant, Units::NONE);
        assert_eq!(rate_units(&d), Units::NONE);
    }

    #[test]
    fn instant_values_pass_through() {
        let d = desc(Type::Float, Semantics::Instant, Units::NONE);
        let mut rc = RateConverter::new();
        let r = rc.convert(&d, &[(1, Value::Float(0.5))], SystemTime::now());
        assert_eq!(num(&r[0].1), Some(0.5));
    }

    #[test]
    fn float_values_keep_their_decimal() {
        // 0.06 as an f32 widens to 0.05999999865889549; the converted
        // value is the double of the f32's shortest decimal.
        let d = desc(Type::Float, Semantics::Instant, Units::NONE);
        let mut rc = RateConverter::new();
        let r = rc.convert(&d, &[(1, Value::Float(0.06))], SystemTime::now());
        assert_eq!(num(&r[0].1), Some(0.06));
    }
}
