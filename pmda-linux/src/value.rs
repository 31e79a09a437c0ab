//! Values as pmdalinux gives them: a number is narrowed to the metric's
//! type the way its C assignments narrow (wrapping, truncating), not
//! refused as a checked conversion would. [`Put`] puts such values into a
//! [`Sink`], whose own conversion then has nothing to do.

use pcp_core::agent::Sink;
use pcp_core::{Type, Value};

/// `v` as a value of type `ty`, narrowed as C narrows an unsigned 64-bit
/// integer (an `i32` metric of `u64::MAX` is -1).
pub(crate) fn typed_u64(v: u64, ty: Type) -> Value {
    match ty {
        Type::U32 => Value::U32(v as u32),
        Type::I32 => Value::I32(v as i32),
        Type::I64 => Value::I64(v as i64),
        Type::Float => Value::Float(v as f32),
        Type::Double => Value::Double(v as f64),
        Type::String => Value::String(v.to_string()),
        _ => Value::U64(v),
    }
}

/// `v` as a value of type `ty`, truncated toward zero for integers.
pub(crate) fn typed_f64(v: f64, ty: Type) -> Value {
    match ty {
        Type::Float => Value::Float(v as f32),
        Type::Double => Value::Double(v),
        Type::U32 => Value::U32(v as u32),
        Type::I32 => Value::I32(v as i32),
        Type::I64 => Value::I64(v as i64),
        Type::String => Value::String(v.to_string()),
        _ => Value::U64(v as u64),
    }
}

/// Numbers into a sink, typed as pmdalinux types them.
pub(crate) trait Put {
    /// The value of a singular metric.
    fn set_u64(&mut self, v: u64);
    /// The value of instance `inst`.
    fn put_u64(&mut self, inst: u32, v: u64);
    /// The real value of a singular metric.
    fn set_f64(&mut self, v: f64);
    /// The real value of instance `inst`.
    fn put_f64(&mut self, inst: u32, v: f64);
    /// The value of a singular metric, if there is one.
    fn set_opt(&mut self, v: Option<u64>) {
        if let Some(v) = v {
            self.set_u64(v);
        }
    }
}

impl Put for Sink<'_> {
    fn set_u64(&mut self, v: u64) {
        let ty = self.desc().ty;
        self.set(typed_u64(v, ty));
    }

    fn put_u64(&mut self, inst: u32, v: u64) {
        let ty = self.desc().ty;
        self.put(inst, typed_u64(v, ty));
    }

    fn set_f64(&mut self, v: f64) {
        let ty = self.desc().ty;
        self.set(typed_f64(v, ty));
    }

    fn put_f64(&mut self, inst: u32, v: f64) {
        let ty = self.desc().ty;
        self.put(inst, typed_f64(v, ty));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_wraps_as_c_does() {
        assert_eq!(typed_u64(u64::MAX, Type::I32), Value::I32(-1));
        assert_eq!(typed_u64(1 << 32 | 5, Type::U32), Value::U32(5));
        assert_eq!(typed_f64(2.9, Type::U32), Value::U32(2));
        assert_eq!(typed_f64(0.5, Type::Float), Value::Float(0.5));
    }
}
