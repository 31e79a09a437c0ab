//! Cutting a document that arrives in pieces into runs of whole lines, so
//! the parser reads it as it comes and no source's whole body is ever held
//! in memory: what is kept between pieces is at most one unfinished line,
//! and a line longer than the limit is skipped as it streams past.

/// Splits a byte stream into runs of complete lines.
///
/// ```
/// use pmda_prometheus::stream::LineSplitter;
/// let mut s = LineSplitter::new(16);
/// let mut runs = Vec::new();
/// s.push(b"a 1\nb", &mut |r| runs.push(r.to_vec()));
/// s.push(b" 2\nc 3\n", &mut |r| runs.push(r.to_vec()));
/// s.finish(false, &mut |r| runs.push(r.to_vec()));
/// assert_eq!(runs, [b"a 1\n".to_vec(), b"b 2\n".to_vec(), b"c 3\n".to_vec()]);
/// ```
#[derive(Debug, Clone)]
pub struct LineSplitter {
    carry: Vec<u8>,
    max_line: usize,
    skipping: bool,
    long_lines: u64,
}

impl LineSplitter {
    /// A splitter that drops lines longer than `max_line` bytes (newline
    /// not counted).
    pub fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            carry: Vec::new(),
            max_line: max_line.max(1),
            skipping: false,
            long_lines: 0,
        }
    }

    /// Lines dropped for their length so far.
    pub fn long_lines(&self) -> u64 {
        self.long_lines
    }

    /// Bytes held for an unfinished line (at most the line limit).
    pub fn held(&self) -> usize {
        self.carry.capacity()
    }

    /// Feeds the next piece; `f` gets each run of complete lines (each run
    /// ends with a newline). A run holds whole lines of at most the limit
    /// only where it was carried over from an earlier piece; runs taken
    /// straight from `data` may hold longer lines, which the reader skips
    /// (see [`LineSplitter::too_long`]).
    pub fn push(&mut self, mut data: &[u8], f: &mut dyn FnMut(&[u8])) {
        if self.skipping {
            match memchr::memchr(b'\n', data) {
                None => return,
                Some(i) => {
                    self.skipping = false;
                    data = &data[i + 1..];
                }
            }
        }
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', data) {
                None => {
                    if self.carry.len() + data.len() > self.max_line {
                        self.drop_carry();
                    } else {
                        self.carry.extend_from_slice(data);
                    }
                    return;
                }
                Some(i) => {
                    if self.carry.len() + i > self.max_line {
                        self.long_lines += 1;
                        self.carry.clear();
                    } else {
                        self.carry.extend_from_slice(&data[..=i]);
                        f(&self.carry);
                        self.carry.clear();
                    }
                    data = &data[i + 1..];
                }
            }
        }
        let tail = match memchr::memrchr(b'\n', data) {
            Some(i) => {
                f(&data[..=i]);
                &data[i + 1..]
            }
            None => data,
        };
        if tail.len() > self.max_line {
            self.long_lines += 1;
            self.skipping = true;
        } else {
            self.carry.extend_from_slice(tail);
        }
        if self.carry.is_empty() && self.carry.capacity() > 4 * 1024 {
            // A long line passed through: do not keep its buffer.
            self.carry = Vec::new();
        }
    }

    /// Ends the document: an unfinished last line is passed on, unless the
    /// document was cut short (`truncated`), when it is dropped.
    pub fn finish(&mut self, truncated: bool, f: &mut dyn FnMut(&[u8])) {
        if !self.carry.is_empty() && !self.skipping && !truncated {
            self.carry.push(b'\n');
            f(&self.carry);
        }
        self.carry = Vec::new();
        self.skipping = false;
    }

    /// Counts a line the reader found too long inside a run.
    pub fn too_long(&mut self) {
        self.long_lines += 1;
    }

    /// The line limit.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    fn drop_carry(&mut self) {
        self.long_lines += 1;
        self.carry = Vec::new();
        self.skipping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(limit: usize, pieces: &[&[u8]], truncated: bool) -> (Vec<String>, u64) {
        let mut s = LineSplitter::new(limit);
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, &mut |r| {
                out.push(String::from_utf8_lossy(r).into_owned())
            });
        }
        s.finish(truncated, &mut |r| {
            out.push(String::from_utf8_lossy(r).into_owned())
        });
        (out, s.long_lines())
    }

    #[test]
    fn lines_split_anywhere_come_out_whole() {
        let doc = b"alpha 1\nbeta{x=\"y\"} 2\ngamma 3\n";
        for cut in 0..doc.len() {
            for cut2 in cut..doc.len() {
                let (out, long) = runs(64, &[&doc[..cut], &doc[cut..cut2], &doc[cut2..]], false);
                assert_eq!(out.concat(), String::from_utf8_lossy(doc), "{cut} {cut2}");
                assert_eq!(long, 0);
                assert!(out.iter().all(|r| r.ends_with('\n')));
            }
        }
    }

    #[test]
    fn long_lines_are_skipped_without_being_held() {
        let long = vec![b'x'; 10_000];
        let mut s = LineSplitter::new(100);
        let mut out = Vec::new();
        s.push(b"a 1\nhuge{v=\"", &mut |r| out.push(r.to_vec()));
        for _ in 0..100 {
            s.push(&long, &mut |r| out.push(r.to_vec()));
            assert!(s.held() <= 4096, "{}", s.held());
        }
        s.push(b"\"} 1\nb 2\n", &mut |r| out.push(r.to_vec()));
        s.finish(false, &mut |r| out.push(r.to_vec()));
        assert_eq!(out, [b"a 1\n".to_vec(), b"b 2\n".to_vec()]);
        assert_eq!(s.long_lines(), 1);
    }

    #[test]
    fn last_line_without_newline_is_kept_unless_cut() {
        assert_eq!(runs(64, &[b"a 1\nb 2"], false).0, ["a 1\n", "b 2\n"]);
        assert_eq!(runs(64, &[b"a 1\nb 2"], true).0, ["a 1\n"]);
    }
}
