//! The typed columns against the one-value-at-a-time model of the same
//! rules (`scalar_model`), and C's conversions.

use super::*;

fn conv(from: Type, v: Value, to: Type) -> Value {
    let mut out = Vec::new();
    convert(from, to, &[bits_of(from, &v)], &mut out);
    value_of(to, out[0])
}

#[test]
fn conversions_are_cs() {
    // A negative 32-bit value read as unsigned keeps its bits.
    assert_eq!(
        conv(Type::I32, Value::I32(-2), Type::U32),
        Value::U32(u32::MAX - 1)
    );
    assert_eq!(
        conv(Type::I32, Value::I32(-2), Type::U64),
        Value::U64(u64::MAX - 1)
    );
    assert_eq!(
        conv(Type::U32, Value::U32(u32::MAX), Type::I64),
        Value::I64(u32::MAX as i64)
    );
    // Floats truncate toward zero into integers.
    assert_eq!(
        conv(Type::Double, Value::Double(-2.7), Type::I32),
        Value::I32(-2)
    );
    assert_eq!(
        conv(Type::Float, Value::Float(1.5), Type::Double),
        Value::Double(1.5)
    );
    // A 64-bit unsigned value above 2^63 as a double.
    assert_eq!(
        conv(Type::U64, Value::U64(u64::MAX), Type::Double),
        Value::Double(u64::MAX as f64)
    );
    // A value of another type than the column's is converted; a string is 0.
    assert_eq!(
        value_of(Type::U64, bits_of(Type::U64, &Value::U32(7))),
        Value::U64(7)
    );
    assert_eq!(
        value_of(
            Type::Double,
            bits_of(Type::Double, &Value::String("x".into()))
        ),
        Value::Double(0.0)
    );
}

#[test]
fn arithmetic_wraps_and_divides_as_libpcp() {
    let col = |ty: Type, v: Value| vec![bits_of(ty, &v)];
    let mut out = Vec::new();
    arith_pairs::<u32>(
        BinOp::Sub,
        &col(Type::U32, Value::U32(7)),
        &col(Type::U32, Value::U32(9)),
        Pairs::Same(1),
        &mut out,
    );
    assert_eq!(value_of(Type::U32, out[0]), Value::U32(4294967294));
    for (a, b, want) in [
        (0.0, 0.0, 0.0),
        (0.0, 5.0, 0.0),
        (3.0, 0.0, f64::INFINITY),
        (3.0, 2.0, 1.5),
    ] {
        out.clear();
        arith_pairs::<f64>(
            BinOp::Div,
            &[f64::to_bits(a)],
            &[f64::to_bits(b)],
            Pairs::Same(1),
            &mut out,
        );
        assert_eq!(f64::from_bits(out[0]), want, "{a}/{b}");
    }
    out.clear();
    let mut scaled = vec![3072f64.to_bits()];
    scale_doubles(&mut scaled, (1.0, 1024.0));
    arith_pairs::<f64>(
        BinOp::Div,
        &scaled,
        &[3f64.to_bits()],
        Pairs::LeftAll(0),
        &mut out,
    );
    assert_eq!(f64::from_bits(out[0]), 1.0);
    out.clear();
    compare_pairs::<u32>(BinOp::Gt, &[10], &[9, 10, 11], Pairs::RightAll(0), &mut out);
    assert_eq!(out, [1, 0, 0]);
    out.clear();
    compare_pairs::<f64>(
        BinOp::And,
        &[0f64.to_bits(), 2f64.to_bits()],
        &[1f64.to_bits(), 1f64.to_bits()],
        Pairs::Listed(&[(1, 0), (0, 1)]),
        &mut out,
    );
    assert_eq!(out, [1, 0]);
    assert!(truth(Type::Float, bits_of(Type::Float, &Value::Float(0.5))));
    assert_eq!(value_of(Type::I64, of_bool(Type::I64, true)), Value::I64(1));
}

mod against_the_scalar_model {
    use proptest::prelude::*;

    use super::super::*;
    use crate::derive::ast::BinOp;
    use crate::derive::scalar_model as model;
    use crate::desc::Units;

    /// A value of each numeric type, with its type.
    fn typed_value() -> impl Strategy<Value = (Type, Value)> {
        prop_oneof![
            any::<i32>().prop_map(|x| (Type::I32, Value::I32(x))),
            any::<u32>().prop_map(|x| (Type::U32, Value::U32(x))),
            any::<i64>().prop_map(|x| (Type::I64, Value::I64(x))),
            any::<u64>().prop_map(|x| (Type::U64, Value::U64(x))),
            any::<f32>().prop_map(|x| (Type::Float, Value::Float(x))),
            any::<f64>().prop_map(|x| (Type::Double, Value::Double(x))),
            // Small numbers too: comparisons and zero numerators.
            (-3i32..3).prop_map(|x| (Type::I32, Value::I32(x))),
            (0u64..3).prop_map(|x| (Type::U64, Value::U64(x))),
            (-2i32..2).prop_map(|x| (Type::Double, Value::Double(x as f64))),
        ]
    }

    /// Equal, a NaN matching a NaN.
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Double(x), Value::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
            (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => a == b,
        }
    }

    fn column(ty: Type, v: &Value) -> Vec<u64> {
        vec![bits_of(ty, v)]
    }

    const SCALES: [(f64, f64); 4] = [(1.0, 1.0), (1.0, 1024.0), (1000.0, 1.0), (1.0, 60.0)];

    proptest! {
        #[test]
        fn arithmetic((lt, l) in typed_value(), (rt, r) in typed_value(),
                      op in 0usize..4, as_double in any::<bool>(),
                      ls in 0usize..4, rs in 0usize..4) {
            let bin = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div][op];
            // A node's type: a quotient (or a rescaled operand) is a double.
            let ty = if bin == BinOp::Div || as_double { Type::Double } else { crate::derive::arith::promote(lt, rt) };
            let (lscale, rscale) = (SCALES[ls], SCALES[rs]);
            let want = model::arith(ty, bin, &l, lscale, &r, rscale);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            convert(lt, ty, &column(lt, &l), &mut a);
            convert(rt, ty, &column(rt, &r), &mut b);
            if ty == Type::Double {
                scale_doubles(&mut a, lscale);
                scale_doubles(&mut b, rscale);
            }
            let mut out = Vec::new();
            with_num!(ty, T => arith_pairs::<T>(bin, &a, &b, Pairs::Same(1), &mut out));
            let got = value_of(ty, out[0]);
            prop_assert!(same(&got, &want), "{l:?} {bin:?} {r:?} in {ty:?}: {got:?}, model {want:?}");
        }

        #[test]
        fn comparisons((lt, l) in typed_value(), (rt, r) in typed_value(), op in 0usize..8) {
            let ops = [BinOp::Lt, BinOp::Le, BinOp::Eq, BinOp::Ge, BinOp::Gt, BinOp::Ne, BinOp::And, BinOp::Or];
            let want = model::compare(ops[op], lt, &l, rt, &r);
            let cty = crate::derive::arith::promote(lt, rt);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            convert(lt, cty, &column(lt, &l), &mut a);
            convert(rt, cty, &column(rt, &r), &mut b);
            let mut out = Vec::new();
            with_num!(cty, T => compare_pairs::<T>(ops[op], &a, &b, Pairs::Same(1), &mut out));
            prop_assert_eq!(value_of(Type::U32, out[0]), want);
        }

        #[test]
        fn negation_and_not((xt, x) in typed_value()) {
            // The node's type: unsigned operands give signed results.
            let ty = match xt { Type::U32 => Type::I32, Type::U64 => Type::I64, t => t };
            let mut out = Vec::new();
            convert(xt, ty, &column(xt, &x), &mut out);
            with_num!(ty, T => out.iter_mut().for_each(|b| *b = T::get(*b).neg().put()));
            let want = model::negate(ty, &x);
            prop_assert!(same(&value_of(ty, out[0]), &want), "-{x:?}: {:?}, model {want:?}", value_of(ty, out[0]));
            let not = of_bool(xt, !truth(xt, bits_of(xt, &x)));
            prop_assert_eq!(value_of(xt, not), model::of_type(xt, !model::is_true(&x) as u32));
        }

        #[test]
        fn deltas_and_rate_differences((ty, now) in typed_value(), before in any::<u64>()) {
            // The previous value, of the same type.
            let before = value_of(ty, match ty {
                Type::Float => (f32::from_bits(before as u32)).to_bits() as u64,
                _ => before,
            });
            let node_ty = match ty { Type::U32 => Type::I64, Type::U64 => Type::Double, t => t };
            let mut out = Vec::new();
            delta_pairs(ty, &column(ty, &now), &column(ty, &before), Pairs::Same(1), &mut out);
            let want = model::delta(ty, &now, &before);
            prop_assert!(same(&value_of(node_ty, out[0]), &want), "{now:?} - {before:?}");
            let got = with_num!(ty, T => T::diff_f64(T::get(bits_of(ty, &now)), T::get(bits_of(ty, &before))));
            let want = model::rate_difference(&now, &before);
            prop_assert!(got == want || (got.is_nan() && want.is_nan()), "{got} {want}");
        }

        #[test]
        fn rescaling_is_pm_conv_scale((ty, x) in typed_value(), pair in 0usize..6) {
            let pairs = [
                (Units::BYTES, Units::KBYTES),
                (Units::KBYTES, Units::BYTES),
                (Units::MILLISEC, Units::SEC),
                (Units::SEC, Units::MICROSEC),
                (Units::NANOSEC, Units::MILLISEC),
                (Units::MBYTES, Units::KBYTES),
            ];
            let (from, to) = pairs[pair];
            let (mult, div) = crate::units::factors(from, to).unwrap();
            let got = with_num!(ty, T => T::get(bits_of(ty, &x)).rescale(mult, div).put());
            let want = crate::units::conv_scale(ty, &x, from, to).unwrap();
            prop_assert!(same(&value_of(ty, got), &want), "{x:?}: {:?}, pmConvScale {want:?}", value_of(ty, got));
        }
    }
}
