//! The `multipath` collector: disks by World Wide Identifier
//! (`disk.wwid.*`, `hinv.map.scsi_id`). Each disk's WWID comes from
//! sysfs; disks with the same WWID are paths to one device, whose figures
//! are summed over its paths. It owns the WWID instance domain.

use pcp_core::{PmError, Value};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::disk::diskstats::{self, Dev};
use crate::disk::fields::{self, FIELDS};
use crate::disk::{Disk, DISKSTATS};
use crate::rows::Rows;
use crate::system::System;

/// Each disk's WWID, and the disks grouped by it.
const WWIDS: Need = Need::new(Id::Multipath, 0);
/// The scheduler of each WWID's last path.
const SCHEDULER: Need = Need::new(Id::Multipath, 1);

/// The collector's state.
#[derive(Debug)]
pub struct Multipath {
    /// Each disk's WWID ("unknown" without one), by disk instance.
    ids: Vec<(u32, String)>,
    /// Each WWID with the positions of its paths among the disks, in
    /// order of first path.
    groups: Rows<(String, Vec<usize>)>,
    schedulers: Vec<(u32, String)>,
    scratch: Vec<u8>,
}

impl Multipath {
    pub(crate) fn new(sys: &System) -> Multipath {
        Multipath {
            ids: Vec::new(),
            groups: Rows::seeded(sys.root(), descs::WWID.serial),
            schedulers: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32, disk: &Disk) {
        if want & WWIDS.bit != 0 {
            let scratch = &mut self.scratch;
            self.ids = disk
                .disks
                .iter()
                .map(|(id, d)| (id, diskstats::scsi_id(sys.root(), &d.kname, scratch)))
                .collect();
            // Disks without a WWID are left out.
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, (_, w)) in self.ids.iter().enumerate() {
                if w == "unknown" {
                    continue;
                }
                match groups.iter_mut().find(|(g, _)| g == w) {
                    Some((_, paths)) => paths.push(i),
                    None => groups.push((w.clone(), vec![i])),
                }
            }
            self.groups.set(groups, |(w, _)| w);
            sys.done(WWIDS, Ok(()));
        }
        if want & SCHEDULER.bit != 0 {
            let scratch = &mut self.scratch;
            self.schedulers = self
                .groups
                .iter()
                .filter_map(|(id, (_, paths))| {
                    let last = disk.disks.get(*paths.last()?)?.1;
                    Some((id, diskstats::scheduler(sys.root(), &last.kname, scratch)))
                })
                .collect();
            sys.done(SCHEDULER, Ok(()));
        }
    }
}

/// The disks of `paths`.
fn paths<'a>(c: &'a Collectors, paths: &'a [usize]) -> impl Iterator<Item = &'a Dev> + 'a {
    paths.iter().filter_map(|&i| Some(c.disk.disks.get(i)?.1))
}

/// Figure `f` summed over each WWID's paths (none without any); the
/// discard Kbytes are the last path's, as pmdalinux 6.0.3 reports them
/// (each path overwriting the previous one's).
fn summed(c: &Collectors, f: u32, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    let field = &FIELDS[f as usize];
    let last_only = field.name == "discard_bytes";
    c.multipath.groups.put_u64(out, |(_, p)| {
        let from = if last_only {
            p.len().saturating_sub(1)
        } else {
            0
        };
        let vals: Vec<u64> = paths(c, &p[from..])
            .map(|d| (field.value)(&d.stat))
            .collect();
        (!vals.is_empty()).then(|| vals.iter().fold(0u64, |a, v| a.wrapping_add(*v)))
    });
    Ok(())
}

const W: &[Need] = &[DISKSTATS, WWIDS];

/// The multipath collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family(
        "disk.wwid.",
        W,
        |_, rest, _| fields::index(rest),
        summed,
    )
    .made_help(fields::help),
    Binding::new("disk.wwid.discard_bytes", W, |c, _, out| {
        summed(c, fields::index("discard_bytes").unwrap_or(0), out)
    })
    .help(
        "Kbytes discarded, last path of each WWID",
        "Kbytes covered by completed discard requests on the last SCSI path of each World Wide Identifier (sectors discarded halved), as pmdalinux reports it rather than a sum over the paths.",
    ),
    Binding::new("disk.wwid.scsi_paths", W, |c, _, out| {
        c.multipath.groups.put_str(out, |(_, p)| {
            Some(paths(c, p).map(|d| d.kname.as_str()).collect::<Vec<_>>().join(" "))
        });
        Ok(())
    })
    .help(
        "SCSI paths of each WWID",
        "The disk names (sda, sdb, ...) that lead to the device with each World Wide Identifier, separated by spaces: one for a disk reached one way, several for a multipath device.",
    ),
    Binding::new("disk.wwid.scheduler", &[DISKSTATS, WWIDS, SCHEDULER], |c, _, out| {
        for (id, s) in &c.multipath.schedulers {
            out.put(*id, Value::String(s.clone()));
        }
        Ok(())
    })
    .help(
        "I/O scheduler of each WWID",
        "The active I/O scheduler of the last SCSI path (in /proc/diskstats order) of each World Wide Identifier, from /sys/block/DEV/queue/scheduler, as pmdalinux reports it.",
    ),
    // pmdalinux 6.0.3 reports no WWID capacities.
    Binding::new("disk.wwid.capacity", &[], |_, _, _| Ok(())).help(
        "capacity per WWID (no values)",
        "Capacity of the device behind each World Wide Identifier. pmdalinux 6.0.3 reports no values for it, and neither does this agent; see disk.dev.capacity per path.",
    ),
    Binding::new("hinv.map.scsi_id", W, |c, _, out| {
        for (id, w) in &c.multipath.ids {
            out.put(*id, Value::String(w.clone()));
        }
        Ok(())
    })
    .help(
        "persistent SCSI identifier of a disk",
        "The WWID of a disk from sysfs, or \"unknown\" when the device has none.",
    ),
]];

/// The WWID instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::WWID.serial, W, |c| {
    c.multipath.groups.instances(|(w, _)| w.clone())
})
.help(
    "set of disks by WWID",
    "One instance per World Wide Identifier of the disks (hinv.map.scsi_id), named by it; the SCSI paths to the same device share one instance.",
)];
