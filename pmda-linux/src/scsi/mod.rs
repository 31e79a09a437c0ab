//! The `scsi` collector: SCSI devices and their block devices
//! (`/proc/scsi/scsi` and `/sys/class/scsi_device`, `hinv.map.scsi`),
//! tape drive statistics (`/sys/class/scsi_tape`, `tape.dev.*`) and Fibre
//! Channel host statistics (`/sys/class/fc_host`, `fchost.*`). It owns
//! those three instance domains.

pub mod sysfs;

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use sysfs::{FCHOST_METRICS, TAPE_FIELDS};

/// The SCSI device list.
const SCSI: Need = Need::new(Id::Scsi, 0);
/// The tape drives' statistics.
const TAPE: Need = Need::new(Id::Scsi, 1);
/// The FC hosts' statistics.
const FCHOST: Need = Need::new(Id::Scsi, 2);

/// The collector's state.
#[derive(Debug)]
pub struct Scsi {
    /// Every SCSI device seen since start-up with its block device:
    /// pmdalinux never retires them.
    devices: Rows<(String, String)>,
    tapes: Rows<(String, [u64; 10])>,
    fchosts: Rows<(String, [u64; 8])>,
}

impl Scsi {
    pub(crate) fn new(sys: &System) -> Scsi {
        let root = sys.root();
        Scsi {
            devices: Rows::seeded(root, descs::SCSI.serial),
            tapes: Rows::seeded(root, descs::TAPE.serial),
            fchosts: Rows::seeded(root, descs::FCHOST.serial),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SCSI.bit != 0 {
            // A device is listed once its block device is known; once
            // listed it stays, as in pmdalinux's cache.
            if let Ok(text) = std::fs::read_to_string(sys.root().join("proc/scsi/scsi")) {
                for dev in sysfs::parse_scsi(&text) {
                    if self.devices.items().any(|(n, _)| *n == dev.name) {
                        continue;
                    }
                    if let Some(block) = sysfs::scsi_block(sys.root(), &dev.addr) {
                        self.devices.push(&dev.name.clone(), (dev.name, block));
                    }
                }
            }
            sys.done(SCSI, Ok(()));
        }
        if want & TAPE.bit != 0 {
            self.tapes.set(sysfs::scan_tapes(sys.root()), |(n, _)| n);
            sys.done(TAPE, Ok(()));
        }
        if want & FCHOST.bit != 0 {
            self.fchosts
                .set(sysfs::scan_fchosts(sys.root()), |(n, _)| n);
            sys.done(FCHOST, Ok(()));
        }
    }
}

fn tape_item(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    TAPE_FIELDS
        .iter()
        .position(|f| *f == rest)
        .map(|i| i as u32)
}

fn fchost_item(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    FCHOST_METRICS
        .iter()
        .position(|f| *f == rest)
        .map(|i| i as u32)
}

fn tape_help(name: &str) -> (String, String) {
    let (one, long) = match name.trim_start_matches("tape.dev.") {
        "in_flight" => (
            "tape requests in flight",
            "Requests issued to the tape drive and not yet completed",
        ),
        "io_ns" => (
            "tape I/O time",
            "Nanoseconds the drive spent on all requests",
        ),
        "other_cnt" => (
            "tape other requests",
            "Requests that were neither reads nor writes (rewinds, seeks, ...)",
        ),
        "read_byte_cnt" => ("tape bytes read", "Bytes read from the drive"),
        "read_cnt" => ("tape reads", "Read requests completed"),
        "read_ns" => ("tape read time", "Nanoseconds spent on read requests"),
        "resid_cnt" => (
            "tape residual counts",
            "Reads or writes that transferred less than asked (a residual count)",
        ),
        "write_byte_cnt" => ("tape bytes written", "Bytes written to the drive"),
        "write_cnt" => ("tape writes", "Write requests completed"),
        _ => ("tape write time", "Nanoseconds spent on write requests"),
    };
    (
        one.to_string(),
        format!("{long}, from /sys/class/scsi_tape/stN/stats. One instance per tape drive; a figure the drive does not report reads zero."),
    )
}

fn fchost_help(name: &str) -> (String, String) {
    let (one, long) = match name.trim_start_matches("fchost.") {
        "lip_count" => ("FC loop initializations", "Loop initialization primitive sequences seen on the port"),
        "nos_count" => ("FC not-operational sequences", "Not-operational primitive sequences seen on the port"),
        "error_frames" => ("FC frames in error", "Frames received with errors"),
        "dumped_frames" => ("FC frames dropped", "Frames the port dropped"),
        "in.frames" => ("FC frames received", "Frames received by the port"),
        "in.bytes" => ("FC frames sent (as pmdalinux reports it)", "Frames transmitted by the port: pmdalinux 6.0.3 answers this metric with the sent frame count (tx_frames), and this agent does the same so values agree"),
        "out.frames" => ("FC bytes received (as pmdalinux reports it)", "Bytes received by the port (rx_words, four bytes a word): pmdalinux 6.0.3 answers this metric with the received byte count, and this agent does the same so values agree"),
        _ => ("FC bytes sent", "Bytes transmitted by the port (the kernel counts four-byte words)"),
    };
    (
        one.to_string(),
        format!("{long}, from /sys/class/fc_host/hostN/statistics. One instance per FC host; a figure the host does not report reads zero."),
    )
}

fn ok() -> Result<(), PmError> {
    Ok(())
}

/// The scsi collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("hinv.map.scsi", &[SCSI], |c, _, out| {
        c.scsi.devices.put_str(out, |(_, block)| Some(block.clone()));
        ok()
    })
    .help(
        "block device of each SCSI device",
        "The kernel name of the block device (sda, st0, ...) of each SCSI device of /proc/scsi/scsi, found under /sys/class/scsi_device.",
    ),
    Binding::new("hinv.ntape", &[TAPE], |c, _, out| {
        out.set_u64(c.scsi.tapes.len() as u64);
        ok()
    })
    .help(
        "number of tape drives",
        "Number of SCSI tape drives with statistics under /sys/class/scsi_tape.",
    ),
    Binding::family("tape.dev.", &[TAPE], tape_item, |c, i, out| {
        c.scsi.tapes.put_u64(out, |(_, v)| v.get(i as usize).copied());
        ok()
    })
    .made_help(tape_help),
    Binding::new("hinv.nfchost", &[FCHOST], |c, _, out| {
        out.set_u64(c.scsi.fchosts.len() as u64);
        ok()
    })
    .help(
        "number of Fibre Channel hosts",
        "Number of Fibre Channel hosts with statistics under /sys/class/fc_host.",
    ),
    Binding::family("fchost.", &[FCHOST], fchost_item, |c, i, out| {
        c.scsi.fchosts.put_u64(out, |(_, v)| v.get(i as usize).copied());
        ok()
    })
    .made_help(fchost_help),
]];

/// The SCSI device, tape drive and FC host instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::SCSI.serial, &[SCSI], |c| {
        c.scsi.devices.instances(|(n, _)| n.clone())
    })
    .help(
        "set of SCSI devices",
        "One instance per device of /proc/scsi/scsi that has a block device, named scsiH:C:I:L followed by the device type; a device stays listed once seen.",
    )
    .labels(&["block"], "per disk"),
    IndomBinding::new(descs::TAPE.serial, &[TAPE], |c| {
        c.scsi.tapes.instances(|(n, _)| n.clone())
    })
    .help(
        "set of SCSI tape drives",
        "One instance per tape drive stN under /sys/class/scsi_tape that has statistics (the nst and mode aliases share them and are not listed).",
    ),
    IndomBinding::new(descs::FCHOST.serial, &[FCHOST], |c| {
        c.scsi.fchosts.instances(|(n, _)| n.clone())
    })
    .help(
        "set of Fibre Channel hosts",
        "One instance per host under /sys/class/fc_host that has statistics, named as the kernel names it (host0, ...).",
    ),
];
