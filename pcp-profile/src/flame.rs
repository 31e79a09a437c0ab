//! Folded stacks (`comm;root;...;leaf COUNT`, Brendan Gregg's format, which
//! Pyroscope's `folded` ingestion and `inferno` read) and SVG flame graphs
//! of one profile or of the difference between two (inferno's
//! differential flame graph: red where the second grew, blue where it
//! shrank, as in Pyroscope's diff view).

use std::collections::BTreeMap;

use crate::error::ProfileError;
use crate::model::{Profile, ProfileKind};

/// The profile's stacks folded, one line per distinct stack (the process
/// name first, then root to leaf), sorted.
///
/// ```
/// # use std::{sync::Arc, time::{Duration, SystemTime}};
/// use pcp_profile::model::{Frame, Function, Profile, ProfileKind};
/// let f = |n: &str| Frame {
///     address: 1,
///     function: Arc::new(Function { name: n.into(), system_name: n.into(), filename: String::new() }),
///     line: 0,
///     mapping: None,
/// };
/// let mut p = Profile::new(ProfileKind::Cpu, "svc", vec![], SystemTime::now(), Duration::from_secs(1), 1);
/// p.add(&[f("leaf"), f("main")], 1, &Arc::from("app"), 3);
/// assert_eq!(pcp_profile::flame::folded(&p), "app;main;leaf 3\n");
/// ```
pub fn folded(p: &Profile) -> String {
    let mut lines: BTreeMap<String, i64> = BTreeMap::new();
    let mut stack = String::new();
    for s in &p.samples {
        stack.clear();
        stack.push_str(&clean(&s.comm));
        for &l in s.locations.iter().rev() {
            let loc = &p.locations[l as usize];
            stack.push(';');
            stack.push_str(&clean(&p.functions[loc.function as usize].name));
        }
        *lines.entry(stack.clone()).or_default() += s.value;
    }
    let mut out = String::new();
    for (stack, n) in lines {
        if n > 0 {
            out.push_str(&stack);
            out.push(' ');
            out.push_str(&n.to_string());
            out.push('\n');
        }
    }
    out
}

/// A frame name safe in a folded line: no separators or line breaks.
fn clean(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| match c {
            ';' => ':',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect();
    if n.trim().is_empty() {
        "[empty]".into()
    } else {
        n
    }
}

fn options(title: &str, kind: ProfileKind) -> inferno::flamegraph::Options<'static> {
    let mut o = inferno::flamegraph::Options::default();
    o.title = title.to_string();
    o.count_name = match kind {
        ProfileKind::Cpu => "samples".into(),
        ProfileKind::OffCpu => "ns".into(),
    };
    o.deterministic = true;
    o
}

/// An SVG flame graph of `folded` lines.
pub fn svg_from_folded(
    folded: &str,
    title: &str,
    kind: ProfileKind,
) -> Result<Vec<u8>, ProfileError> {
    if folded.trim().is_empty() {
        return Ok(empty_svg(title));
    }
    let mut out = Vec::new();
    let mut o = options(title, kind);
    inferno::flamegraph::from_lines(&mut o, folded.lines(), &mut out)
        .map_err(|e| ProfileError::Flame(e.to_string()))?;
    Ok(out)
}

/// An SVG flame graph of the profile.
pub fn svg(p: &Profile, title: &str) -> Result<Vec<u8>, ProfileError> {
    svg_from_folded(&folded(p), title, p.kind)
}

/// The differential folded lines (`stack BEFORE AFTER`) of two profiles,
/// `before` scaled to `after`'s total so that a busier interval does not
/// paint everything red.
pub fn diff_folded(before: &Profile, after: &Profile) -> Result<String, ProfileError> {
    let (b, a) = (folded(before), folded(after));
    let mut out = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            strip_hex: false,
        },
        b.as_bytes(),
        a.as_bytes(),
        &mut out,
    )
    .map_err(|e| ProfileError::Flame(e.to_string()))?;
    String::from_utf8(out).map_err(|e| ProfileError::Flame(e.to_string()))
}

/// A differential flame graph: the shape of `after`, red where it grew
/// since `before`, blue where it shrank.
pub fn diff_svg(before: &Profile, after: &Profile, title: &str) -> Result<Vec<u8>, ProfileError> {
    let lines = diff_folded(before, after)?;
    svg_from_folded(&lines, title, after.kind)
}

fn empty_svg(title: &str) -> Vec<u8> {
    let t = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"1200\" height=\"60\"><text x=\"600\" y=\"24\" text-anchor=\"middle\" \
         font-family=\"Verdana\" font-size=\"17\">{t}</text><text x=\"600\" y=\"48\" \
         text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"12\">no samples</text></svg>\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample_profile;

    #[test]
    fn folded_lines_are_root_first_and_summed_per_stack() {
        let p = sample_profile();
        let f = folded(&p);
        assert_eq!(f, "x;main;cold 10\nx;main;hot 96\n");
    }

    #[test]
    fn flame_graph_names_the_hot_function() {
        let p = sample_profile();
        let s = String::from_utf8(svg(&p, "svc cpu").unwrap()).unwrap();
        assert!(s.starts_with("<?xml"), "{}", &s[..100]);
        assert!(s.contains("<title>hot (96 samples, "), "{s}");
        let empty = Profile::new(
            ProfileKind::Cpu,
            "e",
            vec![],
            std::time::SystemTime::now(),
            std::time::Duration::ZERO,
            1,
        );
        let e = String::from_utf8(svg(&empty, "nothing").unwrap()).unwrap();
        assert!(e.contains("no samples"));
    }

    #[test]
    fn diff_shows_growth_and_shrinkage() {
        let before = sample_profile();
        let mut after = sample_profile();
        // Shift weight from hot to cold.
        for s in &mut after.samples {
            let name =
                &after.functions[after.locations[s.locations[0] as usize].function as usize].name;
            s.value = if name == "cold" { 80 } else { 10 };
        }
        let d = diff_folded(&before, &after).unwrap();
        assert!(d.contains("x;main;cold "), "{d}");
        let line = d.lines().find(|l| l.starts_with("x;main;cold ")).unwrap();
        let n: Vec<i64> = line
            .split(' ')
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect();
        assert!(n[1] > n[0], "cold grew: {line}");
        let s = String::from_utf8(diff_svg(&before, &after, "diff").unwrap()).unwrap();
        // inferno colours growth red (rgb(255,...)) and shrinkage blue.
        assert!(s.contains("rgb(255,"), "no red in the diff");
        assert!(s.contains(",255)"), "no blue in the diff");
    }
}
