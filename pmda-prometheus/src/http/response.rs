//! Reading an HTTP/1.1 response as its bytes arrive: the head (parsed by
//! httparse), then the body by `Content-Length`, chunked transfer coding
//! or to the end of the connection, handed on piece by piece. Pure: it
//! never touches a socket, so it is tested on byte strings.

/// Longest response head accepted.
pub const MAX_HEAD: usize = 64 << 10;
/// Most header lines accepted.
const MAX_HEADERS: usize = 64;

/// What the reader has reached after some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More bytes are needed.
    NeedMore,
    /// The head is complete: look at [`ResponseReader::status`] before
    /// feeding the rest.
    Head,
    /// The response is complete.
    Done,
    /// The body sink asked to stop.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk: bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk.
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    ToEof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    Done,
}

/// An HTTP response being read.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    state: State,
    buf: Vec<u8>,
    status: u16,
    reason: String,
    location: Option<String>,
    keep_alive: bool,
    gzip: bool,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader::new()
    }
}

impl ResponseReader {
    /// A reader waiting for a head.
    pub fn new() -> ResponseReader {
        ResponseReader {
            state: State::Head,
            buf: Vec::new(),
            status: 0,
            reason: String::new(),
            location: None,
            keep_alive: true,
            gzip: false,
        }
    }

    /// The status code (0 before the head).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The `Location` header, if any.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// True when the connection may carry another request after this
    /// response (HTTP/1.1 without `Connection: close`, a delimited body).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive && self.state == State::Done
    }

    /// True when the body is gzip-compressed (`Content-Encoding: gzip`).
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// True once the whole response was read.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads from `data`, handing body bytes to `body` (which returns false
    /// to stop); returns how much of `data` was used and what was reached.
    /// Stops after the head so the caller can look at the status.
    pub fn step(
        &mut self,
        data: &[u8],
        body: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(usize, Step), String> {
        match self.state {
            State::Head => self.head(data),
            State::Body(_) => self.body(data, body),
            State::Done => Ok((0, Step::Done)),
        }
    }

    /// The connection ended: completes a body read to the end, else an
    /// error if the response was not complete.
    pub fn eof(&mut self) -> Result<(), String> {
        match self.state {
            State::Done => Ok(()),
            State::Body(Body::ToEof) => {
                self.state = State::Done;
                self.keep_alive = false;
                Ok(())
            }
            State::Head if self.buf.is_empty() => {
                Err("connection closed without a response".into())
            }
            _ => Err("connection closed before the end of the response".into()),
        }
    }

    fn head(&mut self, data: &[u8]) -> Result<(usize, Step), String> {
        // Look for the blank line in what we hold plus the new bytes,
        // without copying bytes that belong to the body.
        let held = self.buf.len();
        let scan_from = held.saturating_sub(3);
        self.buf.extend_from_slice(data);
        let end = match find_blank_line(&self.buf[scan_from..]) {
            Some(i) => scan_from + i,
            None => {
                if self.buf.len() > MAX_HEAD {
                    return Err(format!("response head longer than {MAX_HEAD} bytes"));
                }
                return Ok((data.len(), Step::NeedMore));
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&self.buf[..end]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err("malformed response head".into()),
            Err(e) => return Err(format!("malformed response head: {e}")),
        }
        let status = resp.code.unwrap_or(0);
        let version = resp.version.unwrap_or(1);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = version == 0;
        let mut location = None;
        let mut gzip = false;
        for h in resp.headers.iter() {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length headers".into());
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                for t in value.split(',') {
                    let t = t.trim();
                    if t.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if t.eq_ignore_ascii_case("keep-alive") && version == 0 {
                        close = false;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("location") {
                location = Some(value.to_string());
            } else if h.name.eq_ignore_ascii_case("content-encoding") {
                gzip = value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip");
            }
        }
        let reason = resp.reason.unwrap_or("").to_string();
        // The bytes after the head stay in `data`: work out how many of
        // the new bytes the head took.
        let used = end - held;
        self.buf.clear();
        if (100..200).contains(&status) {
            // An interim response (100 Continue): the real one follows.
            return Ok((used, Step::NeedMore));
        }
        self.status = status;
        self.reason = reason;
        self.location = location;
        self.keep_alive = !close;
        self.gzip = gzip;
        self.state = if status == 204 || status == 304 {
            State::Done
        } else if chunked {
            State::Body(Body::Chunked(Chunk::Size))
        } else if let Some(n) = length {
            if n == 0 {
                State::Done
            } else {
                State::Body(Body::Length(n))
            }
        } else {
            self.keep_alive = false;
            State::Body(Body::ToEof)
        };
        Ok((used, Step::Head))
    }

    fn body(
        &mut self,
        mut data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(usize, Step), String> {
        let total = data.len();
        loop {
            let State::Body(kind) = self.state else {
                return Ok((total - data.len(), Step::Done));
            };
            if data.is_empty() {
                return Ok((total, Step::NeedMore));
            }
            match kind {
                Body::ToEof => {
                    let go = sink(data);
                    return Ok((total, if go { Step::NeedMore } else { Step::Stopped }));
                }
                Body::Length(left) => {
                    let n = (left as usize).min(data.len());
                    let go = sink(&data[..n]);
                    data = &data[n..];
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Body(Body::Length(left))
                    };
                    if !go {
                        return Ok((total - data.len(), Step::Stopped));
                    }
                }
                Body::Chunked(Chunk::Data(left)) => {
                    let n = (left as usize).min(data.len());
                    let go = sink(&data[..n]);
                    data = &data[n..];
                    let left = left - n as u64;
                    self.state = State::Body(Body::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    }));
                    if !go {
                        return Ok((total - data.len(), Step::Stopped));
                    }
                }
                Body::Chunked(c) => {
                    // A line: a chunk size, the CRLF after data, or a
                    // trailer line.
                    let Some(nl) = memchr::memchr(b'\n', data) else {
                        self.buf.extend_from_slice(data);
                        if self.buf.len() > 4096 {
                            return Err("chunk header line too long".into());
                        }
                        return Ok((total, Step::NeedMore));
                    };
                    self.buf.extend_from_slice(&data[..nl]);
                    data = &data[nl + 1..];
                    let line = std::mem::take(&mut self.buf);
                    let line = std::str::from_utf8(&line)
                        .map_err(|_| "bad chunk header".to_string())?
                        .trim();
                    self.state = match c {
                        Chunk::Size => {
                            let hex = line.split(';').next().unwrap_or("").trim();
                            let n = u64::from_str_radix(hex, 16)
                                .map_err(|_| format!("bad chunk size {hex:?}"))?;
                            State::Body(Body::Chunked(if n == 0 {
                                Chunk::Trailer
                            } else {
                                Chunk::Data(n)
                            }))
                        }
                        Chunk::DataEnd if line.is_empty() => {
                            State::Body(Body::Chunked(Chunk::Size))
                        }
                        Chunk::DataEnd => return Err("missing CRLF after chunk data".into()),
                        Chunk::Trailer if line.is_empty() => State::Done,
                        Chunk::Trailer => State::Body(Body::Chunked(Chunk::Trailer)),
                        Chunk::Data(_) => unreachable!("handled above"),
                    };
                }
            }
        }
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    // The head ends at CRLF CRLF (or bare LF LF, which httparse accepts).
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\n', &b[i..]) {
        let at = i + p;
        if b.get(at + 1) == Some(&b'\n') {
            return Some(at + 2);
        }
        if b.get(at + 1) == Some(&b'\r') && b.get(at + 2) == Some(&b'\n') {
            return Some(at + 3);
        }
        i = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns (status, body, keep-alive, done).
    fn read(pieces: &[&[u8]]) -> Result<(u16, Vec<u8>, bool, bool), String> {
        let mut r = ResponseReader::new();
        let mut body = Vec::new();
        for p in pieces {
            let mut p: &[u8] = p;
            loop {
                let (used, step) = r.step(p, &mut |b| {
                    body.extend_from_slice(b);
                    true
                })?;
                p = &p[used..];
                if step == Step::Done || (p.is_empty() && step != Step::Head) {
                    break;
                }
            }
        }
        Ok((r.status(), body, r.keep_alive(), r.done()))
    }

    fn every_split(doc: &[u8], want: (u16, &[u8], bool)) {
        for cut in 0..=doc.len() {
            let (s, b, ka, done) = read(&[&doc[..cut], &doc[cut..]]).unwrap();
            assert_eq!((s, b.as_slice(), ka), want, "cut at {cut}");
            assert!(done, "cut at {cut}");
        }
    }

    #[test]
    fn content_length_bodies() {
        every_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            (200, b"hello", true),
        );
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        every_split(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
            (200, b"hello world", true),
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        every_split(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            (200, b"ok", true),
        );
    }

    #[test]
    fn connection_close_and_http10_are_not_kept() {
        let (_, _, ka, _) =
            read(&[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"]).unwrap();
        assert!(!ka);
        let (_, _, ka, _) = read(&[b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"]).unwrap();
        assert!(!ka);
    }

    #[test]
    fn bodies_to_the_end_of_the_connection() {
        let mut r = ResponseReader::new();
        let mut body = Vec::new();
        let doc = b"HTTP/1.1 200 OK\r\n\r\nabc";
        let (used, step) = r.step(doc, &mut |_| true).unwrap();
        assert_eq!(step, Step::Head);
        r.step(&doc[used..], &mut |b| {
            body.extend_from_slice(b);
            true
        })
        .unwrap();
        assert!(!r.done());
        r.eof().unwrap();
        assert!(r.done() && !r.keep_alive());
        assert_eq!(body, b"abc");
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        let mut r = ResponseReader::new();
        let doc = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        let (used, _) = r.step(doc, &mut |_| true).unwrap();
        r.step(&doc[used..], &mut |_| true).unwrap();
        assert!(r.eof().is_err());
        assert!(ResponseReader::new().eof().is_err());
        assert!(read(&[b"garbage\r\n\r\n"]).is_err());
        assert!(read(&[b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]).is_err());
        assert!(read(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]).is_err());
        let long = vec![b'a'; MAX_HEAD + 10];
        assert!(read(&[b"HTTP/1.1 200 OK\r\nX: ", &long]).is_err());
    }

    #[test]
    fn status_reason_and_location() {
        let mut r = ResponseReader::new();
        r.step(
            b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n",
            &mut |_| true,
        )
        .unwrap();
        assert_eq!(
            (r.status(), r.reason(), r.location()),
            (302, "Found", Some("/new"))
        );
        assert!(r.done());
    }

    #[test]
    fn a_sink_can_stop_the_body() {
        let mut r = ResponseReader::new();
        let doc = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc";
        let (used, _) = r.step(doc, &mut |_| true).unwrap();
        let (_, step) = r.step(&doc[used..], &mut |_| false).unwrap();
        assert_eq!(step, Step::Stopped);
        assert!(!r.keep_alive());
    }
}
