//! The lexing the analysis needs: identifiers, and comments, string
//! literals and brackets skipped.

pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Skips a comment or string literal starting at `i`, returning the index
/// after it, or `None` if none starts there.
pub(super) fn skip_trivia(s: &[u8], i: usize) -> Option<usize> {
    match (s[i], s.get(i + 1)) {
        (b'/', Some(b'/')) => Some(
            s[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(s.len(), |p| i + p + 1),
        ),
        (b'/', Some(b'*')) => Some(
            s[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(s.len(), |p| i + 2 + p + 2),
        ),
        (b'"', _) => {
            let mut j = i + 1;
            while j < s.len() {
                match s[j] {
                    b'\\' => j += 2,
                    b'"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            Some(s.len())
        }
        _ => None,
    }
}

pub(super) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        // Comments count as white space between tokens.
        if i + 1 < s.len() && s[i] == b'/' && (s[i + 1] == b'/' || s[i + 1] == b'*') {
            i = skip_trivia(s, i).unwrap_or(s.len());
            continue;
        }
        return i;
    }
}

/// From `i` at a `[`, the index after the matching `]`.
pub(super) fn skip_brackets(s: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < s.len() {
        if let Some(next) = skip_trivia(s, j) {
            j = next;
            continue;
        }
        match s[j] {
            b'[' | b'(' => depth += 1,
            b']' | b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    s.len()
}

pub(super) fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|b| !is_ident(*b)).filter(|w| !w.is_empty())
}
