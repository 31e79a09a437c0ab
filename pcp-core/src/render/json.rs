//! JSON renderings, in the shapes PCP's pmproxy REST API uses
//! (`/pmapi/fetch`, `/pmapi/metric`), so tools written for pmproxy read them.

use serde_json::{json, Map, Value as Json};

use crate::desc::Desc;
use crate::host::FetchResult;
use crate::labels::LabelSet;
use crate::value::Value;

/// A value as JSON: numbers as numbers (a 32-bit float as its shortest
/// decimal, see [`super::number`]; non-finite floats as strings), strings
/// as strings, aggregates as hex.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::I32(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::Float(x) => float_json(super::number::f32_decimal(*x)),
        Value::Double(x) => float_json(*x),
        Value::String(s) => json!(s),
        Value::Aggregate(b) => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

fn float_json(x: f64) -> Json {
    serde_json::Number::from_f64(x)
        .map(Json::Number)
        .unwrap_or_else(|| json!(x.to_string()))
}

/// A fetch as pmproxy's `/pmapi/fetch` answers it:
/// `{"timestamp":S.NS,"values":[{"pmid":"60.2.0","name":"kernel.all.load",
/// "instances":[{"instance":1,"value":0.5}]}]}`. Singular metrics have
/// `"instance":null`; a metric that failed carries `"error"` instead.
pub fn fetch_json(names: &[String], result: &FetchResult) -> Json {
    let ts = result
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let values: Vec<Json> = result
        .values
        .iter()
        .zip(names)
        .map(|((pmid, r), name)| {
            let mut m = Map::new();
            m.insert("pmid".into(), json!(pmid.to_string()));
            m.insert("name".into(), json!(name));
            match r {
                Ok(list) => {
                    let insts: Vec<Json> = list
                        .iter()
                        .map(|(inst, v)| {
                            let id = if *inst == crate::PM_IN_NULL {
                                Json::Null
                            } else {
                                json!(inst)
                            };
                            json!({"instance": id, "value": value_json(v)})
                        })
                        .collect();
                    m.insert("instances".into(), Json::Array(insts));
                }
                Err(e) => {
                    m.insert("error".into(), json!(e.to_string()));
                    m.insert("instances".into(), json!([]));
                }
            }
            Json::Object(m)
        })
        .collect();
    json!({"timestamp": ts, "values": values})
}

/// A metric's metadata as pmproxy's `/pmapi/metric` lists it.
pub fn metric_json(name: &str, desc: &Desc, labels: &LabelSet, oneline: &str, help: &str) -> Json {
    let labels: Map<String, Json> = labels
        .iter()
        .filter(|l| l.name != "userid" && l.name != "groupid")
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("pmid".into(), json!(desc.pmid.to_string()));
    // pmproxy leaves "indom" out for a singular metric.
    if !desc.indom.is_null() {
        m.insert("indom".into(), json!(desc.indom.to_string()));
    }
    m.insert(
        "type".into(),
        json!(crate::render::openmetrics::type_name(desc.ty)),
    );
    m.insert("sem".into(), json!(desc.sem.name()));
    m.insert("units".into(), json!(desc.units.to_string()));
    m.insert("labels".into(), Json::Object(labels));
    m.insert("text-oneline".into(), json!(oneline));
    // As pmproxy: the long help falls back to the one-line text.
    m.insert(
        "text-help".into(),
        json!(if help.is_empty() { oneline } else { help }),
    );
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Pmid;
    use crate::PM_IN_NULL;

    #[test]
    fn fetch_shape_matches_pmproxy() {
        let r = FetchResult {
            timestamp: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500),
            values: vec![
                (
                    Pmid::from_parts(60, 2, 0),
                    Ok(vec![(1, Value::Float(0.5)), (5, Value::Float(0.06))]),
                ),
                (
                    Pmid::from_parts(60, 12, 0),
                    Ok(vec![(PM_IN_NULL, Value::String("6.1".into()))]),
                ),
                (Pmid::from_parts(60, 9, 9), Err(crate::PmError::PMID)),
            ],
            names_changed: false,
            labels_changed: false,
        };
        let j = fetch_json(
            &[
                "kernel.all.load".into(),
                "kernel.uname.release".into(),
                "x.y".into(),
            ],
            &r,
        );
        assert_eq!(j["timestamp"], 1.5);
        assert_eq!(
            j["values"][0]["instances"][0],
            json!({"instance": 1, "value": 0.5})
        );
        // A 32-bit float prints as its shortest decimal, not as the double
        // it widens to (0.05999999865889549).
        assert_eq!(
            serde_json::to_string(&j["values"][0]["instances"][1]).unwrap(),
            r#"{"instance":5,"value":0.06}"#
        );
        assert_eq!(j["values"][1]["instances"][0]["instance"], Json::Null);
        assert_eq!(j["values"][1]["instances"][0]["value"], "6.1");
        assert_eq!(
            j["values"][2]["error"],
            "Unknown or illegal metric identifier"
        );
    }
}
