//! Mounted filesystems: which mounts pmdalinux reports (from
//! `/proc/mounts`), and their `statfs` figures.
//!
//! Live (root `/`), figures come from `statfs(2)` on each mount point.
//! With a fixture root there is nothing real to `statfs`, so figures come
//! from an optional file `ROOT/statfs` with one line per mount point:
//! `MOUNTDIR BSIZE BLOCKS BFREE BAVAIL FILES FFREE FLAGS` (the numbers
//! `statfs` would give); a mount point missing from it, or no such file,
//! makes its values fail with `-ENOENT` while `filesys.mountdir` and
//! `hinv.nfilesys` still come from the mounts table.

use std::ffi::CString;
use std::path::Path;

use pcp_core::PmError;

use crate::read::{fields, lines, parse_u64};

/// One reported filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device path (the instance name).
    pub device: String,
    /// Mount point.
    pub dir: String,
}

/// Mounts as pmdalinux's filesys cluster reports them: block-device
/// filesystems (device under `/dev`), skipping proc, nfs, devfs, devpts,
/// autofs and tmpfs (tmpfs has its own metrics), each device once. Live,
/// device paths are resolved through symlinks (`/dev/mapper/x` becomes
/// `/dev/dm-0`) as pmdalinux's `realpath` does.
pub fn parse_mounts(buf: &[u8], live: bool, out: &mut Vec<Mount>) -> Result<(), String> {
    out.clear();
    for (n, line) in buf.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| format!("line {}: not UTF-8", n + 1))?
            .trim_end_matches('\r');
        let mut f = line.split_whitespace();
        let (Some(spec), Some(dir), Some(ty), Some(_opts), Some(freq), Some(pass)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return Err(format!("line {}: fewer than six fields", n + 1));
        };
        if freq.parse::<u8>().is_err() || pass.parse::<u8>().is_err() {
            return Err(format!("line {}: bad dump or pass number", n + 1));
        }
        let ty = unmangle(ty);
        if matches!(&*ty, "proc" | "nfs" | "devfs" | "devpts" | "tmpfs") || ty.starts_with("auto") {
            continue;
        }
        let spec = unmangle(spec);
        if !spec.starts_with("/dev") {
            continue;
        }
        let mut device = spec.into_owned();
        if live {
            if let Ok(p) = std::fs::canonicalize(&device) {
                device = p.to_string_lossy().into_owned();
            }
        }
        if out.iter().any(|m| m.device == device) {
            continue;
        }
        out.push(Mount {
            device,
            dir: unmangle(dir).into_owned(),
        });
    }
    Ok(())
}

/// Mounted tmpfs filesystems as pmdalinux's tmpfs metrics report them:
/// one per mount point (the instance name, resolved through symlinks on
/// the live system), each once however many times it is mounted.
pub fn parse_tmpfs(buf: &[u8], live: bool, out: &mut Vec<Mount>) {
    out.clear();
    for line in buf.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let mut f = line.split_whitespace();
        let (Some(_spec), Some(dir), Some("tmpfs")) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let dir = unmangle(dir).into_owned();
        let mut name = dir.clone();
        if live {
            if let Ok(p) = std::fs::canonicalize(&name) {
                name = p.to_string_lossy().into_owned();
            }
        }
        if out.iter().any(|m| m.device == name) {
            continue;
        }
        out.push(Mount { device: name, dir });
    }
}

/// The octal escapes the kernel writes in /proc/mounts fields that
/// `procfs` undoes (tab, newline, backslash, hash); others stay as they are.
fn unmangle(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut t = s.to_string();
    for (octal, c) in [
        (r"\011", "\t"),
        (r"\012", "\n"),
        (r"\134", "\\"),
        (r"\043", "#"),
    ] {
        t = t.replace(octal, c);
    }
    std::borrow::Cow::Owned(t)
}

/// The statfs figures pmdalinux uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statfs {
    /// Block size.
    pub bsize: u64,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Blocks free to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Mount flags (`ST_RDONLY` is 1).
    pub flags: u64,
}

impl Statfs {
    /// Capacity in Kbytes.
    pub fn capacity(&self) -> u64 {
        mul_kb(self.blocks, self.bsize)
    }
    /// Used Kbytes.
    pub fn used(&self) -> u64 {
        mul_kb(self.blocks.saturating_sub(self.bfree), self.bsize)
    }
    /// Free Kbytes.
    pub fn free(&self) -> u64 {
        mul_kb(self.bfree, self.bsize)
    }
    /// Kbytes available to unprivileged users.
    pub fn avail(&self) -> u64 {
        mul_kb(self.bavail, self.bsize)
    }
    /// Percentage full as df computes it: used / (used + avail).
    pub fn full(&self) -> f64 {
        let used = self.blocks.saturating_sub(self.bfree) as f64;
        let denom = used + self.bavail as f64;
        if denom == 0.0 {
            0.0
        } else {
            100.0 * used / denom
        }
    }
}

fn mul_kb(blocks: u64, bsize: u64) -> u64 {
    ((blocks as u128 * bsize as u128) / 1024) as u64
}

/// `statfs(2)` on a live mount point.
pub fn statfs_live(dir: &str) -> Result<Statfs, PmError> {
    let c = CString::new(dir).map_err(|_| PmError::from_errno(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized,
    // zero-initialised statvfs buffer that statvfs fills in.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(PmError::from_errno(e.raw_os_error().unwrap_or(libc::EIO)));
    }
    Ok(Statfs {
        bsize: s.f_bsize as u64,
        blocks: s.f_blocks as u64,
        bfree: s.f_bfree as u64,
        bavail: s.f_bavail as u64,
        files: s.f_files as u64,
        ffree: s.f_ffree as u64,
        flags: s.f_flag as u64,
    })
}

/// Looks a mount point up in a fixture `statfs` file's bytes.
pub fn statfs_fixture(buf: &[u8], dir: &str) -> Result<Statfs, PmError> {
    for line in lines(buf) {
        let f: Vec<&[u8]> = fields(line).collect();
        if f.len() != 8 || f[0] != dir.as_bytes() {
            continue;
        }
        let n: Vec<u64> = f[1..].iter().filter_map(|x| parse_u64(x)).collect();
        if n.len() != 7 {
            return Err(PmError::VALUE);
        }
        return Ok(Statfs {
            bsize: n[0],
            blocks: n[1],
            bfree: n[2],
            bavail: n[3],
            files: n[4],
            ffree: n[5],
            flags: n[6],
        });
    }
    Err(PmError::from_errno(libc::ENOENT))
}

/// True when `root` is the live system root.
pub fn is_live(root: &Path) -> bool {
    root == Path::new("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_selection() {
        let text = b"proc /proc proc rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n\
/dev/vda /again ext4 rw 0 0\n/dev/sdb1 /data xfs ro 0 0\nserver:/x /nfs nfs rw 0 0\n";
        let mut v = Vec::new();
        parse_mounts(text, false, &mut v).unwrap();
        assert_eq!(
            v,
            vec![
                Mount {
                    device: "/dev/vda".into(),
                    dir: "/".into()
                },
                Mount {
                    device: "/dev/sdb1".into(),
                    dir: "/data".into()
                },
            ]
        );
        let twice =
            b"tmpfs /dev/shm tmpfs rw 0 0\nnone /run tmpfs rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n";
        parse_tmpfs(twice, false, &mut v);
        let dirs: Vec<&str> = v.iter().map(|m| m.device.as_str()).collect();
        assert_eq!(dirs, ["/dev/shm", "/run"]);
    }

    #[test]
    fn mounts_parse_as_procfs_does() {
        use procfs::{FromBufRead, MountEntry};
        let text = "/dev/vda1 / ext4 rw 0 0\n/dev/sd\\134b /mnt/a\\040b\\011c xfs rw,x=1 0 0\n\
/dev/sdc /m#\\043 ext4 ro 0 2\n";
        let theirs = Vec::<MountEntry>::from_buf_read(text.as_bytes()).unwrap();
        let mut v = Vec::new();
        parse_mounts(text.as_bytes(), false, &mut v).unwrap();
        let want: Vec<Mount> = theirs
            .into_iter()
            .map(|e| Mount {
                device: e.fs_spec,
                dir: e.fs_file,
            })
            .collect();
        assert_eq!(v, want);
        assert!(parse_mounts(b"/dev/x / ext4 rw 0\n", false, &mut v).is_err());
        assert!(parse_mounts(b"/dev/x / ext4 rw 0 z\n", false, &mut v).is_err());
    }

    #[test]
    fn statfs_arithmetic() {
        let s = Statfs {
            bsize: 4096,
            blocks: 1000,
            bfree: 400,
            bavail: 300,
            files: 10,
            ffree: 4,
            flags: 0,
        };
        assert_eq!(s.capacity(), 4000);
        assert_eq!(s.used(), 2400);
        assert_eq!(s.free(), 1600);
        assert_eq!(s.avail(), 1200);
        assert!((s.full() - 66.666_666).abs() < 1e-3);
        let f = statfs_fixture(b"/ 4096 1000 400 300 10 4 0\n", "/").unwrap();
        assert_eq!(f, s);
        assert!(statfs_fixture(b"", "/x").is_err());
    }
}
