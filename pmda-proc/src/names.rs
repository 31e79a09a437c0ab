//! Names for numbers: user and group names (looked up once per id and
//! kept), terminal names from the kernel's tty driver table
//! (`/proc/tty/drivers`: `pts/3`, `ttyS0`), scheduling policy names.

use std::collections::HashMap;
use std::ffi::CStr;

/// User and group names by id, looked up once each.
#[derive(Debug, Default)]
pub struct IdNames {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl IdNames {
    /// The name of user `uid` (its number when it has none).
    pub fn user(&mut self, uid: u32) -> &str {
        self.users
            .entry(uid)
            .or_insert_with(|| user_name(uid).unwrap_or_else(|| uid.to_string()))
    }

    /// The name of group `gid` (its number when it has none).
    pub fn group(&mut self, gid: u32) -> &str {
        self.groups
            .entry(gid)
            .or_insert_with(|| group_name(gid).unwrap_or_else(|| gid.to_string()))
    }
}

fn user_name(uid: u32) -> Option<String> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: pointers valid for the sizes given; the result points into
    // `pw`/`buf`, read before they go.
    let rc =
        unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside `buf`.
    Some(
        unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn group_name(gid: u32) -> Option<String> {
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_name`.
    let rc =
        unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: gr_name is a NUL-terminated string inside `buf`.
    Some(
        unsafe { CStr::from_ptr(gr.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// One line of `/proc/tty/drivers`: a device path, a major number and a
/// minor range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TtyDriver {
    path: String,
    major: u32,
    first: u32,
    last: u32,
}

/// The kernel's terminal drivers, for naming a `tty_nr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TtyNames {
    drivers: Vec<TtyDriver>,
    found: HashMap<u32, String>,
}

impl TtyNames {
    /// Reads the text of `/proc/tty/drivers` (lines of: driver name,
    /// device path, major, minor or minor range, type).
    pub fn parse(text: &str) -> TtyNames {
        let mut drivers = Vec::new();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() < 5 {
                continue;
            }
            let Ok(major) = w[2].parse() else { continue };
            let (first, last) = match w[3].split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
                None => {
                    let m = w[3].parse().unwrap_or(0);
                    (m, m)
                }
            };
            let path = w[1].strip_prefix("/dev/").unwrap_or(w[1]).to_string();
            drivers.push(TtyDriver {
                path,
                major,
                first,
                last,
            });
        }
        TtyNames {
            drivers,
            found: HashMap::new(),
        }
    }

    /// The name of terminal device `dev` (`tty_nr` of stat): the driver's
    /// path alone for a single-minor driver (`console`), with the minor
    /// for a range (`pts/3`), `?` when no driver claims it.
    ///
    /// ```
    /// let mut t = pmda_proc::names::TtyNames::parse("/dev/tty /dev/tty 5 0 system:/dev/tty\npty_slave /dev/pts 136 0-1048575 pty:slave\n");
    /// assert_eq!(t.name((136 << 8) | 3), "pts/3");
    /// assert_eq!(t.name(5 << 8), "tty");
    /// assert_eq!(t.name(0), "?");
    /// ```
    pub fn name(&mut self, dev: u32) -> String {
        if dev == 0 {
            return "?".into();
        }
        let major = (dev >> 8) & 0xfff;
        let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
        // The first driver of the major decides, as the kernel lists them.
        if let Some(d) = self.drivers.iter().find(|d| d.major == major) {
            if d.first == d.last && minor == d.first {
                return d.path.clone();
            }
            if minor >= d.first && minor <= d.last {
                return format!("{}/{}", d.path, minor);
            }
        }
        self.found
            .entry(dev)
            .or_insert_with(|| device_name(dev).unwrap_or_else(|| "?".into()))
            .clone()
    }
}

/// The name under /dev (or /dev/pts) of the character device `dev`, for
/// terminals the driver table does not name (virtual consoles).
fn device_name(dev: u32) -> Option<String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let major = u64::from((dev >> 8) & 0xfff);
    let minor = u64::from((dev & 0xff) | ((dev >> 12) & 0xfff00));
    let want = libc::makedev(major as u32, minor as u32);
    for (dir, prefix) in [("/dev/pts", "pts/"), ("/dev", "")] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.file_type().is_char_device() && m.rdev() == want {
                return Some(format!("{prefix}{}", e.file_name().to_string_lossy()));
            }
        }
    }
    None
}

/// The name of a scheduling policy number, as pmdaproc prints it.
pub fn policy_name(policy: u64) -> &'static str {
    match policy {
        0 => "NORMAL",
        1 => "FIFO",
        2 => "RR",
        3 => "BATCH",
        5 => "IDLE",
        6 => "DEADLN",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name() {
        let mut n = IdNames::default();
        assert_eq!(n.user(0), "root");
        assert_eq!(n.group(0), "root");
        assert_eq!(n.user(4_000_000_000), "4000000000");
    }
}
