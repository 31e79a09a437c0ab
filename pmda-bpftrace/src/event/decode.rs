//! One-pass decoding of a message: `map` and `hist` data decoded straight
//! into [`MapData`] with keys borrowed from the line, anything else kept
//! as [`Json`].

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::message::hist_data;
use super::{Json, MapData, Scalar};

/// The `data` member, decoded according to the `type` seen before it
/// (bpftrace always prints `type` first; otherwise the generic form is
/// kept and converted afterwards).
pub(super) enum Data<'a> {
    Maps(Vec<(String, MapData<'a>)>),
    Json(Json),
}

/// A whole message: one pass over the line, map data decoded straight into
/// [`MapData`] without an intermediate tree.
#[derive(Default)]
pub(super) struct Raw<'a> {
    pub(super) ty: Option<String>,
    pub(super) data: Option<Data<'a>>,
    pub(super) helper: Option<String>,
    pub(super) retcode: Option<i64>,
    pub(super) line: Option<u64>,
    pub(super) col: Option<u64>,
    // bpftrace <= 0.9.2 put these at the top level.
    pub(super) probes: Option<u64>,
    pub(super) msg: Option<String>,
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
