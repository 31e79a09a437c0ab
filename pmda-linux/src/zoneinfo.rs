//! `/proc/zoneinfo`: memory figures per NUMA node and zone, and each
//! zone's lowmem protection (reserve) figures.
//!
//! The file is a sequence of blocks, one per zone, each opened by a
//! `Node N, zone NAME` line. The first block of each node also carries
//! the node-wide figures under a `per-node stats` line, up to the zone's
//! own `pages free` line. As pmdalinux does, figures are kept for two
//! kinds of instance: `nodeN` (the node-wide figures) and `NAME::nodeN`
//! (the zone's figures), and a zone without pages present is hidden.
//! Each zone's `protection: (a, b, ...)` list gives instances
//! `NAME::nodeN::lowmem_reservedK`.
//!
//! Values are kept as the kernel prints them (pages); the agent converts
//! them to Kbytes.

use crate::read::{fields, lines, parse_u64_wrapping};

/// Number of figures per instance: the items of pmdalinux's cluster 68.
pub const ZONE_ITEMS: usize = 68;

/// A file whose layout surprised the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadZoneinfo(pub String);

fn bad(what: &str, line: &[u8]) -> BadZoneinfo {
    BadZoneinfo(format!("{what}: {:?}", String::from_utf8_lossy(line)))
}

/// The item (metric number in cluster 68) of a /proc/zoneinfo key, for the
/// keys pmdalinux reads. `pages free` is item 0 and is matched apart;
/// `nr_free_pages` (item 8) is not read, so that metric has no values.
pub fn zone_item(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"min" => 1,
        b"low" => 2,
        b"high" => 3,
        b"scanned" | b"node_scanned" => 4,
        b"spanned" => 5,
        b"present" => 6,
        b"managed" => 7,
        b"nr_alloc_batch" => 9,
        b"nr_inactive_anon" => 10,
        b"nr_active_anon" => 11,
        b"nr_inactive_file" => 12,
        b"nr_active_file" => 13,
        b"nr_unevictable" => 14,
        b"nr_mlock" => 15,
        b"nr_anon_pages" => 16,
        b"nr_mapped" => 17,
        b"nr_file_pages" => 18,
        b"nr_dirty" => 19,
        b"nr_writeback" => 20,
        b"nr_slab_reclaimable" => 21,
        b"nr_slab_unreclaimable" => 22,
        b"nr_page_table_pages" => 23,
        b"nr_kernel_stack" => 24,
        b"nr_unstable" => 25,
        b"nr_bounce" => 26,
        b"nr_vmscan_write" => 27,
        b"nr_vmscan_immediate_reclaim" => 28,
        b"nr_writeback_temp" => 29,
        b"nr_isolated_anon" => 30,
        b"nr_isolated_file" => 31,
        b"nr_shmem" => 32,
        b"nr_dirtied" => 33,
        b"nr_written" => 34,
        b"numa_hit" => 35,
        b"numa_miss" => 36,
        b"numa_foreign" => 37,
        b"numa_interleave" => 38,
        b"numa_local" => 39,
        b"numa_other" => 40,
        b"workingset_refault" => 41,
        b"workingset_activate" => 42,
        b"workingset_nodereclaim" => 43,
        b"nr_anon_transparent_hugepages" => 44,
        b"nr_free_cma" => 45,
        b"cma" => 46,
        b"nr_swapcached" => 47,
        b"nr_shmem_hugepages" => 48,
        b"nr_shmem_pmdmapped" => 49,
        b"nr_file_hugepages" => 50,
        b"nr_file_pmdmapped" => 51,
        b"nr_kernel_misc_reclaimable" => 52,
        b"nr_foll_pin_acquired" => 53,
        b"nr_foll_pin_released" => 54,
        b"workingset_refault_anon" => 55,
        b"workingset_refault_file" => 56,
        // pmdalinux names these workingset_active_{anon,file}.
        b"workingset_activate_anon" => 57,
        b"workingset_activate_file" => 58,
        b"workingset_restore_anon" => 59,
        b"workingset_restore_file" => 60,
        b"nr_zspages" => 61,
        b"nr_zone_inactive_file" => 62,
        b"nr_zone_active_file" => 63,
        b"nr_zone_inactive_anon" => 64,
        b"nr_zone_active_anon" => 65,
        b"nr_zone_unevictable" => 66,
        b"nr_zone_write_pending" => 67,
        _ => return None,
    })
}

/// The item of a `mem.zoneinfo.NAME` metric by NAME (the items are
/// pmdalinux's; the names mostly the kernel's keys).
pub fn metric_item(name: &str) -> Option<usize> {
    match name {
        "free" => Some(0),
        "nr_free_pages" => Some(8),
        "workingset_active_anon" => Some(57),
        "workingset_active_file" => Some(58),
        "node_scanned" | "workingset_activate_anon" | "workingset_activate_file" => None,
        other => zone_item(other.as_bytes()),
    }
}

/// The figures of one instance: a node (`zone` is `None`) or a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRow {
    /// Instance name: `nodeN` or `ZONE::nodeN`.
    pub name: String,
    /// NUMA node.
    pub node: u32,
    /// Zone name, `None` for the node-wide figures.
    pub zone: Option<String>,
    /// Figures by item, in pages; `None` where the file has none.
    pub values: Vec<Option<u64>>,
    /// A zone with no pages present: it has an instance id but is not
    /// listed, as pmdalinux hides it.
    pub hidden: bool,
}

/// One lowmem protection figure of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtRow {
    /// Instance name: `ZONE::nodeN::lowmem_reservedK`.
    pub name: String,
    /// NUMA node.
    pub node: u32,
    /// Zone name.
    pub zone: String,
    /// Position K in the zone's protection list.
    pub lowmem: u32,
    /// The figure, in pages.
    pub pages: u64,
}

/// Everything parsed from /proc/zoneinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zoneinfo {
    /// Instances in the order pmdalinux first registers them: for each
    /// zone block, its node's figures (when the block has them), then the
    /// zone's.
    pub rows: Vec<ZoneRow>,
    /// Protection figures in file order.
    pub prot: Vec<ProtRow>,
}

fn row(name: String, node: u32, zone: Option<String>) -> ZoneRow {
    ZoneRow {
        name,
        node,
        zone,
        values: vec![None; ZONE_ITEMS],
        hidden: false,
    }
}

impl Zoneinfo {
    /// Adds `r` to the instances, replacing one of the same name.
    fn push(&mut self, r: ZoneRow) {
        match self.rows.iter_mut().find(|x| x.name == r.name) {
            Some(x) => *x = r,
            None => self.rows.push(r),
        }
    }

    /// Parses the file into `self` (cleared first).
    pub fn parse(&mut self, buf: &[u8]) -> Result<(), BadZoneinfo> {
        self.rows.clear();
        self.prot.clear();
        // The zone block being read, its node-wide figures if any, and
        // whether lines go to the node (true) or the zone.
        let mut zone: Option<ZoneRow> = None;
        let mut pernode: Option<ZoneRow> = None;
        let mut to_node = false;
        for line in lines(buf) {
            let mut f = fields(line);
            let Some(first) = f.next() else { continue };
            if first == b"Node" {
                self.finish(zone.take(), pernode.take());
                let (Some(n), Some(b"zone"), Some(name), None) =
                    (f.next(), f.next(), f.next(), f.next())
                else {
                    return Err(bad("zone header is not \"Node N, zone NAME\"", line));
                };
                let node = n
                    .strip_suffix(b",")
                    .and_then(|n| std::str::from_utf8(n).ok())
                    .and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| bad("zone header node number", line))?;
                let name = String::from_utf8_lossy(name).into_owned();
                zone = Some(row(format!("{name}::node{node}"), node, Some(name)));
                to_node = false;
                continue;
            }
            let Some(z) = zone.as_mut() else {
                // Nothing before the first zone header is read.
                continue;
            };
            if first == b"per-node" && f.next() == Some(b"stats") {
                pernode = Some(row(format!("node{}", z.node), z.node, None));
                to_node = true;
                continue;
            }
            if first == b"protection:" {
                self.protection(z, line)?;
                continue;
            }
            let (item, value) = if first == b"pages" {
                to_node = false;
                if f.next() != Some(b"free") {
                    continue;
                }
                (0, f.next())
            } else {
                match zone_item(first) {
                    Some(i) => (i, f.next()),
                    None => continue,
                }
            };
            let v = value
                .and_then(parse_u64_wrapping)
                .ok_or_else(|| bad("zone figure is not a number", line))?;
            let target = match (to_node, pernode.as_mut()) {
                (true, Some(n)) => n,
                _ => z,
            };
            target.values[item] = Some(v);
        }
        self.finish(zone, pernode);
        Ok(())
    }

    /// Registers a finished zone block: its node's figures first.
    fn finish(&mut self, zone: Option<ZoneRow>, pernode: Option<ZoneRow>) {
        if let Some(n) = pernode {
            self.push(n);
        }
        if let Some(mut z) = zone {
            z.hidden = z.values[6].unwrap_or(0) == 0;
            self.push(z);
        }
    }

    /// `protection: (a, b, c)` of zone `z`.
    fn protection(&mut self, z: &ZoneRow, line: &[u8]) -> Result<(), BadZoneinfo> {
        let text = std::str::from_utf8(line).map_err(|_| bad("protection line", line))?;
        let inner = text
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(i, _)| i)
            .ok_or_else(|| bad("protection line without (...)", line))?;
        let zone = z.zone.clone().unwrap_or_default();
        for (k, v) in inner.split(',').enumerate() {
            let pages = parse_u64_wrapping(v.trim().as_bytes())
                .ok_or_else(|| bad("protection figure is not a number", line))?;
            self.prot.push(ProtRow {
                name: format!("{}::lowmem_reserved{k}", z.name),
                node: z.node,
                zone: zone.clone(),
                lowmem: k as u32,
                pages,
            });
        }
        Ok(())
    }
}

/// The sum of every zone's low watermark (its `low` line, in pages), as
/// pmdalinux adds them up to estimate MemAvailable on old kernels: every
/// line with the word `low` followed by a number.
pub fn low_watermarks(text: &str) -> i64 {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find("low ")? + 4..];
            rest.split_whitespace().next()?.parse::<i64>().ok()
        })
        .fold(0i64, i64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 33261
      nr_dirtied   20486433
      workingset_activate_file 7
  pages free     3840
        min      14
        present  3998
        managed  3840
        protection: (0, 3019, 17483)
      nr_free_pages 3840
      nr_mlock     0
  pagesets
    cpu: 0
              count: 0
              high:  0
Node 0, zone   Normal
  pages free     100
        present  200
      numa_hit     5
        protection: (0, 0, 0)
Node 0, zone  Movable
  pages free     0
        present  0
        protection: (0, 0, 0)
";

    #[test]
    fn nodes_zones_and_protection() {
        let mut z = Zoneinfo::default();
        z.parse(SAMPLE).unwrap();
        let names: Vec<&str> = z.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["node0", "DMA::node0", "Normal::node0", "Movable::node0"]
        );
        let hidden: Vec<bool> = z.rows.iter().map(|r| r.hidden).collect();
        assert_eq!(hidden, [false, false, false, true]);
        let (n, dma) = (&z.rows[0], &z.rows[1]);
        assert_eq!(n.values[10], Some(33261));
        assert_eq!(n.values[33], Some(20486433));
        assert_eq!(n.values[58], Some(7));
        assert_eq!(n.values[0], None);
        assert_eq!(dma.values[0], Some(3840));
        assert_eq!(dma.values[1], Some(14));
        assert_eq!(dma.values[15], Some(0));
        // nr_free_pages is not read; per-CPU "high:" is not the watermark.
        assert_eq!(dma.values[8], None);
        assert_eq!(dma.values[3], None);
        assert_eq!(dma.values[10], None);
        assert_eq!(z.rows[2].values[35], Some(5));
        assert_eq!(z.prot.len(), 9);
        assert_eq!(z.prot[1].name, "DMA::node0::lowmem_reserved1");
        assert_eq!((z.prot[1].pages, z.prot[2].pages), (3019, 17483));
        assert_eq!((z.prot[8].zone.as_str(), z.prot[8].lowmem), ("Movable", 2));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut z = Zoneinfo::default();
        for bad in [
            &b"Node x, zone DMA\n"[..],
            b"Node 0 zone\n",
            b"Node 0, zone DMA\n  pages free lots\n",
            b"Node 0, zone DMA\n  min\n",
            b"Node 0, zone DMA\n  protection: (0, 1\n",
            b"Node 0, zone DMA\n  protection: (0, z)\n",
        ] {
            assert!(z.parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Nothing recognisable is simply empty.
        z.parse(b"\xff\xfe\nhello world\n").unwrap();
        assert!(z.rows.is_empty() && z.prot.is_empty());
    }
}
