//! Metric descriptors: data type, semantics, units and instance domain,
//! with PCP's numeric codes and pminfo's display strings.

use std::fmt;

use crate::error::PmError;
use crate::id::{InDom, Pmid};

/// A metric's data type (`PM_TYPE_*`), with PCP's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Type {
    /// `PM_TYPE_NOSUPPORT` (-1): the metric is not supported here.
    NoSupport = -1,
    /// `PM_TYPE_32` (0): signed 32-bit integer.
    I32 = 0,
    /// `PM_TYPE_U32` (1): unsigned 32-bit integer.
    U32 = 1,
    /// `PM_TYPE_64` (2): signed 64-bit integer.
    I64 = 2,
    /// `PM_TYPE_U64` (3): unsigned 64-bit integer.
    U64 = 3,
    /// `PM_TYPE_FLOAT` (4): 32-bit IEEE float.
    Float = 4,
    /// `PM_TYPE_DOUBLE` (5): 64-bit IEEE float.
    Double = 5,
    /// `PM_TYPE_STRING` (6): a string.
    String = 6,
    /// `PM_TYPE_AGGREGATE` (7): opaque bytes.
    Aggregate = 7,
    /// `PM_TYPE_AGGREGATE_STATIC` (8): opaque bytes held by the agent.
    AggregateStatic = 8,
    /// `PM_TYPE_EVENT` (9): a packed event array.
    Event = 9,
    /// `PM_TYPE_HIGHRES_EVENT` (10): event array with nanosecond stamps.
    HighresEvent = 10,
    /// `PM_TYPE_UNKNOWN` (255): only inside value blocks.
    Unknown = 255,
}

impl Type {
    /// PCP's numeric code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The type for a PCP numeric code.
    pub fn from_code(code: i32) -> Result<Type, PmError> {
        Ok(match code {
            -1 => Type::NoSupport,
            0 => Type::I32,
            1 => Type::U32,
            2 => Type::I64,
            3 => Type::U64,
            4 => Type::Float,
            5 => Type::Double,
            6 => Type::String,
            7 => Type::Aggregate,
            8 => Type::AggregateStatic,
            9 => Type::Event,
            10 => Type::HighresEvent,
            255 => Type::Unknown,
            _ => return Err(PmError::TYPE),
        })
    }

    /// pminfo's name for the type (`pmTypeStr`).
    pub const fn name(self) -> &'static str {
        match self {
            Type::NoSupport => "Not Supported",
            Type::I32 => "32-bit int",
            Type::U32 => "32-bit unsigned int",
            Type::I64 => "64-bit int",
            Type::U64 => "64-bit unsigned int",
            Type::Float => "float",
            Type::Double => "double",
            Type::String => "string",
            Type::Aggregate => "aggregate",
            Type::AggregateStatic => "static aggregate",
            Type::Event => "event record array",
            Type::HighresEvent => "highres event record array",
            Type::Unknown => "unknown",
        }
    }

    /// True for the numeric types (rates and arithmetic make sense).
    pub const fn is_numeric(self) -> bool {
        matches!(
            self,
            Type::I32 | Type::U32 | Type::I64 | Type::U64 | Type::Float | Type::Double
        )
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metric's semantics (`PM_SEM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Semantics {
    /// `PM_SEM_COUNTER` (1): monotonically increasing; rate-convert it.
    Counter = 1,
    /// `PM_SEM_INSTANT` (3): an instantaneous value.
    Instant = 3,
    /// `PM_SEM_DISCRETE` (4): a value that changes rarely (configuration).
    Discrete = 4,
}

impl Semantics {
    /// PCP's numeric code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The semantics for a PCP numeric code.
    pub fn from_code(code: i32) -> Result<Semantics, PmError> {
        match code {
            1 => Ok(Semantics::Counter),
            3 => Ok(Semantics::Instant),
            4 => Ok(Semantics::Discrete),
            _ => Err(PmError::VALUE),
        }
    }

    /// pminfo's word for it.
    pub const fn name(self) -> &'static str {
        match self {
            Semantics::Counter => "counter",
            Semantics::Instant => "instant",
            Semantics::Discrete => "discrete",
        }
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Space scale codes (`PM_SPACE_*`): binary multiples of a byte.
pub mod space {
    /// Bytes.
    pub const BYTE: u8 = 0;
    /// Kibibytes (PCP calls them Kbyte).
    pub const KBYTE: u8 = 1;
    /// Mebibytes.
    pub const MBYTE: u8 = 2;
    /// Gibibytes.
    pub const GBYTE: u8 = 3;
    /// Tebibytes.
    pub const TBYTE: u8 = 4;
    /// Pebibytes.
    pub const PBYTE: u8 = 5;
    /// Exbibytes.
    pub const EBYTE: u8 = 6;
    /// Zebibytes.
    pub const ZBYTE: u8 = 7;
    /// Yobibytes.
    pub const YBYTE: u8 = 8;
}

/// Time scale codes (`PM_TIME_*`).
pub mod time {
    /// Nanoseconds.
    pub const NSEC: u8 = 0;
    /// Microseconds.
    pub const USEC: u8 = 1;
    /// Milliseconds.
    pub const MSEC: u8 = 2;
    /// Seconds.
    pub const SEC: u8 = 3;
    /// Minutes.
    pub const MIN: u8 = 4;
    /// Hours.
    pub const HOUR: u8 = 5;
}

/// Units: powers of space, time and count with a scale for each
/// (`pmUnits`). Packs into PCP's 32-bit units word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Units {
    /// Power of space (bytes): 1 for a size, -1 for "per byte".
    pub dim_space: i8,
    /// Power of time: 1 for a duration, -1 for a rate.
    pub dim_time: i8,
    /// Power of count (events).
    pub dim_count: i8,
    /// Scale of space, a [`space`] code.
    pub scale_space: u8,
    /// Scale of time, a [`time`] code.
    pub scale_time: u8,
    /// Scale of count, a power of ten.
    pub scale_count: i8,
}

impl Units {
    /// Dimensionless ("none").
    pub const NONE: Units = Units::new(0, 0, 0, 0, 0, 0);
    /// A count of events, scale one.
    pub const COUNT: Units = Units::new(0, 0, 1, 0, 0, 0);
    /// Bytes.
    pub const BYTES: Units = Units::new(1, 0, 0, space::BYTE, 0, 0);
    /// Kbytes.
    pub const KBYTES: Units = Units::new(1, 0, 0, space::KBYTE, 0, 0);
    /// Milliseconds.
    pub const MILLISEC: Units = Units::new(0, 1, 0, 0, time::MSEC, 0);
    /// Seconds.
    pub const SEC: Units = Units::new(0, 1, 0, 0, time::SEC, 0);

    /// Microseconds.
    pub const MICROSEC: Units = Units::time(time::USEC);
    /// Nanoseconds.
    pub const NANOSEC: Units = Units::time(time::NSEC);
    /// Mbytes.
    pub const MBYTES: Units = Units::space(space::MBYTE);

    /// A size in `scale` units (a [`space`] code): `Units::space(space::KBYTE)`
    /// is Kbyte.
    pub const fn space(scale: u8) -> Units {
        Units::new(1, 0, 0, scale, 0, 0)
    }

    /// A duration in `scale` units (a [`time`] code): `Units::time(time::USEC)`
    /// is microsec.
    pub const fn time(scale: u8) -> Units {
        Units::new(0, 1, 0, 0, scale, 0)
    }

    /// A count of events scaled by 10^`exponent` (`count x 10^3` for 3).
    pub const fn count(exponent: i8) -> Units {
        Units::new(0, 0, 1, 0, 0, exponent)
    }

    /// These units per unit of time at `scale`: `Units::BYTES.per_time(time::SEC)`
    /// is byte / sec.
    pub const fn per_time(self, scale: u8) -> Units {
        Units {
            dim_time: self.dim_time - 1,
            scale_time: scale,
            ..self
        }
    }

    /// These units per unit of space at `scale` (a [`space`] code).
    pub const fn per_space(self, scale: u8) -> Units {
        Units {
            dim_space: self.dim_space - 1,
            scale_space: scale,
            ..self
        }
    }

    /// These units per event counted at 10^`exponent`.
    pub const fn per_count(self, exponent: i8) -> Units {
        Units {
            dim_count: self.dim_count - 1,
            scale_count: exponent,
            ..self
        }
    }

    /// Builds units from the six fields, in pmUnits order.
    pub const fn new(
        dim_space: i8,
        dim_time: i8,
        dim_count: i8,
        scale_space: u8,
        scale_time: u8,
        scale_count: i8,
    ) -> Units {
        Units {
            dim_space,
            dim_time,
            dim_count,
            scale_space,
            scale_time,
            scale_count,
        }
    }

    /// The 32-bit word as it travels in a PDU_DESC.
    pub const fn to_word(self) -> u32 {
        ((self.dim_space as u32 & 0xf) << 28)
            | ((self.dim_time as u32 & 0xf) << 24)
            | ((self.dim_count as u32 & 0xf) << 20)
            | ((self.scale_space as u32 & 0xf) << 16)
            | ((self.scale_time as u32 & 0xf) << 12)
            | ((self.scale_count as u32 & 0xf) << 8)
    }

    /// Unpacks a units word (sign-extending the signed nibbles).
    pub const fn from_word(w: u32) -> Units {
        const fn signed(n: u32) -> i8 {
            let n = (n & 0xf) as i8;
            if n >= 8 {
                n - 16
            } else {
                n
            }
        }
        Units {
            dim_space: signed(w >> 28),
            dim_time: signed(w >> 24),
            dim_count: signed(w >> 20),
            scale_space: ((w >> 16) & 0xf) as u8,
            scale_time: ((w >> 12) & 0xf) as u8,
            scale_count: signed(w >> 8),
        }
    }

    /// True when every dimension is zero.
    pub const fn is_dimensionless(self) -> bool {
        self.dim_space == 0 && self.dim_time == 0 && self.dim_count == 0
    }

    /// The factor that converts a value in these units into the same
    /// dimensions in `to`'s scales (`pmConvScale`). Fails with
    /// [`PmError::CONV`] if the dimensions differ.
    ///
    /// ```
    /// use pcp_core::Units;
    /// // 3 Kbyte is 3072 byte; 1500 millisec is 1.5 sec.
    /// assert_eq!(3.0 * Units::KBYTES.conversion_factor(Units::BYTES).unwrap(), 3072.0);
    /// assert_eq!(1500.0 * Units::MILLISEC.conversion_factor(Units::SEC).unwrap(), 1.5);
    /// ```
    pub fn conversion_factor(self, to: Units) -> Result<f64, PmError> {
        if self.dim_space != to.dim_space
            || self.dim_time != to.dim_time
            || self.dim_count != to.dim_count
        {
            return Err(PmError::CONV);
        }
        let mut f = 1.0f64;
        if self.dim_space != 0 {
            let from = space_bytes(self.scale_space)?;
            let dest = space_bytes(to.scale_space)?;
            f *= (from / dest).powi(self.dim_space as i32);
        }
        if self.dim_time != 0 {
            let from = time_nanos(self.scale_time)?;
            let dest = time_nanos(to.scale_time)?;
            f *= (from / dest).powi(self.dim_time as i32);
        }
        if self.dim_count != 0 {
            let diff = self.scale_count as i32 - to.scale_count as i32;
            f *= 10f64.powi(diff * self.dim_count as i32);
        }
        Ok(f)
    }

    /// Converts `value` from these units to `to` (see [`Units::conversion_factor`]).
    pub fn convert(self, value: f64, to: Units) -> Result<f64, PmError> {
        Ok(value * self.conversion_factor(to)?)
    }
}

fn space_bytes(scale: u8) -> Result<f64, PmError> {
    if scale > space::YBYTE {
        return Err(PmError::UNIT);
    }
    Ok(1024f64.powi(scale as i32))
}

fn time_nanos(scale: u8) -> Result<f64, PmError> {
    Ok(match scale {
        time::NSEC => 1.0,
        time::USEC => 1e3,
        time::MSEC => 1e6,
        time::SEC => 1e9,
        time::MIN => 60e9,
        time::HOUR => 3600e9,
        _ => return Err(PmError::UNIT),
    })
}

const SPACE_NAMES: [&str; 9] = [
    "byte", "Kbyte", "Mbyte", "Gbyte", "Tbyte", "Pbyte", "Ebyte", "Zbyte", "Ybyte",
];
const TIME_NAMES: [&str; 6] = ["nanosec", "microsec", "millisec", "sec", "min", "hour"];

fn push_dim(out: &mut String, name: &str, power: i8) {
    out.push_str(name);
    if power > 1 {
        out.push('^');
        out.push_str(&power.to_string());
    }
    out.push(' ');
}

fn push_count(out: &mut String, scale: i8, power: i8) {
    match scale {
        0 => out.push_str("count"),
        1 => out.push_str("count x 10"),
        s => {
            out.push_str("count x 10^");
            out.push_str(&s.to_string());
        }
    }
    if power > 1 {
        out.push('^');
        out.push_str(&power.to_string());
    }
    out.push(' ');
}

impl fmt::Display for Units {
    /// The text of `pmUnitsStr`: `Kbyte / sec`, `count x 10^3`, `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let space_name = |s: u8| {
            SPACE_NAMES
                .get(s as usize)
                .copied()
                .unwrap_or("unknown-space")
        };
        let time_name = |s: u8| {
            TIME_NAMES
                .get(s as usize)
                .copied()
                .unwrap_or("unknown-time")
        };
        let mut out = String::new();
        if self.dim_space > 0 {
            push_dim(&mut out, space_name(self.scale_space), self.dim_space);
        }
        if self.dim_time > 0 {
            push_dim(&mut out, time_name(self.scale_time), self.dim_time);
        }
        if self.dim_count > 0 {
            push_count(&mut out, self.scale_count, self.dim_count);
        }
        if self.dim_space < 0 || self.dim_time < 0 || self.dim_count < 0 {
            out.push_str("/ ");
            if self.dim_space < 0 {
                push_dim(&mut out, space_name(self.scale_space), -self.dim_space);
            }
            if self.dim_time < 0 {
                push_dim(&mut out, time_name(self.scale_time), -self.dim_time);
            }
            if self.dim_count < 0 {
                push_count(&mut out, self.scale_count, -self.dim_count);
            }
        }
        if out.is_empty() {
            // Dimensionless: a bare count scale still shows (`x 10^3`).
            return match self.scale_count {
                0 => f.write_str("none"),
                1 => f.write_str("x 10"),
                s => write!(f, "x 10^{s}"),
            };
        }
        f.write_str(out.trim_end())
    }
}

/// A metric descriptor (`pmDesc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Desc {
    /// The metric.
    pub pmid: Pmid,
    /// Its data type.
    pub ty: Type,
    /// Its instance domain, or [`InDom::NULL`] for a singular metric.
    pub indom: InDom,
    /// Its semantics.
    pub sem: Semantics,
    /// Its units.
    pub units: Units,
}

impl Desc {
    /// A descriptor from its parts.
    pub const fn new(pmid: Pmid, ty: Type, indom: InDom, sem: Semantics, units: Units) -> Desc {
        Desc {
            pmid,
            ty,
            indom,
            sem,
            units,
        }
    }

    /// The two indented lines pminfo -d prints (without a trailing newline):
    /// `    Data Type: ...  InDom: ...` and `    Semantics: ...  Units: ...`.
    pub fn pminfo_lines(&self) -> String {
        format!("    {self}").replacen("\n", "\n    ", 1)
    }
}

impl fmt::Display for Desc {
    /// pminfo -d's two lines, unindented:
    /// `Data Type: 64-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff`
    /// `Semantics: counter  Units: Kbyte / sec`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Data Type: {}  InDom: {} 0x{:x}\nSemantics: {}  Units: {}",
            self.ty,
            self.indom,
            self.indom.raw(),
            self.sem,
            self.units
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_word_round_trip_matches_pcp() {
        // Words from the protocol captures: count 0x00100000, count/sec 0x0f103000,
        // KiB 0x10010000, milliseconds 0x01002000.
        assert_eq!(Units::COUNT.to_word(), 0x0010_0000);
        assert_eq!(Units::new(0, -1, 1, 0, time::SEC, 0).to_word(), 0x0f10_3000);
        assert_eq!(Units::KBYTES.to_word(), 0x1001_0000);
        assert_eq!(Units::MILLISEC.to_word(), 0x0100_2000);
        for w in [
            0x0010_0000u32,
            0x0f10_3000,
            0x1001_0000,
            0x0100_2000,
            0xf1f3_2e00,
        ] {
            assert_eq!(Units::from_word(w).to_word(), w);
        }
    }

    #[test]
    fn desc_display_matches_pminfo_d() {
        // Captured from PCP 6.0.3 `pminfo -d kernel.all.cpu.user` and `kernel.all.load`.
        let d = Desc::new(
            Pmid::from_parts(60, 0, 20),
            Type::U64,
            InDom::NULL,
            Semantics::Counter,
            Units::MILLISEC,
        );
        assert_eq!(
            d.pminfo_lines(),
            "    Data Type: 64-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff\n    Semantics: counter  Units: millisec"
        );
        let d = Desc::new(
            Pmid::from_parts(60, 2, 0),
            Type::Float,
            InDom::from_parts(60, 2),
            Semantics::Instant,
            Units::NONE,
        );
        assert_eq!(
            d.to_string(),
            "Data Type: float  InDom: 60.2 0xf000002\nSemantics: instant  Units: none"
        );
    }

    proptest::proptest! {
        #[test]
        fn units_words_and_conversions_round_trip(
            ds in -8i8..8, dt in -8i8..8, dc in -8i8..8,
            ss in 0u8..=8, st in 0u8..=5, sc in -8i8..8,
            ss2 in 0u8..=8, st2 in 0u8..=5, sc2 in -8i8..8,
        ) {
            let a = Units::new(ds, dt, dc, ss, st, sc);
            proptest::prop_assert_eq!(Units::from_word(a.to_word()), a);
            let b = Units::new(ds, dt, dc, ss2, st2, sc2);
            let there = a.conversion_factor(b).unwrap();
            let back = b.conversion_factor(a).unwrap();
            proptest::prop_assert!((there * back - 1.0).abs() < 1e-9, "{} * {}", there, back);
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(Units::BYTES.convert(2048.0, Units::KBYTES).unwrap(), 2.0);
        let ns = Units::new(0, 1, 0, 0, time::NSEC, 0);
        assert_eq!(ns.convert(2.5e9, Units::SEC).unwrap(), 2.5);
        let kb_per_s = Units::new(1, -1, 0, space::KBYTE, time::SEC, 0);
        let b_per_ms = Units::new(1, -1, 0, space::BYTE, time::MSEC, 0);
        assert_eq!(kb_per_s.convert(1.0, b_per_ms).unwrap(), 1.024);
        let kcount = Units::new(0, 0, 1, 0, 0, 3);
        assert_eq!(kcount.convert(2.0, Units::COUNT).unwrap(), 2000.0);
        assert_eq!(Units::BYTES.convert(1.0, Units::SEC), Err(PmError::CONV));
    }
}
