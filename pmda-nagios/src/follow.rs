//! Following a Nagios perfdata file across its rotations without losing or
//! re-reading a line.
//!
//! Nagios appends one line per check result; every processing interval it
//! closes the file, runs the processing command (which renames the file),
//! and reopens the path in append mode, creating a new file. The follower
//! keeps the file it is reading open, so a renamed (or even deleted) file
//! is still read to its end before the follower moves to the new file at
//! the path. Only whole lines are handed on; the offset after the last
//! whole line, with the file's device and inode, is saved after every poll
//! (atomically), so after a restart reading resumes where it stopped — in
//! the renamed file, found by its inode in the same directory, if the file
//! was rotated while the agent was down.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The longest line kept; longer ones are skipped and counted.
pub const MAX_LINE: usize = 1 << 20;

/// What one poll read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Bytes read.
    pub bytes: u64,
    /// Whole lines handed on.
    pub lines: u64,
    /// Lines over [`MAX_LINE`], skipped.
    pub too_long: u64,
    /// Rotations followed (a new file at the path, or the file truncated).
    pub rotations: u64,
}

/// A perfdata file being followed.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    state_file: Option<PathBuf>,
    file: Option<File>,
    id: (u64, u64),
    /// Offset after the last whole line handed on.
    offset: u64,
    partial: Vec<u8>,
    /// A rotated file found at start-up, to read to its end first.
    pending_old: Option<(File, u64)>,
    saved: Option<(u64, u64, u64)>,
    skipping_long_line: bool,
}

impl Follower {
    /// Starts following `path`, resuming from `state_file` when it holds a
    /// position (`dev ino offset`).
    pub fn new(path: &Path, state_file: Option<PathBuf>) -> Follower {
        let saved = state_file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|t| {
                let v: Vec<u64> = t
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                match v.as_slice() {
                    [d, i, o] => Some((*d, *i, *o)),
                    _ => None,
                }
            });
        let mut f = Follower {
            path: path.to_path_buf(),
            state_file,
            file: None,
            id: (0, 0),
            offset: 0,
            partial: Vec::new(),
            pending_old: None,
            saved,
            skipping_long_line: false,
        };
        if let Some((dev, ino, off)) = saved {
            let here = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
            if here == Some((dev, ino)) {
                if let Ok(file) = File::open(path) {
                    f.file = Some(file);
                    f.id = (dev, ino);
                    f.offset = off;
                }
            } else if let Some(old) = find_by_inode(path, dev, ino) {
                if let Ok(file) = File::open(old) {
                    f.pending_old = Some((file, off));
                }
            }
        }
        f
    }

    /// The path followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads what was appended since the last poll, following a rotation,
    /// and hands each whole line to `on_line`.
    pub fn poll(&mut self, mut on_line: impl FnMut(&str)) -> Polled {
        let mut p = Polled::default();
        if let Some((mut old, off)) = self.pending_old.take() {
            if old.seek(SeekFrom::Start(off)).is_ok() {
                let mut off = off;
                self.drain(&mut old, &mut off, &mut p, &mut on_line);
                self.flush_partial(&mut p, &mut on_line);
            }
            p.rotations += 1;
        }
        if let Some(mut file) = self.file.take() {
            let mut off = self.offset;
            self.drain(&mut file, &mut off, &mut p, &mut on_line);
            self.offset = off;
            self.file = Some(file);
        }
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                let id = (meta.dev(), meta.ino());
                if self.file.is_some() && id != self.id {
                    // Rotated: whatever Nagios wrote before closing the old
                    // file is there now; read it, then move on.
                    if let Some(mut old) = self.file.take() {
                        let mut off = self.offset;
                        self.drain(&mut old, &mut off, &mut p, &mut on_line);
                    }
                    self.flush_partial(&mut p, &mut on_line);
                    p.rotations += 1;
                } else if self.file.is_some() && meta.len() < self.offset {
                    // Truncated in place: read it again from the start.
                    self.offset = 0;
                    self.partial.clear();
                    self.skipping_long_line = false;
                    if let Some(mut file) = self.file.take() {
                        let mut off = 0;
                        self.drain(&mut file, &mut off, &mut p, &mut on_line);
                        self.offset = off;
                        self.file = Some(file);
                    }
                    p.rotations += 1;
                }
                if self.file.is_none() {
                    if let Ok(file) = File::open(&self.path) {
                        self.file = Some(file);
                        self.id = id;
                        self.offset = 0;
                        self.partial.clear();
                        if let Some(mut file) = self.file.take() {
                            let mut off = 0;
                            self.drain(&mut file, &mut off, &mut p, &mut on_line);
                            self.offset = off;
                            self.file = Some(file);
                        }
                    }
                }
            }
            Err(_) => {
                // No file at the path: between Nagios's rename and reopen,
                // or not created yet. Keep reading what is open.
            }
        }
        self.save();
        p
    }

    /// Reads `file` from `*off` to its end; whole lines go to `on_line`,
    /// a trailing partial line is kept (and `*off` stops before it).
    fn drain(
        &mut self,
        file: &mut File,
        off: &mut u64,
        p: &mut Polled,
        on_line: &mut impl FnMut(&str),
    ) {
        if file
            .seek(SeekFrom::Start(*off + self.partial.len() as u64))
            .is_err()
        {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            p.bytes += n as u64;
            let mut chunk = &buf[..n];
            while let Some(nl) = memchr(b'\n', chunk) {
                let line_len = self.partial.len() + nl;
                if self.skipping_long_line || line_len > MAX_LINE {
                    p.too_long += 1;
                    self.skipping_long_line = false;
                } else if self.partial.is_empty() {
                    emit(&chunk[..nl], p, on_line);
                } else {
                    self.partial.extend_from_slice(&chunk[..nl]);
                    let line = std::mem::take(&mut self.partial);
                    emit(&line, p, on_line);
                }
                self.partial.clear();
                *off += (line_len + 1) as u64;
                chunk = &chunk[nl + 1..];
            }
            if self.partial.len() + chunk.len() > MAX_LINE {
                // Keep the offset moving past a huge line without holding it.
                *off += (self.partial.len() + chunk.len()) as u64;
                self.partial.clear();
                self.skipping_long_line = true;
            } else {
                self.partial.extend_from_slice(chunk);
            }
        }
    }

    /// A last line without its newline, at the end of a rotated file.
    fn flush_partial(&mut self, p: &mut Polled, on_line: &mut impl FnMut(&str)) {
        if !self.partial.is_empty() && !self.skipping_long_line {
            let line = std::mem::take(&mut self.partial);
            emit(&line, p, on_line);
        }
        self.partial.clear();
        self.skipping_long_line = false;
    }

    fn save(&mut self) {
        let Some(path) = &self.state_file else { return };
        let now = (self.id.0, self.id.1, self.offset);
        if self.file.is_none() || self.saved == Some(now) {
            return;
        }
        let text = format!("{} {} {}\n", now.0, now.1, now.2);
        if pcp_core::idstore::write_atomic(path, text.as_bytes()).is_ok() {
            self.saved = Some(now);
        }
    }
}

fn emit(line: &[u8], p: &mut Polled, on_line: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return;
    }
    p.lines += 1;
    on_line(&String::from_utf8_lossy(line));
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

/// A file in `path`'s directory with this device and inode (the perfdata
/// file as it was renamed while the agent was not running).
fn find_by_inode(path: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.dev() == dev && m.ino() == ino)
        })
        .map(|e| e.path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn poll(f: &mut Follower) -> (Vec<String>, Polled) {
        let mut v = Vec::new();
        let p = f.poll(|l| v.push(l.to_string()));
        (v, p)
    }

    #[test]
    fn lines_survive_rotation_partial_writes_and_restarts() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("perf.dat");
        let state = d.path().join("perf.pos");
        append(&path, "a\nb\npart");
        let mut f = Follower::new(&path, Some(state.clone()));
        assert_eq!(poll(&mut f).0, ["a", "b"]);
        append(&path, "ial\nc\n");
        // Rotation: renamed, a last line written before Nagios closed it.
        std::fs::rename(&path, d.path().join("perf.dat.1")).unwrap();
        append(&d.path().join("perf.dat.1"), "d\n");
        append(&path, "e\n");
        let (lines, p) = poll(&mut f);
        assert_eq!(lines, ["partial", "c", "d", "e"]);
        assert_eq!(p.rotations, 1);
        append(&path, "f\n");
        drop(f);
        // Restart: resumes after "e".
        let mut f = Follower::new(&path, Some(state.clone()));
        assert_eq!(poll(&mut f).0, ["f"]);
        // Rotated while down: the renamed file is finished first.
        append(&path, "g\n");
        drop(f);
        std::fs::rename(&path, d.path().join("perf.dat.2")).unwrap();
        append(&path, "h\n");
        let mut f = Follower::new(&path, Some(state));
        assert_eq!(poll(&mut f).0, ["g", "h"]);
        assert_eq!(poll(&mut f).0, Vec::<String>::new());
    }

    #[test]
    fn truncation_restarts_and_long_lines_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p");
        append(&path, "one\ntwo\n");
        let mut f = Follower::new(&path, None);
        assert_eq!(poll(&mut f).0.len(), 2);
        std::fs::write(&path, "x\n").unwrap();
        let (lines, p) = poll(&mut f);
        assert_eq!((lines, p.rotations), (vec!["x".to_string()], 1));
        let long = "y".repeat(MAX_LINE + 10);
        append(&path, &format!("{long}\nz\n"));
        let (lines, p) = poll(&mut f);
        assert_eq!((lines, p.too_long), (vec!["z".to_string()], 1));
    }
}
