//! The `slab` collector: the kernel's slab caches from `/proc/slabinfo`
//! (`mem.slabinfo.*`), a file only root may read. pmdalinux gives these
//! figures to clients pmcd says are root only, and re-reads the cache list
//! for them only; the bindings and the instance domain are marked so.
//!
//! The file starts with a `slabinfo - version: 2.1` line and a `#` heading;
//! each further line describes one cache:
//! `NAME ACTIVE_OBJS NUM_OBJS OBJSIZE OBJPERSLAB PAGESPERSLAB : tunables
//! ... : slabdata ACTIVE_SLABS NUM_SLABS SHAREDAVAIL`. Only the 2.x layouts
//! (every kernel since 2.6) are read; older ones are reported as
//! unsupported.

use pcp_core::agent::Sink;
use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::parse::{fields, lines, parse_u64, ParseError};
use crate::rows::Rows;
use crate::system::System;

fn bad(what: &str, line: &[u8]) -> ParseError {
    ParseError::line(what, line)
}

/// One slab cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlabCache {
    /// Cache name (whitespace inside it, if any, becomes `_`).
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Objects allocated.
    pub total_objs: u64,
    /// Size of one object in bytes.
    pub object_size: u32,
    /// Objects per slab.
    pub objects_per_slab: u32,
    /// Pages per slab.
    pub pages_per_slab: u32,
    /// Slabs in use.
    pub active_slabs: u32,
    /// Slabs allocated.
    pub total_slabs: u32,
}

impl SlabCache {
    /// Memory the cache's objects in use occupy, counted in whole slabs
    /// worth of pages per object as pmdalinux counts it: pages per slab
    /// times objects in use times the page size, over objects per slab.
    /// `None` for a cache with no objects per slab.
    pub fn total_size(&self, pagesize: u64) -> Option<u64> {
        let per = self.objects_per_slab as u64;
        (per != 0).then(|| {
            (self.pages_per_slab as u64)
                .wrapping_mul(self.active_objs)
                .wrapping_mul(pagesize)
                / per
        })
    }
}

fn num(f: Option<&[u8]>, line: &[u8]) -> Result<u64, ParseError> {
    f.and_then(parse_u64)
        .ok_or_else(|| bad("slab cache figure is not a number", line))
}

/// Parses /proc/slabinfo: its caches in file order.
pub fn parse(buf: &[u8]) -> Result<Vec<SlabCache>, ParseError> {
    let mut out = Vec::new();
    let mut it = lines(buf);
    let head = it.next().unwrap_or_default();
    let version = std::str::from_utf8(head)
        .ok()
        .and_then(|h| h.strip_prefix("slabinfo - version:"))
        .map(str::trim)
        .ok_or_else(|| bad("first line is not \"slabinfo - version: N.N\"", head))?;
    if !matches!(version, "2.0" | "2.1") {
        return Err(bad("unsupported slabinfo version", head));
    }
    for line in it {
        if line.starts_with(b"#") {
            continue;
        }
        let mut f = fields(line).peekable();
        // The name runs up to the first field that starts with a digit.
        let mut name = String::new();
        while let Some(w) = f.next_if(|w| !w[0].is_ascii_digit()) {
            if !name.is_empty() {
                name.push('_');
            }
            name.push_str(&String::from_utf8_lossy(w));
        }
        if name.is_empty() {
            return Err(bad("slab cache line without a name", line));
        }
        let mut c = SlabCache {
            name,
            active_objs: num(f.next(), line)?,
            total_objs: num(f.next(), line)?,
            object_size: num(f.next(), line)? as u32,
            objects_per_slab: num(f.next(), line)? as u32,
            pages_per_slab: num(f.next(), line)? as u32,
            ..Default::default()
        };
        if f.find(|w| *w == b"slabdata").is_none() {
            return Err(bad("slab cache line without slabdata", line));
        }
        c.active_slabs = num(f.next(), line)? as u32;
        c.total_slabs = num(f.next(), line)? as u32;
        out.push(c);
    }
    Ok(out)
}

/// /proc/slabinfo.
const SLABINFO: Need = Need::new(Id::Slab, 0);

/// The collector's state.
#[derive(Debug)]
pub struct Slab {
    pagesize: u64,
    caches: Rows<SlabCache>,
}

impl Slab {
    pub(crate) fn new(sys: &System) -> Slab {
        Slab {
            pagesize: sys.pagesize,
            caches: Rows::seeded(sys.root(), descs::SLAB.serial),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SLABINFO.bit != 0 {
            let caches = &mut self.caches;
            sys.parse(SLABINFO, "proc/slabinfo", |b| {
                caches.set(parse(b)?, |c| &c.name);
                Ok(())
            });
        }
    }
}

/// A figure of each cache.
fn each(
    c: &Collectors,
    out: &mut Sink<'_>,
    f: impl Fn(&SlabCache) -> Option<u64>,
) -> Result<(), PmError> {
    c.slab.caches.put_u64(out, f);
    Ok(())
}

macro_rules! slab {
    ($name:literal, $f:expr, $one:literal, $help:literal) => {
        Binding::new($name, &[SLABINFO], |c, _, out| each(c, out, $f))
            .root_only()
            .help($one, $help)
    };
}

/// The slab collector's metrics (root clients only).
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    slab!(
        "mem.slabinfo.objects.active",
        |c| Some(c.active_objs),
        "objects in use per slab cache",
        "Objects of each slab cache that are allocated and in use (active_objs in /proc/slabinfo, readable by root only)."
    ),
    slab!(
        "mem.slabinfo.objects.total",
        |c| Some(c.total_objs),
        "objects allocated per slab cache",
        "Objects each slab cache has room for in its slabs, in use or not (num_objs in /proc/slabinfo)."
    ),
    slab!(
        "mem.slabinfo.objects.size",
        |c| Some(u64::from(c.object_size)),
        "object size per slab cache",
        "Size in bytes of one object of each slab cache, alignment included (objsize in /proc/slabinfo)."
    ),
    slab!(
        "mem.slabinfo.slabs.active",
        |c| Some(u64::from(c.active_slabs)),
        "slabs in use per slab cache",
        "Slabs of each cache holding at least one object in use (active_slabs of the slabdata columns of /proc/slabinfo)."
    ),
    slab!(
        "mem.slabinfo.slabs.total",
        |c| Some(u64::from(c.total_slabs)),
        "slabs allocated per slab cache",
        "Slabs each cache has allocated (num_slabs of the slabdata columns of /proc/slabinfo)."
    ),
    slab!(
        "mem.slabinfo.slabs.pages_per_slab",
        |c| Some(u64::from(c.pages_per_slab)),
        "pages per slab",
        "Memory pages making up one slab of each cache (pagesperslab in /proc/slabinfo)."
    ),
    slab!(
        "mem.slabinfo.slabs.objects_per_slab",
        |c| Some(u64::from(c.objects_per_slab)),
        "objects per slab",
        "Objects one slab of each cache holds (objperslab in /proc/slabinfo)."
    ),
    Binding::new("mem.slabinfo.slabs.total_size", &[SLABINFO], |c, _, out| {
        let pagesize = c.slab.pagesize;
        each(c, out, |s| s.total_size(pagesize))
    })
    .root_only()
    .help(
        "memory used by objects in use, per slab cache",
        "Bytes of slab memory taken by the objects in use of each cache: objects in use times pages per slab times the page size, divided by objects per slab.",
    ),
]];

/// The slab caches, re-read for root clients only and listed in id order
/// as pmdalinux's cache lists them (a cache created after start-up gets
/// the next id wherever the kernel prints it).
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::SLAB.serial, &[SLABINFO], |c| {
    let mut v = c.slab.caches.instances(|s| s.name.clone());
    v.sort_by_key(|i| i.id);
    v
})
.root_only()
.help(
    "set of slab caches",
    "One instance per kernel slab cache listed in /proc/slabinfo, named as the kernel names the cache.",
)
.labels(&["memory"], "per slab")];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches() {
        let text = b"slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
task_struct          122    145   5888    5    8 : tunables    0    0    0 : slabdata     29     30      0
odd name             1      2     64   64    1 : tunables    0    0    0 : slabdata      1      1      0
";
        let v = parse(text).unwrap();
        assert_eq!(v.len(), 2);
        let t = &v[0];
        assert_eq!(t.name, "task_struct");
        assert_eq!(
            (t.active_objs, t.total_objs, t.object_size),
            (122, 145, 5888)
        );
        assert_eq!((t.objects_per_slab, t.pages_per_slab), (5, 8));
        assert_eq!((t.active_slabs, t.total_slabs), (29, 30));
        assert_eq!(t.total_size(4096), Some(8 * 122 * 4096 / 5));
        assert_eq!(v[1].name, "odd_name");
        let zero = SlabCache::default();
        assert_eq!(zero.total_size(4096), None);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"hello\n",
            b"slabinfo - version: 1.1\n",
            b"slabinfo - version: 2.1\nfoo 1 2\n",
            b"slabinfo - version: 2.1\nfoo 1 2 3 4 5 : tunables 0 0 0\n",
            b"slabinfo - version: 2.1\nfoo 1 2 3 4 5 : slabdata x 1 0\n",
            b"slabinfo - version: 2.1\n12 1 2 3 4 5 : slabdata 1 1 0\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
