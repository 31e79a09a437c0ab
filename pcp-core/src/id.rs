//! Metric and instance-domain identifiers with PCP's exact bit layouts.
//!
//! A [`Pmid`] packs a 9-bit domain, a 12-bit cluster and a 10-bit item into a
//! `u32` (`domain << 22 | cluster << 10 | item`); an [`InDom`] packs a 9-bit
//! domain and a 22-bit serial (`domain << 22 | serial`). Both print as PCP
//! prints them (`60.0.24`, `60.2`) and parse back from that form.

use std::fmt;
use std::str::FromStr;

use crate::error::IdError;

/// Largest domain number an agent may use (511 is reserved by PCP).
pub const MAX_DOMAIN: u32 = 510;
/// PCP's reserved domain for dynamic-namespace roots and derived metrics.
pub const DYNAMIC_DOMAIN: u32 = 511;
/// Largest cluster number (12 bits).
pub const MAX_CLUSTER: u32 = 4095;
/// Largest item number (10 bits).
pub const MAX_ITEM: u32 = 1023;
/// Largest instance-domain serial (22 bits).
pub const MAX_SERIAL: u32 = (1 << 22) - 1;
/// `PM_IN_NULL`: the instance id of a value of a metric with no instance domain.
pub const PM_IN_NULL: u32 = 0xffff_ffff;

/// A performance metric identifier: domain (9 bits), cluster (12), item (10).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pmid(u32);

impl Pmid {
    /// `PM_ID_NULL`, the identifier of nothing.
    pub const NULL: Pmid = Pmid(0xffff_ffff);

    /// Builds a PMID, checking each field against its width and the domain
    /// against the range agents may use (`0..=510`; 511 only through
    /// [`Pmid::dynamic_root`]).
    pub fn new(domain: u32, cluster: u32, item: u32) -> Result<Pmid, IdError> {
        if domain > MAX_DOMAIN {
            return Err(IdError::Domain(domain));
        }
        if cluster > MAX_CLUSTER {
            return Err(IdError::Cluster(cluster));
        }
        if item > MAX_ITEM {
            return Err(IdError::Item(item));
        }
        Ok(Pmid(domain << 22 | cluster << 10 | item))
    }

    /// Builds a PMID from fields already known to be in range (for `const`
    /// metric tables). Out-of-range fields are masked to their width.
    pub const fn from_parts(domain: u32, cluster: u32, item: u32) -> Pmid {
        Pmid((domain & 0x1ff) << 22 | (cluster & 0xfff) << 10 | (item & 0x3ff))
    }

    /// The placeholder PMID pmcd stores for a dynamic subtree owned by
    /// `domain`: domain 511, cluster = the owning domain, item 0.
    pub const fn dynamic_root(domain: u32) -> Pmid {
        Pmid(DYNAMIC_DOMAIN << 22 | (domain & 0x1ff) << 10)
    }

    /// Wraps a raw 32-bit PMID as it travels on the wire.
    pub const fn from_raw(raw: u32) -> Pmid {
        Pmid(raw)
    }

    /// The raw 32-bit form.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The domain field (9 bits).
    pub const fn domain(self) -> u32 {
        (self.0 >> 22) & 0x1ff
    }

    /// The cluster field (12 bits).
    pub const fn cluster(self) -> u32 {
        (self.0 >> 10) & 0xfff
    }

    /// The item field (10 bits).
    pub const fn item(self) -> u32 {
        self.0 & 0x3ff
    }

    /// True for a dynamic-subtree placeholder (domain 511, item 0).
    pub const fn is_dynamic_root(self) -> bool {
        self.domain() == DYNAMIC_DOMAIN && self.item() == 0 && self.0 != Self::NULL.0
    }
}

impl fmt::Display for Pmid {
    /// `domain.cluster.item`, or `PM_ID_NULL`, as pminfo prints PMIDs.
    /// A dynamic root prints as pminfo does: `511.DOMAIN.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Pmid::NULL {
            return f.write_str("PM_ID_NULL");
        }
        write!(f, "{}.{}.{}", self.domain(), self.cluster(), self.item())
    }
}

impl fmt::Debug for Pmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pmid({self})")
    }
}

impl FromStr for Pmid {
    type Err = IdError;

    /// Parses `D.C.I` (each a decimal number) or `PM_ID_NULL`. Domain 511 is
    /// accepted here (pminfo shows dynamic roots that way).
    fn from_str(s: &str) -> Result<Pmid, IdError> {
        if s == "PM_ID_NULL" {
            return Ok(Pmid::NULL);
        }
        let mut parts = s.split('.');
        let (Some(d), Some(c), Some(i), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(IdError::Syntax(s.to_string()));
        };
        let num = |p: &str| p.parse::<u32>().map_err(|_| IdError::Syntax(s.to_string()));
        let (d, c, i) = (num(d)?, num(c)?, num(i)?);
        if d == DYNAMIC_DOMAIN {
            if c > MAX_CLUSTER {
                return Err(IdError::Cluster(c));
            }
            if i > MAX_ITEM {
                return Err(IdError::Item(i));
            }
            return Ok(Pmid(d << 22 | c << 10 | i));
        }
        Pmid::new(d, c, i)
    }
}

/// An instance-domain identifier: domain (9 bits), serial (22 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InDom(u32);

impl InDom {
    /// `PM_INDOM_NULL`: the metric has no instance domain (a singular metric).
    pub const NULL: InDom = InDom(0xffff_ffff);

    /// Builds an instance domain, range-checking both fields.
    pub fn new(domain: u32, serial: u32) -> Result<InDom, IdError> {
        if domain > MAX_DOMAIN {
            return Err(IdError::Domain(domain));
        }
        if serial > MAX_SERIAL {
            return Err(IdError::Serial(serial));
        }
        Ok(InDom(domain << 22 | serial))
    }

    /// Builds an instance domain from fields known to be in range (masked).
    pub const fn from_parts(domain: u32, serial: u32) -> InDom {
        InDom((domain & 0x1ff) << 22 | (serial & MAX_SERIAL))
    }

    /// Wraps a raw 32-bit InDom as it travels on the wire.
    pub const fn from_raw(raw: u32) -> InDom {
        InDom(raw)
    }

    /// The raw 32-bit form.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The domain field.
    pub const fn domain(self) -> u32 {
        (self.0 >> 22) & 0x1ff
    }

    /// The serial field.
    pub const fn serial(self) -> u32 {
        self.0 & MAX_SERIAL
    }

    /// True for `PM_INDOM_NULL`.
    pub const fn is_null(self) -> bool {
        self.0 == Self::NULL.0
    }
}

impl fmt::Display for InDom {
    /// `domain.serial`, or `PM_INDOM_NULL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            return f.write_str("PM_INDOM_NULL");
        }
        write!(f, "{}.{}", self.domain(), self.serial())
    }
}

impl fmt::Debug for InDom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InDom({self})")
    }
}

impl FromStr for InDom {
    type Err = IdError;

    /// Parses `D.S` or `PM_INDOM_NULL`.
    fn from_str(s: &str) -> Result<InDom, IdError> {
        if s == "PM_INDOM_NULL" {
            return Ok(InDom::NULL);
        }
        let (d, ser) = s
            .split_once('.')
            .ok_or_else(|| IdError::Syntax(s.to_string()))?;
        let num = |p: &str| p.parse::<u32>().map_err(|_| IdError::Syntax(s.to_string()));
        InDom::new(num(d)?, num(ser)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packing_matches_pcp_examples() {
        // Examples from PCP's protocol notes: 29.0.10 = 0x0740000a, 253.2.4 = 0x3f400804,
        // 400.5.0 = 0x64001400, InDom 29.1 = 0x07400001, InDom 60.2 = 0xf000002.
        assert_eq!(Pmid::new(29, 0, 10).unwrap().raw(), 0x0740_000a);
        assert_eq!(Pmid::new(253, 2, 4).unwrap().raw(), 0x3f40_0804);
        assert_eq!(Pmid::new(400, 5, 0).unwrap().raw(), 0x6400_1400);
        assert_eq!(InDom::new(29, 1).unwrap().raw(), 0x0740_0001);
        assert_eq!(InDom::new(60, 2).unwrap().raw(), 0x0f00_0002);
        assert_eq!(Pmid::dynamic_root(144).raw(), 0x7fc2_4000);
        assert!(Pmid::dynamic_root(144).is_dynamic_root());
    }

    #[test]
    fn display_as_pminfo() {
        assert_eq!(Pmid::new(60, 0, 24).unwrap().to_string(), "60.0.24");
        assert_eq!(InDom::new(60, 2).unwrap().to_string(), "60.2");
        assert_eq!(InDom::NULL.to_string(), "PM_INDOM_NULL");
        assert_eq!(Pmid::NULL.to_string(), "PM_ID_NULL");
        assert_eq!(Pmid::dynamic_root(151).to_string(), "511.151.0");
    }

    #[test]
    fn range_errors_name_the_field() {
        assert_eq!(Pmid::new(511, 0, 0), Err(IdError::Domain(511)));
        assert_eq!(Pmid::new(1, 4096, 0), Err(IdError::Cluster(4096)));
        assert_eq!(Pmid::new(1, 0, 1024), Err(IdError::Item(1024)));
        assert_eq!(InDom::new(1, 1 << 22), Err(IdError::Serial(1 << 22)));
        assert!("60.0".parse::<Pmid>().is_err());
        assert!("60.x.1".parse::<Pmid>().is_err());
        assert!("60.0.1.2".parse::<Pmid>().is_err());
        assert!("600.0.1".parse::<Pmid>().is_err());
        assert_eq!(
            "511.144.0".parse::<Pmid>().unwrap(),
            Pmid::dynamic_root(144)
        );
    }

    proptest! {
        #[test]
        fn pmid_round_trips(d in 0u32..=510, c in 0u32..=4095, i in 0u32..=1023) {
            let p = Pmid::new(d, c, i).unwrap();
            prop_assert_eq!((p.domain(), p.cluster(), p.item()), (d, c, i));
            prop_assert_eq!(p.to_string().parse::<Pmid>().unwrap(), p);
            prop_assert_eq!(Pmid::from_raw(p.raw()), p);
            prop_assert_eq!(Pmid::from_parts(d, c, i), p);
        }

        #[test]
        fn indom_round_trips(d in 0u32..=510, s in 0u32..=MAX_SERIAL) {
            let x = InDom::new(d, s).unwrap();
            prop_assert_eq!((x.domain(), x.serial()), (d, s));
            prop_assert_eq!(x.to_string().parse::<InDom>().unwrap(), x);
        }

        #[test]
        fn parse_never_panics(s in ".{0,20}") {
            let _ = s.parse::<Pmid>();
            let _ = s.parse::<InDom>();
        }
    }
}
