//! The `filesys` collector: mounted filesystems from `/proc/self/mounts`
//! with their `statfs` figures (`filesys.*`), and the same figures for
//! tmpfs mounts (`tmpfs.*`). It owns the filesystem and tmpfs instance
//! domains.
//!
//! For a client's container (`src/namespace.rs`) the mounts are those of
//! one of its processes (`/proc/PID/mounts`) and each is reached through
//! that process's root (`statfs` of `/proc/PID/root/DIR`).
//!
//! Live (root `/`), figures come from `statfs(2)` on each mount point.
//! With a fixture root there is nothing real to `statfs`, so figures come
//! from an optional file `ROOT/statfs` with one line per mount point:
//! `MOUNTDIR BSIZE BLOCKS BFREE BAVAIL FILES FFREE FLAGS` (the numbers
//! `statfs` would give); a mount point missing from it, or no such file,
//! makes its values fail with `-ENOENT` while `filesys.mountdir` and
//! `hinv.nfilesys` still come from the mounts table.

pub mod mounts;

use pcp_core::agent::Sink;
use pcp_core::{PmError, Value};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::descs;
use crate::namespace::View;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use mounts::{Mount, Statfs};

/// /proc/self/mounts (where pmdalinux reads the mounts table).
const MOUNTS: Need = Need::new(Id::Filesys, 0);
/// statfs of each filesystem.
const STATFS: Need = Need::new(Id::Filesys, 1);
/// statfs of each tmpfs mount.
const TMPFS_STATFS: Need = Need::new(Id::Filesys, 2);

/// The collector's state.
#[derive(Debug)]
pub struct Filesys {
    mounts: Rows<Mount>,
    tmpfs: Rows<Mount>,
    /// statfs of each of `mounts` and `tmpfs`, in their order.
    statfs: Vec<Result<Statfs, PmError>>,
    tmpfs_statfs: Vec<Result<Statfs, PmError>>,
}

impl Filesys {
    pub(crate) fn new(_: &System) -> Filesys {
        Filesys {
            mounts: Rows::default(),
            tmpfs: Rows::default(),
            statfs: Vec::new(),
            tmpfs_statfs: Vec::new(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        // A container's mounts (`src/namespace.rs`): its process's table,
        // device names as it spells them, and statfs through its root.
        let view = sys.view();
        if want & MOUNTS.bit != 0 {
            let resolve_links = sys.live() && view == View::Host;
            let (m, t) = (&mut self.mounts, &mut self.tmpfs);
            sys.parse_in_view(MOUNTS, "proc/self/mounts", |b| {
                let resolve = |n: &str| mounts::resolved(n, resolve_links);
                m.set(mounts::unique(mounts::parse_mounts(b)?, resolve), |m| {
                    &m.device
                });
                t.set(mounts::unique(mounts::parse_tmpfs(b), resolve), |m| {
                    &m.device
                });
                Ok(())
            });
        }
        if want & (STATFS.bit | TMPFS_STATFS.bit) != 0 {
            // On a fixture root, the figures of every mount point in one
            // file, read once.
            let file = (!sys.live()).then(|| {
                let rel = view.root_rel("statfs");
                sys.read(&rel).map(<[u8]>::to_vec)
            });
            // A container's mount points are reached through its root.
            let through = (view != View::Host).then(|| sys.view_root().into_owned());
            let of = |m: &Mount| match (&file, &through) {
                (None, None) => mounts::statfs_live(&mounts::unescaped(&m.dir)),
                (None, Some(root)) => {
                    let dir = root.join(mounts::unescaped(&m.dir).trim_start_matches('/'));
                    mounts::statfs_live(&dir.to_string_lossy())
                }
                (Some(Ok(b)), _) => mounts::statfs_fixture(b, &m.dir),
                (Some(Err(e)), _) => Err(*e),
            };
            if want & STATFS.bit != 0 {
                self.statfs = self.mounts.items().map(of).collect();
                sys.done(STATFS, Ok(()));
            }
            if want & TMPFS_STATFS.bit != 0 {
                self.tmpfs_statfs = self.tmpfs.items().map(of).collect();
                sys.done(TMPFS_STATFS, Ok(()));
            }
        }
    }
}

/// A statfs figure of each mount of `rows` (figures in `statfs`). One
/// mount failing (a stale NFS mount, a fixture without figures) fails the
/// metric only if it is the only one; otherwise that instance is left
/// out.
fn each(
    rows: &Rows<Mount>,
    statfs: &[Result<Statfs, PmError>],
    out: &mut Sink<'_>,
    f: impl Fn(&Statfs) -> Value,
) -> Result<(), PmError> {
    let ty = out.desc().ty;
    for (i, (id, _)) in rows.iter().enumerate() {
        match statfs.get(i) {
            Some(Ok(s)) => match f(s) {
                Value::Double(v) => out.put_f64(id, v),
                Value::U64(v) => out.put_u64(id, v),
                v => out.put(id, v.convert(ty)?),
            },
            Some(Err(e)) if rows.len() == 1 => return Err(*e),
            _ => {}
        }
    }
    Ok(())
}

macro_rules! figure {
    ($name:literal, $tmpfs:literal, $f:expr, $one:literal, $help:literal) => {
        if $tmpfs {
            Binding::new($name, &[MOUNTS, TMPFS_STATFS], |c, _, out| {
                each(&c.filesys.tmpfs, &c.filesys.tmpfs_statfs, out, $f)
            })
            .help($one, $help)
        } else {
            Binding::new($name, &[MOUNTS, STATFS], |c, _, out| {
                each(&c.filesys.mounts, &c.filesys.statfs, out, $f)
            })
            .help($one, $help)
        }
    };
}

fn kb(v: u64) -> Value {
    Value::U64(v)
}

/// The filesys collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("hinv.nfilesys", &[MOUNTS], |c, _, out| {
        out.set_u64(c.filesys.mounts.len() as u64);
        Ok(())
    })
    .help(
        "number of mounted block-device filesystems",
        "Number of filesystems served by the filesys metrics.",
    ),
    Binding::new("filesys.mountdir", &[MOUNTS], |c, _, out| {
        c.filesys.mounts.put_str(out, |m| Some(m.dir.clone()));
        Ok(())
    })
    .help("mount point", "The directory the filesystem is mounted on."),
    figure!(
        "filesys.capacity",
        false,
        |s| kb(s.capacity()),
        "filesystem size",
        "Total size of the filesystem in Kbytes (statfs blocks times block size)."
    ),
    figure!(
        "filesys.used",
        false,
        |s| kb(s.used()),
        "space in use",
        "Kbytes in use: total blocks less free blocks."
    ),
    figure!(
        "filesys.free",
        false,
        |s| kb(s.free()),
        "free space",
        "Kbytes free, including space reserved for the superuser."
    ),
    figure!(
        "filesys.avail",
        false,
        |s| kb(s.avail()),
        "space available to ordinary users",
        "Kbytes free for unprivileged users (excludes reserved blocks)."
    ),
    figure!(
        "filesys.maxfiles",
        false,
        |s| kb(s.files),
        "inode limit",
        "Total inodes the filesystem can hold."
    ),
    figure!(
        "filesys.usedfiles",
        false,
        |s| kb(s.files.saturating_sub(s.ffree)),
        "inodes in use",
        "Total inodes less free inodes."
    ),
    figure!(
        "filesys.freefiles",
        false,
        |s| kb(s.ffree),
        "free inodes",
        "Inodes still available."
    ),
    figure!(
        "filesys.full",
        false,
        |s| Value::Double(s.full()),
        "percentage full",
        "Used space as a percentage of used plus user-available space, as df computes Use%."
    ),
    figure!(
        "filesys.blocksize",
        false,
        |s| kb(s.bsize),
        "block size",
        "Filesystem block size in bytes."
    ),
    figure!(
        "filesys.readonly",
        false,
        |s| kb((s.flags & libc::ST_RDONLY != 0) as u64),
        "mounted read-only (1) or read-write (0)",
        "1 when the filesystem is mounted read-only."
    ),
    figure!(
        "tmpfs.capacity",
        true,
        |s| kb(s.capacity()),
        "size of each tmpfs filesystem",
        "Total size of each mounted tmpfs, in Kbytes (statfs blocks times block size)."
    ),
    figure!(
        "tmpfs.used",
        true,
        |s| kb(s.used()),
        "space used in each tmpfs filesystem",
        "Space in use in each mounted tmpfs, in Kbytes."
    ),
    figure!(
        "tmpfs.free",
        true,
        |s| kb(s.free()),
        "space free in each tmpfs filesystem",
        "Free space in each mounted tmpfs, in Kbytes."
    ),
    figure!(
        "tmpfs.maxfiles",
        true,
        |s| kb(s.files),
        "inodes of each tmpfs filesystem",
        "Number of inodes (files) each mounted tmpfs can hold."
    ),
    figure!(
        "tmpfs.usedfiles",
        true,
        |s| kb(s.files.saturating_sub(s.ffree)),
        "inodes in use in each tmpfs filesystem",
        "Number of inodes in use in each mounted tmpfs."
    ),
    figure!(
        "tmpfs.freefiles",
        true,
        |s| kb(s.ffree),
        "inodes free in each tmpfs filesystem",
        "Number of inodes still free in each mounted tmpfs."
    ),
    figure!(
        "tmpfs.full",
        true,
        |s| Value::Double(s.full()),
        "percentage of each tmpfs filesystem used",
        "Space used as a percentage of space used plus space available, for each mounted tmpfs."
    ),
]];

/// The filesystem and tmpfs instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::FILESYS.serial, &[MOUNTS], |c| {
        c.filesys.mounts.instances(|m| m.device.clone())
    })
    .help(
        "set of mounted filesystems",
        "One instance per mounted block-device filesystem, named by its device path.",
    ),
    IndomBinding::new(descs::TMPFS.serial, &[MOUNTS], |c| {
        c.filesys.tmpfs.instances(|m| m.device.clone())
    })
    .help(
        "set of mounted tmpfs filesystems",
        "One instance per mounted tmpfs filesystem in /proc/mounts, named by its mount point; a mount point mounted more than once is one instance.",
    ),
];
