//! From a decoded message to an [`Event`]: its type, and data given in the
//! generic form converted to [`MapData`].

use std::borrow::Cow;

use super::decode::{Data, Raw};
use super::{Bucket, Event, Json, MapData, ParseError, Scalar, Stats, TextKind};

fn shape(kind: &str, detail: impl Into<String>) -> ParseError {
    ParseError::Shape {
        kind: kind.to_string(),
        detail: detail.into(),
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

pub(super) fn convert(raw: Raw<'_>) -> Result<Event<'_>, ParseError> {
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

pub(super) fn hist_data(v: Json) -> Option<MapData<'static>> {
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
