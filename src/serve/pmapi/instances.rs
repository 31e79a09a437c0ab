//! `/pmapi/indom`, `/pmapi/profile` and `/pmapi/store`: the requests that
//! name instances of a metric's instance domain.

use std::collections::HashSet;

use pcp_core::labels::LabelSet;
use pcp_core::{InDom, Instance, LabelTarget, PmError, Profile, TextKind, TextTarget, Value};
use serde_json::{json, Map, Value as Json};

use super::matching::{parse_match, NameMatcher};
use super::{
    instances_json, labels_json, parse_indom, parse_pmid, Answer, Api, ApiError, MAX_NAMES,
};
use crate::serve::query::Query;

impl Api<'_> {
    pub(super) fn lookup_indom_of(&self, ctx: u32, name: &str) -> Result<InDom, ApiError> {
        let pmid = self
            .host
            .lookup(name)
            .map_err(|_| ApiError::bad(Some(ctx), format!("{name} - failed to lookup metric")))?;
        let desc = self
            .host
            .desc(pmid)
            .map_err(|_| ApiError::bad(Some(ctx), format!("{name} - failed to lookup metric")))?;
        if desc.indom.is_null() {
            return Err(ApiError::bad(
                Some(ctx),
                format!("{name} - metric has null indom"),
            ));
        }
        Ok(desc.indom)
    }

    /// The instances of `indom` that the `instance=`/`iname=`/`match=`
    /// parameters select (all if none given).
    fn select_instances(
        &self,
        ctx: u32,
        q: &Query,
        all: Vec<Instance>,
    ) -> Result<Vec<Instance>, ApiError> {
        let m = parse_match(q, Some(ctx))?;
        let err = |e: crate::serve::query::QueryError| ApiError::bad(Some(ctx), e.to_string());
        if let Some(names) = q.list_verbatim("iname", MAX_NAMES).map_err(err)? {
            let matcher = NameMatcher::new(m, names, Some(ctx))?;
            return Ok(all
                .into_iter()
                .filter(|i| matcher.matches(&i.name))
                .collect());
        }
        if let Some(ids) = q.list("instance", MAX_NAMES).map_err(err)? {
            let ids: HashSet<u32> = ids.iter().filter_map(|s| s.trim().parse().ok()).collect();
            return Ok(all.into_iter().filter(|i| ids.contains(&i.id)).collect());
        }
        Ok(all)
    }

    pub(super) fn indom(&self, ctx: u32, q: &Query) -> Answer {
        let indom = if let Some(name) = q.get("name") {
            self.lookup_indom_of(ctx, name)?
        } else if let Some(id) = q.get("indom") {
            parse_indom(id)
                .ok_or_else(|| ApiError::bad(Some(ctx), format!("failed to lookup indom {id}")))?
        } else {
            return Err(ApiError::bad(Some(ctx), "bad indom parameters"));
        };
        let context_labels = self.host.context_labels().clone();
        let indom_labels = self
            .host
            .labels(indom.domain(), LabelTarget::InDom(indom))
            .unwrap_or_default();
        let merged = LabelSet::merge([&context_labels, &indom_labels]);
        let mut out = Map::new();
        out.insert("indom".into(), json!(indom.to_string()));
        out.insert("labels".into(), labels_json(&merged));
        if let Ok(oneline) = self.host.text(TextTarget::InDom(indom), TextKind::OneLine) {
            let help = self
                .host
                .text(TextTarget::InDom(indom), TextKind::Help)
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| oneline.clone());
            out.insert("text-oneline".into(), json!(oneline));
            out.insert("text-help".into(), json!(help));
        }
        let all = self.host.instances(indom).unwrap_or_default();
        let own = self.host.instance_labels(indom).unwrap_or_default();
        let selected = self.select_instances(ctx, q, all)?;
        out.insert("instances".into(), instances_json(&selected, &own, &merged));
        Ok(Json::Object(out))
    }

    pub(super) fn profile(&self, ctx: u32, q: &Query) -> Answer {
        let add = match q.get("expr") {
            Some("add") => true,
            Some("del") => false,
            Some(e) => {
                return Err(ApiError::bad(
                    None,
                    format!("{e} - invalid 'expr' parameter value"),
                ))
            }
            None => return Err(ApiError::bad(Some(ctx), "invalid profile parameters")),
        };
        let indom = if let Some(name) = q.get("name") {
            Some(self.lookup_indom_of(ctx, name)?)
        } else if let Some(id) = q.get("indom") {
            Some(
                parse_indom(id)
                    .ok_or_else(|| ApiError::bad(Some(ctx), "invalid profile parameters"))?,
            )
        } else {
            None
        };
        let Some(indom) = indom else {
            // The whole profile: add = every instance, del = none.
            self.contexts.edit_profile(ctx, |p| {
                *p = Profile::all();
                if !add {
                    p.global = pcp_core::indom::ProfileState::OnlyListed;
                }
            });
            return Ok(json!({ "success": true }));
        };
        let listed = q.has("iname") || q.has("instance");
        let ids: Vec<u32> = if listed {
            let all = self.host.instances(indom).unwrap_or_default();
            self.select_instances(ctx, q, all)?
                .iter()
                .map(|i| i.id)
                .collect()
        } else {
            Vec::new()
        };
        self.contexts
            .edit_profile(ctx, |p| apply_profile(p, indom, add, listed, &ids));
        Ok(json!({ "success": true }))
    }

    pub(super) fn store(&self, ctx: u32, q: &Query, body: &[u8]) -> Answer {
        if !self.allow_store {
            return Err(ApiError::bad(
                Some(ctx),
                "storing is disabled: start pcp-agent serve with --allow-store to permit /pmapi/store",
            )
            .with_status(403));
        }
        let (label, pmid) = if let Some(name) = q.get("name") {
            let p = self.host.lookup(name).map_err(|_| {
                ApiError::bad(Some(ctx), format!("{name} - failed to lookup metric"))
            })?;
            (name.to_string(), p)
        } else if let Some(id) = q.get("pmid") {
            let p = parse_pmid(id)
                .filter(|p| self.host.names_of(*p).is_ok())
                .ok_or_else(|| ApiError::bad(Some(ctx), format!("{id} - failed to lookup PMID")))?;
            (id.to_string(), p)
        } else {
            return Err(ApiError::bad(Some(ctx), "bad parameters passed"));
        };
        let text = match q.get("value") {
            Some(v) => v.to_string(),
            None => String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::bad(Some(ctx), "the store value is not UTF-8 text"))?,
        };
        let fail = |e: PmError| {
            ApiError::bad(
                Some(ctx),
                format!("failed to store value to metric {label}: {e}"),
            )
        };
        let desc = self.host.desc(pmid).map_err(fail)?;
        let value = Value::parse_as(&text, desc.ty).map_err(fail)?;
        let insts: Vec<u32> = if desc.indom.is_null() {
            vec![pcp_core::PM_IN_NULL]
        } else if q.has("iname") || q.has("instance") {
            let all = self.host.instances(desc.indom).map_err(fail)?;
            let picked = self.select_instances(ctx, q, all)?;
            if picked.is_empty() {
                return Err(fail(PmError::INST));
            }
            picked.iter().map(|i| i.id).collect()
        } else {
            vec![pcp_core::PM_IN_NULL]
        };
        let values: Vec<(u32, Value)> = insts.into_iter().map(|i| (i, value.clone())).collect();
        self.host.store(pmid, &values).map_err(fail)?;
        Ok(json!({ "success": true }))
    }
}

/// Edits `p` as pmAddProfile / pmDelProfile do for one instance domain.
fn apply_profile(p: &mut Profile, indom: InDom, add: bool, listed: bool, ids: &[u32]) {
    use pcp_core::indom::ProfileState::{AllExcept, OnlyListed};
    if !listed {
        p.indoms.insert(
            indom,
            (if add { AllExcept } else { OnlyListed }, Vec::new()),
        );
        return;
    }
    // A domain with no entry yet: adding a list means "only these",
    // deleting one means "all but these" (pmproxy 6.0.3 behaves so).
    let e = p
        .indoms
        .entry(indom)
        .or_insert((if add { OnlyListed } else { AllExcept }, Vec::new()));
    let grow = (e.0 == OnlyListed) == add;
    for &id in ids {
        if grow {
            if !e.1.contains(&id) {
                e.1.push(id);
            }
        } else {
            e.1.retain(|&x| x != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_follow_pmproxy() {
        use pcp_core::indom::ProfileState::*;
        let d = InDom::from_parts(60, 2);
        let mut p = Profile::all();
        apply_profile(&mut p, d, true, true, &[1]);
        assert!(p.wants(d, 1) && !p.wants(d, 5));
        apply_profile(&mut p, d, false, false, &[]);
        assert!(!p.wants(d, 1));
        apply_profile(&mut p, d, true, true, &[5]);
        apply_profile(&mut p, d, true, true, &[15]);
        assert_eq!(p.indoms[&d], (OnlyListed, vec![5, 15]));
        apply_profile(&mut p, d, false, true, &[5]);
        assert_eq!(p.indoms[&d], (OnlyListed, vec![15]));
        let mut q = Profile::all();
        apply_profile(&mut q, d, false, true, &[5]);
        assert!(q.wants(d, 1) && !q.wants(d, 5));
    }
}
