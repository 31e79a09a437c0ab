//! The types of map metrics: what a printed value needs, which of two types
//! is wider, and the conversion of printed values to a metric's type.

use pcp_core::{Semantics, Type, Value};

use crate::code::Func;
use crate::event::Scalar;

pub(super) fn convert(s: &Scalar, ty: Type) -> Option<Value> {
    Some(match ty {
        Type::I64 => Value::I64(match s {
            Scalar::Int(v) => *v,
            Scalar::UInt(v) => *v as i64,
            Scalar::Float(v) => *v as i64,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        Type::U64 => Value::U64(match s {
            Scalar::Int(v) => *v as u64,
            Scalar::UInt(v) => *v,
            Scalar::Float(v) => *v as u64,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        Type::Double => Value::Double(match s {
            Scalar::Int(v) => *v as f64,
            Scalar::UInt(v) => *v as f64,
            Scalar::Float(v) => *v,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        _ => Value::String(match s {
            Scalar::Int(v) => v.to_string(),
            Scalar::UInt(v) => v.to_string(),
            Scalar::Float(v) => v.to_string(),
            Scalar::Str(t) | Scalar::Text(t) => t.clone(),
        }),
    })
}

/// The type a printed value needs: `U64` for what pmdabpftrace's `U64`
/// holds, else signed, double or string.
pub(super) fn type_needed(s: &Scalar) -> Type {
    match s {
        Scalar::Int(v) if *v < 0 => Type::I64,
        Scalar::Int(_) | Scalar::UInt(_) => Type::U64,
        Scalar::Float(_) => Type::Double,
        Scalar::Str(_) | Scalar::Text(_) => Type::String,
    }
}

/// The widest of two types in the order U64 < I64 < Double < String.
pub(super) fn wider(a: Type, b: Type) -> Type {
    let rank = |t: Type| match t {
        Type::U64 => 0,
        Type::I64 => 1,
        Type::Double => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// pmdabpftrace's descriptor of a map the code assigns: `U64`, counters for
/// `count()`, `hist()` and `lhist()` (stats() is ours: its count).
pub(super) fn func_type(func: Option<Func>) -> Option<(Type, Semantics)> {
    Some(match func? {
        Func::Count | Func::Hist | Func::Lhist => (Type::U64, Semantics::Counter),
        Func::Stats => (Type::I64, Semantics::Instant),
        Func::Sum | Func::Min | Func::Max | Func::Avg | Func::Plain => {
            (Type::U64, Semantics::Instant)
        }
    })
}
