//! Types of derived-metric arithmetic as libpcp's derived metrics give
//! them: the promotion of two operand types, and constants read as libpcp
//! reads their text. The arithmetic itself runs over typed columns
//! ([`super::column`]).

use crate::desc::Type;
use crate::value::Value;

/// The result type of an arithmetic operator on two numeric types
/// (libpcp's `promote[][]`: double over float over unsigned 64 over
/// 64 over unsigned 32 over 32).
pub(crate) fn promote(l: Type, r: Type) -> Type {
    use Type::*;
    let rank = |t: Type| match t {
        I32 => 0,
        U32 => 1,
        I64 => 2,
        U64 => 3,
        Float => 4,
        _ => 5,
    };
    let order = [I32, U32, I64, U64, Float, Double];
    order[rank(l).max(rank(r))]
}

/// A constant's value in its type, as libpcp reads the text (`atoi`,
/// `strtoll`, `strtoull` or `atof`).
pub(crate) fn constant(ty: Type, text: &str) -> Value {
    let as_int = || -> i64 {
        text.parse::<u64>()
            .map(|v| v as i64)
            .unwrap_or_else(|_| text.parse::<f64>().map(|f| f as i64).unwrap_or(0))
    };
    let as_float = || -> f64 {
        if text == "." {
            0.0
        } else {
            text.parse::<f64>().unwrap_or(0.0)
        }
    };
    match ty {
        Type::I32 => Value::I32(as_int() as i32),
        Type::U32 => Value::U32(as_int() as u32),
        Type::I64 => Value::I64(as_int()),
        Type::U64 => Value::U64(as_int() as u64),
        Type::Float => Value::Float(as_float() as f32),
        _ => Value::Double(as_float()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_table() {
        assert_eq!(promote(Type::I32, Type::I32), Type::I32);
        assert_eq!(promote(Type::I32, Type::U32), Type::U32);
        assert_eq!(promote(Type::U32, Type::I64), Type::I64);
        assert_eq!(promote(Type::I64, Type::U64), Type::U64);
        assert_eq!(promote(Type::U64, Type::Float), Type::Float);
        assert_eq!(promote(Type::Float, Type::Double), Type::Double);
    }

    #[test]
    fn constants_as_libpcp_reads_them() {
        assert_eq!(constant(Type::U32, "4294967295"), Value::U32(u32::MAX));
        assert_eq!(constant(Type::I32, "4294967295"), Value::I32(-1));
        assert_eq!(constant(Type::Double, "."), Value::Double(0.0));
    }
}
