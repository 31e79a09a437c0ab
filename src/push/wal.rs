//! The push queue: a write-ahead log of request bodies on disk, so that
//! a receiver outage of minutes loses nothing and a pusher killed and
//! started again sends what was not acknowledged.
//!
//! Layout of its directory (one per destination, in the state directory):
//! - `NNNNNNNNNNNNNNNN.seg`: segments, numbered in order, each a run of
//!   records `[u32 length][u32 crc32][u32 samples][body]` (little endian;
//!   length and crc cover `samples` and `body`); a segment is closed at
//!   [`SEGMENT_BYTES`] and a new one started;
//! - `cursor`: `SEGMENT OFFSET` of the first record not yet acknowledged,
//!   replaced atomically after each acknowledgement.
//!
//! A record is appended and synced to disk before it counts as queued; a
//! torn record at the end (the process died writing it) is cut off when
//! the queue is opened again. Acknowledged segments are deleted. The
//! queue holds at most `max_bytes`: past that the oldest segment is
//! dropped (its samples counted as dropped).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A segment is closed past this size.
pub const SEGMENT_BYTES: u64 = 4 << 20;

const HEADER: u64 = 12;

/// Why the queue failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file of the queue could not be read or written.
    #[error("push queue {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A record handed to the sender.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its segment.
    pub seg: u64,
    /// The offset just past it.
    pub end: u64,
    /// Samples it carries.
    pub samples: u32,
    /// The request body (an uncompressed WriteRequest).
    pub body: Vec<u8>,
}

#[derive(Debug)]
struct State {
    /// Segment number -> size in bytes.
    segments: BTreeMap<u64, u64>,
    writer: Option<File>,
    cursor: (u64, u64),
    samples: u64,
    stopped: bool,
}

/// The queue (see the module documentation).
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    wake: Condvar,
}

fn seg_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(format!("{seg:016}.seg"))
}

/// Reads the record at `off` of `f`: (samples, body, end), or `None` at
/// the end or at a torn or corrupt record.
fn read_record(f: &mut File, off: u64, size: u64) -> Option<(u32, Vec<u8>, u64)> {
    if off + HEADER > size {
        return None;
    }
    f.seek(SeekFrom::Start(off)).ok()?;
    let mut h = [0u8; 12];
    f.read_exact(&mut h).ok()?;
    let len = u32::from_le_bytes(h[0..4].try_into().ok()?) as u64;
    let crc = u32::from_le_bytes(h[4..8].try_into().ok()?);
    if len < 4 || off + 8 + len > size {
        return None;
    }
    let mut rest = vec![0u8; len as usize - 4];
    f.read_exact(&mut rest).ok()?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&h[8..12]);
    hasher.update(&rest);
    if hasher.finalize() != crc {
        return None;
    }
    let samples = u32::from_le_bytes(h[8..12].try_into().ok()?);
    Some((samples, rest, off + 8 + len))
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, holding at most `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Queue, QueueError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut segments = BTreeMap::new();
        for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".seg")
                .and_then(|n| n.parse::<u64>().ok())
            {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                segments.insert(n, size);
            }
        }
        let cursor_file = dir.join("cursor");
        let first = segments.keys().next().copied().unwrap_or(1);
        let mut cursor = std::fs::read_to_string(&cursor_file)
            .ok()
            .and_then(|t| {
                let mut w = t.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .unwrap_or((first, 0));
        if !segments.contains_key(&cursor.0) {
            cursor = (
                segments.range(cursor.0..).next().map_or(first, |(k, _)| *k),
                0,
            );
        }
        // Segments before the cursor were acknowledged.
        let done: Vec<u64> = segments.range(..cursor.0).map(|(k, _)| *k).collect();
        for s in done {
            let _ = std::fs::remove_file(seg_path(dir, s));
            segments.remove(&s);
        }
        // Count what waits, and cut a torn end off the last segment.
        let last = segments.keys().next_back().copied();
        let mut samples = 0u64;
        let mut sizes = Vec::new();
        for (&seg, &size) in &segments {
            let path = seg_path(dir, seg);
            let mut f = File::open(&path).map_err(io(&path))?;
            let mut off = if seg == cursor.0 { cursor.1 } else { 0 };
            while let Some((n, _, end)) = read_record(&mut f, off, size) {
                samples += n as u64;
                off = end;
            }
            if off < size {
                if Some(seg) == last {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io(&path))?;
                    f.set_len(off).map_err(io(&path))?;
                    f.sync_all().map_err(io(&path))?;
                    sizes.push((seg, off));
                } else {
                    // A corrupt record inside: what follows it in that
                    // segment is lost; the next segments are still read.
                    sizes.push((seg, off));
                }
            }
        }
        for (seg, size) in sizes {
            segments.insert(seg, size);
        }
        Ok(Queue {
            dir: dir.to_path_buf(),
            max_bytes,
            state: Mutex::new(State {
                segments,
                writer: None,
                cursor,
                samples,
                stopped: false,
            }),
            wake: Condvar::new(),
        })
    }

    /// Samples and bytes waiting to be sent.
    pub fn depth(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.samples, Self::bytes(&st))
    }

    fn bytes(st: &State) -> u64 {
        st.segments
            .range(st.cursor.0..)
            .map(|(_, s)| *s)
            .sum::<u64>()
            .saturating_sub(st.cursor.1)
    }

    /// Appends a record and syncs it to disk; returns the samples dropped
    /// to stay within the queue's size.
    pub fn append(&self, samples: u32, body: &[u8]) -> Result<u64, QueueError> {
        let mut st = self.state.lock();
        let (seg, size) = match st.segments.iter().next_back() {
            Some((&s, &size)) if size < SEGMENT_BYTES => (s, size),
            Some((&s, _)) => (s + 1, 0),
            None => (st.cursor.0.max(1), 0),
        };
        if size == 0 {
            st.writer = None;
        }
        let path = seg_path(&self.dir, seg);
        if st.writer.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            st.writer = Some(f);
            st.segments.entry(seg).or_insert(0);
        }
        let mut rec = Vec::with_capacity(body.len() + HEADER as usize);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&samples.to_le_bytes());
        hasher.update(body);
        rec.extend_from_slice(&(body.len() as u32 + 4).to_le_bytes());
        rec.extend_from_slice(&hasher.finalize().to_le_bytes());
        rec.extend_from_slice(&samples.to_le_bytes());
        rec.extend_from_slice(body);
        let f = st.writer.as_mut().expect("opened above");
        f.write_all(&rec).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        *st.segments.get_mut(&seg).expect("present") += rec.len() as u64;
        st.samples += samples as u64;
        let mut dropped = 0;
        while Self::bytes(&st) > self.max_bytes && st.cursor.0 < seg {
            dropped += self.drop_oldest(&mut st);
        }
        drop(st);
        self.wake.notify_all();
        Ok(dropped)
    }

    /// Drops the segment at the cursor (not the one being written).
    fn drop_oldest(&self, st: &mut State) -> u64 {
        let seg = st.cursor.0;
        let size = st.segments.get(&seg).copied().unwrap_or(0);
        let path = seg_path(&self.dir, seg);
        let mut n = 0u64;
        if let Ok(mut f) = File::open(&path) {
            let mut off = st.cursor.1;
            while let Some((k, _, end)) = read_record(&mut f, off, size) {
                n += k as u64;
                off = end;
            }
        }
        let _ = std::fs::remove_file(&path);
        st.segments.remove(&seg);
        let next = st.segments.keys().next().copied().unwrap_or(seg + 1);
        st.cursor = (next, 0);
        st.samples = st.samples.saturating_sub(n);
        self.save_cursor(st);
        n
    }

    /// The first record not acknowledged, waiting up to `timeout` for one.
    pub fn next(&self, timeout: Duration) -> Result<Option<Record>, QueueError> {
        let mut st = self.state.lock();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if st.stopped {
                return Ok(None);
            }
            let (seg, off) = st.cursor;
            if let Some(&size) = st.segments.get(&seg) {
                if off < size {
                    let path = seg_path(&self.dir, seg);
                    let mut f = File::open(&path).map_err(io(&path))?;
                    if let Some((samples, body, end)) = read_record(&mut f, off, size) {
                        return Ok(Some(Record {
                            seg,
                            end,
                            samples,
                            body,
                        }));
                    }
                }
                // The end of this segment: on to the next, if there is one.
                if let Some((&next, _)) = st.segments.range(seg + 1..).next() {
                    let _ = std::fs::remove_file(seg_path(&self.dir, seg));
                    st.segments.remove(&seg);
                    st.cursor = (next, 0);
                    self.save_cursor(&st);
                    continue;
                }
            }
            if self.wake.wait_until(&mut st, deadline).timed_out() {
                return Ok(None);
            }
        }
    }

    /// Marks `rec` (the record [`Queue::next`] gave) as delivered.
    pub fn ack(&self, rec: &Record) {
        let mut st = self.state.lock();
        if st.cursor.0 != rec.seg || st.cursor.1 >= rec.end {
            // Dropped for space while it was being sent.
            return;
        }
        st.cursor.1 = rec.end;
        st.samples = st.samples.saturating_sub(rec.samples as u64);
        self.save_cursor(&st);
    }

    fn save_cursor(&self, st: &State) {
        let text = format!("{} {}\n", st.cursor.0, st.cursor.1);
        let _ = pcp_core::idstore::write_atomic(&self.dir.join("cursor"), text.as_bytes());
    }

    /// Wakes a sender waiting in [`Queue::next`] and makes it return.
    pub fn stop(&self) {
        self.state.lock().stopped = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &Queue) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(r) = q.next(Duration::ZERO).unwrap() {
            q.ack(&r);
            out.push((r.samples, r.body));
        }
        out
    }

    #[test]
    fn records_come_back_in_order_once() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(d.path(), 1 << 30).unwrap();
        for i in 0..100u32 {
            q.append(i, format!("body {i}").as_bytes()).unwrap();
        }
        assert_eq!(q.depth().0, (0..100u64).sum::<u64>());
        let got = drain(&q);
        assert_eq!(got.len(), 100);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, (n, b))| *n == i as u32 && *b == format!("body {i}").into_bytes()));
        assert_eq!(q.depth(), (0, 0));
    }

    #[test]
    fn unacknowledged_records_survive_a_restart_and_a_torn_end_is_cut() {
        let d = tempfile::tempdir().unwrap();
        {
            let q = Queue::open(d.path(), 1 << 30).unwrap();
            for i in 0..10u32 {
                q.append(1, &[i as u8; 100]).unwrap();
            }
            for _ in 0..4 {
                let r = q.next(Duration::ZERO).unwrap().unwrap();
                q.ack(&r);
            }
            // The fifth was sent but not acknowledged when the process died.
            q.next(Duration::ZERO).unwrap().unwrap();
        }
        // A torn record at the end.
        let seg = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .unwrap()
            .path();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let q = Queue::open(d.path(), 1 << 30).unwrap();
        assert_eq!(q.depth().0, 6);
        let got = drain(&q);
        assert_eq!(got.len(), 6);
        assert_eq!(got[0].1, vec![4u8; 100]);
        // New records after the cut are read.
        q.append(1, b"after").unwrap();
        assert_eq!(drain(&q)[0].1, b"after");
    }

    #[test]
    fn segments_rotate_and_acknowledged_ones_are_deleted() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(d.path(), 1 << 30).unwrap();
        let body = vec![7u8; 1 << 20];
        for _ in 0..10 {
            q.append(1, &body).unwrap();
        }
        let segs = |d: &Path| {
            std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .count()
        };
        assert!(segs(d.path()) >= 2);
        assert_eq!(drain(&q).len(), 10);
        q.append(1, b"x").unwrap();
        drain(&q);
        assert_eq!(segs(d.path()), 1);
    }

    #[test]
    fn a_full_queue_drops_its_oldest_segment() {
        let d = tempfile::tempdir().unwrap();
        let q = Queue::open(d.path(), 6 << 20).unwrap();
        let body = vec![1u8; 1 << 20];
        let mut dropped = 0;
        for _ in 0..12 {
            dropped += q.append(10, &body).unwrap();
        }
        assert!(dropped > 0);
        let (samples, bytes) = q.depth();
        assert!(bytes <= (6 << 20) + (1 << 20) + 64, "{bytes}");
        assert_eq!(samples + dropped, 120);
        assert_eq!(drain(&q).len() as u64 * 10, samples);
    }
}
