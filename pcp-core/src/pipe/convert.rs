//! Between the crate's model and what a daemon PMDA sends and expects:
//! client attributes, fetched values, values to store.

use crate::desc::Desc;
use crate::error::PmError;
use crate::pdu::{
    attr, block_from_value, insitu_from_value, value_from_block, value_from_insitu, AttrPdu, Pdu,
    VSetValues, PM_VAL_DPTR,
};
use crate::pmda::{ClientContext, MetricResult};
use crate::value::Value;

/// The ATTR PDUs pmcd sends an agent for a client.
pub(super) fn attributes(client: &ClientContext) -> Vec<AttrPdu> {
    let text = |s: String| {
        let mut v = s.into_bytes();
        v.push(0);
        v
    };
    let mut out = Vec::new();
    if let Some(g) = client.group_id {
        out.push(AttrPdu {
            attr: attr::GROUPID,
            value: text(g.to_string()),
        });
    }
    if let Some(u) = client.user_id {
        out.push(AttrPdu {
            attr: attr::USERID,
            value: text(u.to_string()),
        });
    }
    if let Some(c) = &client.container {
        out.push(AttrPdu {
            attr: attr::CONTAINER,
            value: text(c.clone()),
        });
    }
    out
}

/// The values of a value set, typed by the metric's descriptor.
pub(super) fn values_of(desc: Option<&Desc>, v: VSetValues) -> MetricResult {
    match v {
        VSetValues::Error(c) => Err(PmError::from_code(c)),
        VSetValues::Insitu(words) => {
            let ty = desc.ok_or(PmError::PMID)?.ty;
            words
                .into_iter()
                .map(|(i, w)| Ok((i, value_from_insitu(w, ty)?)))
                .collect()
        }
        VSetValues::Blocks { values, .. } => values
            .into_iter()
            .map(|(i, b)| Ok((i, value_from_block(&b)?)))
            .collect(),
    }
}

pub(super) fn reply_error(p: Pdu) -> PmError {
    match p {
        Pdu::Error(e) => PmError::from_code(e.code),
        _ => PmError::IPC,
    }
}

/// The value set carrying `values` to store: in place when every value
/// is a 32-bit integer, in blocks otherwise.
pub(super) fn store_values(values: &[(u32, Value)]) -> VSetValues {
    if values.iter().all(|(_, v)| insitu_from_value(v).is_some()) {
        VSetValues::Insitu(
            values
                .iter()
                .map(|(i, v)| (*i, insitu_from_value(v).unwrap_or(0)))
                .collect(),
        )
    } else {
        VSetValues::Blocks {
            valfmt: PM_VAL_DPTR,
            values: values
                .iter()
                .map(|(i, v)| (*i, block_from_value(v)))
                .collect(),
        }
    }
}
