//! Parsers of the per-NUMA-node files: `/sys/devices/system/node/nodeN/meminfo`
//! and `numastat`.
//!
//! pmdalinux reads these with a keyed scanner that looks for each key
//! anywhere in a line (the first key of its list found in the line, with
//! a digit after it, takes the line's first number after the key) and lets
//! later lines overwrite earlier ones. So `Mapped:` also matches the later
//! `ShmemPmdMapped:` and `FilePmdMapped:` lines, and `PageTables:` the later
//! `SecPageTables:` line: the figures it reports for those keys are the
//! last such line's. [`scan`] reproduces that, so values agree.

/// The `meminfo` keys, in pmdalinux's list order (which decides which key
/// a line goes to when several match).
pub const MEMINFO_KEYS: [&str; 32] = [
    "MemTotal:",
    "MemFree:",
    "MemUsed:",
    "Active:",
    "Inactive:",
    "Active(anon):",
    "Inactive(anon):",
    "Active(file):",
    "Inactive(file):",
    "HighTotal:",
    "HighFree:",
    "LowTotal:",
    "LowFree:",
    "Unevictable:",
    "Mlocked:",
    "Dirty:",
    "Writeback:",
    "FilePages:",
    "Mapped:",
    "AnonPages:",
    "Shmem:",
    "KernelStack:",
    "PageTables:",
    "NFS_Unstable:",
    "Bounce:",
    "WritebackTmp:",
    "Slab:",
    "SReclaimable:",
    "SUnreclaim:",
    "HugePages_Total:",
    "HugePages_Free:",
    "HugePages_Surp:",
];

/// The `numastat` keys, in pmdalinux's item order.
pub const NUMASTAT_KEYS: [&str; 6] = [
    "numa_hit",
    "numa_miss",
    "numa_foreign",
    "interleave_hit",
    "local_node",
    "other_node",
];

/// Index of `HugePages_Total:` in [`MEMINFO_KEYS`] (then Free, Surp).
pub const HUGEPAGES_TOTAL: usize = 29;

/// Figures of one node: each [`MEMINFO_KEYS`] and [`NUMASTAT_KEYS`] entry,
/// `None` when its file or line is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeMem {
    /// The node number.
    pub node: u32,
    /// meminfo figures (Kbytes, or pages for the huge page counts).
    pub meminfo: [Option<u64>; 32],
    /// numastat counters.
    pub numastat: [Option<u64>; 6],
}

/// Scans a file with pmdalinux's keyed scanner (see the module
/// documentation) into `out`, one slot per key.
pub fn scan(buf: &[u8], keys: &[&str], out: &mut [Option<u64>]) {
    for line in buf.split(|&b| b == b'\n') {
        for (k, key) in keys.iter().enumerate() {
            let Some(pos) = find(line, key.as_bytes()) else {
                continue;
            };
            let rest = &line[pos + key.len()..];
            let Some(start) = rest.iter().position(u8::is_ascii_digit) else {
                continue;
            };
            let digits = &rest[start..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            let v = digits[..end].iter().fold(0u64, |a, d| {
                a.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
            });
            if let Some(slot) = out.get_mut(k) {
                *slot = Some(v);
            }
            break;
        }
    }
}

/// The unusable free space index of each node's Normal zone, from the
/// kernel's `debug/extfrag/unusable_index` (`Node N, zone NAME` and one
/// index per allocation order): the indexes of all orders summed, as
/// pmdalinux reports sysfs.kernel.debug.extfrag_unusable. Nodes without
/// a Normal zone are left out.
pub fn extfrag_normal(text: &str) -> Vec<(u32, f64)> {
    let mut out: Vec<(u32, f64)> = Vec::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("Node") else {
            continue;
        };
        let Some((node, rest)) = rest.split_once(',') else {
            continue;
        };
        let Ok(node) = node.trim().parse::<u32>() else {
            continue;
        };
        let mut w = rest.split_whitespace();
        if w.next() != Some("zone") || w.next() != Some("Normal") {
            continue;
        }
        // Read and summed as single-precision floats, as pmdalinux does.
        let sum: f32 = w.filter_map(|x| x.parse::<f32>().ok()).sum();
        let sum = f64::from(sum);
        match out.iter_mut().find(|(n, _)| *n == node) {
            Some(e) => e.1 = sum,
            None => out.push((node, sum)),
        }
    }
    out
}

/// Where pmdalinux's memory bandwidth configuration lives, under the root.
pub const BANDWIDTH_CONF: &str = "var/lib/pcp/pmdas/linux/bandwidth.conf";

/// The administrator's memory bandwidth per node (Mbytes per second) from
/// bandwidth.conf, read as pmdalinux 6.0.3 reads it: `#` lines are
/// comments; the first other line must be `Version:1.0`; then one
/// `nodeN:BANDWIDTH` line per node, the number read as C's `atof` reads it.
/// The first line that is not of that form (an empty line, an unknown
/// node, a line without a colon) ends the reading, keeping what came
/// before it. Only bandwidths above zero are reported.
pub fn parse_bandwidth(text: &str, nodes: &[u32]) -> Vec<(u32, f64)> {
    let mut out: Vec<(u32, f64)> = Vec::new();
    let mut version = false;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.contains("Version") {
            match line.split_once(':') {
                Some((k, v)) if k.starts_with("Version") && v.starts_with("1.0") => {
                    version = true;
                    continue;
                }
                _ => break,
            }
        }
        if !version {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        let Some(&node) = nodes.iter().find(|n| format!("node{n}") == name) else {
            break;
        };
        let v = atof(value);
        out.retain(|(n, _)| *n != node);
        out.push((node, v));
    }
    out.retain(|(_, v)| *v > 0.0);
    out
}

/// The number at the start of `s`, as C's `atof` reads it (0 if none):
/// the longest prefix that is a number.
fn atof(s: &str) -> f64 {
    let t = s.trim_start();
    (1..=t.len())
        .rev()
        .filter(|&i| t.is_char_boundary(i))
        .find_map(|i| t[..i].parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_conf() {
        let nodes = [0, 1];
        let p = |t: &str| parse_bandwidth(t, &nodes);
        assert_eq!(
            p("# x\nVersion:1.0\nnode0:1024.5\nnode1:2048\n"),
            vec![(0, 1024.5), (1, 2048.0)]
        );
        assert_eq!(p("Version:1.0\n\nnode0:1\n"), vec![]);
        assert_eq!(
            p("Version:1.0\nnode1:3\nnode7:5\nnode0:9\n"),
            vec![(1, 3.0)]
        );
        assert_eq!(p("node0:5\nVersion:1.0\n"), vec![]);
        assert_eq!(p("Version:2.0\nnode0:5\n"), vec![]);
        assert_eq!(p("Version:1.0\nnode:7\n"), vec![]);
        assert_eq!(p("Version:1.0\nnode0:1e3x\nnode1:0\n"), vec![(0, 1000.0)]);
    }

    #[test]
    fn extfrag_of_normal_zones() {
        let t = "Node 0, zone      DMA 0.000 0.500 \nNode 0, zone   Normal 0.250 0.500 \nNode 1, zone    DMA32 0.100 \n";
        assert_eq!(extfrag_normal(t), vec![(0, 0.75)]);
    }

    #[test]
    fn keys_match_anywhere_and_later_lines_win() {
        let text = b"Node 0 MemTotal:       24683784 kB\nNode 0 Mapped:  58632 kB\n\
Node 0 PageTables:  2816 kB\nNode 0 SecPageTables:  0 kB\nNode 0 ShmemPmdMapped:  7 kB\n\
Node 0 Active(anon):  60 kB\nNode 0 Active:  179024 kB\nNode 0 HugePages_Total:     3\n";
        let mut m = [None; 32];
        scan(text, &MEMINFO_KEYS, &mut m);
        assert_eq!(m[0], Some(24683784));
        assert_eq!(m[18], Some(7));
        assert_eq!(m[22], Some(0));
        assert_eq!(m[5], Some(60));
        assert_eq!(m[3], Some(179024));
        assert_eq!(m[HUGEPAGES_TOTAL], Some(3));
        assert_eq!(m[9], None);
        let mut s = [None; 6];
        scan(
            b"numa_hit 25776997\nnuma_miss 0\nother_node 4\n",
            &NUMASTAT_KEYS,
            &mut s,
        );
        assert_eq!(s, [Some(25776997), Some(0), None, None, None, Some(4)]);
    }
}
