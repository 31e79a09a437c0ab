//! Tests of units parsing and scale conversion against PCP 6.0.3's rules.

use super::*;
use crate::desc::Type;
use crate::error::PmError;
use crate::value::Value;

fn u(text: &str) -> (Units, f64) {
    let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    (p.units, p.multiplier)
}

// The examples of the pmParseUnitsStr(3) man page, PCP 6.0.3.
#[test]
fn man_page_examples() {
    assert_eq!(u("2 count"), (Units::new(0, 0, 1, 0, 0, 0), 0.5));
    assert_eq!(
        u("count / 7.5 nanosecond"),
        (Units::new(0, -1, 1, 0, 0, 0), 7.5)
    );
    assert_eq!(
        u("10 kilobytes / 2.5e2 count x 10^3"),
        (Units::new(1, 0, -1, 1, 0, 3), 25.0)
    );
    assert_eq!(
        u("millisecond / second^2"),
        (Units::new(0, -1, 0, 0, 3, 0), 1000.0)
    );
    assert_eq!(u("mib/s"), (Units::new(1, -1, 0, 2, 3, 0), 1.0));
}

#[test]
fn unit_strings_read_back() {
    for text in [
        "Kbyte / sec",
        "millisec / count",
        "count x 10^3",
        "byte",
        "sec",
        "count / sec",
        "Mbyte / hour",
        "nanosec",
    ] {
        assert_eq!(u(text).0.to_string(), text);
    }
    assert_eq!(u("").0, Units::NONE);
    assert_eq!(u("KB").0, Units::KBYTES);
    assert_eq!(u("kbyte").0, Units::KBYTES);
}

#[test]
fn errors_in_libpcp_words() {
    assert_eq!(parse("foo").unwrap_err(), UnitsError::Unrecognized);
    assert_eq!(parse("none").unwrap_err(), UnitsError::Unrecognized);
    assert_eq!(parse("sec sec").unwrap_err(), UnitsError::Unrecognized);
    assert_eq!(parse("sec^x").unwrap_err(), UnitsError::Unrecognized);
    assert_eq!(parse("-").unwrap_err(), UnitsError::BadNumber);
    assert_eq!(
        parse("byte^7 / byte^2").unwrap().units.dim_space,
        5,
        "in range"
    );
    assert_eq!(
        parse("/ byte^9").unwrap_err().to_string(),
        "space dimension out of bounds"
    );
}

#[test]
fn numbers_followed_by_other_characters() {
    // Found by fuzz/fuzz_targets/derive_expr.rs: "inf"/"nan" were
    // compared on a slice of the text that cut a multi-byte character
    // (a panic); the text after a number is now read as bytes.
    assert_eq!(
        parse("mbyte/.e\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}c").unwrap_err(),
        UnitsError::BadNumber
    );
    assert_eq!(
        parse("2\u{fffd}\u{fffd}\u{fffd}").unwrap_err(),
        UnitsError::Unrecognized
    );
}

#[test]
fn conv_scale_rounds_integers() {
    let k = Units::KBYTES;
    let m = Units::MBYTES;
    assert_eq!(
        conv_scale(Type::U64, &Value::U64(1536), k, m),
        Ok(Value::U64(2))
    );
    assert_eq!(
        conv_scale(Type::U64, &Value::U64(1535), k, m),
        Ok(Value::U64(1))
    );
    assert_eq!(
        conv_scale(
            Type::Double,
            &Value::Double(1.5),
            Units::SEC,
            Units::MILLISEC
        ),
        Ok(Value::Double(1500.0))
    );
    assert_eq!(
        conv_scale(Type::U32, &Value::U32(7), Units::NONE, Units::count(1)),
        Ok(Value::U32(1)),
        "none is taken as count: 7 -> 0.7 x 10, rounded"
    );
    assert_eq!(
        conv_scale(Type::U32, &Value::U32(7), Units::SEC, Units::BYTES),
        Err(PmError::CONV)
    );
    assert_eq!(
        conv_scale(
            Type::U32,
            &Value::U32(7),
            Units::space(space::ZBYTE),
            Units::BYTES
        ),
        Err(PmError::UNIT)
    );
}
