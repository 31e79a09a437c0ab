//! `/proc/buddyinfo`: free blocks of each size (order) per zone and node.

use crate::parse::{fields, lines, parse_u64, ParseError};

/// One row of /proc/buddyinfo: NUMA node, zone, free blocks per order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuddyRow {
    /// NUMA node.
    pub node: u32,
    /// Zone name (DMA, DMA32, Normal, ...).
    pub zone: String,
    /// Free blocks of each order (2^order pages each).
    pub free: Vec<u64>,
}

/// Parses /proc/buddyinfo (`Node 0, zone   Normal  1 3 36 ...`).
pub fn parse(buf: &[u8]) -> Result<Vec<BuddyRow>, ParseError> {
    let mut out = Vec::new();
    for line in lines(buf) {
        let bad = || ParseError::line("buddyinfo", line);
        let mut f = fields(line);
        let (Some(b"Node"), Some(node), Some(b"zone"), Some(zone)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad());
        };
        let node = node
            .strip_suffix(b",")
            .and_then(parse_u64)
            .ok_or_else(bad)?;
        let free = f
            .map(parse_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(bad)?;
        out.push(BuddyRow {
            node: node as u32,
            zone: String::from_utf8_lossy(zone).into_owned(),
            free,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buddyinfo_rows() {
        let v = parse(
            b"Node 0, zone      DMA      0      0      1 \nNode 1, zone   Normal      1      3\n",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].node, v[1].zone.as_str()), (1, "Normal"));
        assert_eq!(v[0].free, vec![0, 0, 1]);
        assert!(parse(b"Node x, zone DMA 1\n").is_err());
        assert!(parse(b"Node 0, zone DMA 1 z\n").is_err());
    }
}
