//! Reading `/proc` cheaply: one directory handle on `ROOT/proc` kept open,
//! the pid list read with `getdents64` into a reused buffer, and each
//! per-process file opened relative to that handle (`openat`, no path
//! building on the heap) and read into a caller's reused buffer. No
//! `stat` calls: a vanished process is a failed open, reported as such.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The largest per-process file read whole (`maps`, `environ`, `status`...);
/// longer files are cut here.
pub const MAX_FILE: usize = 4 << 20;

/// `ROOT/proc`, held open.
#[derive(Debug)]
pub struct ProcDir {
    root: PathBuf,
    dir: OwnedFd,
    dents: Vec<u8>,
}

fn cpath(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

impl ProcDir {
    /// Opens `root/proc`.
    pub fn open(root: &Path) -> io::Result<ProcDir> {
        let path = root.join("proc");
        let c = cpath(&path)?;
        // SAFETY: a valid NUL-terminated path; the returned descriptor is
        // owned by the OwnedFd below.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ProcDir {
            root: root.to_path_buf(),
            // SAFETY: fd is a fresh descriptor we own.
            dir: unsafe { OwnedFd::from_raw_fd(fd) },
            dents: vec![0; 64 * 1024],
        })
    }

    /// The root directory (`/` on a live system).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Appends the numeric entries of `ROOT/proc` (the processes), or of
    /// `ROOT/proc/PID/task` when `task_of` is given, to `out`.
    pub fn list(&mut self, task_of: Option<u32>, out: &mut Vec<u32>) -> io::Result<()> {
        let (fd, _owned) = match task_of {
            None => {
                // SAFETY: rewinding our own directory descriptor.
                unsafe { libc::lseek(self.dir.as_raw_fd(), 0, libc::SEEK_SET) };
                (self.dir.as_raw_fd(), None)
            }
            Some(pid) => {
                let mut name = PidPath::new(pid);
                let fd = self.openat_raw(name.with("task"), libc::O_DIRECTORY)?;
                (fd.as_raw_fd(), Some(fd))
            }
        };
        loop {
            // SAFETY: the buffer is valid for its length; getdents64 writes
            // at most that many bytes of dirent64 records.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    fd,
                    self.dents.as_mut_ptr(),
                    self.dents.len(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(());
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 19 < n {
                let reclen =
                    u16::from_ne_bytes([self.dents[off + 16], self.dents[off + 17]]) as usize;
                if reclen == 0 || off + reclen > n {
                    break;
                }
                let name = &self.dents[off + 19..off + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                if let Some(pid) = parse_pid(name) {
                    out.push(pid);
                }
                off += reclen;
            }
        }
    }

    fn openat_raw(&self, rel: &[u8], flags: i32) -> io::Result<OwnedFd> {
        // SAFETY: `rel` is NUL-terminated (PidPath guarantees it); the
        // descriptor returned is owned by the OwnedFd.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                rel.as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC | flags,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and ours.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Reads `ROOT/proc/PID/FILE` (FILE may hold a `/`) into `buf`
    /// (cleared first), at most [`MAX_FILE`] bytes.
    pub fn read(&self, pid: u32, file: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut p = PidPath::new(pid);
        let fd = self.openat_raw(p.with(file), 0)?;
        read_fd(&fd, buf)
    }

    /// Reads `ROOT/proc/TID` under `task/` of `pid` when `pid != tid`.
    pub fn read_task(&self, pid: u32, tid: u32, file: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        if pid == tid {
            return self.read(pid, file, buf);
        }
        let rel = format!("task/{tid}/{file}");
        self.read(pid, &rel, buf)
    }

    /// Counts the entries of `ROOT/proc/PID/DIR` other than `.` and `..`
    /// (open file descriptors for `fd`).
    pub fn count_entries(&mut self, pid: u32, dir: &str) -> io::Result<u32> {
        let mut p = PidPath::new(pid);
        let fd = self.openat_raw(p.with(dir), libc::O_DIRECTORY)?;
        let mut count = 0;
        loop {
            // SAFETY: as in `list`.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    fd.as_raw_fd(),
                    self.dents.as_mut_ptr(),
                    self.dents.len(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(count);
            }
            let mut off = 0usize;
            while off + 19 < n as usize {
                let reclen =
                    u16::from_ne_bytes([self.dents[off + 16], self.dents[off + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                let name = &self.dents[off + 19..off + reclen];
                if !(name.starts_with(b".\0") || name.starts_with(b"..\0")) {
                    count += 1;
                }
                off += reclen;
            }
        }
    }

    /// The target of the link `ROOT/proc/PID/LINK` (`exe`, `cwd`, `ns/pid`).
    pub fn readlink(&self, pid: u32, link: &str) -> io::Result<String> {
        let mut p = PidPath::new(pid);
        let rel = p.with(link);
        let mut buf = [0u8; 4096];
        // SAFETY: `rel` is NUL-terminated; `buf` is valid for its length.
        let n = unsafe {
            libc::readlinkat(
                self.dir.as_raw_fd(),
                rel.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    /// Reads a file of `ROOT/proc` itself (`loadavg`, `sys/kernel/...`).
    pub fn read_global(&self, rel: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut c = rel.as_bytes().to_vec();
        c.push(0);
        let fd = self.openat_raw(&c, 0)?;
        read_fd(&fd, buf)
    }
}

fn read_fd(fd: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut chunk = 4096usize;
    loop {
        if buf.len() >= MAX_FILE {
            return Ok(());
        }
        let start = buf.len();
        buf.resize(start + chunk, 0);
        // SAFETY: reading into the newly sized tail of `buf`.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf[start..].as_mut_ptr().cast(), chunk) };
        if n < 0 {
            buf.truncate(start);
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf.truncate(start + n as usize);
        if n == 0 {
            return Ok(());
        }
        chunk = (chunk * 2).min(256 * 1024);
    }
}

/// A decimal pid from a directory entry name.
fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// `PID/FILE\0` on the stack, without allocating for short names.
struct PidPath {
    buf: [u8; 64],
    len: usize,
    long: Vec<u8>,
}

impl PidPath {
    fn new(pid: u32) -> PidPath {
        let mut p = PidPath {
            buf: [0; 64],
            len: 0,
            long: Vec::new(),
        };
        let mut digits = [0u8; 10];
        let mut n = pid;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = &digits[i..];
        p.buf[..d.len()].copy_from_slice(d);
        p.len = d.len();
        p
    }

    fn with(&mut self, file: &str) -> &[u8] {
        let need = self.len + 1 + file.len() + 1;
        if need <= self.buf.len() {
            self.buf[self.len] = b'/';
            self.buf[self.len + 1..self.len + 1 + file.len()].copy_from_slice(file.as_bytes());
            self.buf[need - 1] = 0;
            &self.buf[..need]
        } else {
            self.long.clear();
            self.long.extend_from_slice(&self.buf[..self.len]);
            self.long.push(b'/');
            self.long.extend_from_slice(file.as_bytes());
            self.long.push(0);
            &self.long
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_this_process_and_reads_its_files() {
        let mut d = ProcDir::open(Path::new("/")).unwrap();
        let mut pids = Vec::new();
        d.list(None, &mut pids).unwrap();
        let me = std::process::id();
        assert!(pids.contains(&me), "{pids:?}");
        let mut buf = Vec::new();
        d.read(me, "stat", &mut buf).unwrap();
        assert!(buf.starts_with(format!("{me} (").as_bytes()));
        assert!(d.count_entries(me, "fd").unwrap() >= 3);
        assert!(!d.readlink(me, "exe").unwrap().is_empty());
        let mut tasks = Vec::new();
        d.list(Some(me), &mut tasks).unwrap();
        assert!(tasks.contains(&me));
        assert!(d.read(u32::MAX, "stat", &mut buf).is_err());
    }

    #[test]
    fn pid_paths() {
        let mut p = PidPath::new(0);
        assert_eq!(p.with("stat"), b"0/stat\0");
        let mut p = PidPath::new(4294967295);
        assert_eq!(p.with("io"), b"4294967295/io\0");
        let long = "x".repeat(100);
        assert_eq!(p.with(&long).len(), 10 + 1 + 100 + 1);
        assert_eq!(parse_pid(b"123"), Some(123));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }
}
