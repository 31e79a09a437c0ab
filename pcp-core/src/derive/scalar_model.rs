//! The arithmetic of libpcp's derived metrics on one value at a time:
//! operands promoted to the result's type (C's conversions: a negative
//! 32-bit value read as unsigned keeps its bits), integers wrapping, floats
//! in their own precision, unit scale factors applied only to double
//! results. The evaluator works on typed columns ([`super::column`]); this
//! plain model of the same rules is what the columns are checked against.

#![allow(dead_code)]

use super::arith::promote;
use super::ast::BinOp;
use crate::desc::Type;
use crate::value::Value;

/// The raw 64 bits a value holds as an integer (C's union view).
fn bits(v: &Value) -> i64 {
    match *v {
        Value::I32(x) => x as i64,
        Value::U32(x) => x as i64,
        Value::I64(x) => x,
        Value::U64(x) => x as i64,
        Value::Float(x) => x as i64,
        Value::Double(x) => x as i64,
        _ => 0,
    }
}

/// A numeric value as a double (strings are 0).
pub(crate) fn as_f64(v: &Value) -> f64 {
    match *v {
        Value::I32(x) => x as f64,
        Value::U32(x) => x as f64,
        Value::I64(x) => x as f64,
        Value::U64(x) => x as f64,
        Value::Float(x) => x as f64,
        Value::Double(x) => x,
        _ => 0.0,
    }
}

/// True when a numeric value is not zero.
pub(crate) fn is_true(v: &Value) -> bool {
    match *v {
        Value::I32(x) => x != 0,
        Value::U32(x) => x != 0,
        Value::I64(x) => x != 0,
        Value::U64(x) => x != 0,
        Value::Float(x) => x != 0.0,
        Value::Double(x) => x != 0.0,
        _ => false,
    }
}

/// A value converted to `to` as bin_op does before operating.
fn promoted(v: &Value, to: Type) -> Value {
    match to {
        Type::I32 => Value::I32(bits(v) as i32),
        Type::U32 => Value::U32(bits(v) as u32),
        Type::I64 => Value::I64(bits(v)),
        Type::U64 => Value::U64(bits(v) as u64),
        Type::Float => Value::Float(match *v {
            Value::Float(x) => x,
            _ => as_f64(v) as f32,
        }),
        _ => Value::Double(as_f64(v)),
    }
}

/// `l op r` for an arithmetic operator, computed in `ty` (the node's
/// type). `lscale`/`rscale` are the (multiplier, divisor) of each operand,
/// applied only when `ty` is double, as libpcp does.
pub(crate) fn arith(
    ty: Type,
    op: BinOp,
    l: &Value,
    lscale: (f64, f64),
    r: &Value,
    rscale: (f64, f64),
) -> Value {
    match (promoted(l, ty), promoted(r, ty)) {
        (Value::I32(a), Value::I32(b)) => Value::I32(match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            _ => 0,
        }),
        (Value::U32(a), Value::U32(b)) => Value::U32(match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            _ => 0,
        }),
        (Value::I64(a), Value::I64(b)) => Value::I64(match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            _ => 0,
        }),
        (Value::U64(a), Value::U64(b)) => Value::U64(match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            _ => 0,
        }),
        (Value::Float(a), Value::Float(b)) => Value::Float(match op {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            _ => 0.0,
        }),
        (Value::Double(a), Value::Double(b)) => {
            let a = (a / lscale.1) * lscale.0;
            let b = (b / rscale.1) * rscale.0;
            Value::Double(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                // libpcp: a zero numerator is zero whatever the divisor,
                // so 0/0 (an idle process's wait share) prints 0, not NaN.
                BinOp::Div if a == 0.0 => 0.0,
                BinOp::Div => a / b,
                _ => 0.0,
            })
        }
        _ => Value::Double(f64::NAN),
    }
}

/// `l op r` for a relational or boolean operator: compared in the
/// promoted type of the operands, the answer an unsigned 0 or 1.
pub(crate) fn compare(op: BinOp, lt: Type, l: &Value, rt: Type, r: &Value) -> Value {
    fn cmp<T: PartialOrd + Default>(op: BinOp, a: T, b: T) -> bool {
        match op {
            BinOp::Lt => a < b,
            BinOp::Le => a <= b,
            BinOp::Eq => a == b,
            BinOp::Ge => a >= b,
            BinOp::Gt => a > b,
            BinOp::Ne => a != b,
            BinOp::And => a != T::default() && b != T::default(),
            BinOp::Or => a != T::default() || b != T::default(),
            _ => false,
        }
    }
    let ty = promote(lt, rt);
    let yes = match (promoted(l, ty), promoted(r, ty)) {
        (Value::I32(a), Value::I32(b)) => cmp(op, a, b),
        (Value::U32(a), Value::U32(b)) => cmp(op, a, b),
        (Value::I64(a), Value::I64(b)) => cmp(op, a, b),
        (Value::U64(a), Value::U64(b)) => cmp(op, a, b),
        (Value::Float(a), Value::Float(b)) => cmp(op, a, b),
        (Value::Double(a), Value::Double(b)) => cmp(op, a, b),
        _ => false,
    };
    Value::U32(yes as u32)
}

/// `-x` in the node's type (unsigned operands give signed results, C's
/// wrap-around included).
pub(crate) fn negate(ty: Type, x: &Value) -> Value {
    match (ty, x) {
        (Type::I32, Value::U32(v)) => Value::I32(0u32.wrapping_sub(*v) as i32),
        (Type::I32, v) => Value::I32((bits(v) as i32).wrapping_neg()),
        (Type::I64, Value::U64(v)) => Value::I64(0u64.wrapping_sub(*v) as i64),
        (Type::I64, v) => Value::I64(bits(v).wrapping_neg()),
        (Type::Float, Value::Float(v)) => Value::Float(-v),
        (_, v) => Value::Double(-as_f64(v)),
    }
}

/// A value of numeric type `ty` from an unsigned count (for `!x`).
pub(crate) fn of_type(ty: Type, n: u32) -> Value {
    match ty {
        Type::I32 => Value::I32(n as i32),
        Type::I64 => Value::I64(n as i64),
        Type::U64 => Value::U64(n as u64),
        Type::Float => Value::Float(n as f32),
        Type::Double => Value::Double(n as f64),
        _ => Value::U32(n),
    }
}

/// The difference `cur - last` as delta() gives it, in the result type
/// (32-bit unsigned counters give a signed 64-bit difference, 64-bit
/// unsigned ones a double).
pub(crate) fn delta(operand: Type, cur: &Value, last: &Value) -> Value {
    match (operand, cur, last) {
        (Type::I32, Value::I32(a), Value::I32(b)) => Value::I32(a.wrapping_sub(*b)),
        (Type::U32, Value::U32(a), Value::U32(b)) => Value::I64(*a as i64 - *b as i64),
        (Type::I64, Value::I64(a), Value::I64(b)) => Value::I64(a.wrapping_sub(*b)),
        (Type::U64, Value::U64(a), Value::U64(b)) => Value::Double(*a as f64 - *b as f64),
        (Type::Float, Value::Float(a), Value::Float(b)) => Value::Float(a - b),
        (_, a, b) => Value::Double(as_f64(a) - as_f64(b)),
    }
}

/// The difference `cur - last` as rate() computes it before dividing by
/// the interval: in the operand's own type (unsigned counters wrap), then
/// as a double.
pub(crate) fn rate_difference(cur: &Value, last: &Value) -> f64 {
    match (cur, last) {
        (Value::I32(a), Value::I32(b)) => a.wrapping_sub(*b) as f64,
        (Value::U32(a), Value::U32(b)) => a.wrapping_sub(*b) as f64,
        (Value::I64(a), Value::I64(b)) => a.wrapping_sub(*b) as f64,
        (Value::U64(a), Value::U64(b)) => a.wrapping_sub(*b) as f64,
        (Value::Float(a), Value::Float(b)) => (a - b) as f64,
        (a, b) => as_f64(a) - as_f64(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_divided_is_zero_as_libpcp_gives_it() {
        let one = (1.0, 1.0);
        let div = |a: f64, b: f64| {
            arith(
                Type::Double,
                BinOp::Div,
                &Value::Double(a),
                one,
                &Value::Double(b),
                one,
            )
        };
        assert_eq!(div(0.0, 0.0), Value::Double(0.0));
        assert_eq!(div(0.0, 5.0), Value::Double(0.0));
        assert_eq!(div(3.0, 0.0), Value::Double(f64::INFINITY));
        assert_eq!(div(3.0, 2.0), Value::Double(1.5));
    }

    #[test]
    fn c_semantics() {
        let one = (1.0, 1.0);
        // 7 - 9 in unsigned 32 bits, as libpcp prints it.
        assert_eq!(
            arith(
                Type::U32,
                BinOp::Sub,
                &Value::U32(7),
                one,
                &Value::U32(9),
                one
            ),
            Value::U32(4294967294)
        );
        // -2 + 3: a signed -2 read as unsigned, plus 3.
        assert_eq!(
            arith(
                Type::U32,
                BinOp::Add,
                &negate(Type::I32, &Value::U32(2)),
                one,
                &Value::U32(3),
                one
            ),
            Value::U32(1)
        );
        assert_eq!(
            arith(
                Type::Double,
                BinOp::Div,
                &Value::U64(3072),
                (1.0, 1024.0),
                &Value::U32(3),
                one
            ),
            Value::Double(1.0)
        );
        assert_eq!(
            compare(
                BinOp::Gt,
                Type::U32,
                &Value::U32(10),
                Type::U32,
                &Value::U32(9)
            ),
            Value::U32(1)
        );
        assert_eq!(
            delta(Type::U32, &Value::U32(1), &Value::U32(3)),
            Value::I64(-2)
        );
        assert_eq!(rate_difference(&Value::U32(1), &Value::U32(u32::MAX)), 2.0);
    }
}
