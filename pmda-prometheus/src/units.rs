//! Units from text, as `pmParseUnitsStr(3)` reads them (`count`,
//! `Kbyte / sec`, `millisec`, `count x 10^3`, `none`), and from
//! OpenMetrics `# UNIT` words and name suffixes.

use pcp_core::desc::{space, time};
use pcp_core::Units;

fn space_scale(w: &str) -> Option<u8> {
    let w = w.to_ascii_lowercase();
    let w = w.strip_suffix('s').unwrap_or(&w).to_string();
    Some(match w.as_str() {
        "byte" | "b" => space::BYTE,
        "kbyte" | "kb" | "kib" | "kilobyte" => space::KBYTE,
        "mbyte" | "mb" | "mib" | "megabyte" => space::MBYTE,
        "gbyte" | "gb" | "gib" | "gigabyte" => space::GBYTE,
        "tbyte" | "tb" | "tib" | "terabyte" => space::TBYTE,
        "pbyte" | "pb" | "pib" | "petabyte" => space::PBYTE,
        "ebyte" | "eb" | "eib" | "exabyte" => space::EBYTE,
        "zbyte" | "zb" | "zib" => space::ZBYTE,
        "ybyte" | "yb" | "yib" => space::YBYTE,
        _ => return None,
    })
}

fn time_scale(w: &str) -> Option<u8> {
    let w = w.to_ascii_lowercase();
    Some(match w.as_str() {
        "nanosec" | "nanosecond" | "nanoseconds" | "nsec" | "ns" => time::NSEC,
        "microsec" | "microsecond" | "microseconds" | "usec" | "us" => time::USEC,
        "millisec" | "millisecond" | "milliseconds" | "msec" | "ms" => time::MSEC,
        "sec" | "second" | "seconds" | "s" => time::SEC,
        "min" | "minute" | "minutes" => time::MIN,
        "hour" | "hours" | "hr" => time::HOUR,
        _ => return None,
    })
}

/// Parses a units string. `None` for text that is not units.
///
/// ```
/// use pcp_core::Units;
/// use pmda_prometheus::units::parse_units;
/// assert_eq!(parse_units("count"), Some(Units::COUNT));
/// assert_eq!(parse_units("none"), Some(Units::NONE));
/// assert_eq!(parse_units("Kbyte"), Some(Units::KBYTES));
/// assert_eq!(parse_units("millisec"), Some(Units::MILLISEC));
/// assert_eq!(parse_units("byte / sec").unwrap().to_string(), "byte / sec");
/// assert_eq!(parse_units("count x 10^3").unwrap().to_string(), "count x 10^3");
/// assert_eq!(parse_units("furlongs"), None);
/// ```
pub fn parse_units(text: &str) -> Option<Units> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Some(Units::NONE);
    }
    let mut u = Units::NONE;
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    part(num, 1, &mut u)?;
    if let Some(d) = den {
        part(d, -1, &mut u)?;
    }
    Some(u)
}

fn part(text: &str, sign: i8, u: &mut Units) -> Option<()> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let (base, power) = match w.split_once('^') {
            Some((b, p)) => (b, p.parse::<i8>().ok()?),
            None => (w, 1),
        };
        if base.eq_ignore_ascii_case("x") {
            // "x 10^N": a count scale.
            let next = words.get(i + 1)?;
            let exp = next
                .strip_prefix("10^")
                .map_or_else(|| (*next == "10").then_some(1), |e| e.parse::<i8>().ok())?;
            u.scale_count = exp;
            i += 2;
            continue;
        }
        if base.eq_ignore_ascii_case("count") || base.eq_ignore_ascii_case("counts") {
            u.dim_count += sign * power;
        } else if let Some(s) = space_scale(base) {
            u.dim_space += sign * power;
            u.scale_space = s;
        } else if let Some(t) = time_scale(base) {
            u.dim_time += sign * power;
            u.scale_time = t;
        } else if base.eq_ignore_ascii_case("none") && words.len() == 1 {
        } else {
            return None;
        }
        i += 1;
    }
    Some(())
}

/// Units for an OpenMetrics `# UNIT` word (the base units OpenMetrics
/// prescribes). `None` for units PCP cannot express (ratios, celsius...).
pub fn openmetrics_unit(word: &str) -> Option<Units> {
    Some(match word {
        "seconds" => Units::SEC,
        "milliseconds" => Units::MILLISEC,
        "microseconds" => Units::new(0, 1, 0, 0, time::USEC, 0),
        "nanoseconds" => Units::new(0, 1, 0, 0, time::NSEC, 0),
        "bytes" => Units::BYTES,
        "kilobytes" => Units::KBYTES,
        "count" | "total" => Units::COUNT,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_units("sec"), Some(Units::SEC));
        assert_eq!(parse_units("  count  "), Some(Units::COUNT));
        let u = parse_units("Mbyte / sec").unwrap();
        assert_eq!(
            (u.dim_space, u.dim_time, u.scale_space),
            (1, -1, space::MBYTE)
        );
        let u = parse_units("count / sec^2").unwrap();
        assert_eq!((u.dim_count, u.dim_time), (1, -2));
        assert_eq!(parse_units("x 10^6").unwrap().scale_count, 6);
        assert_eq!(parse_units("1 / sec"), None);
        assert_eq!(openmetrics_unit("bytes"), Some(Units::BYTES));
        assert_eq!(openmetrics_unit("celsius"), None);
    }
}
