//! The grammar of a line: nom parsers over `&str` for its pieces (names,
//! label sets, numbers, exemplars), the hot ones scanning bytes through a
//! class table, and the sample and comment lines built from them.

use super::{ErrorKind, LabelValue, Line, MetricType, Sample};
use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{opt, rest};
use nom::sequence::preceded;
use nom::IResult;

#[inline]
pub(super) fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
pub(super) fn is_space_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[inline]
pub(super) fn trim_line(line: &str) -> &str {
    let b = line.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && b[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &line[start..end]
}

// Byte classes for names: 1 = may start a metric name, 2 = may continue
// one, 4 = may start a label name, 8 = may continue one.
pub(super) const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alpha = c.is_ascii_alphabetic();
        let digit = c.is_ascii_digit();
        let mut v = 0;
        if alpha || c == b'_' || c == b':' {
            v |= 1;
        }
        // '.' continues a name: PCP's own /metrics output (pmproxy, pmwebd)
        // uses dotted names, and the reference agent accepts them.
        if alpha || digit || c == b'_' || c == b':' || c == b'.' {
            v |= 2;
        }
        if alpha || c == b'_' {
            v |= 4;
        }
        if alpha || digit || c == b'_' {
            v |= 8;
        }
        t[i] = v;
        i += 1;
    }
    t
}
pub(super) static CLASS: [u8; 256] = byte_classes();

pub(super) type Res<'a, T> = IResult<&'a str, T, ()>;

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:.]*`.
pub(super) fn metric_name(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    if b.is_empty() || CLASS[b[0] as usize] & 1 == 0 {
        return Err(nom::Err::Error(()));
    }
    let mut n = 1;
    while n < b.len() && CLASS[b[n] as usize] & 2 != 0 {
        n += 1;
    }
    Ok((&i[n..], &i[..n]))
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(super) fn label_name(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    if b.is_empty() || CLASS[b[0] as usize] & 4 == 0 {
        return Err(nom::Err::Error(()));
    }
    let mut n = 1;
    while n < b.len() && CLASS[b[n] as usize] & 8 != 0 {
        n += 1;
    }
    Ok((&i[n..], &i[..n]))
}

/// Optional blanks.
pub(super) fn ws(i: &str) -> Res<'_, ()> {
    let b = i.as_bytes();
    let mut n = 0;
    while n < b.len() && is_space(b[n]) {
        n += 1;
    }
    Ok((&i[n..], ()))
}

/// At least one blank.
pub(super) fn ws1(i: &str) -> Res<'_, ()> {
    match i.as_bytes().first() {
        Some(&c) if is_space(c) => ws(i),
        _ => Err(nom::Err::Error(())),
    }
}

/// A double-quoted string with backslash escapes; gives the text between
/// the quotes.
pub(super) fn quoted(i: &str) -> Res<'_, LabelValue<'_>> {
    let b = i.as_bytes();
    if b.first() != Some(&b'"') {
        return Err(nom::Err::Error(()));
    }
    let mut pos = 1;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', &b[pos..]) {
            None => return Err(nom::Err::Error(())),
            Some(off) => {
                let at = pos + off;
                if b[at] == b'"' {
                    let raw = &i[1..at];
                    return Ok((&i[at + 1..], LabelValue { raw, escaped }));
                }
                escaped = true;
                pos = at + 2;
                if pos > b.len() {
                    return Err(nom::Err::Error(()));
                }
            }
        }
    }
}

/// `name ws? = ws? "value"`.
pub(super) fn label_pair(i: &str) -> Res<'_, (&str, LabelValue<'_>)> {
    let (i, name) = label_name(i)?;
    let (i, _) = ws(i)?;
    let (i, _) = tag("=")(i)?;
    let (i, _) = ws(i)?;
    let (i, value) = quoted(i)?;
    Ok((i, (name, value)))
}

/// `{ pairs }` with blanks allowed around separators and a trailing comma
/// allowed; gives the text between the braces.
pub(super) fn label_set(i: &str) -> Res<'_, &str> {
    let (body, _) = tag("{")(i)?;
    let (mut cur, _) = ws(body)?;
    let mut first = true;
    loop {
        if let Some(after) = cur.strip_prefix('}') {
            let inner = &body[..body.len() - cur.len()];
            return Ok((after, inner));
        }
        if !first {
            let (c, _) = tag(",")(cur)?;
            let (c, _) = ws(c)?;
            cur = c;
            if let Some(after) = cur.strip_prefix('}') {
                let inner = &body[..body.len() - cur.len()];
                return Ok((after, inner));
            }
        }
        let (c, _) = label_pair(cur)?;
        let (c, _) = ws(c)?;
        cur = c;
        first = false;
    }
}

/// A token up to the next blank.
pub(super) fn token(i: &str) -> Res<'_, &str> {
    let b = i.as_bytes();
    let mut n = 0;
    while n < b.len() && !is_space(b[n]) {
        n += 1;
    }
    if n == 0 {
        return Err(nom::Err::Error(()));
    }
    Ok((&i[n..], &i[..n]))
}

/// Parses a number as Prometheus writes them (`1`, `-1.5e3`, `+Inf`,
/// `NaN`).
#[inline]
pub fn parse_number(s: &str) -> Option<f64> {
    // Rust rejects a leading '+' on nothing but accepts it on numbers and
    // "inf"; "Inf"/"NaN" are matched case-insensitively, as Go does.
    s.parse::<f64>().ok()
}

/// The exemplar: `# {labels} value [timestamp]`.
pub(super) fn exemplar(i: &str) -> Res<'_, &str> {
    let (i, _) = tag("#")(i)?;
    let start = i;
    let (i, _) = ws(i)?;
    let (i, _) = label_set(i)?;
    let (i, _) = ws(i)?;
    let (i, v) = token(i)?;
    parse_number(v).ok_or(nom::Err::Error(()))?;
    let (i, ts) = opt(preceded(ws1, token))(i)?;
    if let Some(ts) = ts {
        parse_number(ts).ok_or(nom::Err::Error(()))?;
    }
    let (i, _) = ws(i)?;
    Ok((i, trim_line(&start[..start.len() - i.len()])))
}

pub(super) fn sample_line(line: &str) -> Result<Sample<'_>, ErrorKind> {
    let (i, name) = metric_name(line).map_err(|_| ErrorKind::BadName)?;
    let (i, _) = ws(i).map_err(|_| ErrorKind::BadName)?;
    let (i, labels) = if i.as_bytes().first() == Some(&b'{') {
        let (i, l) = label_set(i).map_err(|_| ErrorKind::BadLabels)?;
        let (i, _) = ws(i).map_err(|_| ErrorKind::BadLabels)?;
        (i, l)
    } else {
        if i.len() == line.len() - name.len() && !i.is_empty() {
            // The name ran into a character a name may not hold.
            return Err(ErrorKind::BadName);
        }
        (i, "")
    };
    let (i, value_text) = token(i).map_err(|_| ErrorKind::BadValue)?;
    let value = parse_number(value_text).ok_or(ErrorKind::BadValue)?;
    let (i, _) = ws(i).map_err(|_| ErrorKind::BadValue)?;
    let mut timestamp = None;
    let mut rest_text = i;
    if !rest_text.is_empty() && rest_text.as_bytes()[0] != b'#' {
        let (r, ts) = token(rest_text).map_err(|_| ErrorKind::BadTimestamp)?;
        parse_number(ts).ok_or(ErrorKind::BadTimestamp)?;
        timestamp = Some(ts);
        let (r, _) = ws(r).map_err(|_| ErrorKind::BadTimestamp)?;
        rest_text = r;
    }
    let mut ex = None;
    if !rest_text.is_empty() {
        if rest_text.as_bytes()[0] != b'#' {
            return Err(ErrorKind::TrailingText);
        }
        let (r, e) = exemplar(rest_text).map_err(|_| ErrorKind::BadExemplar)?;
        if !r.is_empty() {
            return Err(ErrorKind::TrailingText);
        }
        ex = Some(e);
    }
    Ok(Sample {
        name,
        labels,
        value,
        value_text,
        timestamp,
        exemplar: ex,
    })
}

pub(super) fn keyword(i: &str) -> Res<'_, &str> {
    alt((
        tag("HELP"),
        tag("TYPE"),
        tag("UNIT"),
        tag("PCP5"),
        tag("PCP"),
        tag("EOF"),
    ))(i)
}

pub(super) fn comment_line(line: &str) -> Result<Line<'_>, ErrorKind> {
    let body = &line[1..];
    let parsed: Res<'_, (&str, &str)> = (|| {
        let (i, _) = ws1(body)?;
        let (i, kw) = keyword(i)?;
        // The keyword must be a whole word.
        if !(i.is_empty() || is_space(i.as_bytes()[0])) {
            return Err(nom::Err::Error(()));
        }
        let (i, _) = ws(i)?;
        Ok((i, (kw, i)))
    })();
    let Ok((_, (kw, args))) = parsed else {
        return Ok(Line::Comment(trim_line(body)));
    };
    if kw == "EOF" {
        return if args.is_empty() {
            Ok(Line::Eof)
        } else {
            Ok(Line::Comment(trim_line(body)))
        };
    }
    let (after, name) = metric_name(args).map_err(|_| ErrorKind::BadComment)?;
    if !(after.is_empty() || is_space(after.as_bytes()[0])) {
        return Err(ErrorKind::BadComment);
    }
    let (text, _) = ws(after).map_err(|_| ErrorKind::BadComment)?;
    let text_only: Res<'_, &str> = rest(text);
    let text = text_only.map(|(_, t)| t).unwrap_or("");
    Ok(match kw {
        "HELP" => Line::Help { name, text },
        "TYPE" => Line::Type {
            name,
            ty: MetricType::from_word(text.split_ascii_whitespace().next().unwrap_or("")),
        },
        "UNIT" => Line::Unit { name, unit: text },
        "PCP" => Line::Pcp { name, rest: text },
        _ => Line::Pcp5 { name, rest: text },
    })
}
