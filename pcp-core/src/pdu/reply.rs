//! Reply PDUs built from the crate's model, the same way whoever answers:
//! the daemon-PMDA loop (to pmcd) and the pmcd server (to clients), so an
//! answer through our server is byte for byte what pmcd relays from our
//! agent.

use std::collections::HashMap;

use super::{
    labelset_to_wire, text, value_from_block, value_from_insitu, IdentReq, InstancePdu,
    InstanceReq, LabelPdu, TextPdu, VSetValues, WireLabelSet,
};
use crate::desc::Desc;
use crate::error::PmError;
use crate::id::{InDom, Pmid, PM_IN_NULL};
use crate::indom::{find_by_name, Instance};
use crate::labels::{LabelLevel, LabelSet};
use crate::pmda::{TextKind, TextTarget};
use crate::value::Value;

/// The PDU_INSTANCE answering `req` from the instance list, as
/// libpcp_pmda answers: every instance; the id of a name (an exact match,
/// or up to the first space); or the name of an id (sent with id
/// PM_IN_NULL, as libpcp_pmda does). An unknown name or id is
/// [`PmError::INST`].
pub fn instance_reply(list: Vec<Instance>, req: &InstanceReq) -> Result<InstancePdu, PmError> {
    let instances = if !req.name.is_empty() {
        let name = String::from_utf8_lossy(&req.name);
        match find_by_name(&list, &name) {
            Some(i) => vec![(i.id, Vec::new())],
            None => return Err(PmError::INST),
        }
    } else if req.inst != PM_IN_NULL {
        match list.iter().find(|i| i.id == req.inst) {
            Some(i) => vec![(PM_IN_NULL, i.name.as_bytes().to_vec())],
            None => return Err(PmError::INST),
        }
    } else {
        list.into_iter()
            .map(|i| (i.id, i.name.into_bytes()))
            .collect()
    };
    Ok(InstancePdu {
        indom: req.indom,
        instances,
    })
}

/// What a PDU_TEXT_REQ asks for.
pub fn text_request(r: IdentReq) -> (TextTarget, TextKind) {
    let target = if r.kind & text::INDOM != 0 {
        TextTarget::InDom(InDom::from_raw(r.ident))
    } else {
        TextTarget::Metric(Pmid::from_raw(r.ident))
    };
    let kind = if r.kind & text::HELP != 0 {
        TextKind::Help
    } else {
        TextKind::OneLine
    };
    (target, kind)
}

/// The PDU_TEXT for an agent's answer (the ident echoed). An agent's empty
/// text is an empty entry (pminfo: `<empty entry>`), as libpcp_pmda sends
/// it; missing text is the agent's error (usually [`PmError::TEXT`]).
pub fn text_reply(r: IdentReq, answer: Result<String, PmError>) -> Result<TextPdu, PmError> {
    answer.map(|t| TextPdu {
        ident: r.ident,
        text: t.into_bytes(),
    })
}

/// The PDU_LABEL for one set at a level other than the instances level:
/// no set at all when it is empty (as libpcp_pmda sends).
pub fn label_reply(r: IdentReq, level: LabelLevel, set: &LabelSet) -> Result<LabelPdu, PmError> {
    let mut sets = Vec::new();
    if !set.is_empty() {
        sets.push(labelset_to_wire(set, PM_IN_NULL, level.code())?);
    }
    Ok(LabelPdu {
        ident: r.ident,
        kind: r.kind,
        sets,
    })
}

/// The PDU_LABEL for the instances level: one set per listed instance that
/// `wanted` keeps, in list order, empty where the agent has no labels for
/// it (as libpcp_pmda does).
pub fn instance_labels_reply(
    r: IdentReq,
    list: &[Instance],
    labelled: Vec<(u32, LabelSet)>,
    wanted: impl Fn(u32) -> bool,
) -> Result<LabelPdu, PmError> {
    let labelled: HashMap<u32, LabelSet> = labelled.into_iter().collect();
    let empty = LabelSet::new();
    let sets: Result<Vec<WireLabelSet>, PmError> = list
        .iter()
        .filter(|i| wanted(i.id))
        .map(|i| {
            let set = labelled.get(&i.id).unwrap_or(&empty);
            labelset_to_wire(set, i.id, LabelLevel::Instances.code())
        })
        .collect();
    Ok(LabelPdu {
        ident: r.ident,
        kind: r.kind,
        sets: sets?,
    })
}

/// The values of one value set of a store request, typed by the metric's
/// descriptor (in-place words carry no type of their own; a block of
/// another type is converted, or refused with the conversion's error).
pub fn store_values(desc: &Desc, v: &VSetValues) -> Result<Vec<(u32, Value)>, PmError> {
    match v {
        VSetValues::Error(_) => Err(PmError::BADSTORE),
        VSetValues::Insitu(words) => words
            .iter()
            .map(|&(inst, w)| Ok((inst, value_from_insitu(w, desc.ty)?)))
            .collect(),
        VSetValues::Blocks { values, .. } => values
            .iter()
            .map(|(inst, b)| {
                let v = value_from_block(b)?;
                let v = if v.ty() == desc.ty {
                    v
                } else {
                    v.convert(desc.ty)?
                };
                Ok((*inst, v))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colours() -> Vec<Instance> {
        vec![
            Instance::new(0, "red"),
            Instance::new(1, "green light"),
            Instance::new(2, "blue"),
        ]
    }

    fn req(inst: u32, name: &str) -> InstanceReq {
        InstanceReq {
            indom: InDom::from_raw(0x3f40_0000),
            inst,
            name: name.as_bytes().to_vec(),
        }
    }

    #[test]
    fn instance_requests_answer_as_libpcp_pmda() {
        let all = instance_reply(colours(), &req(PM_IN_NULL, "")).unwrap();
        assert_eq!(all.instances.len(), 3);
        let by_name = instance_reply(colours(), &req(PM_IN_NULL, "green")).unwrap();
        assert_eq!(by_name.instances, vec![(1, Vec::new())]);
        let by_id = instance_reply(colours(), &req(2, "")).unwrap();
        assert_eq!(by_id.instances, vec![(PM_IN_NULL, b"blue".to_vec())]);
        assert_eq!(instance_reply(colours(), &req(9, "")), Err(PmError::INST));
        assert_eq!(
            instance_reply(colours(), &req(PM_IN_NULL, "green dark")),
            Err(PmError::INST)
        );
    }

    #[test]
    fn empty_help_is_no_text() {
        let r = IdentReq {
            ident: 7,
            kind: text::PMID | text::ONELINE,
        };
        assert_eq!(text_reply(r, Ok(String::new())).unwrap().text, b"");
        assert_eq!(text_reply(r, Err(PmError::TEXT)), Err(PmError::TEXT));
        assert_eq!(text_reply(r, Ok("x".into())).unwrap().ident, 7);
        assert_eq!(
            text_request(IdentReq { ident: 7, kind: 10 }),
            (TextTarget::InDom(InDom::from_raw(7)), TextKind::Help)
        );
    }

    #[test]
    fn instance_labels_follow_the_list_and_the_filter() {
        let r = IdentReq { ident: 5, kind: 32 };
        let labelled = vec![(2, LabelSet::new().with("shade", "dark"))];
        let l = instance_labels_reply(r, &colours(), labelled, |i| i != 1).unwrap();
        let insts: Vec<u32> = l.sets.iter().map(|s| s.inst).collect();
        assert_eq!(insts, vec![0, 2]);
        assert!(l.sets[0].json.is_empty());
        assert_eq!(l.sets[1].json, br#"{"shade":"dark"}"#);
    }
}
