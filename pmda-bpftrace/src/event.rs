//! Parser of bpftrace's `-f json` output: one JSON object per line, each an
//! [`Event`]. Parsing is separate from I/O: [`parse_line`] takes bytes, so it
//! is tested on transcripts recorded from real bpftrace runs
//! (`tests/fixtures/*.jsonl`) and benchmarked without a process.
//!
//! Message types known to bpftrace 0.9 to 0.2x: `attached_probes`, `map`,
//! `hist`, `stats`, `value`, `printf`, `time`, `cat`, `join`, `syscall`,
//! `lost_events`, `helper_error`. Anything else is [`Event::Unknown`], which
//! the caller logs once per type and skips.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A JSON value, with object members kept in order (bpftrace's order) and
/// without the cost of a map per object.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    Str(String),
    /// An array (a tuple, a histogram).
    Array(Vec<Json>),
    /// An object (a keyed map, a record, stats).
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(i64::try_from(v).map_or(Json::UInt(v), Json::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Json::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Json::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl Json {
    fn as_i64(&self) -> Option<i64> {
        match *self {
            Json::Int(v) => Some(v),
            Json::UInt(v) => Some(v as i64),
            Json::Float(v) if v.is_finite() => Some(v as i64),
            _ => None,
        }
    }

    /// Renders the value as bpftrace's text output would: strings bare,
    /// tuples as `(a, b)`, records as `{ .f = v }`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        self.render_into(&mut s);
        s
    }

    fn render_into(&self, s: &mut String) {
        match self {
            Json::Null => s.push_str("null"),
            Json::Bool(b) => {
                let _ = write!(s, "{b}");
            }
            Json::Int(v) => {
                let _ = write!(s, "{v}");
            }
            Json::UInt(v) => {
                let _ = write!(s, "{v}");
            }
            Json::Float(v) => {
                let _ = write!(s, "{v}");
            }
            Json::Str(v) => s.push_str(v),
            Json::Array(items) => {
                s.push('(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    item.render_into(s);
                }
                s.push(')');
            }
            Json::Object(members) => {
                s.push_str("{ ");
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    let _ = write!(s, ".{k} = ");
                    v.render_into(s);
                }
                s.push_str(" }");
            }
        }
    }
}

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
    fn from_json(j: Json) -> Scalar {
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

    fn from_json(j: &Json) -> Option<Bucket> {
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
    fn from_members(members: &[(String, Json)]) -> Option<Stats> {
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

/// The data of one printed map.
#[derive(Debug, Clone, PartialEq)]
pub enum MapData<'a> {
    /// A map without keys.
    Scalar(Scalar),
    /// A keyed map: key text (bpftrace's rendering, borrowed from the line
    /// when it has no escapes) and value.
    Keyed(Vec<(Cow<'a, str>, Scalar)>),
    /// `hist()` / `lhist()` without keys.
    Hist(Vec<Bucket>),
    /// A keyed histogram.
    KeyedHist(Vec<(String, Vec<Bucket>)>),
    /// `stats()` without keys.
    Stats(Stats),
    /// A keyed `stats()`.
    KeyedStats(Vec<(String, Stats)>),
}

/// Which kind of text event produced output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// `printf()`.
    Printf,
    /// `time()`.
    Time,
    /// `cat()`.
    Cat,
    /// `join()`.
    Join,
    /// `system()`.
    Syscall,
    /// `print()` of a value that is not a map.
    Value,
}

/// One line of bpftrace's JSON output.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// The number of probes attached.
    AttachedProbes(u64),
    /// Maps printed (`map`, `hist` or `stats` message): name with `@`, data.
    Maps(Vec<(String, MapData<'a>)>),
    /// Text output.
    Text(TextKind, String),
    /// Events lost in the perf buffer.
    LostEvents(u64),
    /// A BPF helper failed (`-k`).
    HelperError {
        /// The helper.
        helper: String,
        /// Its return code.
        retcode: i64,
        /// Source line.
        line: u64,
        /// Source column.
        col: u64,
    },
    /// A message type this parser does not know: its type.
    Unknown(String),
}

impl Event<'_> {
    /// The event with nothing borrowed from the line.
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Maps(maps) => Event::Maps(
                maps.into_iter()
                    .map(|(n, d)| {
                        let d = match d {
                            MapData::Keyed(kv) => MapData::Keyed(
                                kv.into_iter()
                                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v))
                                    .collect(),
                            ),
                            MapData::Scalar(s) => MapData::Scalar(s),
                            MapData::Hist(b) => MapData::Hist(b),
                            MapData::KeyedHist(b) => MapData::KeyedHist(b),
                            MapData::Stats(s) => MapData::Stats(s),
                            MapData::KeyedStats(s) => MapData::KeyedStats(s),
                        };
                        (n, d)
                    })
                    .collect(),
            ),
            Event::AttachedProbes(n) => Event::AttachedProbes(n),
            Event::Text(k, t) => Event::Text(k, t),
            Event::LostEvents(n) => Event::LostEvents(n),
            Event::HelperError {
                helper,
                retcode,
                line,
                col,
            } => Event::HelperError {
                helper,
                retcode,
                line,
                col,
            },
            Event::Unknown(t) => Event::Unknown(t),
        }
    }
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON, or not an object with a string `type`.
    #[error("invalid JSON from bpftrace: {0}")]
    Json(String),
    /// JSON, but not shaped as the message type requires.
    #[error("unexpected {kind} message from bpftrace: {detail}")]
    Shape {
        /// The message type.
        kind: String,
        /// What was wrong.
        detail: String,
    },
}

/// The `data` member, decoded according to the `type` seen before it
/// (bpftrace always prints `type` first; otherwise the generic form is
/// kept and converted afterwards).
enum Data<'a> {
    Maps(Vec<(String, MapData<'a>)>),
    Json(Json),
}

/// A whole message: one pass over the line, map data decoded straight into
/// [`MapData`] without an intermediate tree.
#[derive(Default)]
struct Raw<'a> {
    ty: Option<String>,
    data: Option<Data<'a>>,
    helper: Option<String>,
    retcode: Option<i64>,
    line: Option<u64>,
    col: Option<u64>,
    // bpftrace <= 0.9.2 put these at the top level.
    probes: Option<u64>,
    msg: Option<String>,
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a bpftrace message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
                let mut raw = Raw::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "type" => raw.ty = Some(map.next_value()?),
                        "data" => {
                            raw.data = Some(match raw.ty.as_deref() {
                                Some("map") => {
                                    Data::Maps(map.next_value_seed(MapsSeed(Kind::Map))?)
                                }
                                Some("hist") => {
                                    Data::Maps(map.next_value_seed(MapsSeed(Kind::Hist))?)
                                }
                                _ => Data::Json(map.next_value()?),
                            })
                        }
                        "helper" => raw.helper = Some(map.next_value()?),
                        "retcode" => raw.retcode = Some(map.next_value()?),
                        "line" => raw.line = Some(map.next_value()?),
                        "col" => raw.col = Some(map.next_value()?),
                        "probes" => raw.probes = Some(map.next_value()?),
                        "msg" => raw.msg = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Map,
    Hist,
}

/// The `data` object of `map` and `hist` messages: map name to value.
struct MapsSeed(Kind);

impl<'de> DeserializeSeed<'de> for MapsSeed {
    type Value = Vec<(String, MapData<'de>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MapsSeed {
    type Value = Vec<(String, MapData<'de>)>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of maps")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(1);
        while let Some(name) = map.next_key::<String>()? {
            let data = match self.0 {
                Kind::Map => map.next_value_seed(MapValueSeed)?,
                Kind::Hist => map.next_value_seed(HistValueSeed)?,
            };
            out.push((name, data));
        }
        Ok(out)
    }
}

/// One map's value in a `map` message: a scalar, a tuple/record, or an
/// object of key to value.
struct MapValueSeed;

impl<'de> DeserializeSeed<'de> for MapValueSeed {
    type Value = MapData<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MapData<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MapValueSeed {
    type Value = MapData<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Int(v as i64)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(
            i64::try_from(v).map_or(Scalar::UInt(v), Scalar::Int),
        ))
    }
    fn visit_f64<E>(self, v: f64) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Str(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Str(v)))
    }
    fn visit_unit<E>(self) -> Result<MapData<'de>, E> {
        Ok(MapData::Scalar(Scalar::Text("null".into())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MapData<'de>, A::Error> {
        let tuple = Json::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(MapData::Scalar(Scalar::Text(tuple.render())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MapData<'de>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let v = map.next_value_seed(ScalarSeed)?;
            out.push((k, v));
        }
        Ok(MapData::Keyed(out))
    }
}

/// A map key, borrowed from the input when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A keyed map's value.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Int(v as i64))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::UInt(v), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Text("null".into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
        let v = Json::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Scalar::Text(v.render()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
        let v = Json::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Scalar::Text(v.render()))
    }
}

/// One map's value in a `hist` message: buckets, or key to buckets.
struct HistValueSeed;

impl<'de> DeserializeSeed<'de> for HistValueSeed {
    type Value = MapData<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MapData<'de>, D::Error> {
        let v = Json::deserialize(d)?;
        hist_data(v).ok_or_else(|| serde::de::Error::custom("bad histogram buckets"))
    }
}

fn shape(kind: &str, detail: impl Into<String>) -> ParseError {
    ParseError::Shape {
        kind: kind.to_string(),
        detail: detail.into(),
    }
}

/// Parses one output line. Blank lines (bpftrace prints some at exit) give
/// `Ok(None)`. Invalid UTF-8 inside strings (a `comm` or `str()` with odd
/// bytes) is replaced rather than failing the line.
pub fn parse_line(line: &[u8]) -> Result<Option<Event<'_>>, ParseError> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match serde_json::from_slice::<Raw<'_>>(trimmed) {
        Ok(raw) => convert(raw).map(Some),
        Err(e) if std::str::from_utf8(trimmed).is_err() => {
            let text = String::from_utf8_lossy(trimmed);
            let raw: Raw<'_> =
                serde_json::from_str(&text).map_err(|_| ParseError::Json(e.to_string()))?;
            convert(raw).map(|ev| Some(ev.into_owned()))
        }
        Err(e) => Err(ParseError::Json(e.to_string())),
    }
}

fn json_data(ty: &str, data: Option<Data<'_>>) -> Result<Json, ParseError> {
    match data {
        Some(Data::Json(j)) => Ok(j),
        Some(Data::Maps(_)) => Err(shape(ty, "unexpected map data")),
        None => Err(shape(ty, "no data")),
    }
}

fn member(ty: &str, j: &Json, name: &str) -> Result<u64, ParseError> {
    match j {
        Json::Object(m) => m
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_i64())
            .map(|v| v.max(0) as u64)
            .ok_or_else(|| shape(ty, format!("no {name}"))),
        _ => Err(shape(ty, "data is not an object")),
    }
}

fn convert(raw: Raw<'_>) -> Result<Event<'_>, ParseError> {
    let Some(ty) = raw.ty else {
        return Err(ParseError::Json("no message type".into()));
    };
    let ty = ty.as_str();
    Ok(match ty {
        "attached_probes" => {
            if let Some(p) = raw.probes {
                return Ok(Event::AttachedProbes(p));
            }
            Event::AttachedProbes(member(ty, &json_data(ty, raw.data)?, "probes")?)
        }
        "lost_events" => Event::LostEvents(member(ty, &json_data(ty, raw.data)?, "events")?),
        "printf" | "time" | "cat" | "join" | "syscall" => {
            let kind = match ty {
                "printf" => TextKind::Printf,
                "time" => TextKind::Time,
                "cat" => TextKind::Cat,
                "join" => TextKind::Join,
                _ => TextKind::Syscall,
            };
            let mut text = match (raw.data, raw.msg) {
                (Some(d), _) => match json_data(ty, Some(d))? {
                    Json::Str(s) => s,
                    other => other.render(),
                },
                (None, Some(m)) => m,
                (None, None) => return Err(shape(ty, "no data")),
            };
            // join() ends its line in text mode; keep the text identical.
            if kind == TextKind::Join {
                text.push('\n');
            }
            Event::Text(kind, text)
        }
        "value" => {
            let mut text = json_data(ty, raw.data)?.render();
            text.push('\n');
            Event::Text(TextKind::Value, text)
        }
        "map" | "hist" | "stats" => match raw.data {
            Some(Data::Maps(m)) => Event::Maps(m),
            other => {
                let Json::Object(members) = json_data(ty, other)? else {
                    return Err(shape(ty, "data is not an object"));
                };
                let mut maps = Vec::with_capacity(members.len());
                for (name, value) in members {
                    let d = match ty {
                        "map" => map_data(value),
                        "hist" => hist_data(value)
                            .ok_or_else(|| shape(ty, format!("{name}: bad buckets")))?,
                        _ => stats_data(value),
                    };
                    maps.push((name, d));
                }
                Event::Maps(maps)
            }
        },
        "helper_error" => Event::HelperError {
            helper: raw.helper.unwrap_or_default(),
            retcode: raw.retcode.unwrap_or(0),
            line: raw.line.unwrap_or(0),
            col: raw.col.unwrap_or(0),
        },
        other => Event::Unknown(other.to_string()),
    })
}

fn map_data(v: Json) -> MapData<'static> {
    match v {
        Json::Object(members) => MapData::Keyed(
            members
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Scalar::from_json(v)))
                .collect(),
        ),
        other => MapData::Scalar(Scalar::from_json(other)),
    }
}

fn buckets(v: &[Json]) -> Option<Vec<Bucket>> {
    v.iter().map(Bucket::from_json).collect()
}

fn hist_data(v: Json) -> Option<MapData<'static>> {
    match v {
        Json::Array(items) => Some(MapData::Hist(buckets(&items)?)),
        Json::Object(members) => {
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                let Json::Array(items) = v else {
                    return None;
                };
                out.push((k, buckets(&items)?));
            }
            Some(MapData::KeyedHist(out))
        }
        _ => None,
    }
}

/// `stats` messages carry both `stats()` (objects of count/average/total)
/// and `avg()` (plain numbers).
fn stats_data(v: Json) -> MapData<'static> {
    match v {
        Json::Object(members) => {
            if let Some(s) = Stats::from_members(&members) {
                return MapData::Stats(s);
            }
            if members.iter().all(|(_, v)| matches!(v, Json::Object(_))) && !members.is_empty() {
                let mut out = Vec::with_capacity(members.len());
                let mut ok = true;
                for (k, v) in &members {
                    match v {
                        Json::Object(m) => match Stats::from_members(m) {
                            Some(s) => out.push((k.clone(), s)),
                            None => ok = false,
                        },
                        _ => ok = false,
                    }
                }
                if ok {
                    return MapData::KeyedStats(out);
                }
            }
            map_data(Json::Object(members))
        }
        other => MapData::Scalar(Scalar::from_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Event<'_> {
        parse_line(line.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn probes_and_text() {
        assert_eq!(
            one(r#"{"type": "attached_probes", "data": {"probes": 3}}"#),
            Event::AttachedProbes(3)
        );
        assert_eq!(
            one(r#"{"type": "attached_probes", "probes": 2}"#),
            Event::AttachedProbes(2),
            "bpftrace 0.9.2 layout"
        );
        assert_eq!(
            one(r#"{"type": "printf", "data": "a\tb\n"}"#),
            Event::Text(TextKind::Printf, "a\tb\n".into())
        );
        assert_eq!(
            one(r#"{"type": "value", "data": [1,"b"]}"#),
            Event::Text(TextKind::Value, "(1, b)\n".into())
        );
        assert_eq!(
            one(r#"{"type": "lost_events", "data": {"events": 12}}"#),
            Event::LostEvents(12)
        );
        assert_eq!(parse_line(b"   \n").unwrap(), None);
        assert_eq!(
            one(r#"{"type": "benchmark", "data": 1}"#),
            Event::Unknown("benchmark".into())
        );
    }

    #[test]
    fn maps_of_every_shape() {
        assert_eq!(
            one(r#"{"type": "map", "data": {"@neg": -3}}"#),
            Event::Maps(vec![("@neg".into(), MapData::Scalar(Scalar::Int(-3)))])
        );
        assert_eq!(
            one(r#"{"type": "map", "data": {"@k": {"1": 10, "a\"b": "x"}}}"#),
            Event::Maps(vec![(
                "@k".into(),
                MapData::Keyed(vec![
                    ("1".into(), Scalar::Int(10)),
                    ("a\"b".into(), Scalar::Str("x".into()))
                ])
            )])
        );
        assert_eq!(
            one(r#"{"type": "map", "data": {"@t": [1,"a"]}}"#),
            Event::Maps(vec![(
                "@t".into(),
                MapData::Scalar(Scalar::Text("(1, a)".into()))
            )])
        );
        assert_eq!(
            one(r#"{"type": "map", "data": {"@u": 18446744073709551615}}"#),
            Event::Maps(vec![("@u".into(), MapData::Scalar(Scalar::UInt(u64::MAX)))])
        );
    }

    #[test]
    fn histograms_and_stats() {
        let e = one(
            r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 2}, {"min": 1024, "count": 3}]}}"#,
        );
        let Event::Maps(m) = e else { panic!() };
        let MapData::Hist(b) = &m[0].1 else { panic!() };
        let names: Vec<String> = b.iter().map(Bucket::name).collect();
        assert_eq!(names, ["-inf--1", "0-0", "1024-inf"]);
        assert!(b[0].order() < b[1].order());
        let e =
            one(r#"{"type": "hist", "data": {"@kh": {"1": [{"min": 2, "max": 3, "count": 1}]}}}"#);
        assert!(
            matches!(&e, Event::Maps(m) if matches!(&m[0].1, MapData::KeyedHist(k) if k[0].0 == "1"))
        );
        assert_eq!(
            one(r#"{"type": "stats", "data": {"@st": {"count": 2, "average": 15, "total": 30}}}"#),
            Event::Maps(vec![(
                "@st".into(),
                MapData::Stats(Stats {
                    count: 2,
                    average: 15,
                    total: 30
                })
            )])
        );
        assert_eq!(
            one(r#"{"type": "stats", "data": {"@av": 10}}"#),
            Event::Maps(vec![("@av".into(), MapData::Scalar(Scalar::Int(10)))])
        );
        assert!(matches!(
            one(r#"{"type": "stats", "data": {"@k": {"x": {"count": 1, "average": 3, "total": 3}}}}"#),
            Event::Maps(m) if matches!(&m[0].1, MapData::KeyedStats(_))
        ));
        assert!(matches!(
            one(r#"{"type": "stats", "data": {"@avk": {"x": 3, "y": 4}}}"#),
            Event::Maps(m) if matches!(&m[0].1, MapData::Keyed(_))
        ));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            &b"{"[..],
            b"[1,2]",
            b"{\"data\": 1}",
            b"{\"type\": \"map\", \"data\": 5}",
            b"{\"type\": \"hist\", \"data\": {\"@h\": 5}}",
            b"{\"type\": \"attached_probes\"}",
            b"\xff\xfe",
        ] {
            assert!(
                parse_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Invalid UTF-8 inside a string is replaced, not fatal.
        let e = parse_line(b"{\"type\": \"map\", \"data\": {\"@c\": {\"ab\xffc\": 1}}}").unwrap();
        assert!(matches!(e, Some(Event::Maps(_))));
    }
}
