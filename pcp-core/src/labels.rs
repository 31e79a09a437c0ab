//! Label sets: JSON name/value pairs attached at PCP's levels
//! (context > domain > indom > cluster > item > instance).

use std::fmt;

use serde_json::Value as Json;

/// The level a label set is attached at, with PCP's `PM_LABEL_*` bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LabelLevel {
    /// The whole host (hostname, machineid): pmcd's own.
    Context = 1,
    /// An agent.
    Domain = 2,
    /// An instance domain.
    InDom = 4,
    /// A cluster of metrics.
    Cluster = 8,
    /// One metric.
    Item = 16,
    /// One instance of an instance domain.
    Instances = 32,
}

impl LabelLevel {
    /// The `PM_LABEL_*` code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The level for a `PM_LABEL_*` code (the optional bit is ignored).
    pub fn from_code(code: i32) -> Option<LabelLevel> {
        Some(match code & 0x3f {
            1 => LabelLevel::Context,
            2 => LabelLevel::Domain,
            4 => LabelLevel::InDom,
            8 => LabelLevel::Cluster,
            16 => LabelLevel::Item,
            32 => LabelLevel::Instances,
            _ => return None,
        })
    }
}

/// One label: a name, a JSON value, and whether it is an optional "note"
/// (`PM_LABEL_OPTIONAL`: shown, but not part of the metric's identity).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Name: a letter, then letters, digits and `_`.
    pub name: String,
    /// Any JSON value.
    pub value: Json,
    /// True for an optional label (a note).
    pub optional: bool,
}

/// A set of labels at one level. Names are unique; order of insertion is
/// kept (PCP keeps it in the JSON text), and lookups are by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSet {
    labels: Vec<Label>,
}

/// Maximum number of labels in one set (PCP's limit).
pub const MAX_LABELS: usize = 254;
/// Maximum JSON length of one set, in bytes.
pub const MAX_LABEL_JSON: usize = 65534;

/// Makes `raw` into a valid label name: the same rule as a namespace
/// component (a letter, then letters, digits and `_`), with an `l` in front
/// of a name that does not start with a letter.
pub fn sanitize_label_name(raw: &str) -> String {
    crate::namespace::sanitize_identifier(raw, 'l')
}

/// True if `name` is a valid PCP label name.
pub fn valid_label_name(name: &str) -> bool {
    crate::namespace::valid_component(name) && name.len() < 255
}

impl LabelSet {
    /// An empty set.
    pub fn new() -> LabelSet {
        LabelSet::default()
    }

    /// Adds (or replaces) a label. Invalid names are sanitised rather than
    /// rejected, so a label from an outside source never breaks a fetch.
    pub fn insert(&mut self, name: &str, value: impl Into<Json>) -> &mut Self {
        self.insert_label(name, value.into(), false)
    }

    /// Adds (or replaces) an optional label (a PCP "note").
    pub fn insert_optional(&mut self, name: &str, value: impl Into<Json>) -> &mut Self {
        self.insert_label(name, value.into(), true)
    }

    fn insert_label(&mut self, name: &str, value: Json, optional: bool) -> &mut Self {
        let name = if valid_label_name(name) {
            name.to_string()
        } else {
            sanitize_label_name(name)
        };
        let full = self.labels.len() >= MAX_LABELS;
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.value = value;
                l.optional = optional;
            }
            None if !full => self.labels.push(Label {
                name,
                value,
                optional,
            }),
            None => {}
        }
        self
    }

    /// Builder form of [`LabelSet::insert`].
    pub fn with(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.insert(name, value);
        self
    }

    /// The label called `name`.
    pub fn get(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name == name)
    }

    /// The labels in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The compact JSON object in insertion order, with every string
    /// escaped as JSON requires (quotes, backslashes, control characters).
    pub fn to_json(&self) -> String {
        self.json_in_order(self.labels.iter())
    }

    /// The compact JSON object with names sorted, as pminfo -l prints a
    /// merged set.
    pub fn to_sorted_json(&self) -> String {
        let mut v: Vec<&Label> = self.labels.iter().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        self.json_in_order(v.into_iter())
    }

    fn json_in_order<'a>(&self, labels: impl Iterator<Item = &'a Label>) -> String {
        let mut out = String::from("{");
        for (i, l) in labels.enumerate() {
            if i > 0 {
                out.push(',');
            }
            // serde_json escapes strings correctly and prints compactly.
            out.push_str(&Json::String(l.name.clone()).to_string());
            out.push(':');
            out.push_str(&l.value.to_string());
        }
        out.push('}');
        out
    }

    /// Parses a JSON object into a label set (nested objects are kept as
    /// JSON values). Fails on anything that is not an object.
    pub fn from_json(text: &str) -> Result<LabelSet, serde_json::Error> {
        let map: serde_json::Map<String, Json> = serde_json::from_str(text)?;
        let mut set = LabelSet::new();
        for (k, v) in map {
            set.insert(&k, v);
        }
        Ok(set)
    }

    /// Merges sets from lowest to highest precedence: a later set's label
    /// replaces an earlier one of the same name (PCP's hierarchy:
    /// context < domain < indom < cluster < item < instance).
    pub fn merge<'a>(sets: impl IntoIterator<Item = &'a LabelSet>) -> LabelSet {
        let mut out = LabelSet::new();
        for set in sets {
            for l in &set.labels {
                out.insert_label(&l.name, l.value.clone(), l.optional);
            }
        }
        out
    }
}

impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl FromIterator<(String, Json)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(iter: I) -> Self {
        let mut set = LabelSet::new();
        for (k, v) in iter {
            set.insert(&k, v);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_valid_json() {
        let mut s = LabelSet::new();
        s.insert("path", "C:\\dir \"quoted\"\n\ttab\u{1}");
        let json = s.to_json();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["path"], "C:\\dir \"quoted\"\n\ttab\u{1}");
    }

    #[test]
    fn merge_precedence_and_sorting() {
        let domain = LabelSet::new().with("agent", "linux").with("role", "a");
        let item = LabelSet::new().with("role", "b").with("device_type", "cpu");
        let merged = LabelSet::merge([&domain, &item]);
        assert_eq!(
            merged.to_sorted_json(),
            r#"{"agent":"linux","device_type":"cpu","role":"b"}"#
        );
    }

    #[test]
    fn names_are_sanitised() {
        let s = LabelSet::new().with("bad-name", 1).with("9x", true);
        assert!(s.get("bad_name").is_some());
        assert!(s.get("l9x").is_some());
        assert!(s.iter().all(|l| valid_label_name(&l.name)));
    }

    #[test]
    fn from_json_round_trip() {
        let s = LabelSet::from_json(r#"{"a":1,"b":"x","c":{"d":null}}"#).unwrap();
        assert_eq!(s.len(), 3);
        assert!(LabelSet::from_json("[1]").is_err());
    }
}
