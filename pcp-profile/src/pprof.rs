//! pprof output: the messages of `profile.proto` (package
//! `perftools.profiles`, field numbers as in google/pprof's
//! `proto/profile.proto`) declared with prost's derive, and the encoding
//! of a [`Profile`] into a gzipped file.
//!
//! A CPU profile has the sample types `samples`/`count` and
//! `cpu`/`nanoseconds` (as Go's CPU profiles: the default type is `cpu`),
//! period `cpu`/`nanoseconds` = 1e9 / sample rate. An off-CPU profile has
//! the one type `off_cpu`/`nanoseconds`. Each sample carries the labels
//! `pid` (number) and `comm`; the group's labels are the profile's
//! comments (`service_name=...`), as pprof has no profile-level labels.

use std::collections::HashMap;
use std::io::{Read, Write};

use prost::Message;

use crate::error::ProfileError;
use crate::model::{Profile, ProfileKind};

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, Message)]
pub struct PbProfile {
    /// Field 1.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<PbValueType>,
    /// Field 2.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<PbSample>,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<PbMapping>,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<PbLocation>,
    /// Field 5.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<PbFunction>,
    /// Field 6; entry 0 is always "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Field 7.
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Field 8.
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// Field 9.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Field 10.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// Field 11.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<PbValueType>,
    /// Field 12.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Field 13.
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// Field 14.
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// `perftools.profiles.ValueType`.
#[derive(Clone, PartialEq, Message)]
pub struct PbValueType {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `perftools.profiles.Sample`.
#[derive(Clone, PartialEq, Message)]
pub struct PbSample {
    /// Field 1, leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// Field 2.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Field 3.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<PbLabel>,
}

/// `perftools.profiles.Label`.
#[derive(Clone, PartialEq, Message)]
pub struct PbLabel {
    /// Field 1.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// Field 3.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// Field 4.
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// `perftools.profiles.Mapping`.
#[derive(Clone, PartialEq, Message)]
pub struct PbMapping {
    /// Field 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Field 2.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// Field 3.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// Field 4.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// Field 5.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Field 6.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Field 7.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Field 8.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Field 9.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Field 10.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `perftools.profiles.Location`.
#[derive(Clone, PartialEq, Message)]
pub struct PbLocation {
    /// Field 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Field 2.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// Field 3.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Field 4.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<PbLine>,
    /// Field 5.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// `perftools.profiles.Line`.
#[derive(Clone, PartialEq, Message)]
pub struct PbLine {
    /// Field 1.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `perftools.profiles.Function`.
#[derive(Clone, PartialEq, Message)]
pub struct PbFunction {
    /// Field 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Field 2.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Field 3.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Field 4.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// Field 5.
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

#[derive(Default)]
struct Strings {
    table: Vec<String>,
    ids: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Strings {
        let mut s = Strings::default();
        s.id("");
        s
    }

    fn id(&mut self, v: &str) -> i64 {
        if let Some(&i) = self.ids.get(v) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(v.to_string());
        self.ids.insert(v.to_string(), i);
        i
    }
}

/// The profile as a `profile.proto` message.
pub fn to_message(p: &Profile) -> PbProfile {
    let mut st = Strings::new();
    let vt = |st: &mut Strings, t: &str, u: &str| PbValueType {
        r#type: st.id(t),
        unit: st.id(u),
    };
    let (sample_type, period_type, period) = match p.kind {
        ProfileKind::Cpu => (
            vec![
                vt(&mut st, "samples", "count"),
                vt(&mut st, "cpu", "nanoseconds"),
            ],
            vt(&mut st, "cpu", "nanoseconds"),
            p.period_nanos,
        ),
        ProfileKind::OffCpu => (
            vec![vt(&mut st, "off_cpu", "nanoseconds")],
            vt(&mut st, "off_cpu", "nanoseconds"),
            1,
        ),
    };
    let default_sample_type = period_type.r#type;
    let pid_key = st.id("pid");
    let comm_key = st.id("comm");
    let sample = p
        .samples
        .iter()
        .map(|s| PbSample {
            location_id: s.locations.iter().map(|&l| u64::from(l) + 1).collect(),
            value: match p.kind {
                ProfileKind::Cpu => vec![s.value, s.value.saturating_mul(p.period_nanos)],
                ProfileKind::OffCpu => vec![s.value],
            },
            label: vec![
                PbLabel {
                    key: pid_key,
                    num: i64::from(s.pid),
                    ..PbLabel::default()
                },
                PbLabel {
                    key: comm_key,
                    str: st.id(&s.comm),
                    ..PbLabel::default()
                },
            ],
        })
        .collect();
    let mapping = p
        .mappings
        .iter()
        .enumerate()
        .map(|(i, m)| PbMapping {
            id: i as u64 + 1,
            memory_start: m.start,
            memory_limit: m.limit,
            file_offset: m.offset,
            filename: st.id(&m.filename),
            build_id: st.id(&m.build_id),
            // Every location has a function (a symbol or module+offset),
            // so pprof must not try to symbolize again.
            has_functions: true,
            has_filenames: false,
            has_line_numbers: false,
            has_inline_frames: false,
        })
        .collect();
    let location = p
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| PbLocation {
            id: i as u64 + 1,
            mapping_id: u64::from(l.mapping),
            address: l.address,
            line: vec![PbLine {
                function_id: u64::from(l.function) + 1,
                line: l.line,
            }],
            is_folded: false,
        })
        .collect();
    let function = p
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| PbFunction {
            id: i as u64 + 1,
            name: st.id(&f.name),
            system_name: st.id(&f.system_name),
            filename: st.id(&f.filename),
            start_line: 0,
        })
        .collect();
    let comment = p
        .labels
        .iter()
        .map(|(k, v)| st.id(&format!("{k}={v}")))
        .collect();
    let time_nanos = p
        .start
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    PbProfile {
        sample_type,
        sample,
        mapping,
        location,
        function,
        string_table: std::mem::take(&mut st.table),
        drop_frames: 0,
        keep_frames: 0,
        time_nanos,
        duration_nanos: p.duration.as_nanos() as i64,
        period_type: Some(period_type),
        period,
        comment,
        default_sample_type,
    }
}

/// The profile as a gzipped `profile.proto` (what pprof files hold).
pub fn encode_gzip(p: &Profile) -> Vec<u8> {
    let raw = to_message(p).encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 3 + 64),
        flate2::Compression::default(),
    );
    gz.write_all(&raw).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// Decodes a pprof file (gzipped or not).
pub fn decode(bytes: &[u8]) -> Result<PbProfile, ProfileError> {
    let raw;
    let data = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(1 << 30)
            .read_to_end(&mut out)
            .map_err(|e| ProfileError::Pprof(format!("bad gzip: {e}")))?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    PbProfile::decode(data).map_err(|e| ProfileError::Pprof(format!("bad profile.proto: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample_profile;

    #[test]
    fn round_trip_keeps_types_totals_and_tables() {
        let p = sample_profile();
        let bytes = encode_gzip(&p);
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
        let m = decode(&bytes).unwrap();
        let s = |i: i64| m.string_table[i as usize].as_str();
        assert_eq!(s(0), "");
        assert_eq!(m.sample_type.len(), 2);
        assert_eq!(
            (s(m.sample_type[0].r#type), s(m.sample_type[0].unit)),
            ("samples", "count")
        );
        assert_eq!(
            (s(m.sample_type[1].r#type), s(m.sample_type[1].unit)),
            ("cpu", "nanoseconds")
        );
        assert_eq!(s(m.default_sample_type), "cpu");
        assert_eq!(m.period, 10_309_278);
        let total: i64 = m.sample.iter().map(|x| x.value[0]).sum();
        assert_eq!(total, p.total());
        let ns: i64 = m.sample.iter().map(|x| x.value[1]).sum();
        assert_eq!(ns, p.total() * 10_309_278);
        assert_eq!(m.function.len(), 3);
        assert_eq!(m.location.len(), 3);
        assert_eq!(m.mapping.len(), 1);
        assert_eq!(s(m.mapping[0].build_id), "abcd");
        assert!(m.mapping[0].has_functions);
        // Every id referenced exists.
        for smp in &m.sample {
            for &l in &smp.location_id {
                assert!(m.location.iter().any(|x| x.id == l));
            }
        }
        assert_eq!(s(m.comment[0]), "service_name=svc");
        assert!(decode(b"\x1f\x8bnot gzip").is_err());
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
