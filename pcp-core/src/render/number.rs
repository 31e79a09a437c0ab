//! Numbers as text: the shortest decimal that reads back as the same
//! value, for 32-bit floats as well as doubles.
//!
//! A 32-bit float widened to a double keeps its binary value, so printed
//! as a double it shows digits nobody measured: a load of 0.06 held in an
//! `f32` is 0.05999999865889549 as an `f64`. Every renderer here prints an
//! `f32` as the shortest decimal that reads back as the same `f32`
//! (`0.06`), and JSON carries it as the double nearest that decimal, which
//! JSON writers print as the same short digits. (pminfo-style text keeps
//! pminfo's own `%.8g`, in [`crate::value`].)

use std::fmt::Write as _;

use crate::value::Value;

/// The double nearest the shortest decimal that reads back as `x` (as an
/// `f32`): `f32_decimal(0.06)` is `0.06_f64`, not `0.05999999865889549`.
/// Infinities and NaN stay what they are.
pub fn f32_decimal(x: f32) -> f64 {
    if !x.is_finite() {
        return x as f64;
    }
    // Rust's float formatting prints the shortest digits that round-trip.
    let mut buf = String::with_capacity(24);
    let _ = write!(buf, "{x:e}");
    buf.parse().unwrap_or(x as f64)
}

/// A value as a double for readers that show numbers (JSON, rates): an
/// `f32` through [`f32_decimal`], others as [`Value::as_f64`] gives them.
pub fn value_decimal(v: &Value) -> Option<f64> {
    match v {
        Value::Float(x) => Some(f32_decimal(*x)),
        other => other.as_f64(),
    }
}

/// Appends `x` in its shortest round-trip form, plain for ordinary
/// magnitudes and in exponent form for very large or small ones;
/// non-finite values as the exposition formats write them (`NaN`,
/// `+Inf`, `-Inf`).
pub fn push_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    } else if x == 0.0 || (1e-5..1e16).contains(&x.abs()) {
        let _ = write!(out, "{x}");
    } else {
        let _ = write!(out, "{x:e}");
    }
}

/// As [`push_f64`], with the shortest digits that read back as the `f32`.
pub fn push_f32(out: &mut String, x: f32) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    } else if x == 0.0 || (1e-5..1e16).contains(&x.abs()) {
        let _ = write!(out, "{x}");
    } else {
        let _ = write!(out, "{x:e}");
    }
}

/// Appends a numeric value as exposition text (integers in decimal,
/// floats by [`push_f32`] and [`push_f64`]); strings and aggregates, which
/// have no number, append nothing.
pub fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::I32(x) => {
            let _ = write!(out, "{x}");
        }
        Value::U32(x) => {
            let _ = write!(out, "{x}");
        }
        Value::I64(x) => {
            let _ = write!(out, "{x}");
        }
        Value::U64(x) => {
            let _ = write!(out, "{x}");
        }
        Value::Float(x) => push_f32(out, *x),
        Value::Double(x) => push_f64(out, *x),
        Value::String(_) | Value::Aggregate(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_text(x: f32) -> String {
        let mut s = String::new();
        push_f32(&mut s, x);
        s
    }

    fn f64_text(x: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, x);
        s
    }

    #[test]
    fn f32_values_print_as_their_shortest_decimal() {
        assert_eq!(f32_text(0.06), "0.06");
        assert_eq!(f32_text(0.58), "0.58");
        assert_eq!(f32_text(1.0), "1");
        assert_eq!(f32_text(-2.5), "-2.5");
        assert_eq!(f32_text(3.4028235e38), "3.4028235e38");
        assert_eq!(f32_text(1e-7), "1e-7");
        assert_eq!(f32_text(f32::NAN), "NaN");
        assert_eq!(f32_text(f32::NEG_INFINITY), "-Inf");
        assert_eq!(f32_decimal(0.06), 0.06);
        assert_eq!(f32_decimal(0.26), 0.26);
        assert_eq!(serde_json::json!(f32_decimal(0.06)).to_string(), "0.06");
    }

    #[test]
    fn every_f32_reads_back_as_itself() {
        // A spread of bit patterns over the whole range.
        let mut bits: u32 = 1;
        for _ in 0..200_000 {
            bits = bits.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let x = f32::from_bits(bits);
            if !x.is_finite() {
                continue;
            }
            let text = f32_text(x);
            assert_eq!(text.parse::<f32>().unwrap(), x, "{text}");
            assert_eq!(f32_decimal(x) as f32, x, "{x:e}");
        }
    }

    #[test]
    fn doubles_print_shortest() {
        assert_eq!(f64_text(0.1), "0.1");
        assert_eq!(f64_text(1e300), "1e300");
        assert_eq!(f64_text(-1.5e-300), "-1.5e-300");
        assert_eq!(f64_text(123456789.0), "123456789");
        assert_eq!(f64_text(f64::INFINITY), "+Inf");
    }
}
