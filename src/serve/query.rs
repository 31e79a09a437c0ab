//! Query strings: `a=1&b=x%2Cy` into decoded pairs, refusing malformed
//! percent escapes and text that does not decode to UTF-8, and splitting
//! comma lists (`names=a,b,c`) under a cap on their length.

use std::fmt;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// A `%` not followed by two hex digits.
    BadEscape(String),
    /// Decoded bytes that are not UTF-8.
    NotUtf8(String),
    /// A comma list longer than the cap.
    TooMany {
        /// The parameter.
        param: String,
        /// How many items it held.
        count: usize,
        /// The cap.
        limit: usize,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::BadEscape(s) => write!(
                f,
                "malformed query string: bad percent escape in {s:?} (expected %XX with two hex digits)"
            ),
            QueryError::NotUtf8(s) => {
                write!(f, "malformed query string: {s:?} does not decode to UTF-8")
            }
            QueryError::TooMany {
                param,
                count,
                limit,
            } => write!(
                f,
                "too many items in {param}: {count} given, the limit is {limit} per request"
            ),
        }
    }
}

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the `?`).
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for part in raw.split(['&', ';']) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True if `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The first value of `key`, split on commas (empty items dropped),
    /// refusing more than `limit` items.
    pub fn list(&self, key: &str, limit: usize) -> Result<Option<Vec<String>>, QueryError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        split_list(key, v, limit).map(Some)
    }

    /// Like [`Query::list`], without trimming the items.
    pub fn list_verbatim(
        &self,
        key: &str,
        limit: usize,
    ) -> Result<Option<Vec<String>>, QueryError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        split_verbatim(key, v, limit).map(Some)
    }
}

/// Splits a comma list of names, dropping empty items and trimming
/// blanks around each, refusing more than `limit`.
pub(crate) fn split_list(key: &str, v: &str, limit: usize) -> Result<Vec<String>, QueryError> {
    Ok(split_verbatim(key, v, limit)?
        .into_iter()
        .map(|s| s.trim().to_string())
        .collect())
}

/// Splits a comma list, dropping empty items but keeping every other
/// character (instance names and patterns may begin or end with blanks,
/// as pmproxy keeps them), refusing more than `limit`.
pub(crate) fn split_verbatim(key: &str, v: &str, limit: usize) -> Result<Vec<String>, QueryError> {
    let count = v.split(',').filter(|s| !s.is_empty()).count();
    if count > limit {
        return Err(QueryError::TooMany {
            param: key.to_string(),
            count,
            limit,
        });
    }
    Ok(v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one component (`+` is a space, as in HTML forms).
pub(crate) fn decode(s: &str) -> Result<String, QueryError> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) else {
                    return Err(QueryError::BadEscape(s.chars().take(60).collect()));
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8(s.chars().take(60).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode() {
        let q = Query::parse("names=a.b%2Cc.d&iname=1+minute&flag&x=%C3%A9").unwrap();
        assert_eq!(q.get("names"), Some("a.b,c.d"));
        assert_eq!(q.get("iname"), Some("1 minute"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("x"), Some("é"));
        assert_eq!(q.get("nope"), None);
        assert_eq!(
            q.list("names", 10).unwrap().unwrap(),
            vec!["a.b".to_string(), "c.d".to_string()]
        );
    }

    #[test]
    fn malformed_escapes_and_long_lists_are_refused() {
        assert!(matches!(
            Query::parse("names=a%ZZ"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(
            Query::parse("names=a%2"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(
            Query::parse("names=%ff"),
            Err(QueryError::NotUtf8(_))
        ));
        let q = Query::parse("names=a,b,c").unwrap();
        let q2 = Query::parse("iname=%201%20minute,,5+").unwrap();
        assert_eq!(
            q2.list_verbatim("iname", 10).unwrap().unwrap(),
            vec![" 1 minute".to_string(), "5 ".to_string()]
        );
        assert!(matches!(
            q.list("names", 2),
            Err(QueryError::TooMany { count: 3, .. })
        ));
    }
}
