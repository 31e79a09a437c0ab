//! The `vfs` collector: file handles, inodes, directory cache entries and
//! asynchronous I/O contexts from `/proc/sys/fs` (`vfs.files.*`,
//! `vfs.inodes.*`, `vfs.dentry.*`, `vfs.aio.*`), and file locks held
//! from `/proc/locks` (`vfs.locks.*`).

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::parse::{fields, lines, ParseError};
use crate::sysfiles::SysFiles;
use crate::system::System;
use crate::value::Put;

/// Lock counts by class (posix, flock, lease) and mode (read, write, all).
pub type LockCounts = [[u64; 3]; 3];

/// Parses /proc/locks: `N: CLASS KIND MODE PID ...`, counting as pmdalinux
/// does: POSIX, ACCESS and OFDLCK (open file description) locks are posix
/// locks, FLOCK flock locks, LEASE and DELEG (NFS delegation) leases; READ
/// and WRITE count as such and RW as both. Waiters (`N: -> ...`) are not
/// held locks and are skipped, as are other classes and lines whose PID is
/// not a number.
pub fn parse_locks(buf: &[u8]) -> Result<LockCounts, ParseError> {
    let mut c: LockCounts = [[0; 3]; 3];
    for line in lines(buf) {
        let bad = || ParseError::line("locks", line);
        let mut f = fields(line);
        let (Some(_), Some(class)) = (f.next(), f.next()) else {
            return Err(bad());
        };
        if class == b"->" {
            continue;
        }
        let class = if [&b"POSIX"[..], b"ACCESS", b"OFDLCK"]
            .iter()
            .any(|p| class.starts_with(p))
        {
            0
        } else if class.starts_with(b"FLOCK") {
            1
        } else if class.starts_with(b"DELEG") || class.starts_with(b"LEASE") {
            2
        } else {
            continue;
        };
        let mode = f.nth(1).ok_or_else(bad)?;
        let pid_ok = f
            .next()
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<i64>().ok())
            .is_some();
        if !pid_ok {
            continue;
        }
        if mode.starts_with(b"READ") {
            c[class][0] += 1;
        } else if mode.starts_with(b"WRITE") {
            c[class][1] += 1;
        } else if mode.starts_with(b"RW") {
            c[class][0] += 1;
            c[class][1] += 1;
        }
        c[class][2] += 1;
    }
    Ok(c)
}

/// /proc/locks.
const LOCKS: Need = Need::new(Id::Vfs, 0);
/// The /proc/sys/fs files, sources 1 on.
const FILES: [&str; 5] = [
    "proc/sys/fs/file-nr",
    "proc/sys/fs/inode-state",
    "proc/sys/fs/dentry-state",
    "proc/sys/fs/aio-nr",
    "proc/sys/fs/aio-max-nr",
];
const fn file(i: u32) -> Need {
    Need::new(Id::Vfs, 1 + i)
}

/// The collector's state.
#[derive(Debug)]
pub struct Vfs {
    locks: LockCounts,
    files: SysFiles,
}

impl Vfs {
    pub(crate) fn new(_: &System) -> Vfs {
        Vfs {
            locks: [[0; 3]; 3],
            files: SysFiles::new(&FILES, 1),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & LOCKS.bit != 0 {
            let locks = &mut self.locks;
            sys.parse(LOCKS, "proc/locks", |b| {
                *locks = parse_locks(b)?;
                Ok(())
            });
        }
        self.files.refresh(sys, Id::Vfs, want);
    }
}

/// Field `field` of file `i` of [`FILES`].
macro_rules! number {
    ($name:literal, $i:literal, $field:literal, $one:literal, $help:literal) => {
        Binding::new($name, &[file($i)], |c, _, out| {
            out.set_u64(c.vfs.files.number($i, $field)?);
            Ok(())
        })
        .help($one, $help)
    };
}

/// A lock class and mode of `vfs.locks.CLASS.MODE`: class * 3 + mode.
fn lock(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    let (class, mode) = rest.split_once('.')?;
    let class = ["posix", "flock", "lease"]
        .iter()
        .position(|c| *c == class)?;
    let mode = ["read", "write", "count"].iter().position(|m| *m == mode)?;
    Some((class * 3 + mode) as u32)
}

fn lock_help(name: &str) -> (String, String) {
    let rest = name.trim_start_matches("vfs.locks.");
    let (class, mode) = rest.split_once('.').unwrap_or((rest, ""));
    let what = match mode {
        "read" => "read (shared) locks",
        "write" => "write (exclusive) locks",
        _ => "locks",
    };
    (
        format!("{class} {what} held"),
        format!(
            "Number of {} {what} currently held, from /proc/locks.",
            class.to_uppercase()
        ),
    )
}

/// The vfs collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    number!(
        "vfs.files.count",
        0,
        0,
        "open file handles",
        "File handles allocated (first field of /proc/sys/fs/file-nr)."
    ),
    number!(
        "vfs.files.free",
        0,
        1,
        "free file handles",
        "Allocated but unused file handles (second field of /proc/sys/fs/file-nr)."
    ),
    number!(
        "vfs.files.max",
        0,
        2,
        "file handle limit",
        "The most file handles the kernel will allocate (third field of /proc/sys/fs/file-nr)."
    ),
    number!(
        "vfs.inodes.count",
        1,
        0,
        "inodes allocated",
        "In-core inodes allocated, from /proc/sys/fs/inode-state."
    ),
    number!(
        "vfs.inodes.free",
        1,
        1,
        "free inodes",
        "Allocated inodes that are unused, from /proc/sys/fs/inode-state."
    ),
    number!(
        "vfs.dentry.count",
        2,
        0,
        "directory cache entries",
        "Entries in the directory cache, from /proc/sys/fs/dentry-state."
    ),
    number!(
        "vfs.dentry.free",
        2,
        1,
        "unused directory cache entries",
        "Directory cache entries not in use, from /proc/sys/fs/dentry-state."
    ),
    number!(
        "vfs.aio.count",
        3,
        0,
        "asynchronous I/O contexts in use",
        "Asynchronous I/O requests outstanding system-wide, from /proc/sys/fs/aio-nr."
    ),
    number!(
        "vfs.aio.max",
        4,
        0,
        "asynchronous I/O limit",
        "The most asynchronous I/O requests allowed, from /proc/sys/fs/aio-max-nr."
    ),
    Binding::family("vfs.locks.", &[LOCKS], lock, |c, l, out| {
        out.set_u64(c.vfs.locks[(l / 3) as usize][(l % 3) as usize]);
        Ok(())
    })
    .made_help(lock_help),
]];

/// The vfs collector lists no instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_by_class_and_mode() {
        let c = parse_locks(
            b"1: FLOCK  ADVISORY  WRITE 30481 fe:00:6094874 0 EOF\n\
2: FLOCK  ADVISORY  READ 30481 fe:00:10133506 0 EOF\n\
3: POSIX  ADVISORY  WRITE 1 00:1a:3 0 EOF\n\
3: -> POSIX  ADVISORY  WRITE 2 00:1a:3 0 EOF\n\
4: OFDLCK ADVISORY  READ -1 00:1a:4 0 EOF\n\
5: DELEG  ACTIVE    RW 77 00:1a:5 0 EOF\n",
        )
        .unwrap();
        assert_eq!(c, [[1, 1, 2], [1, 1, 2], [1, 1, 1]]);
        assert!(parse_locks(b"1:\n").is_err());
    }
}
