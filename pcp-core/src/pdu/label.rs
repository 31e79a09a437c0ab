//! Label sets on the wire: compact JSON plus an index of (name, value)
//! offsets sorted by name, as libpcp's "JSONB" form.

use super::{WireLabel, WireLabelSet, PM_LABEL_OPTIONAL};
use crate::error::PmError;
use crate::labels::{LabelSet, MAX_LABELS, MAX_LABEL_JSON};

/// The wire form of `set` for instance `inst` (PM_IN_NULL except at the
/// instances level) at level `level` (`LabelLevel::code()`): JSON with the
/// labels sorted by name and no whitespace, each index entry flagged with
/// the level, plus [`PM_LABEL_OPTIONAL`] for optional labels.
///
/// Fails with `PM_ERR_TOOBIG` past PCP's limits (254 labels, 65534 bytes of
/// JSON, names under 255 bytes).
///
/// ```
/// use pcp_core::{pdu::labelset_to_wire, LabelSet, PM_IN_NULL};
/// let set = LabelSet::new().with("role", "testing").with("agent", "sample");
/// let w = labelset_to_wire(&set, PM_IN_NULL, 2).unwrap();
/// assert_eq!(w.json, br#"{"agent":"sample","role":"testing"}"#);
/// assert_eq!((w.labels[1].name, w.labels[1].namelen, w.labels[1].value), (19, 4, 25));
/// ```
pub fn labelset_to_wire(set: &LabelSet, inst: u32, level: u8) -> Result<WireLabelSet, PmError> {
    if set.len() > MAX_LABELS {
        return Err(PmError::TOOBIG);
    }
    let mut sorted: Vec<_> = set.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut json = Vec::with_capacity(16 * sorted.len() + 2);
    let mut labels = Vec::with_capacity(sorted.len());
    json.push(b'{');
    for (k, l) in sorted.into_iter().enumerate() {
        if k > 0 {
            json.push(b',');
        }
        // Label names are letters, digits and '_': no JSON escaping needed.
        json.push(b'"');
        let name = json.len();
        json.extend_from_slice(l.name.as_bytes());
        json.extend_from_slice(b"\":");
        let value = json.len();
        let text = l.value.to_string();
        json.extend_from_slice(text.as_bytes());
        if l.name.len() > 254 || json.len() > MAX_LABEL_JSON {
            return Err(PmError::TOOBIG);
        }
        labels.push(WireLabel {
            name: name as u16,
            namelen: l.name.len() as u8,
            flags: level | if l.optional { PM_LABEL_OPTIONAL } else { 0 },
            value: value as u16,
            valuelen: text.len() as u16,
        });
    }
    json.push(b'}');
    if json.len() > MAX_LABEL_JSON {
        return Err(PmError::TOOBIG);
    }
    if labels.is_empty() {
        json.clear();
    }
    Ok(WireLabelSet { inst, json, labels })
}

/// The crate's [`LabelSet`] for a wire set (optional flags kept); `None`
/// if the JSON is not an object.
pub fn labelset_from_wire(w: &WireLabelSet) -> Option<LabelSet> {
    if w.json.is_empty() {
        return Some(LabelSet::new());
    }
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&w.json).ok()?;
    let mut set = LabelSet::new();
    for (name, value) in map {
        let optional = w.labels.iter().any(|l| {
            l.flags & PM_LABEL_OPTIONAL != 0
                && w.json
                    .get(l.name as usize..l.name as usize + l.namelen as usize)
                    == Some(name.as_bytes())
        });
        if optional {
            set.insert_optional(&name, value);
        } else {
            set.insert(&name, value);
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PM_IN_NULL;

    #[test]
    fn empty_set_has_no_json() {
        let w = labelset_to_wire(&LabelSet::new(), 3, 32).unwrap();
        assert!(w.json.is_empty() && w.labels.is_empty());
        assert_eq!(w.inst, 3);
    }

    #[test]
    fn optional_labels_carry_0x80() {
        let mut s = LabelSet::new();
        s.insert("b", 1).insert_optional("a", "note");
        let w = labelset_to_wire(&s, PM_IN_NULL, 16).unwrap();
        assert_eq!(w.json, br#"{"a":"note","b":1}"#);
        assert_eq!(w.labels[0].flags, 0x90);
        assert_eq!(w.labels[1].flags, 0x10);
        let back = labelset_from_wire(&w).unwrap();
        assert!(back.get("a").unwrap().optional);
        assert!(!back.get("b").unwrap().optional);
    }

    #[test]
    fn oversized_sets_are_refused() {
        let mut s = LabelSet::new();
        s.insert("big", "x".repeat(70_000));
        assert_eq!(labelset_to_wire(&s, PM_IN_NULL, 2), Err(PmError::TOOBIG));
    }
}
