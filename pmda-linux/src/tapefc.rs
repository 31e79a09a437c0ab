//! SCSI tape drive statistics (`/sys/class/scsi_tape/stN/stats/`) and
//! Fibre Channel host statistics (`/sys/class/fc_host/hostN/statistics/`),
//! one small file per figure; and the SCSI device list of
//! `/proc/scsi/scsi` (see [`parse_scsi`]).
//!
//! As pmdalinux does: a tape drive is a `st<digits>` entry (the `nst`,
//! `stNa`... aliases share its statistics and are skipped) with a `stats`
//! directory; an FC host is any entry with a `statistics` directory.
//! Entries come in directory order. A figure whose file is missing or
//! unreadable reads zero; the FC word counts are converted to bytes (four
//! bytes a word) and the kernel's "not supported" value (all ones) reads
//! zero. No directory at all means no devices.

use std::path::Path;

/// Tape statistics files, in pmdalinux's item order (tape.dev.*).
pub const TAPE_FIELDS: [&str; 10] = [
    "in_flight",
    "io_ns",
    "other_cnt",
    "read_byte_cnt",
    "read_cnt",
    "read_ns",
    "resid_cnt",
    "write_byte_cnt",
    "write_cnt",
    "write_ns",
];

/// The FC host metrics (after `fchost.`) in pmdalinux's item order.
pub const FCHOST_METRICS: [&str; 8] = [
    "in.frames",
    "out.frames",
    "in.bytes",
    "out.bytes",
    "lip_count",
    "nos_count",
    "error_frames",
    "dumped_frames",
];

/// The statistics file behind each item of [`FCHOST_METRICS`], with the
/// left shift applied to it. pmdalinux 6.0.3 stores its figures in the
/// order received frames, received words, sent frames, sent words and
/// answers by item number, so `fchost.out.frames` (item 1) reports the
/// received bytes and `fchost.in.bytes` (item 2) the sent frames; this
/// table keeps that, so values agree.
pub const FCHOST_FIELDS: [(&str, u32); 8] = [
    ("rx_frames", 0),
    ("rx_words", 2),
    ("tx_frames", 0),
    ("tx_words", 2),
    ("lip_count", 0),
    ("nos_count", 0),
    ("error_frames", 0),
    ("dumped_frames", 0),
];

/// One device and its figures in item order.
pub type DevCounts<const N: usize> = (String, [u64; N]);

fn entries(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Parses a number as C's `strtoull` with base 0 would: `0x` hex, a
/// leading `0` octal, else decimal; the leading digits only.
fn c_number(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    u64::from_str_radix(&digits[..end], radix).ok()
}

/// Parses the start of a file as C's `strtoll` with base 10 does: leading
/// white space, a sign, then the digits up to the first other byte (a
/// newline, or the NUL padding some sysfs captures have), saturating at
/// the `i64` limits; 0 without digits. Negative values wrap when stored
/// unsigned, as in pmdalinux.
fn c_decimal(bytes: &[u8]) -> i64 {
    let mut it = bytes
        .iter()
        .copied()
        .skip_while(|b| b.is_ascii_whitespace())
        .peekable();
    let negative = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for b in it.take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    v
}

/// Reads the tape drives under `ROOT/sys/class/scsi_tape` into `out`.
pub fn scan_tapes(root: &Path, out: &mut Vec<DevCounts<10>>) {
    out.clear();
    let class = root.join("sys/class/scsi_tape");
    for name in entries(&class) {
        let is_drive = name.starts_with("st") && name.ends_with(|c: char| c.is_ascii_digit());
        let stats = class.join(&name).join("stats");
        if !is_drive || !stats.is_dir() {
            continue;
        }
        let mut counts = [0u64; 10];
        for (slot, field) in counts.iter_mut().zip(TAPE_FIELDS) {
            if let Ok(t) = std::fs::read(stats.join(field)) {
                *slot = c_decimal(&t) as u64;
            }
        }
        out.push((name, counts));
    }
}

/// Reads the FC hosts under `ROOT/sys/class/fc_host` into `out`.
pub fn scan_fchosts(root: &Path, out: &mut Vec<DevCounts<8>>) {
    out.clear();
    let class = root.join("sys/class/fc_host");
    for name in entries(&class) {
        let stats = class.join(&name).join("statistics");
        if !stats.is_dir() {
            continue;
        }
        let mut counts = [0u64; 8];
        for (slot, (field, shift)) in counts.iter_mut().zip(FCHOST_FIELDS) {
            let v = std::fs::read_to_string(stats.join(field))
                .ok()
                .and_then(|t| c_number(&t))
                .unwrap_or(0);
            *slot = if v == u64::MAX { 0 } else { v << shift };
        }
        out.push((name, counts));
    }
}

/// One SCSI device of /proc/scsi/scsi: its instance name
/// (`scsiH:C:I:L TYPE`) and its address for the sysfs lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiDev {
    /// `scsiH:C:I:L TYPE`, as pmdalinux names the instance.
    pub name: String,
    /// `H:C:I:L`, the device's directory under /sys/class/scsi_device.
    pub addr: String,
}

/// Parses /proc/scsi/scsi: each `Host: scsiH Channel: C Id: I Lun: L`
/// line and the `Type:` that follows it. Numbers are printed without
/// leading zeros in the name, as C's `%d` prints them.
pub fn parse_scsi(text: &str) -> Vec<ScsiDev> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("Host:") else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| w.get(i).and_then(|x| x.parse::<u32>().ok());
        let host = w
            .first()
            .and_then(|h| h.strip_prefix("scsi")?.parse::<u32>().ok());
        let (Some(h), Some(c), Some(i), Some(lun)) = (host, num(2), num(4), num(6)) else {
            continue;
        };
        let ty = lines
            .by_ref()
            .find_map(|t| {
                let (_, after) = t.split_once("Type:")?;
                after.split_whitespace().next().map(str::to_string)
            })
            .unwrap_or_default();
        out.push(ScsiDev {
            name: format!("scsi{h}:{c}:{i}:{lun} {ty}"),
            addr: format!("{h}:{c}:{i}:{lun}"),
        });
    }
    out
}

/// The block device of a SCSI device: the first entry of
/// `ROOT/sys/class/scsi_device/ADDR/device/block`, if any.
pub fn scsi_block(root: &Path, addr: &str) -> Option<String> {
    entries(&root.join(format!("sys/class/scsi_device/{addr}/device/block")))
        .into_iter()
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_figures_read_as_strtoll_reads_them() {
        assert_eq!(c_decimal(b"234430\n"), 234430);
        // A capture of a sysfs file padded to its page with NULs.
        let mut padded = b"234430".to_vec();
        padded.resize(4096, 0);
        assert_eq!(c_decimal(&padded), 234430);
        assert_eq!(c_decimal(b"  -1\n"), -1);
        assert_eq!(c_decimal(b"+7"), 7);
        assert_eq!(c_decimal(b"x1"), 0);
        assert_eq!(c_decimal(b""), 0);
        assert_eq!(c_decimal(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn scsi_list() {
        let text = "Attached devices:\nHost: scsi0 Channel: 00 Id: 00 Lun: 00\n  Vendor: ATA      Model: Samsung SSD 860  Rev: 4B6Q\n  Type:   Direct-Access                    ANSI  SCSI revision: 05\nHost: scsi2 Channel: 00 Id: 01 Lun: 03\n  Vendor: HP       Model: Ultrium 5-SCSI   Rev: Z39W\n  Type:   Sequential-Access                ANSI  SCSI revision: 06\n";
        let v = parse_scsi(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "scsi0:0:0:0 Direct-Access");
        assert_eq!(v[1].name, "scsi2:0:1:3 Sequential-Access");
        assert_eq!(v[1].addr, "2:0:1:3");
    }

    #[test]
    fn numbers_as_strtoull_base_0() {
        assert_eq!(c_number("0x1f\n"), Some(31));
        assert_eq!(c_number("017"), Some(15));
        assert_eq!(c_number("42"), Some(42));
        assert_eq!(c_number("0"), Some(0));
        assert_eq!(c_number("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(c_number("junk"), None);
    }

    #[test]
    fn devices_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["st0", "nst0", "st0a"] {
            std::fs::create_dir_all(r.join(format!("sys/class/scsi_tape/{d}/stats"))).unwrap();
        }
        std::fs::write(r.join("sys/class/scsi_tape/st0/stats/read_cnt"), "7").unwrap();
        let mut t = Vec::new();
        scan_tapes(r, &mut t);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "st0");
        assert_eq!(t[0].1[4], 7);
        let s = r.join("sys/class/fc_host/host3/statistics");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::create_dir_all(r.join("sys/class/fc_host/host4")).unwrap();
        std::fs::write(s.join("rx_words"), "0x10\n").unwrap();
        std::fs::write(s.join("lip_count"), "0xffffffffffffffff\n").unwrap();
        let mut f = Vec::new();
        scan_fchosts(r, &mut f);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1[1], 64);
        assert_eq!(f[0].1[4], 0);
    }
}
