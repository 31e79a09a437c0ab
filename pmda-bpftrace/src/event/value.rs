//! What a map holds: [`Scalar`] values, histogram [`Bucket`]s and
//! `stats()` entries ([`Stats`]).

use std::fmt::Write as _;

use super::Json;

/// A map value as bpftrace printed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A signed integer (bpftrace's integers are signed unless declared otherwise).
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A number with a fraction.
    Float(f64),
    /// A string (comm, str(), ksym(), ...).
    Str(String),
    /// A tuple or record, rendered as text.
    Text(String),
}

impl Scalar {
    pub(super) fn from_json(j: Json) -> Scalar {
        match j {
            Json::Int(v) => Scalar::Int(v),
            Json::UInt(v) => Scalar::UInt(v),
            Json::Float(v) => Scalar::Float(v),
            Json::Str(v) => Scalar::Str(v),
            Json::Bool(b) => Scalar::Int(b as i64),
            other => Scalar::Text(other.render()),
        }
    }
}

/// One histogram bucket: `[min, max]`, either end open when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Lowest value in the bucket; `None` for the open lower bucket.
    pub min: Option<i64>,
    /// Highest value in the bucket; `None` for the open upper bucket.
    pub max: Option<i64>,
    /// Number of values that fell in.
    pub count: u64,
}

impl Bucket {
    /// The instance name pmdabpftrace gives the bucket: `min-max`, with
    /// `-inf` / `inf` for the open ends (`-inf--1`, `0-0`, `2-3`, `1024-inf`).
    pub fn name(&self) -> String {
        let mut s = String::with_capacity(16);
        match self.min {
            Some(v) => {
                let _ = write!(s, "{v}");
            }
            None => s.push_str("-inf"),
        }
        s.push('-');
        match self.max {
            Some(v) => {
                let _ = write!(s, "{v}");
            }
            None => s.push_str("inf"),
        }
        s
    }

    /// Sort key: the lower bound, the open lower bucket first.
    pub fn order(&self) -> i128 {
        self.min.map_or(i128::MIN, i128::from)
    }

    pub(super) fn from_json(j: &Json) -> Option<Bucket> {
        let Json::Object(members) = j else {
            return None;
        };
        let mut b = Bucket {
            min: None,
            max: None,
            count: 0,
        };
        for (k, v) in members {
            match k.as_str() {
                "min" => b.min = v.as_i64(),
                "max" => b.max = v.as_i64(),
                "count" => b.count = v.as_i64().map_or(0, |c| c as u64),
                _ => {}
            }
        }
        Some(b)
    }
}

/// The value of a `stats()` map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Number of values.
    pub count: i64,
    /// Integer average.
    pub average: i64,
    /// Sum of the values.
    pub total: i64,
}

impl Stats {
    pub(super) fn from_members(members: &[(String, Json)]) -> Option<Stats> {
        if members.len() != 3 {
            return None;
        }
        let mut s = Stats::default();
        let mut seen = 0;
        for (k, v) in members {
            let v = v.as_i64()?;
            match k.as_str() {
                "count" => s.count = v,
                "average" => s.average = v,
                "total" => s.total = v,
                _ => return None,
            }
            seen += 1;
        }
        (seen == 3).then_some(s)
    }
}
