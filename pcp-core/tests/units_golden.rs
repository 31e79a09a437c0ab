//! Units text compared with PCP 6.0.3's own pmUnitsStr() over a grid of
//! 8000 units (tests/fixtures/units-golden.txt, written by libpcp through
//! tests/fixtures/gen_units_golden.py on a machine with PCP installed).

use pcp_core::Units;

#[test]
fn units_text_matches_libpcp() {
    let golden = include_str!("fixtures/units-golden.txt");
    let mut mismatches = Vec::new();
    let mut n = 0;
    for line in golden.lines() {
        let (word, expected) = line.split_once('\t').expect("word<TAB>text");
        let word = u32::from_str_radix(word, 16).expect("hex word");
        // pmUnitsStr gives "" for dimensionless units; pminfo and pmval print
        // "none" there, and so does our Display.
        let expected = if expected.is_empty() {
            "none"
        } else {
            expected
        };
        let got = Units::from_word(word).to_string();
        n += 1;
        if got != expected {
            mismatches.push(format!("{word:08x}: libpcp {expected:?}, ours {got:?}"));
        }
    }
    assert_eq!(n, 8000);
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g.:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(15)].join("\n")
    );
}
