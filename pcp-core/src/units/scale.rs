//! Rescaling a value between two units of one dimension, as
//! `pmConvScale(3)` does.

use crate::desc::{Type, Units};
use crate::error::PmError;
use crate::value::Value;

/// The multiplier and divisor that take a value from `from` to `to`, as
/// pmConvScale computes them (integers, exact for the scales PCP has).
pub(crate) fn factors(from: Units, to: Units) -> Result<(i64, i64), PmError> {
    let mut i = from;
    let mut o = to;
    // A dimensionless value is taken as a count (pmConvScale's special case).
    if i.is_dimensionless() {
        i.dim_count = 1;
    }
    if o.is_dimensionless() {
        o.dim_count = 1;
    }
    if i.dim_space != o.dim_space || i.dim_time != o.dim_time || i.dim_count != o.dim_count {
        return Err(PmError::CONV);
    }
    let (mut div, mut mult) = (1i64, 1i64);
    let mut apply = |dim: i8, d: i64, m: i64| {
        if dim > 0 {
            for _ in 0..dim {
                div = div.wrapping_mul(d);
                mult = mult.wrapping_mul(m);
            }
        } else {
            for _ in dim..0 {
                mult = mult.wrapping_mul(d);
                div = div.wrapping_mul(m);
            }
        }
    };
    if i.dim_space != 0 {
        // Mbyte is the canonical unit: below it divides, above multiplies.
        let (mut d, mut m) = (1i64, 1i64);
        match i.scale_space {
            0 => d = 1 << 20,
            1 => d = 1 << 10,
            2 => {}
            3 => m = 1 << 10,
            4 => m = 1 << 20,
            5 => m = 1 << 30,
            6 => m = 1 << 40,
            _ => return Err(PmError::UNIT),
        }
        match o.scale_space {
            0 => m *= 1 << 20,
            1 => m *= 1 << 10,
            2 => {}
            3 => d *= 1 << 10,
            4 => d *= 1 << 20,
            5 => d *= 1 << 30,
            6 => d *= 1 << 40,
            _ => return Err(PmError::UNIT),
        }
        apply(i.dim_space, d, m);
    }
    if i.dim_time != 0 {
        let (mut d, mut m) = (1i64, 1i64);
        match i.scale_time {
            0 => d = 1_000_000_000,
            1 => d = 1_000_000,
            2 => d = 1_000,
            3 => {}
            4 => m = 60,
            5 => m = 3600,
            _ => return Err(PmError::UNIT),
        }
        match o.scale_time {
            0 => m *= 1_000_000_000,
            1 => m *= 1_000_000,
            2 => m *= 1_000,
            3 => {}
            4 => d *= 60,
            5 => d *= 3600,
            _ => return Err(PmError::UNIT),
        }
        apply(i.dim_time, d, m);
    }
    if i.dim_count != 0 || (i.dim_space == 0 && i.dim_time == 0) {
        let (mut d, mut m) = (1i64, 1i64);
        if i.scale_count < 0 {
            for _ in i.scale_count..0 {
                d *= 10;
            }
        } else {
            for _ in 0..i.scale_count {
                m *= 10;
            }
        }
        if o.scale_count < 0 {
            for _ in o.scale_count..0 {
                m *= 10;
            }
        } else {
            for _ in 0..o.scale_count {
                d *= 10;
            }
        }
        if i.dim_count != 0 {
            apply(i.dim_count, d, m);
        } else {
            mult = m;
            div = d;
        }
    }
    if div != 0 && mult % div == 0 {
        mult /= div;
        div = 1;
    }
    if div == 0 {
        return Err(PmError::CONV);
    }
    Ok((mult, div))
}

/// Converts `value` (of type `ty`) from `from` to `to` as `pmConvScale(3)`
/// does: integer types are scaled in 64-bit arithmetic and rounded to the
/// nearest, floats in their own precision. Fails with [`PmError::CONV`]
/// when the dimensions differ and [`PmError::UNIT`] for a scale PCP cannot
/// convert (zettabytes and yottabytes, time past hours).
///
/// ```
/// use pcp_core::units::conv_scale;
/// use pcp_core::{Type, Units, Value};
/// let mb = conv_scale(Type::U64, &Value::U64(3_500), Units::KBYTES, Units::MBYTES).unwrap();
/// assert_eq!(mb, Value::U64(3));
/// ```
pub fn conv_scale(ty: Type, value: &Value, from: Units, to: Units) -> Result<Value, PmError> {
    let (mult, div) = factors(from, to)?;
    let half = div / 2;
    Ok(match (ty, value) {
        (Type::I32, Value::I32(v)) => Value::I32(
            (*v as i64)
                .wrapping_mul(mult)
                .wrapping_add(half)
                .wrapping_div(div) as i32,
        ),
        (Type::U32, Value::U32(v)) => Value::U32(
            (*v as i64)
                .wrapping_mul(mult)
                .wrapping_add(half)
                .wrapping_div(div) as u32,
        ),
        (Type::I64, Value::I64(v)) => {
            Value::I64(v.wrapping_mul(mult).wrapping_add(half).wrapping_div(div))
        }
        (Type::U64, Value::U64(v)) => Value::U64(
            v.wrapping_mul(mult as u64)
                .wrapping_add(half as u64)
                .wrapping_div(div as u64),
        ),
        (Type::Float, Value::Float(v)) => Value::Float(v * (mult as f32 / div as f32)),
        (Type::Double, Value::Double(v)) => Value::Double(v * (mult as f64 / div as f64)),
        _ => return Err(PmError::CONV),
    })
}

/// True when a value can be rescaled from `from` to `to` (same dimensions,
/// scales PCP converts).
pub fn convertible(from: Units, to: Units) -> bool {
    factors(from, to).is_ok()
}
