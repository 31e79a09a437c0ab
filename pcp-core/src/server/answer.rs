//! The answers to a client's requests, over the [`Host`] and as the
//! client: what pmcd 6.0.3 answers in `dopdus.c`, `dofetch.c` and
//! `dostore.c`, with the same error codes where a domain has no agent
//! (PM_ERR_PMID for descriptors, help and metric labels, PM_ERR_INDOM for
//! instances, PM_ERR_NOAGENT for domain labels, names and values).

use std::time::UNIX_EPOCH;

use crate::error::PmError;
use crate::host::Host;
use crate::id::Pmid;
use crate::labels::LabelLevel;
use crate::pdu::{
    reply, DescPdu, FetchPdu, IdentReq, InstanceReq, LabelPdu, Pdu, PmnsIdsPdu, PmnsNamePdu,
    ResultPdu, MAX_BLOCK_PAYLOAD, PMCD_LABEL_CHANGE, PMCD_NAMES_CHANGE,
};
use crate::pmda::LabelTarget;
use crate::InDom;

use super::session::{Outcome, Session};

/// PM_ID_NULL: a failed entry of a PMID or descriptor list.
const PM_ID_NULL: u32 = u32::MAX;

/// `e`, or `instead` when no agent is loaded at `domain` (pmcd's answer
/// for an identifier of an unknown domain). A loaded agent that is down
/// (a pipe agent that exited) stays PM_ERR_NOAGENT, as pmcd says it.
fn no_agent_as(host: &Host, domain: u32, e: PmError, instead: PmError) -> PmError {
    if e == PmError::NOAGENT && !host.has_agent(domain) {
        instead
    } else {
        e
    }
}

/// True when every value fits one value block (the host's answers obey
/// every other rule already).
fn fits_a_block(v: &crate::pmda::InstValues) -> bool {
    v.iter().all(|(_, x)| match x {
        crate::Value::String(s) => s.len() < MAX_BLOCK_PAYLOAD,
        crate::Value::Aggregate(b) => b.len() <= MAX_BLOCK_PAYLOAD,
        _ => true,
    })
}

impl Session {
    /// FETCH and HIGHRES_FETCH: the values under the profile of the
    /// request's context (PM_ERR_NOPROFILE without one, as pmcd), preceded
    /// by a state-change PDU when names or labels changed since this client
    /// last fetched.
    pub(super) fn fetch(&mut self, f: &FetchPdu, highres: bool) -> Outcome {
        let Some(profile) = self.profiles.get(&f.ctx) else {
            return self.error(PmError::NOPROFILE);
        };
        self.state.refresh_names_if_due(&self.host);
        let mut result = self.host.fetch_as(&self.client, &f.pmids, profile);
        for (_, r) in result.values.iter_mut() {
            if let Ok(v) = r {
                if !fits_a_block(v) {
                    *r = Err(PmError::TOOBIG);
                }
            }
        }
        let changes = self.changes();
        if changes != 0 {
            // A positive "error": the state-change notice clients apply
            // before reading the result.
            self.enc.error(changes, &mut self.out);
        }
        let stamp = result
            .timestamp
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if highres {
            let (sec, nsec) = (stamp.as_secs() as i64, i64::from(stamp.subsec_nanos()));
            self.enc
                .highres_result(sec, nsec, &result.values, &mut self.out);
        } else {
            let (sec, usec) = (stamp.as_secs() as i32, stamp.subsec_micros() as i32);
            self.enc
                .client_result(sec, usec, &result.values, &mut self.out);
        }
        Outcome::Reply
    }

    /// Names or labels changed since this client was last told.
    fn changes(&mut self) -> i32 {
        let now = (
            self.host.names_generation(),
            self.host.metadata_generation(),
        );
        let names = now.0.wrapping_sub(self.seen.0);
        let all = now.1.wrapping_sub(self.seen.1);
        self.seen = now;
        let mut flags = 0;
        if names > 0 {
            flags |= PMCD_NAMES_CHANGE;
        }
        if all > names {
            flags |= PMCD_LABEL_CHANGE;
        }
        flags
    }

    pub(super) fn desc(&mut self, pmid: Pmid) -> Outcome {
        match self.host.desc(pmid) {
            Ok(d) => self.send(&Pdu::Desc(DescPdu::from(&d))),
            Err(e) => self.error(no_agent_as(&self.host, pmid.domain(), e, PmError::PMID)),
        }
    }

    /// DESC_IDS: one descriptor per PMID; with more than one, a failed
    /// one is sent as PM_ID_NULL and zeroes (as pmcd), with one, its error.
    pub(super) fn descs(&mut self, pmids: &[Pmid]) -> Outcome {
        let mut descs = Vec::with_capacity(pmids.len());
        for &pmid in pmids {
            match self.host.desc(pmid) {
                Ok(d) => descs.push(DescPdu::from(&d)),
                Err(e) if pmids.len() == 1 => {
                    return self.error(no_agent_as(&self.host, pmid.domain(), e, PmError::PMID))
                }
                Err(_) => descs.push(DescPdu {
                    pmid: Pmid::from_raw(PM_ID_NULL),
                    ty: 0,
                    indom: InDom::from_raw(0),
                    sem: 0,
                    units: 0,
                }),
            }
        }
        self.send(&Pdu::Descs(descs))
    }

    pub(super) fn instance(&mut self, r: &InstanceReq) -> Outcome {
        let answer = self
            .host
            .instances_as(&self.client, r.indom)
            .map_err(|e| no_agent_as(&self.host, r.indom.domain(), e, PmError::INDOM))
            .and_then(|list| reply::instance_reply(list, r));
        match answer {
            Ok(p) => self.send(&Pdu::Instance(p)),
            Err(e) => self.error(e),
        }
    }

    pub(super) fn text(&mut self, r: IdentReq) -> Outcome {
        let (target, kind) = reply::text_request(r);
        let answer = self.host.text_as(&self.client, target, kind).map_err(|e| {
            let domain = match target {
                crate::pmda::TextTarget::Metric(p) => p.domain(),
                crate::pmda::TextTarget::InDom(i) => i.domain(),
            };
            no_agent_as(&self.host, domain, e, PmError::PMID)
        });
        match reply::text_reply(r, answer) {
            Ok(t) => self.send(&Pdu::Text(t)),
            Err(e) => self.error(e),
        }
    }

    pub(super) fn label(&mut self, r: IdentReq) -> Outcome {
        let level = LabelLevel::from_code(r.kind).filter(|l| i32::from(l.code()) == r.kind);
        let answer = match level {
            None => Err(PmError::TYPE),
            Some(LabelLevel::Context) => {
                let set = self.host.context_labels_for(&self.client);
                reply::label_reply(r, LabelLevel::Context, &set)
            }
            Some(LabelLevel::Instances) => self.instance_labels(r),
            Some(level) => {
                let (domain, target, missing) = match level {
                    LabelLevel::Domain => (r.ident, LabelTarget::Domain, PmError::NOAGENT),
                    LabelLevel::InDom => {
                        let indom = InDom::from_raw(r.ident);
                        (indom.domain(), LabelTarget::InDom(indom), PmError::INDOM)
                    }
                    LabelLevel::Cluster => {
                        let pmid = Pmid::from_raw(r.ident);
                        (
                            pmid.domain(),
                            LabelTarget::Cluster(pmid.cluster()),
                            PmError::PMID,
                        )
                    }
                    _ => {
                        let pmid = Pmid::from_raw(r.ident);
                        (pmid.domain(), LabelTarget::Item(pmid), PmError::PMID)
                    }
                };
                self.host
                    .labels_as(&self.client, domain, target)
                    .map_err(|e| no_agent_as(&self.host, domain, e, missing))
                    .and_then(|set| reply::label_reply(r, level, &set))
            }
        };
        match answer {
            Ok(l) => self.send(&Pdu::Label(l)),
            Err(e) => self.error(e),
        }
    }

    /// One set per current instance (every instance: pmcd looks the
    /// profile up by the client's slot rather than its context, which in
    /// practice finds none and means all).
    fn instance_labels(&mut self, r: IdentReq) -> Result<LabelPdu, PmError> {
        let indom = InDom::from_raw(r.ident);
        let missing = |e| no_agent_as(&self.host, indom.domain(), e, PmError::INDOM);
        let list = self
            .host
            .instances_as(&self.client, indom)
            .map_err(missing)?;
        let labelled = self
            .host
            .instance_labels_as(&self.client, indom)
            .map_err(missing)?;
        reply::instance_labels_reply(r, &list, labelled, |_| true)
    }

    /// PMNS_NAMES: a PMID per name (PM_ID_NULL where unknown) and the
    /// number found; a single unknown name is its error.
    pub(super) fn name_to_pmid(&mut self, names: &[Vec<u8>]) -> Outcome {
        if names.is_empty() {
            return self.error(PmError::TOOSMALL);
        }
        let mut pmids = Vec::with_capacity(names.len());
        let mut found = 0;
        let mut first_error = None;
        for name in names {
            match self.host.lookup(&String::from_utf8_lossy(name)) {
                Ok(p) => {
                    pmids.push(p);
                    found += 1;
                }
                Err(e) => {
                    pmids.push(Pmid::from_raw(PM_ID_NULL));
                    first_error.get_or_insert(e);
                }
            }
        }
        if names.len() == 1 && found == 0 {
            return self.error(first_error.unwrap_or(PmError::NAME));
        }
        self.send(&Pdu::PmnsIds(PmnsIdsPdu {
            status: found,
            pmids,
        }))
    }

    /// PMNS_IDS: every name of the (first) PMID.
    pub(super) fn pmid_to_names(&mut self, pmids: &[Pmid]) -> Outcome {
        let Some(&pmid) = pmids.first() else {
            return self.error(PmError::PMID);
        };
        let names = match self.host.names_of(pmid) {
            Ok(n) => Ok(n),
            Err(_) => {
                self.host.refresh_names();
                self.host.names_of(pmid)
            }
        };
        match names {
            Ok(names) => {
                self.enc
                    .names(names.iter().map(String::as_str), None, &mut self.out);
                Outcome::Reply
            }
            Err(e) => {
                let known = self.host.has_agent(pmid.domain());
                self.error(if known { e } else { PmError::NOAGENT })
            }
        }
    }

    /// PMNS_CHILD: the children's names, with a status each (1 for a
    /// non-leaf) when subtype 1 asks for them.
    pub(super) fn children(&mut self, c: &PmnsNamePdu) -> Outcome {
        match self.host.children(&String::from_utf8_lossy(&c.name)) {
            Ok(kids) => {
                self.enc.children(&kids, c.subtype == 1, &mut self.out);
                Outcome::Reply
            }
            Err(e) => self.error(e),
        }
    }

    /// PMNS_TRAVERSE: the full names of every leaf at or below the name.
    pub(super) fn traverse(&mut self, t: &PmnsNamePdu) -> Outcome {
        match self.host.traverse(&String::from_utf8_lossy(&t.name)) {
            Ok(leaves) => {
                self.enc
                    .names(leaves.iter().map(|(n, _)| n.as_str()), None, &mut self.out);
                Outcome::Reply
            }
            Err(e) => self.error(e),
        }
    }

    /// RESULT: stores each value set, as the client. As pmcd hands each
    /// agent its sets in one request and an agent stops at its first
    /// failure, a domain's later sets are skipped once one fails; a set for
    /// a domain with no agent makes the answer PM_ERR_NOAGENT.
    pub(super) fn store(&mut self, r: &ResultPdu) -> Outcome {
        let mut status = 0;
        let mut no_agent = false;
        let mut failed: Vec<u32> = Vec::new();
        for vs in &r.vsets {
            let domain = vs.pmid.domain();
            if failed.contains(&domain) {
                continue;
            }
            let stored = self
                .host
                .desc(vs.pmid)
                .and_then(|d| reply::store_values(&d, &vs.values))
                .and_then(|values| self.host.store_as(&self.client, vs.pmid, &values));
            match stored {
                Ok(()) => {}
                Err(PmError::NOAGENT) => no_agent = true,
                Err(e) => {
                    status = e.code();
                    failed.push(domain);
                }
            }
        }
        if no_agent && status != PmError::IPC.code() && status != PmError::TIMEOUT.code() {
            status = PmError::NOAGENT.code();
        }
        self.enc.error(status, &mut self.out);
        Outcome::Reply
    }
}
