//! Conversions between the crate's [`Value`] and wire values: 32-bit
//! integers travel in place (PM_VAL_INSITU), everything else in a value
//! block (strings with their NUL inside `vlen`).

use super::ValueBlock;
use crate::desc::Type;
use crate::error::PmError;
use crate::value::Value;

/// The largest payload a value block can carry (24-bit `vlen` minus the
/// 4-byte header).
pub const MAX_BLOCK_PAYLOAD: usize = 0x00ff_ffff - 4;

/// The in-place word of a 32-bit value, or `None` for types that need a
/// block.
pub fn insitu_from_value(v: &Value) -> Option<u32> {
    match *v {
        Value::I32(x) => Some(x as u32),
        Value::U32(x) => Some(x),
        _ => None,
    }
}

/// The value block of a value (any type; 32-bit values too, as PCP does in
/// a set that needs blocks).
pub fn block_from_value(v: &Value) -> ValueBlock {
    let data = match v {
        Value::I32(x) => x.to_be_bytes().to_vec(),
        Value::U32(x) => x.to_be_bytes().to_vec(),
        Value::I64(x) => x.to_be_bytes().to_vec(),
        Value::U64(x) => x.to_be_bytes().to_vec(),
        Value::Float(x) => x.to_bits().to_be_bytes().to_vec(),
        Value::Double(x) => x.to_bits().to_be_bytes().to_vec(),
        Value::String(s) => {
            let mut d = Vec::with_capacity(s.len() + 1);
            d.extend_from_slice(s.as_bytes());
            d.push(0);
            d
        }
        Value::Aggregate(b) => b.clone(),
    };
    ValueBlock {
        vtype: v.ty().code() as u8,
        data,
    }
}

/// The value of an in-place word, given the metric's type (the wire does
/// not say whether it is signed). Only `I32` and `U32` (and, for legacy
/// senders, `Float`) travel in place.
pub fn value_from_insitu(word: u32, ty: Type) -> Result<Value, PmError> {
    Ok(match ty {
        Type::I32 => Value::I32(word as i32),
        Type::U32 => Value::U32(word),
        Type::Float => Value::Float(f32::from_bits(word)),
        _ => return Err(PmError::TYPE),
    })
}

/// The value in a block, by the block's own type. Strings lose their
/// terminating NUL (and anything after it); aggregates keep their bytes.
pub fn value_from_block(b: &ValueBlock) -> Result<Value, PmError> {
    fn fixed<const N: usize>(d: &[u8]) -> Result<[u8; N], PmError> {
        d.get(..N)
            .and_then(|s| s.try_into().ok())
            .ok_or(PmError::VALUE)
    }
    let d = &b.data;
    Ok(match Type::from_code(b.vtype as i32)? {
        Type::I32 => Value::I32(i32::from_be_bytes(fixed(d)?)),
        Type::U32 => Value::U32(u32::from_be_bytes(fixed(d)?)),
        Type::I64 => Value::I64(i64::from_be_bytes(fixed(d)?)),
        Type::U64 => Value::U64(u64::from_be_bytes(fixed(d)?)),
        Type::Float => Value::Float(f32::from_bits(u32::from_be_bytes(fixed(d)?))),
        Type::Double => Value::Double(f64::from_bits(u64::from_be_bytes(fixed(d)?))),
        Type::String => {
            let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
            Value::String(String::from_utf8_lossy(&d[..end]).into_owned())
        }
        Type::Aggregate | Type::AggregateStatic => Value::Aggregate(d.clone()),
        _ => return Err(PmError::TYPE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_type_round_trips_through_a_block() {
        for v in [
            Value::I32(-5),
            Value::U32(7),
            Value::I64(-(1 << 33)),
            Value::U64((1 << 40) + 7),
            Value::Float(0.25),
            Value::Double(1.5),
            Value::String("hello pmcd".into()),
            Value::String(String::new()),
            Value::Aggregate(vec![1, 2, 3, 4, 5]),
        ] {
            let b = block_from_value(&v);
            assert_eq!(b.vtype as i32, v.ty().code());
            assert_eq!(value_from_block(&b).unwrap(), v);
        }
        let s = block_from_value(&Value::String("hi".into()));
        assert_eq!(s.data, b"hi\0");
    }

    #[test]
    fn insitu_needs_the_type() {
        let w = insitu_from_value(&Value::I32(-42)).unwrap();
        assert_eq!(w, 0xffff_ffd6);
        assert_eq!(value_from_insitu(w, Type::I32), Ok(Value::I32(-42)));
        assert_eq!(value_from_insitu(w, Type::U32), Ok(Value::U32(0xffff_ffd6)));
        assert_eq!(value_from_insitu(w, Type::U64), Err(PmError::TYPE));
        assert!(insitu_from_value(&Value::Double(1.0)).is_none());
    }

    #[test]
    fn short_blocks_are_errors_not_panics() {
        let b = ValueBlock {
            vtype: 5,
            data: vec![1, 2],
        };
        assert_eq!(value_from_block(&b), Err(PmError::VALUE));
        let b = ValueBlock {
            vtype: 99,
            data: vec![],
        };
        assert_eq!(value_from_block(&b), Err(PmError::TYPE));
    }
}
