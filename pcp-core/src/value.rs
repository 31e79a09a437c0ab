//! Metric values of every PCP type, and their text forms.

use std::fmt;

use crate::desc::Type;
use crate::error::PmError;

/// One value of a metric, typed as PCP types it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `PM_TYPE_32`.
    I32(i32),
    /// `PM_TYPE_U32`.
    U32(u32),
    /// `PM_TYPE_64`.
    I64(i64),
    /// `PM_TYPE_U64`.
    U64(u64),
    /// `PM_TYPE_FLOAT`.
    Float(f32),
    /// `PM_TYPE_DOUBLE`.
    Double(f64),
    /// `PM_TYPE_STRING`.
    String(String),
    /// `PM_TYPE_AGGREGATE`: opaque bytes.
    Aggregate(Vec<u8>),
}

impl Value {
    /// The PCP type of this value.
    pub fn ty(&self) -> Type {
        match self {
            Value::I32(_) => Type::I32,
            Value::U32(_) => Type::U32,
            Value::I64(_) => Type::I64,
            Value::U64(_) => Type::U64,
            Value::Float(_) => Type::Float,
            Value::Double(_) => Type::Double,
            Value::String(_) => Type::String,
            Value::Aggregate(_) => Type::Aggregate,
        }
    }

    /// The value as a double, for arithmetic (`None` for strings and
    /// aggregates).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Value::I32(v) => v as f64,
            Value::U32(v) => v as f64,
            Value::I64(v) => v as f64,
            Value::U64(v) => v as f64,
            Value::Float(v) => v as f64,
            Value::Double(v) => v,
            Value::String(_) | Value::Aggregate(_) => return None,
        })
    }

    /// The string, for string values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts this value to `ty` as pmExtractValue would: integers widen
    /// or narrow with range checks, floats truncate toward zero when made
    /// integers. Strings only convert to strings.
    pub fn convert(&self, ty: Type) -> Result<Value, PmError> {
        if self.ty() == ty {
            return Ok(self.clone());
        }
        fn int_of(v: &Value) -> Result<i128, PmError> {
            Ok(match *v {
                Value::I32(x) => x as i128,
                Value::U32(x) => x as i128,
                Value::I64(x) => x as i128,
                Value::U64(x) => x as i128,
                Value::Float(x) => float_int(x as f64)?,
                Value::Double(x) => float_int(x)?,
                _ => return Err(PmError::CONV),
            })
        }
        fn float_int(x: f64) -> Result<i128, PmError> {
            if !x.is_finite() {
                return Err(PmError::CONV);
            }
            Ok(x.trunc() as i128)
        }
        fn fit<T: TryFrom<i128>>(n: i128) -> Result<T, PmError> {
            T::try_from(n).map_err(|_| if n < 0 { PmError::SIGN } else { PmError::TRUNC })
        }
        Ok(match ty {
            Type::I32 => Value::I32(fit(int_of(self)?)?),
            Type::U32 => Value::U32(fit(int_of(self)?)?),
            Type::I64 => Value::I64(fit(int_of(self)?)?),
            Type::U64 => Value::U64(fit(int_of(self)?)?),
            Type::Float => Value::Float(self.as_f64().ok_or(PmError::CONV)? as f32),
            Type::Double => Value::Double(self.as_f64().ok_or(PmError::CONV)?),
            Type::String => match self {
                Value::String(s) => Value::String(s.clone()),
                _ => return Err(PmError::CONV),
            },
            Type::Aggregate | Type::AggregateStatic => match self {
                Value::Aggregate(b) => Value::Aggregate(b.clone()),
                Value::String(s) => Value::Aggregate(s.as_bytes().to_vec()),
                _ => return Err(PmError::CONV),
            },
            _ => return Err(PmError::TYPE),
        })
    }

    /// Parses text into a value of type `ty`, as pmstore does with its
    /// argument. Fails with [`PmError::BADSTORE`] on text that is not a value
    /// of that type.
    pub fn parse_as(text: &str, ty: Type) -> Result<Value, PmError> {
        let t = text.trim();
        Ok(match ty {
            Type::I32 => Value::I32(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::U32 => Value::U32(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::I64 => Value::I64(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::U64 => Value::U64(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::Float => Value::Float(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::Double => Value::Double(t.parse().map_err(|_| PmError::BADSTORE)?),
            Type::String => Value::String(text.to_string()),
            Type::Aggregate => Value::Aggregate(text.as_bytes().to_vec()),
            _ => return Err(PmError::TYPE),
        })
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$t> for Value {
                fn from(v: $t) -> Value {
                    Value::$variant(v.into())
                }
            }
        )*
    };
}

value_from! {
    i32 => I32, u32 => U32, i64 => I64, u64 => U64, f32 => Float, f64 => Double,
    String => String, &str => String, Vec<u8> => Aggregate,
}

macro_rules! value_try_into {
    ($($t:ty),* $(,)?) => {
        $(
            impl TryFrom<&Value> for $t {
                type Error = PmError;
                /// The value as this type, converted as [`Value::convert`]
                /// does (so a store of `"7"` into a number fails, a `u64`
                /// of 7 into a `u32` does not).
                fn try_from(v: &Value) -> Result<$t, PmError> {
                    match v.convert(Value::from(<$t>::default()).ty())? {
                        Value::I32(x) => Ok(x as $t),
                        Value::U32(x) => Ok(x as $t),
                        Value::I64(x) => Ok(x as $t),
                        Value::U64(x) => Ok(x as $t),
                        Value::Float(x) => Ok(x as $t),
                        Value::Double(x) => Ok(x as $t),
                        _ => Err(PmError::CONV),
                    }
                }
            }
        )*
    };
}

value_try_into!(i32, u32, i64, u64, f32, f64);

impl TryFrom<&Value> for String {
    type Error = PmError;
    fn try_from(v: &Value) -> Result<String, PmError> {
        v.as_str().map(str::to_string).ok_or(PmError::CONV)
    }
}

/// Formats a double as C's `printf("%.*g", precision, v)` does.
pub fn format_g(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let p = precision.max(1);
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Round to p significant digits via scientific formatting, then decide.
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let fixed = format!("{:.*}", decimals, v);
        trim_fraction(&fixed).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

impl fmt::Display for Value {
    /// The form pminfo -f prints after `value `: integers in decimal, floats
    /// with 8 and doubles with 16 significant digits (`%.8g`, `%.16g`),
    /// strings in double quotes, aggregates as unspaced hex bytes in brackets
    /// (`[0102030405]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::I32(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Float(v) => f.write_str(&format_g(*v as f64, 8)),
            Value::Double(v) => f.write_str(&format_g(*v, 16)),
            Value::String(s) => write!(f, "\"{s}\""),
            Value::Aggregate(b) => {
                // As pminfo prints an aggregate: its bytes in hex, unspaced.
                f.write_str("[")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_g_matches_printf() {
        // Reference values from C printf on this machine.
        assert_eq!(format_g(0.04f32 as f64, 8), "0.039999999");
        assert_eq!(format_g(0.28, 8), "0.28");
        assert_eq!(format_g(100.0, 8), "100");
        assert_eq!(format_g(123456789.0, 8), "1.2345679e+08");
        assert_eq!(format_g(0.0001, 8), "0.0001");
        assert_eq!(format_g(0.00001, 8), "1e-05");
        assert_eq!(format_g(1.5, 16), "1.5");
        assert_eq!(format_g(0.1, 16), "0.1");
        assert_eq!(format_g(1e16, 16), "1e+16");
        assert_eq!(format_g(-2.5e-7, 16), "-2.5e-07");
        assert_eq!(format_g(f64::INFINITY, 8), "inf");
    }

    #[test]
    fn conversions_check_range() {
        assert_eq!(Value::I64(-1).convert(Type::U32), Err(PmError::SIGN));
        assert_eq!(Value::U64(1 << 40).convert(Type::U32), Err(PmError::TRUNC));
        assert_eq!(Value::Double(3.9).convert(Type::I32), Ok(Value::I32(3)));
        assert_eq!(Value::U32(7).convert(Type::Double), Ok(Value::Double(7.0)));
        assert_eq!(
            Value::String("x".into()).convert(Type::U32),
            Err(PmError::CONV)
        );
    }

    #[test]
    fn parse_as_store_argument() {
        assert_eq!(Value::parse_as("42", Type::U32), Ok(Value::U32(42)));
        assert_eq!(Value::parse_as("-1", Type::U32), Err(PmError::BADSTORE));
        assert_eq!(Value::parse_as("x", Type::Double), Err(PmError::BADSTORE));
        assert_eq!(
            Value::parse_as("hi there", Type::String),
            Ok(Value::String("hi there".into()))
        );
    }
}
