//! Plain `http://` URLs as the non-blocking client needs them: where to
//! connect, what to send as `Host`, the request target, and credentials
//! from the URL as a Basic `Authorization` header.

use base64::Engine;

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host to resolve (without brackets for IPv6 literals).
    pub host: String,
    /// The port (80 when not given).
    pub port: u16,
    /// The `Host` header value: `host[:port]` as written, credentials
    /// removed.
    pub authority: String,
    /// Path and query (`/` when empty); a fragment is dropped.
    pub path: String,
    /// `user:password` from the URL, base64-encoded for a Basic
    /// `Authorization` header.
    pub basic_auth: Option<String>,
}

impl Target {
    /// Parses `url`; `None` unless it is a well-formed `http://` URL.
    ///
    /// ```
    /// use pmda_prometheus::http::Target;
    /// let t = Target::parse("http://u:p%40ss@[::1]:9100/metrics?x=1#frag").unwrap();
    /// assert_eq!((t.host.as_str(), t.port, t.authority.as_str()), ("::1", 9100, "[::1]:9100"));
    /// assert_eq!(t.path, "/metrics?x=1");
    /// assert_eq!(t.basic_auth.as_deref(), Some("dTpwQHNz"));
    /// ```
    pub fn parse(url: &str) -> Option<Target> {
        let rest = strip_scheme(url, "http://")?;
        let rest = rest.split('#').next().unwrap_or("");
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (auth, path) = rest.split_at(auth_end);
        let (userinfo, hostport) = match auth.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, auth),
        };
        let (host, port_text) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return None;
        }
        let port = match port_text {
            None | Some("") => 80,
            Some(p) => p.parse().ok()?,
        };
        let path = if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if path.contains(|c: char| c.is_control() || c == ' ') {
            return None;
        }
        let basic_auth =
            userinfo.map(|u| base64::engine::general_purpose::STANDARD.encode(percent_decode(u)));
        Some(Target {
            host: host.to_string(),
            port,
            authority: hostport.to_string(),
            path,
            basic_auth,
        })
    }

    /// `host:port`, the key connections are kept under.
    pub fn host_key(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn strip_scheme<'a>(url: &'a str, scheme: &str) -> Option<&'a str> {
    let head = url.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &url[scheme.len()..])
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:9100/metrics").unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 9100);
        assert_eq!(t.authority, "127.0.0.1:9100");
        assert_eq!(t.path, "/metrics");
        assert_eq!(t.basic_auth, None);
        let t = Target::parse("HTTP://example.com").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("http://h?q=1").unwrap();
        assert_eq!(t.path, "/?q=1");
        let t = Target::parse("http://a%20b:c@h:1/").unwrap();
        assert_eq!(
            t.basic_auth.unwrap(),
            base64::engine::general_purpose::STANDARD.encode("a b:c")
        );
        assert_eq!(t.authority, "h:1");
        for bad in [
            "https://h/",
            "file:///x",
            "http://",
            "http://:80/",
            "http://h:99999/",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%41%"), b"aA%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%aé"), "%aé".as_bytes());
    }
}
