//! Bounded text kept for a script: its stderr ([`BoundedText`]) and its
//! printf output ([`OutputBuf`]).

use std::collections::VecDeque;

/// Text that keeps its first and last bytes within a bound (stderr).
#[derive(Debug, Clone, Default)]
pub struct BoundedText {
    head: String,
    tail: String,
    omitted: u64,
    max: usize,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl BoundedText {
    /// Keeps at most about `max` bytes.
    pub fn new(max: usize) -> BoundedText {
        BoundedText {
            max: max.max(64),
            ..Default::default()
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) {
        let half = self.max / 2;
        let mut text = text;
        if self.head.len() < half {
            let room = floor_boundary(text, (half - self.head.len()).min(text.len()));
            let room = if room == 0 && self.head.len() + text.len() <= half {
                text.len()
            } else {
                room
            };
            self.head.push_str(&text[..room]);
            text = &text[room..];
        }
        if text.is_empty() {
            return;
        }
        self.tail.push_str(text);
        if self.tail.len() > half {
            let cut = self.tail.len() - half / 2;
            let mut cut = floor_boundary(&self.tail, cut);
            if let Some(nl) = self.tail[cut..].find('\n') {
                if nl < half / 4 {
                    cut += nl + 1;
                }
            }
            self.omitted += cut as u64;
            self.tail.drain(..cut);
        }
    }

    /// Replaces the text.
    pub fn set(&mut self, text: &str) {
        self.clear();
        self.push(text);
    }

    /// Empties the text.
    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.omitted = 0;
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    /// The kept text, with a note where bytes were left out.
    pub fn text(&self) -> String {
        if self.omitted == 0 {
            return format!("{}{}", self.head, self.tail);
        }
        format!(
            "{}\n[... {} bytes omitted ...]\n{}",
            self.head, self.omitted, self.tail
        )
    }
}

/// printf output: bounded, optionally a header plus the last N lines.
#[derive(Debug, Clone)]
pub struct OutputBuf {
    retain: Option<usize>,
    max_bytes: usize,
    header: String,
    header_done: bool,
    lines: VecDeque<String>,
    bytes: usize,
}

impl OutputBuf {
    /// With `retain = Some(n)`, keeps the first line and the last `n` lines
    /// (a trailing partial line counts); always at most about `max_bytes`.
    pub fn new(retain: Option<usize>, max_bytes: usize) -> OutputBuf {
        OutputBuf {
            retain,
            max_bytes: max_bytes.max(1),
            header: String::new(),
            header_done: retain.is_none(),
            lines: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Appends output text.
    pub fn push(&mut self, mut text: &str) {
        if !self.header_done {
            match text.find('\n') {
                Some(nl) => {
                    self.header.push_str(&text[..=nl]);
                    self.header_done = true;
                    text = &text[nl + 1..];
                }
                None => {
                    self.header.push_str(text);
                    return;
                }
            }
        }
        while !text.is_empty() {
            let (piece, rest) = match text.find('\n') {
                Some(nl) => text.split_at(nl + 1),
                None => (text, ""),
            };
            match self.lines.back_mut() {
                Some(last) if !last.ends_with('\n') => last.push_str(piece),
                _ => self.lines.push_back(piece.to_string()),
            }
            self.bytes += piece.len();
            text = rest;
        }
        if let Some(n) = self.retain {
            while self.lines.len() > n {
                if let Some(l) = self.lines.pop_front() {
                    self.bytes -= l.len();
                }
            }
        }
        while self.bytes + self.header.len() > self.max_bytes && self.lines.len() > 1 {
            if let Some(l) = self.lines.pop_front() {
                self.bytes -= l.len();
            }
        }
        if self.bytes + self.header.len() > self.max_bytes {
            if let Some(last) = self.lines.back_mut() {
                let keep = self.max_bytes.saturating_sub(self.header.len());
                let cut = last.len().saturating_sub(keep);
                let mut cut = cut;
                while cut < last.len() && !last.is_char_boundary(cut) {
                    cut += 1;
                }
                last.drain(..cut);
                self.bytes = last.len();
            }
        }
    }

    /// The kept text.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.header.len() + self.bytes);
        s.push_str(&self.header);
        for l in &self.lines {
            s.push_str(l);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_keeps_head_and_tail() {
        let mut t = BoundedText::new(100);
        t.push("first line\n");
        for i in 0..100 {
            t.push(&format!("noise {i}\n"));
        }
        let s = t.text();
        assert!(s.starts_with("first line\n"));
        assert!(s.contains("bytes omitted"));
        assert!(s.ends_with("noise 99\n"));
        assert!(s.len() < 200);
    }
}
