//! `/proc/diskstats` (with `/proc/partitions` for capacities and sysfs for
//! device-mapper names and schedulers): which devices are disks, which are
//! partitions, device-mapper or md devices, and their I/O counters.
//!
//! Lines are parsed with `procfs::DiskStat::from_line`; the classification
//! follows pmdalinux's rules (see [`classify`]).

use std::collections::HashMap;
use std::path::Path;

use procfs::DiskStat;

use crate::read::{fields, lines, parse_u64, read_attr};

/// What kind of block device a diskstats line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    /// A whole disk (disk.dev).
    Disk,
    /// A partition of a disk (disk.partitions).
    Partition,
    /// A device-mapper device (disk.dm).
    Dm,
    /// A multi-device (md) device (disk.md).
    Md,
    /// A compressed RAM disk (zram).
    Zram,
}

fn has_prefix_no_p(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.contains('p'))
}

fn ends_digit(name: &str) -> bool {
    name.as_bytes().last().is_some_and(|b| b.is_ascii_digit())
}

/// True when `name` names a partition by pmdalinux's heuristics: a name
/// with a slash is a partition when it ends in `p<digits>` (or has no
/// trailing digits at all); otherwise a trailing digit makes a partition,
/// except for device families numbered without partitions (loop, ram,
/// zram, md, dm-, sr) and those whose partitions carry a `p` (mmcblk,
/// nvme, rbd, nbd) when the name has no `p`.
pub fn is_partition(name: &str) -> bool {
    if name.contains('/') {
        let b = name.as_bytes();
        let mut p = b.len();
        while p > 0 && b[p - 1].is_ascii_digit() {
            p -= 1;
        }
        if p == b.len() {
            return true;
        }
        return p > 0 && b[p - 1] == b'p';
    }
    ends_digit(name)
        && !name.starts_with("loop")
        && !name.starts_with("ram")
        && !has_prefix_no_p(name, "mmcblk")
        && !has_prefix_no_p(name, "nvme")
        && !has_prefix_no_p(name, "rbd")
        && !name.starts_with("zram")
        && !has_prefix_no_p(name, "nbd")
        && !name.starts_with("md")
        && !name.starts_with("dm-")
        && !is_cdrom(name)
}

fn is_cdrom(name: &str) -> bool {
    name.starts_with("sr") && name.as_bytes().get(2).is_some_and(|b| b.is_ascii_digit())
}

fn is_wwid(name: &str) -> bool {
    name.len() == 18 && matches!(name.as_bytes()[0], b'1' | b'2' | b'3')
}

/// Classifies a kernel device name, or `None` for devices pmdalinux does
/// not report (loop, ram, CD-ROM, xvm volumes, WWID aliases). zram
/// devices have metrics of their own.
pub fn classify(name: &str) -> Option<DevKind> {
    if name.starts_with("dm-") {
        return Some(DevKind::Dm);
    }
    if name.starts_with("md") {
        return Some(DevKind::Md);
    }
    if is_partition(name) {
        return Some(DevKind::Partition);
    }
    if name.starts_with("zram") {
        return Some(DevKind::Zram);
    }
    let other = name.starts_with("loop")
        || name.starts_with("ram")
        || is_cdrom(name)
        || name.starts_with("zram")
        || name.contains("xvm")
        || is_wwid(name);
    (!other).then_some(DevKind::Disk)
}

/// One reported block device.
#[derive(Debug, Clone)]
pub struct Dev {
    /// Its kind.
    pub kind: DevKind,
    /// The instance name (the persistent name for dm and md devices).
    pub name: String,
    /// The kernel's name (`dm-0`, `md127`, `sda`).
    pub kname: String,
    /// Its counters.
    pub stat: DiskStat,
}

/// A diskstats line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub String);

/// Parses diskstats bytes into `out` (cleared first). Device-mapper names
/// come from `ROOT/sys/block/dm-N/dm/name` (a dm device without one is
/// skipped, as pmdalinux does); md names from the `ROOT/dev/md/` symlinks
/// when present.
pub fn parse_diskstats(
    root: &Path,
    buf: &[u8],
    out: &mut Vec<Dev>,
    scratch: &mut Vec<u8>,
) -> Result<(), BadLine> {
    out.clear();
    let mut md_names: Option<HashMap<String, String>> = None;
    for line in lines(buf) {
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(BadLine(String::from_utf8_lossy(line).into_owned()));
        };
        if text.trim().is_empty() {
            continue;
        }
        let stat = DiskStat::from_line(text).map_err(|_| BadLine(text.to_string()))?;
        let Some(kind) = classify(&stat.name) else {
            continue;
        };
        let kname = stat.name.clone();
        let name = match kind {
            DevKind::Dm => {
                match read_attr(&root.join(format!("sys/block/{kname}/dm/name")), scratch) {
                    Some(n) if !n.is_empty() => n,
                    _ => continue,
                }
            }
            DevKind::Md => {
                let map = md_names.get_or_insert_with(|| md_persistent_names(root));
                map.get(&kname).cloned().unwrap_or_else(|| kname.clone())
            }
            _ => kname.clone(),
        };
        out.push(Dev {
            kind,
            name,
            kname,
            stat,
        });
    }
    Ok(())
}

/// `ROOT/dev/md/NAME -> ../mdN` symlinks as kernel name -> persistent name
/// (entries starting with a digit or a dot are defaults and skipped).
fn md_persistent_names(root: &Path) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let Ok(rd) = std::fs::read_dir(root.join("dev/md")) else {
        return m;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(target) = std::fs::read_link(e.path()) {
            if let Some(base) = target.file_name() {
                m.insert(base.to_string_lossy().into_owned(), name);
            }
        }
    }
    m
}

/// Parses `/proc/partitions` into kernel name -> size in Kbytes.
pub fn parse_partitions(buf: &[u8], out: &mut HashMap<String, u64>) {
    out.clear();
    for line in lines(buf) {
        let f: Vec<&[u8]> = fields(line).collect();
        if f.len() != 4 {
            continue;
        }
        let (Some(_), Some(_), Some(blocks)) = (parse_u64(f[0]), parse_u64(f[1]), parse_u64(f[2]))
        else {
            continue;
        };
        out.insert(String::from_utf8_lossy(f[3]).into_owned(), blocks);
    }
}

/// The active I/O scheduler of `kname` (the bracketed entry of
/// `queue/scheduler`), or "unknown".
pub fn scheduler(root: &Path, kname: &str, scratch: &mut Vec<u8>) -> String {
    let Some(s) = read_attr(
        &root.join(format!("sys/block/{kname}/queue/scheduler")),
        scratch,
    ) else {
        return "unknown".into();
    };
    match (s.find('['), s.find(']')) {
        (Some(a), Some(b)) if b > a => s[a + 1..b].to_string(),
        _ => "unknown".into(),
    }
}

/// The WWID of a disk from sysfs in pmdalinux's canonical numeric form, or
/// "unknown", by pmdalinux's rules: `device/wwid` if it exists, else
/// `wwid`; one read of up to 1 KB, "unknown" if that reads nothing; the
/// last byte (the newline) dropped, the text cut at the last newline left
/// and at a NUL; `t10.`, `eui.` and `naa.` become `1`, `2` and `3` (the
/// kernel's scsi_vpd_lun_id designator types).
pub fn scsi_id(root: &Path, kname: &str, scratch: &mut Vec<u8>) -> String {
    let a = root.join(format!("sys/block/{kname}/device/wwid"));
    let path = if a.exists() {
        a
    } else {
        root.join(format!("sys/block/{kname}/wwid"))
    };
    scratch.clear();
    scratch.resize(1024, 0);
    let n = std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read(&mut f, scratch))
        .unwrap_or(0);
    if n == 0 {
        return "unknown".into();
    }
    let mut id = &scratch[..n - 1];
    if let Some(nul) = id.iter().position(|&b| b == 0) {
        id = &id[..nul];
    }
    if let Some(nl) = id.iter().rposition(|&b| b == b'\n') {
        id = &id[..nl];
    }
    let id = String::from_utf8_lossy(id);
    for (prefix, digit) in [("t10.", '1'), ("eui.", '2'), ("naa.", '3')] {
        if let Some(rest) = id.strip_prefix(prefix) {
            return format!("{digit}{rest}");
        }
    }
    id.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scsi_ids_as_pmdalinux_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, text: &[u8]| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let mut scratch = Vec::new();
        put("sys/block/sda/device/wwid", b"naa.5000c500a1b2c3d4\n");
        assert_eq!(scsi_id(root, "sda", &mut scratch), "35000c500a1b2c3d4");
        put("sys/block/sdb/device/wwid", b"t10.ATA     Samsung SSD\n");
        assert_eq!(scsi_id(root, "sdb", &mut scratch), "1ATA     Samsung SSD");
        // An empty file (a capture, or a device without VPD page 0x83).
        put("sys/block/sdc/device/wwid", b"");
        assert_eq!(scsi_id(root, "sdc", &mut scratch), "unknown");
        // NVMe keeps its wwid beside the device; no newline loses a byte.
        put("sys/block/nvme0n1/wwid", b"eui.0025388b71b0a8c2");
        assert_eq!(scsi_id(root, "nvme0n1", &mut scratch), "20025388b71b0a8c");
        assert_eq!(scsi_id(root, "sdz", &mut scratch), "unknown");
        // Padded with NULs after the newline.
        put("sys/block/sdd/device/wwid", b"naa.1\n\0\0\0");
        assert_eq!(scsi_id(root, "sdd", &mut scratch), "31");
    }

    #[test]
    fn pmdalinux_device_rules() {
        for d in [
            "sda",
            "vda",
            "xvda",
            "nvme0n1",
            "mmcblk0",
            "rbd0",
            "nbd0",
            "hda",
            "cciss/c0d0",
        ] {
            assert_eq!(classify(d), Some(DevKind::Disk), "{d}");
        }
        for p in [
            "sda1",
            "vda2",
            "nvme0n1p1",
            "mmcblk0p6",
            "rbd0p1",
            "nbd7p1",
            "cciss/c0d0p1",
            "xvda1",
        ] {
            assert_eq!(classify(p), Some(DevKind::Partition), "{p}");
        }
        assert_eq!(classify("dm-0"), Some(DevKind::Dm));
        assert_eq!(classify("md127"), Some(DevKind::Md));
        assert_eq!(classify("zram0"), Some(DevKind::Zram));
        for n in ["loop0", "ram1", "sr0"] {
            assert_eq!(classify(n), None, "{n}");
        }
    }

    #[test]
    fn schedulers_and_partitions() {
        let mut m = HashMap::new();
        parse_partitions(
            b"major minor  #blocks  name\n\n 254        0  268435456 vda\n 8 1 1024 sda1\n",
            &mut m,
        );
        assert_eq!(m["vda"], 268435456);
        assert_eq!(m["sda1"], 1024);
    }
}
