//! File access under the configurable root, with reusable buffers.
//!
//! Every path the agent opens is `ROOT/<relative>`; nothing here knows the
//! real `/proc`. Buffers belong to the caller and are reused from fetch to
//! fetch, so a steady-state fetch allocates nothing to read its files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use pcp_core::PmError;

/// Reads `root/rel` into `buf` (cleared first). Returns the bytes read or
/// the errno of the failure as a [`PmError`] (a missing file gives
/// `-ENOENT`, as pmdalinux reports it).
pub(crate) fn read_into<'b>(
    root: &Path,
    rel: &str,
    buf: &'b mut Vec<u8>,
) -> Result<&'b [u8], PmError> {
    let path = root.join(rel);
    let mut f = File::open(&path).map_err(|e| io_err(&e))?;
    read_all(&mut f, buf).map_err(|e| io_err(&e))
}

/// The live system's fixed /proc files, kept open between fetches and
/// read again from offset 0 (`pread`), which the kernel answers with fresh
/// contents: this saves the path walk of open(2) and the close(2), about
/// half the cost of reading a small /proc file.
///
/// Only for the live system: a fixture tree's files are regular files that
/// tests replace, and a kept descriptor would go on reading the old one.
/// A file that cannot be read positionally (a non-seekable file) is read
/// the ordinary way from then on; a kept file whose read fails is closed
/// and opened again, so a file that vanished reports its errno as before.
#[derive(Debug, Default)]
pub(crate) struct KeptFiles {
    enabled: bool,
    /// Per relative path: the open file, or `None` when it is not kept.
    files: HashMap<&'static str, Option<File>>,
}

impl KeptFiles {
    /// Keeps files open when `enabled` (the live system).
    pub(crate) fn new(enabled: bool) -> KeptFiles {
        KeptFiles {
            enabled,
            files: HashMap::new(),
        }
    }

    /// Reads `root/rel` into `buf` (scratch space, as for [`read_all`]):
    /// the bytes read, or the errno of the failure as a [`PmError`].
    pub(crate) fn read<'b>(
        &mut self,
        root: &Path,
        rel: &'static str,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], PmError> {
        if let Some(Some(f)) = self.files.get(rel) {
            match pread_all(f, buf) {
                Ok(n) => return Ok(&buf[..n]),
                Err(_) => {
                    self.files.remove(rel);
                }
            }
        }
        let mut f = File::open(root.join(rel)).map_err(|e| io_err(&e))?;
        let n = read_all(&mut f, buf).map_err(|e| io_err(&e))?.len();
        if self.enabled {
            let keep = match self.files.get(rel) {
                Some(None) => None,
                // Keep it if it can be read positionally.
                _ => f.read_at(&mut [0u8; 1], 0).is_ok().then_some(f),
            };
            self.files.insert(rel, keep);
        }
        Ok(&buf[..n])
    }
}

/// Reads `f` from offset 0 to its end into `buf` (scratch space, as for
/// [`read_all`]); the number of bytes read.
fn pread_all(f: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    fill(buf, |b, at| f.read_at(b, at as u64))
}

/// Reads `f` to its end into `buf`, returning the bytes read.
///
/// `buf` is used as scratch space: its length is its usable (zeroed
/// once) size and only grows, so callers must use the returned slice,
/// never `buf` itself. Unlike `Read::read_to_end` this asks the kernel
/// nothing but `read`: the size probes `read_to_end` makes (`statx` and
/// `lseek`, two syscalls per file) are useless on /proc and sysfs files,
/// which all report size 0 or 4096.
pub(crate) fn read_all<'b>(f: &mut File, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
    let n = fill(buf, |b, _| f.read(b))?;
    Ok(&buf[..n])
}

/// Calls `read(space, offset)` until it returns 0, growing `buf` (by
/// doubling, from 4 KiB) as it fills; the number of bytes read.
fn fill(
    buf: &mut Vec<u8>,
    mut read: impl FnMut(&mut [u8], usize) -> io::Result<usize>,
) -> io::Result<usize> {
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut n = 0;
    loop {
        if n == buf.len() {
            let grown = buf.len() * 2;
            buf.resize(grown, 0);
        }
        match read(&mut buf[n..], n) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads a small sysfs or /proc/sys attribute and trims the trailing
/// newline; `None` when it cannot be read (sysfs answers EINVAL for
/// attributes a device does not support).
pub(crate) fn read_attr(path: &Path, buf: &mut Vec<u8>) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let bytes = read_all(&mut f, buf).ok()?;
    let s = std::str::from_utf8(bytes).ok()?;
    Some(crate::parse::trim_attr(s))
}

/// The errno of an I/O error as a PCP error (`-errno`), `-EIO` if none.
pub(crate) fn io_err(e: &io::Error) -> PmError {
    PmError::from_errno(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_all_grows_and_returns_only_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &big).unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_into(dir.path(), "f", &mut buf).unwrap(), &big[..]);
        std::fs::write(&p, b"ab").unwrap();
        assert_eq!(read_into(dir.path(), "f", &mut buf).unwrap(), b"ab");
        assert_eq!(read_attr(&p, &mut buf).as_deref(), Some("ab"));
        assert_eq!(
            read_into(dir.path(), "nothing", &mut buf),
            Err(PmError::from_errno(libc::ENOENT))
        );
    }

    #[test]
    fn kept_files_are_reread_from_the_start_and_reopened_after_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut kept = KeptFiles::new(true);
        let mut buf = Vec::new();
        std::fs::write(&p, b"first, longer").unwrap();
        assert_eq!(
            kept.read(dir.path(), "f", &mut buf).unwrap(),
            b"first, longer"
        );
        assert!(matches!(kept.files.get("f"), Some(Some(_))));
        // Rewritten in place (the same inode, as the kernel regenerates a
        // /proc file): the kept descriptor reads the new, shorter text.
        std::fs::write(&p, b"second").unwrap();
        assert_eq!(kept.read(dir.path(), "f", &mut buf).unwrap(), b"second");
        // A missing file reports its errno and is not kept.
        assert_eq!(
            kept.read(dir.path(), "nothing", &mut buf),
            Err(PmError::from_errno(libc::ENOENT))
        );
        assert!(!kept.files.contains_key("nothing"));
        // Disabled (a fixture tree): a replaced file is seen at once.
        let mut plain = KeptFiles::new(false);
        assert_eq!(plain.read(dir.path(), "f", &mut buf).unwrap(), b"second");
        let tmp = dir.path().join("f.new");
        std::fs::write(&tmp, b"third").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(plain.read(dir.path(), "f", &mut buf).unwrap(), b"third");
        assert!(plain.files.is_empty());
    }

    #[test]
    fn a_kept_proc_file_gives_fresh_contents() {
        let root = Path::new("/");
        if !root.join("proc/uptime").exists() {
            return;
        }
        let mut kept = KeptFiles::new(true);
        let mut buf = Vec::new();
        let first = kept.read(root, "proc/uptime", &mut buf).unwrap().to_vec();
        assert!(matches!(kept.files.get("proc/uptime"), Some(Some(_))));
        // The uptime moves in hundredths of a second.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let second = kept.read(root, "proc/uptime", &mut buf).unwrap().to_vec();
        assert_ne!(first, second);
        assert!(std::str::from_utf8(&second).unwrap().ends_with('\n'));
    }
}
