//! Processes that exited, from BSD process accounting (`acct.*`): the
//! agent follows the system's accounting file (`/var/account/pacct`,
//! PCP's `PCP_PACCT_SYSTEM_PATH`) when accounting writes to it, or with
//! `acct.control.enable_acct` set to 1 (root only) turns accounting on
//! into its own file (`PCP_VAR_DIR/pmcd/pacct`, restarted when it grows
//! past `acct.control.file_size_threshold`). Each exited process is an
//! instance (its pid, named by its command) for `acct.control.lifetime`
//! seconds after it ended; at most 5,000 are kept.
//!
//! Records are the kernel's version 3 layout (`struct acct_v3`, 64 bytes);
//! times and sizes in "comp_t" (13-bit mantissa, 3-bit base-8 exponent).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The most exited processes kept.
pub const RING: usize = 5000;
/// Bytes of one version 3 record.
pub const RECORD: usize = 64;

/// One accounting record (what the agent serves of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// AFORK, ASU, ACORE, AXSIG bits.
    pub flag: u8,
    /// Controlling terminal.
    pub tty: u16,
    /// Exit code.
    pub exitcode: u32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Start, seconds since the epoch.
    pub btime: u32,
    /// Elapsed time, clock ticks.
    pub etime: f32,
    /// User time, clock ticks.
    pub utime: u64,
    /// System time, clock ticks.
    pub stime: u64,
    /// Average memory, Kbytes.
    pub mem: u64,
    /// Characters transferred.
    pub io: u64,
    /// Blocks read or written.
    pub rw: u64,
    /// Minor faults.
    pub minflt: u64,
    /// Major faults.
    pub majflt: u64,
    /// Swaps.
    pub swaps: u64,
    /// Command name.
    pub comm: String,
}

/// A "comp_t" as the kernel packs it: 3-bit base-8 exponent, 13-bit
/// mantissa.
pub fn comp_t(c: u16) -> u64 {
    let exp = (c >> 13) & 7;
    u64::from(c & 0x1fff) << (3 * exp)
}

/// One version 3 record from its 64 bytes (`None` for another version).
///
/// ```
/// let mut rec = [0u8; 64];
/// rec[1] = 3; // version
/// rec[16..20].copy_from_slice(&42u32.to_ne_bytes()); // pid
/// rec[48..52].copy_from_slice(b"sh\0\0");
/// let r = pmda_proc::acct::parse(&rec).unwrap();
/// assert_eq!((r.pid, r.comm.as_str()), (42, "sh"));
/// assert_eq!(pmda_proc::acct::comp_t((1 << 13) | 5), 40);
/// ```
pub fn parse(b: &[u8]) -> Option<Record> {
    if b.len() < RECORD || b[1] & 0x0f != 3 {
        return None;
    }
    let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let comm = &b[48..64];
    let end = comm.iter().position(|&c| c == 0).unwrap_or(comm.len());
    Some(Record {
        flag: b[0],
        tty: u16_at(2),
        exitcode: u32_at(4),
        uid: u32_at(8),
        gid: u32_at(12),
        pid: u32_at(16),
        ppid: u32_at(20),
        btime: u32_at(24),
        etime: f32::from_bits(u32_at(28)),
        utime: comp_t(u16_at(32)),
        stime: comp_t(u16_at(34)),
        mem: comp_t(u16_at(36)),
        io: comp_t(u16_at(38)),
        rw: comp_t(u16_at(40)),
        minflt: comp_t(u16_at(42)),
        majflt: comp_t(u16_at(44)),
        swaps: comp_t(u16_at(46)),
        comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
    })
}

/// The acct.control.* settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Seconds between attempts to open the accounting file.
    pub open_retry_interval: u32,
    /// Seconds between checks that accounting still writes to it.
    pub check_acct_interval: u32,
    /// Size at which the agent's own file is restarted.
    pub file_size_threshold: u64,
    /// Seconds an exited process stays an instance.
    pub lifetime: u32,
    /// Seconds between checks of the file size.
    pub refresh: u32,
    /// Accounting turned on by the agent into its own file.
    pub enable_acct: bool,
}

impl Default for Controls {
    fn default() -> Controls {
        Controls {
            open_retry_interval: 60,
            check_acct_interval: 600,
            file_size_threshold: 10 << 20,
            lifetime: 60,
            refresh: 600,
            enable_acct: false,
        }
    }
}

#[derive(Debug)]
struct Open {
    file: File,
    path: PathBuf,
    ours: bool,
    read_to: u64,
    checked: Instant,
}

/// The accounting follower.
#[derive(Debug)]
pub struct Acct {
    /// The settings.
    pub controls: Controls,
    system: PathBuf,
    private: PathBuf,
    open: Option<Open>,
    last_try: Option<Instant>,
    /// Exited processes, oldest first, with their end time.
    ring: VecDeque<(u64, Record)>,
    hertz: f32,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Acct {
    /// A follower of `system` (the system's accounting file), keeping its
    /// own file at `private` when asked to turn accounting on.
    pub fn new(system: PathBuf, private: PathBuf, hertz: u64) -> Acct {
        Acct {
            controls: Controls::default(),
            system,
            private,
            open: None,
            last_try: None,
            ring: VecDeque::new(),
            hertz: hertz.max(1) as f32,
        }
    }

    /// Reads what accounting wrote since the last call.
    pub fn refresh(&mut self) {
        let t = now();
        if self.open.is_none() {
            let due = self.last_try.is_none_or(|l| {
                l.elapsed() >= Duration::from_secs(u64::from(self.controls.open_retry_interval))
            });
            if !due {
                return;
            }
            self.last_try = Some(Instant::now());
            self.open = self.try_open();
            return;
        }
        let Some(o) = self.open.as_mut() else { return };
        if o.checked.elapsed() >= Duration::from_secs(u64::from(self.controls.check_acct_interval))
        {
            o.checked = Instant::now();
            if !accounting_writes(&o.file) {
                self.close();
                return;
            }
        }
        let size = o.file.metadata().map_or(0, |m| m.len());
        if size < o.read_to {
            self.close();
            return;
        }
        let mut n = ((size - o.read_to) / RECORD as u64) as usize;
        // Only the newest RING records can be kept: skip the older ones
        // rather than read them (memory stays at RING records).
        if n > RING {
            o.read_to += ((n - RING) * RECORD) as u64;
            n = RING;
        }
        let mut buf = vec![0u8; n * RECORD];
        if o.file.seek(SeekFrom::Start(o.read_to)).is_err() || o.file.read_exact(&mut buf).is_err()
        {
            self.close();
            return;
        }
        o.read_to += (n * RECORD) as u64;
        let too_big = o.ours && size > self.controls.file_size_threshold;
        let lifetime = u64::from(self.controls.lifetime);
        for chunk in buf.chunks_exact(RECORD) {
            let Some(r) = parse(chunk) else { continue };
            if r.pid == 0 || self.ring.iter().any(|(_, x)| x.pid == r.pid) {
                continue;
            }
            let end = u64::from(r.btime) + (r.etime / self.hertz) as u64;
            if t.saturating_sub(end) > lifetime {
                continue;
            }
            if self.ring.len() == RING {
                self.ring.pop_front();
            }
            self.ring.push_back((end, r));
        }
        self.ring
            .retain(|(end, _)| t.saturating_sub(*end) <= lifetime);
        if too_big {
            self.close();
            self.open = self.try_open();
        }
    }

    fn try_open(&mut self) -> Option<Open> {
        if let Some(o) = open_following(&self.system, false) {
            return Some(o);
        }
        if self.controls.enable_acct {
            return open_following(&self.private, true);
        }
        None
    }

    /// Stops following (and turns the agent's own accounting off).
    pub fn close(&mut self) {
        if let Some(o) = self.open.take() {
            if o.ours {
                // SAFETY: acct(NULL) turns process accounting off.
                unsafe { libc::acct(std::ptr::null()) };
                let _ = std::fs::remove_file(&o.path);
            }
        }
    }

    /// Turns the agent's own accounting on or off.
    pub fn set_enabled(&mut self, on: bool) {
        self.controls.enable_acct = on;
        if !on && self.open.as_ref().is_some_and(|o| o.ours) {
            self.close();
        }
        if on && self.open.is_none() {
            self.open = self.try_open();
        }
    }

    /// The exited processes still within their lifetime, newest first.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.ring.iter().rev().map(|(_, r)| r)
    }

    /// Clock ticks per second of the records.
    pub fn hertz(&self) -> f32 {
        self.hertz
    }
}

impl Drop for Acct {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens `path` for following from its end, turning accounting on into it
/// when `ours`; `None` unless accounting demonstrably writes to it.
fn open_following(path: &std::path::Path, ours: bool) -> Option<Open> {
    if ours {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ok()?;
        }
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o400)
            .open(path)
            .ok()?;
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: acct(2) with a valid NUL-terminated path.
        if unsafe { libc::acct(c.as_ptr()) } != 0 {
            return None;
        }
    }
    let file = File::open(path).ok()?;
    if !accounting_writes(&file) {
        if ours {
            // SAFETY: acct(NULL) turns process accounting off.
            unsafe { libc::acct(std::ptr::null()) };
        }
        return None;
    }
    let size = file.metadata().ok()?.len();
    let mut head = [0u8; 2];
    if size >= 2 {
        let mut f = File::open(path).ok()?;
        f.read_exact(&mut head).ok()?;
        if head[1] & 0x0f != 3 {
            return None;
        }
    }
    Some(Open {
        file,
        path: path.to_path_buf(),
        ours,
        read_to: size - size % RECORD as u64,
        checked: Instant::now(),
    })
}

/// True when a process that exits makes `file` grow (accounting is on and
/// writes there), checked with a short-lived child.
fn accounting_writes(file: &File) -> bool {
    let before = file.metadata().map_or(0, |m| m.len());
    let ok = std::process::Command::new("/bin/true")
        .status()
        .is_ok_and(|s| s.success());
    ok && file.metadata().map_or(0, |m| m.len()) > before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comp_t_decodes() {
        assert_eq!(comp_t(0), 0);
        assert_eq!(comp_t(100), 100);
        assert_eq!(comp_t((2 << 13) | 1), 64);
        assert!(parse(&[0u8; 64]).is_none());
    }
}
