//! Request heads: finding their end, parsing them, and the answers to
//! heads this server refuses (each a status and a sentence saying what
//! was wrong).

/// A request refused before it reaches the handler: the status and the
/// sentence to answer with (the connection is closed after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reject {
    /// The status code.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

impl Reject {
    pub(super) fn new(status: u16, message: impl Into<String>) -> Reject {
        Reject {
            status,
            message: message.into(),
        }
    }
}

/// The answer to a head longer than `max_head_bytes`: 414 when the
/// request line alone passes it, else 431.
pub(super) fn too_large_head(head: &[u8], max_head_bytes: usize) -> Reject {
    // A request line that alone passes the limit is a URI too long.
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    if line_end >= max_head_bytes {
        Reject::new(
            414,
            format!(
                "request line longer than {} bytes: ask for fewer names per request",
                max_head_bytes
            ),
        )
    } else {
        Reject::new(
            431,
            format!("request head longer than {} bytes", max_head_bytes),
        )
    }
}

/// The offset just past the blank line ending a request head, if present,
/// looking from `from` on (bytes before it were searched already; the
/// search backs up three bytes so that a line end split across reads is
/// found).
pub(super) fn find_head_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from.saturating_sub(3);
    while i < b.len() {
        if b[i] == b'\n' {
            if b.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// A parsed request head.
#[derive(Debug)]
pub(super) struct Head {
    /// The method.
    pub method: String,
    /// The target in origin form (an absolute-form target loses its
    /// authority).
    pub target: String,
    /// Whether the client keeps the connection (HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// Content-Length (0 when absent).
    pub content_length: usize,
    /// Transfer-Encoding other than identity.
    pub chunked: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// The `Accept` header (joined with commas when repeated).
    pub accept: String,
}

fn bad(msg: impl Into<String>) -> Reject {
    Reject::new(400, msg.into())
}

/// Parses a request head (request line and headers, up to and with the
/// blank line).
pub(super) fn parse_head(raw: &[u8]) -> Result<Head, Reject> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("request head is not valid UTF-8 text"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // Tolerate stray blank lines before the request line (RFC 9112 2.2).
    let line = lines
        .by_ref()
        .find(|l| !l.is_empty())
        .ok_or_else(|| bad("empty request"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "malformed request line {:?}: expected METHOD TARGET HTTP/1.1",
            truncate(line, 80)
        )));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/") => {
            return Err(Reject::new(
                505,
                format!("{v} is not supported: use HTTP/1.1 or HTTP/1.0"),
            ))
        }
        _ => {
            return Err(bad(format!(
                "malformed HTTP version {:?}",
                truncate(version, 20)
            )))
        }
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad(format!("malformed method {:?}", truncate(method, 20))));
    }
    let target = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        // absolute-form: drop the authority.
        match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        }
    } else if target.starts_with('/') {
        target.to_string()
    } else if target == "*" && method == "OPTIONS" {
        "*".to_string()
    } else {
        return Err(bad(format!(
            "malformed request target {:?}: expected a path starting with /",
            truncate(target, 80)
        )));
    };
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("request target holds control characters or spaces"));
    }
    let mut head = Head {
        method: method.to_string(),
        target,
        keep_alive: !http10,
        content_length: 0,
        chunked: false,
        expect_continue: false,
        accept: String::new(),
    };
    let mut saw_length = false;
    for l in lines {
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(bad(format!("malformed header line {:?}", truncate(l, 80))));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':') {
            return Err(bad(format!(
                "malformed header name {:?}",
                truncate(name, 40)
            )));
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| {
                bad(format!(
                    "malformed Content-Length {:?}",
                    truncate(value, 20)
                ))
            })?;
            if saw_length && n != head.content_length {
                return Err(bad("conflicting Content-Length headers"));
            }
            saw_length = true;
            head.content_length = n;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("identity") {
                head.chunked = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                head.keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                head.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("accept") {
            if !head.accept.is_empty() {
                head.accept.push(',');
            }
            head.accept.push_str(value);
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                head.expect_continue = true;
            } else {
                return Err(Reject::new(
                    417,
                    format!("unsupported expectation {:?}", truncate(value, 40)),
                ));
            }
        }
    }
    Ok(head)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_end_is_found_with_crlf_or_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest", 0), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
        // Resumed after a read that ended inside the blank line.
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 16), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 18), Some(18));
    }

    #[test]
    fn heads_parse_and_bad_ones_are_refused() {
        let h = parse_head(
            b"GET /pmapi/fetch?names=a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/pmapi/fetch?names=a");
        assert!(h.keep_alive);
        assert_eq!(h.content_length, 3);
        let h = parse_head(b"GET http://h:1/x?y HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(h.target, "/x?y");
        assert!(!h.keep_alive);
        for raw in [
            &b"GET\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(raw), Err(Reject { status: 400, .. })),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(matches!(
            parse_head(b"GET / HTTP/2.0\r\n\r\n"),
            Err(Reject { status: 505, .. })
        ));
    }
}
