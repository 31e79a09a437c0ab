//! `/proc/slabinfo`: the kernel's slab caches (readable by root only).
//!
//! The file starts with a `slabinfo - version: 2.1` line and a `#` heading;
//! each further line describes one cache:
//! `NAME ACTIVE_OBJS NUM_OBJS OBJSIZE OBJPERSLAB PAGESPERSLAB : tunables
//! ... : slabdata ACTIVE_SLABS NUM_SLABS SHAREDAVAIL`. Only the 2.x layouts
//! (every kernel since 2.6) are read; older ones are reported as
//! unsupported.

use crate::read::{fields, lines, parse_u64};

/// A file whose layout surprised the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSlabinfo(pub String);

fn bad(what: &str, line: &[u8]) -> BadSlabinfo {
    BadSlabinfo(format!("{what}: {:?}", String::from_utf8_lossy(line)))
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

fn num(f: Option<&[u8]>, line: &[u8]) -> Result<u64, BadSlabinfo> {
    f.and_then(parse_u64)
        .ok_or_else(|| bad("slab cache figure is not a number", line))
}

/// Parses /proc/slabinfo into `out` (cleared first), in file order.
pub fn parse(buf: &[u8], out: &mut Vec<SlabCache>) -> Result<(), BadSlabinfo> {
    out.clear();
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
    Ok(())
}

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
        let mut v = Vec::new();
        parse(text, &mut v).unwrap();
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
        let mut v = Vec::new();
        for bad in [
            &b""[..],
            b"hello\n",
            b"slabinfo - version: 1.1\n",
            b"slabinfo - version: 2.1\nfoo 1 2\n",
            b"slabinfo - version: 2.1\nfoo 1 2 3 4 5 : tunables 0 0 0\n",
            b"slabinfo - version: 2.1\nfoo 1 2 3 4 5 : slabdata x 1 0\n",
            b"slabinfo - version: 2.1\n12 1 2 3 4 5 : slabdata 1 1 0\n",
        ] {
            assert!(
                parse(bad, &mut v).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
