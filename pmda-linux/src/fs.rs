//! Mounted filesystems: which mounts pmdalinux reports (from
//! `/proc/self/mounts`), and their `statfs` figures.
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

/// Filesystem types pmdalinux 6.0.3 leaves out of `filesys.*` and
/// `tmpfs.*` (besides every `auto*` type).
const SKIPPED_TYPES: &[&str] = &[
    "proc",
    "nfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "squashfs",
    "selinuxfs",
    "securityfs",
    "configfs",
    "cgroup",
    "sysfs",
];

/// A mounts line's device, mount point and type, as pmdalinux splits it
/// (on spaces, the kernel's octal escapes left as they are), if it is one
/// pmdalinux's filesys or tmpfs metrics report.
fn reported(line: &str) -> Option<(&str, &str, &str)> {
    let mut f = line.split(' ').filter(|x| !x.is_empty());
    let (spec, dir, ty) = (f.next()?, f.next()?, f.next()?);
    if SKIPPED_TYPES.contains(&ty) || ty.starts_with("auto") {
        return None;
    }
    Some((spec, dir, ty))
}

/// Resolves a live device or tmpfs path through symlinks as pmdalinux's
/// `realpath` does, except the persistent `/dev/mapper` and `/dev/md`
/// names, which pmdalinux keeps.
fn resolved(name: &str, live: bool) -> String {
    let keep = name.starts_with("/dev/mapper") || name.starts_with("/dev/md");
    if live && !keep && name.starts_with('/') {
        if let Ok(p) = std::fs::canonicalize(name) {
            return p.to_string_lossy().into_owned();
        }
    }
    name.to_string()
}

/// Mounts as pmdalinux 6.0.3's filesys cluster reports them (from
/// `/proc/self/mounts`): every type but those of [`SKIPPED_TYPES`],
/// `auto*` and tmpfs (which has its own metrics), whose device is under
/// `/dev` or which is mounted at `/` (a container's overlay root, the
/// `rootfs` of older kernels), each device once (its first mount).
/// Names are the file's text, escapes and all; live, devices are
/// resolved through symlinks (see [`resolved`]).
pub fn parse_mounts(buf: &[u8], live: bool, out: &mut Vec<Mount>) -> Result<(), String> {
    out.clear();
    for (n, line) in buf.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| format!("line {}: not UTF-8", n + 1))?
            .trim_end_matches('\r');
        let f: Vec<&str> = line.split_whitespace().collect();
        let [_, _, _, _, freq, pass] = f[..] else {
            return Err(format!("line {}: not six fields", n + 1));
        };
        if freq.parse::<u8>().is_err() || pass.parse::<u8>().is_err() {
            return Err(format!("line {}: bad dump or pass number", n + 1));
        }
        let Some((spec, dir, ty)) = reported(line) else {
            continue;
        };
        if ty == "tmpfs" || (!spec.starts_with("/dev") && dir != "/") {
            continue;
        }
        let device = resolved(spec, live);
        if out.iter().any(|m| m.device == device) {
            continue;
        }
        out.push(Mount {
            device,
            dir: dir.to_string(),
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
        let Some((_, dir, "tmpfs")) = reported(line) else {
            continue;
        };
        let name = resolved(dir, live);
        if out.iter().any(|m| m.device == name) {
            continue;
        }
        out.push(Mount {
            device: name,
            dir: dir.to_string(),
        });
    }
}

/// A mounts field with the kernel's octal escapes (`\040` for a space...)
/// undone: the path to `statfs` (pmdalinux passes the escaped text and
/// gets no figures for such mount points).
pub fn unescaped(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
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
/dev/vda /again ext4 rw 0 0\n/dev/sdb1 /data xfs ro 0 0\nserver:/x /nfs nfs rw 0 0\n\
/dev/loop0 /snap/core squashfs ro 0 0\ndevtmpfs /dev devtmpfs rw 0 0\n\
/dev/mapper/vg-home /home ext4 rw 0 0\n";
        let mut v = Vec::new();
        parse_mounts(text, false, &mut v).unwrap();
        let got: Vec<(&str, &str)> = v.iter().map(|m| (&*m.device, &*m.dir)).collect();
        assert_eq!(
            got,
            [
                ("/dev/vda", "/"),
                ("/dev/sdb1", "/data"),
                ("/dev/mapper/vg-home", "/home")
            ]
        );
        let twice =
            b"tmpfs /dev/shm tmpfs rw 0 0\nnone /run tmpfs rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n";
        parse_tmpfs(twice, false, &mut v);
        let dirs: Vec<&str> = v.iter().map(|m| m.device.as_str()).collect();
        assert_eq!(dirs, ["/dev/shm", "/run"]);
    }

    #[test]
    fn a_root_not_on_a_device_is_reported() {
        // A container's overlay root (and the rootfs line of kernels
        // before 4.x) is a filesystem to pmdalinux.
        let text = b"overlay / overlay rw,lowerdir=/l 0 0\nrootfs / rootfs rw 0 0\n\
cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\nnone /mnt ext4 rw 0 0\n";
        let mut v = Vec::new();
        parse_mounts(text, false, &mut v).unwrap();
        let got: Vec<&str> = v.iter().map(|m| &*m.device).collect();
        assert_eq!(got, ["overlay", "rootfs"]);
    }

    #[test]
    fn escaped_names_stay_as_pmdalinux_shows_them() {
        let text = "/dev/sd\\134b /mnt/a\\040b\\011c xfs rw,x=1 0 0\n";
        let mut v = Vec::new();
        parse_mounts(text.as_bytes(), false, &mut v).unwrap();
        assert_eq!(v[0].device, "/dev/sd\\134b");
        assert_eq!(v[0].dir, "/mnt/a\\040b\\011c");
        assert_eq!(unescaped(&v[0].dir), "/mnt/a b\tc");
        assert_eq!(unescaped("/plain"), "/plain");
        assert_eq!(unescaped("/odd\\9x\\04"), "/odd\\9x\\04");
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
