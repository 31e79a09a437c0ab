//! The `disk` collector: block devices from `/proc/diskstats` (disks,
//! partitions, device-mapper and md devices, and the zram devices the
//! `zram` collector reports), their sizes from `/proc/partitions`, their
//! schedulers from sysfs and the health of md devices from mdadm. It owns
//! the instance domains of disks, partitions, dm and md devices, and the
//! instance ids of zram devices.

pub mod diskstats;
pub(crate) mod fields;
pub(crate) mod md;

use std::collections::HashMap;

use pcp_core::agent::Sink;
use pcp_core::{Instance, LabelSet, PmError, Value};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use diskstats::{Dev, DevKind};
use fields::FIELDS;

/// /proc/diskstats.
pub(crate) const DISKSTATS: Need = Need::new(Id::Disk, 0);
/// /proc/partitions (capacities).
pub(crate) const PARTITIONS: Need = Need::new(Id::Disk, 1);
/// Each disk's I/O scheduler.
const SCHEDULER: Need = Need::new(Id::Disk, 2);
/// mdadm's verdict on each md device.
const MDSTATUS: Need = Need::new(Id::Disk, 3);

/// Every kind, in [`DevKind`] order.
const KINDS: [DevKind; 5] = [
    DevKind::Disk,
    DevKind::Partition,
    DevKind::Dm,
    DevKind::Md,
    DevKind::Zram,
];

/// The collector's state: the devices of the last diskstats read, by
/// kind, each with its instance id.
#[derive(Debug)]
pub struct Disk {
    /// Whole disks.
    pub(crate) disks: Rows<Dev>,
    partitions: Rows<Dev>,
    dm: Rows<Dev>,
    md: Rows<Dev>,
    /// zram devices (the `zram` collector's metrics).
    pub(crate) zram: Rows<Dev>,
    /// Kernel name -> size in Kbytes, from /proc/partitions.
    pub(crate) capacities: HashMap<String, u64>,
    schedulers: Vec<(u32, String)>,
    md_status: Vec<(u32, u64)>,
    scratch: Vec<u8>,
}

impl Disk {
    pub(crate) fn new(sys: &System) -> Disk {
        let root = sys.root();
        Disk {
            disks: Rows::seeded(root, descs::DISK.serial),
            partitions: Rows::seeded(root, descs::PARTITIONS.serial),
            dm: Rows::seeded(root, descs::DM.serial),
            md: Rows::seeded(root, descs::MD.serial),
            zram: Rows::seeded(root, descs::ZRAM.serial),
            capacities: HashMap::new(),
            schedulers: Vec::new(),
            md_status: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & DISKSTATS.bit != 0 {
            let mut parsed = None;
            sys.parse(DISKSTATS, "proc/diskstats", |b| {
                parsed = Some(diskstats::parse(b)?);
                Ok(())
            });
            if let Some(devices) = parsed {
                let mut by_kind: [Vec<Dev>; 5] = Default::default();
                for d in diskstats::name_devices(sys.root(), devices, &mut self.scratch) {
                    by_kind[d.kind as usize].push(d);
                }
                for (kind, devs) in KINDS.into_iter().zip(by_kind) {
                    self.rows_mut(kind).set(devs, |d| &d.name);
                }
            }
        }
        if want & PARTITIONS.bit != 0 {
            let caps = &mut self.capacities;
            sys.parse(PARTITIONS, "proc/partitions", |b| {
                *caps = diskstats::parse_partitions(b);
                Ok(())
            });
        }
        if want & SCHEDULER.bit != 0 {
            let scratch = &mut self.scratch;
            self.schedulers = self
                .disks
                .iter()
                .map(|(id, d)| (id, diskstats::scheduler(sys.root(), &d.kname, scratch)))
                .collect();
            sys.done(SCHEDULER, Ok(()));
        }
        if want & MDSTATUS.bit != 0 {
            self.md_status = md_status(sys, &self.md);
            sys.done(MDSTATUS, Ok(()));
        }
    }

    fn rows_mut(&mut self, kind: DevKind) -> &mut Rows<Dev> {
        match kind {
            DevKind::Disk => &mut self.disks,
            DevKind::Partition => &mut self.partitions,
            DevKind::Dm => &mut self.dm,
            DevKind::Md => &mut self.md,
            DevKind::Zram => &mut self.zram,
        }
    }

    /// The capacity of a device, left out (as pmdalinux does) when its
    /// size is unknown or zero.
    pub(crate) fn capacity(&self, kname: &str) -> Option<u64> {
        self.capacities.get(kname).copied().filter(|&c| c != 0)
    }
}

/// disk.md.status: the wait status of `mdadm --detail --test` for each md
/// device, as pmdalinux reports it (the exit code times 256: 0 healthy,
/// 256 degraded, 512 unusable, 1024 error). mdadm is `/sbin/mdadm` on the
/// live system and `ROOT/sbin/mdadm` on another root; without it every md
/// device reads -1, as in pmdalinux. A device whose mdadm does not finish
/// within [`md::MDADM_TIMEOUT`] has no value.
fn md_status(sys: &System, md: &Rows<Dev>) -> Vec<(u32, u64)> {
    use std::os::unix::process::ExitStatusExt as _;
    let mdadm = sys.root().join("sbin/mdadm");
    let have_mdadm = mdadm.is_file();
    let mut out = Vec::new();
    for (id, d) in md.iter() {
        if !have_mdadm {
            out.push((id, -1i64 as u64));
            continue;
        }
        let mut cmd = std::process::Command::new(&mdadm);
        // /dev/ and the instance name (the persistent name when the
        // device has one), as pmdalinux builds the path.
        cmd.args(["--detail", "--test", &format!("/dev/{}", d.name)]);
        if let Some(s) = md::run_bounded(&mut cmd, md::MDADM_TIMEOUT) {
            out.push((id, s.into_raw() as u32 as u64));
        }
    }
    out
}

/// The family argument of a figure of [`FIELDS`].
fn field(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    fields::index(rest)
}

/// Figure `f` of each device of `rows`.
pub(crate) fn per_device(rows: &Rows<Dev>, f: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
    let value = FIELDS[f as usize].value;
    rows.put_u64(out, |d| Some(value(&d.stat)));
    Ok(())
}

/// The capacity of each device of `rows` that has one.
fn capacities(c: &Collectors, rows: &Rows<Dev>, out: &mut Sink<'_>) -> Result<(), PmError> {
    rows.put_u64(out, |d| c.disk.capacity(&d.kname));
    Ok(())
}

/// The kernel name of each device of `rows`.
fn knames(rows: &Rows<Dev>, out: &mut Sink<'_>) -> Result<(), PmError> {
    rows.put_str(out, |d| Some(d.kname.clone()));
    Ok(())
}

const CAPACITY: &[Need] = &[DISKSTATS, PARTITIONS];

/// The disk collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("disk.dev.", &[DISKSTATS], field, |c, f, out| per_device(&c.disk.disks, f, out))
        .made_help(fields::help),
    Binding::family("disk.partitions.", &[DISKSTATS], field, |c, f, out| {
        per_device(&c.disk.partitions, f, out)
    })
    .made_help(fields::help),
    Binding::family("disk.dm.", &[DISKSTATS], field, |c, f, out| per_device(&c.disk.dm, f, out))
        .made_help(fields::help),
    Binding::family("disk.md.", &[DISKSTATS], field, |c, f, out| per_device(&c.disk.md, f, out))
        .made_help(fields::help),
    Binding::family("disk.all.", &[DISKSTATS], field, |c, f, out| {
        let value = FIELDS[f as usize].value;
        let total = c
            .disk
            .disks
            .items()
            .fold(0u64, |a, d| a.wrapping_add(value(&d.stat)));
        out.set_u64(total);
        Ok(())
    })
    .made_help(fields::help),
    Binding::new("disk.dev.capacity", CAPACITY, |c, _, out| capacities(c, &c.disk.disks, out))
        .made_help(fields::help),
    Binding::new("disk.partitions.capacity", CAPACITY, |c, _, out| {
        capacities(c, &c.disk.partitions, out)
    })
    .made_help(fields::help),
    Binding::new("disk.dm.capacity", CAPACITY, |c, _, out| capacities(c, &c.disk.dm, out))
        .made_help(fields::help),
    Binding::new("disk.md.capacity", CAPACITY, |c, _, out| capacities(c, &c.disk.md, out))
        .made_help(fields::help),
    Binding::new("disk.dev.scheduler", &[DISKSTATS, SCHEDULER], |c, _, out| {
        for (id, s) in &c.disk.schedulers {
            out.put(*id, Value::String(s.clone()));
        }
        Ok(())
    })
    .made_help(fields::help),
    Binding::new("disk.md.status", &[DISKSTATS, MDSTATUS], |c, _, out| {
        for (id, s) in &c.disk.md_status {
            out.put_u64(*id, *s);
        }
        Ok(())
    })
    .help(
        "md device health per mdadm",
        "The wait status of mdadm --detail --test for each md device, as pmdalinux reports it: the exit code times 256, so 0 healthy, 256 degraded, 512 unusable, 1024 error. No values without mdadm.",
    ),
    Binding::new("hinv.ndisk", &[DISKSTATS], |c, _, out| {
        out.set_u64(c.disk.disks.len() as u64);
        Ok(())
    })
    .help(
        "number of disks",
        "Number of disk devices in /proc/diskstats (partitions, loop, ram, dm and md devices excluded).",
    ),
    Binding::new("hinv.map.dmname", &[DISKSTATS], |c, _, out| knames(&c.disk.dm, out)).help(
        "device-mapper kernel name",
        "The kernel name (dm-N) behind each persistent device-mapper name.",
    ),
    Binding::new("hinv.map.mdname", &[DISKSTATS], |c, _, out| knames(&c.disk.md, out)).help(
        "multi-device kernel name",
        "The kernel name (mdN) behind each persistent md device name.",
    ),
]];

fn device_names(rows: &Rows<Dev>) -> Vec<Instance> {
    rows.instances(|d| d.name.clone())
}

/// The block device instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::DISK.serial, &[DISKSTATS], |c| device_names(&c.disk.disks))
        .help(
            "set of disks",
            "One instance per whole disk in /proc/diskstats, named as the kernel names the device.",
        )
        .labels(&["block"], "per disk")
        .instance_labels(|_, insts| {
            insts
                .iter()
                .map(|i| (i.id, LabelSet::new().with("device_name", i.name.as_str())))
                .collect()
        }),
    IndomBinding::new(descs::PARTITIONS.serial, &[DISKSTATS], |c| {
        device_names(&c.disk.partitions)
    })
    .help("set of disk partitions", "One instance per partition in /proc/diskstats.")
    .labels(&["block"], "per partition"),
    IndomBinding::new(descs::DM.serial, &[DISKSTATS], |c| device_names(&c.disk.dm))
        .help(
            "set of device-mapper devices",
            "One instance per device-mapper device, named by its persistent name (as under /dev/mapper).",
        )
        .labels(&["block"], "per dm device"),
    IndomBinding::new(descs::MD.serial, &[DISKSTATS], |c| device_names(&c.disk.md))
        .help(
            "set of multi-device devices",
            "One instance per md (software RAID) device, named by its persistent name when it has one.",
        )
        .labels(&["block"], "per md device"),
];
