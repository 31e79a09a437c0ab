//! [`AtDomain`]: any agent served at another domain number, as PCP's
//! libpcp_pmda does for every PMDA started with `-d DOMAIN` (pmdaInit
//! rewrites the domain of each PMID and instance domain in the agent's
//! tables).
//!
//! The wrapped agent keeps working in its own domain; the wrapper maps its
//! domain to the configured one in every answer (names, PMIDs,
//! descriptors, instance domains) and back in every request (fetch
//! PMIDs, the profile's instance domains, help and label targets, store),
//! so pmcd and the host see only the configured domain. Identifiers of
//! another domain are refused with the error the agent would give for an
//! unknown one (`PM_ERR_PMID`, `PM_ERR_INDOM`, `PM_ERR_TEXT`), never passed
//! through to the agent.
//!
//! ```
//! use pcp_core::agent::{Agent, MetricDef, Sink, TablePmda};
//! use pcp_core::{AtDomain, Host, PmError, Pmda, PM_IN_NULL, Value};
//!
//! pcp_core::metrics! { enum M { Answer = MetricDef::u32("demo.answer", 0, 0).oneline("42") } }
//! #[derive(Debug)]
//! struct Demo;
//! impl Agent for Demo {
//!     type Metric = M;
//!     fn value(&mut self, _: M, out: &mut Sink<'_>) -> Result<(), PmError> {
//!         out.set(42u32);
//!         Ok(())
//!     }
//! }
//! let agent = TablePmda::new("demo", 400, Demo).unwrap();
//! let moved = AtDomain::new(Box::new(agent), 498).unwrap();
//! assert_eq!(moved.domain(), 498);
//! let mut host = Host::new();
//! host.load(Box::new(moved)).unwrap();
//! let pmid = host.lookup("demo.answer").unwrap();
//! assert_eq!(pmid.to_string(), "498.0.0");
//! assert_eq!(host.fetch(&[pmid]).values[0].1, Ok(vec![(PM_IN_NULL, Value::U32(42))]));
//! ```

use std::collections::HashMap;

use crate::desc::Desc;
use crate::error::{NamespaceError, PmError};
use crate::id::{InDom, Pmid, MAX_DOMAIN};
use crate::indom::{Instance, Profile};
use crate::labels::LabelSet;
use crate::namespace::Namespace;
use crate::pmda::{
    ClientContext, FetchRequest, LabelTarget, MetricResult, Pmda, TextKind, TextTarget,
};
use crate::value::Value;

/// Why an agent cannot be moved to a domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtDomainError {
    /// The domain is not one an agent may have (1..=510).
    #[error("domain {0} out of range 1..={MAX_DOMAIN}")]
    OutOfRange(u32),
    /// The agent's names could not be renumbered (a name the agent gives
    /// twice, or a name that is both a leaf and a subtree).
    #[error("agent {agent}: its names cannot be renumbered: {source}")]
    Names {
        /// The agent.
        agent: String,
        /// What the namespace refused.
        source: NamespaceError,
    },
}

/// An agent served at `domain` instead of its own (see the module docs).
pub struct AtDomain<P: Pmda + ?Sized> {
    inner: Box<P>,
    /// The domain the agent itself uses.
    own: u32,
    /// The domain it is served at.
    domain: u32,
    /// The agent's names with PMIDs in `domain`.
    names: Namespace,
}

impl<P: Pmda + ?Sized> std::fmt::Debug for AtDomain<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtDomain")
            .field("agent", &self.inner.name())
            .field("own_domain", &self.own)
            .field("domain", &self.domain)
            .field("names", &self.names.len())
            .finish()
    }
}

impl<P: Pmda + ?Sized> AtDomain<P> {
    /// Serves `agent` at `domain` (1..=510).
    pub fn new(agent: Box<P>, domain: u32) -> Result<AtDomain<P>, AtDomainError> {
        if !(1..=MAX_DOMAIN).contains(&domain) {
            return Err(AtDomainError::OutOfRange(domain));
        }
        let own = agent.domain();
        let mut a = AtDomain {
            inner: agent,
            own,
            domain,
            names: Namespace::new(),
        };
        a.names = a.renumbered().map_err(|source| AtDomainError::Names {
            agent: a.inner.name().to_string(),
            source,
        })?;
        Ok(a)
    }

    /// The wrapped agent.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped agent, mutably.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// The domain the wrapped agent uses itself.
    pub fn own_domain(&self) -> u32 {
        self.own
    }

    /// The agent's current names with their PMIDs moved to our domain.
    fn renumbered(&self) -> Result<Namespace, NamespaceError> {
        let mut ns = Namespace::new();
        let mut failed = None;
        self.inner.namespace().for_each_leaf("", |name, pmid| {
            if failed.is_none() {
                if let Err(e) = ns.insert(name, self.pmid_out(pmid)) {
                    failed = Some(e);
                }
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(ns),
        }
    }

    /// Renumbers the names again if the agent's have changed; a name set
    /// that cannot be renumbered keeps the last good one (the agent's own
    /// namespace refuses such sets, so this is not expected).
    fn sync_names(&mut self, changed: bool) -> bool {
        if !changed && self.inner.namespace().len() == self.names.len() {
            return false;
        }
        match self.renumbered() {
            Ok(ns) => {
                self.names = ns;
                true
            }
            Err(_) => false,
        }
    }

    fn pmid_out(&self, pmid: Pmid) -> Pmid {
        if pmid.is_dynamic_root() && pmid.cluster() == self.own {
            Pmid::dynamic_root(self.domain)
        } else if pmid.domain() == self.own {
            Pmid::from_parts(self.domain, pmid.cluster(), pmid.item())
        } else {
            pmid
        }
    }

    fn pmid_in(&self, pmid: Pmid) -> Option<Pmid> {
        (pmid.domain() == self.domain)
            .then(|| Pmid::from_parts(self.own, pmid.cluster(), pmid.item()))
    }

    fn indom_out(&self, indom: InDom) -> InDom {
        if !indom.is_null() && indom.domain() == self.own {
            InDom::from_parts(self.domain, indom.serial())
        } else {
            indom
        }
    }

    fn indom_in(&self, indom: InDom) -> Option<InDom> {
        (!indom.is_null() && indom.domain() == self.domain)
            .then(|| InDom::from_parts(self.own, indom.serial()))
    }

    fn profile_in(&self, profile: &Profile) -> Profile {
        let indoms: HashMap<InDom, _> = profile
            .indoms
            .iter()
            .filter_map(|(indom, entry)| Some((self.indom_in(*indom)?, entry.clone())))
            .collect();
        Profile {
            global: profile.global,
            indoms,
        }
    }

    fn text_target_in(&self, target: TextTarget) -> Option<TextTarget> {
        Some(match target {
            TextTarget::Metric(p) => TextTarget::Metric(self.pmid_in(p)?),
            TextTarget::InDom(i) => TextTarget::InDom(self.indom_in(i)?),
        })
    }
}

impl<P: Pmda + ?Sized> Pmda for AtDomain<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn domain(&self) -> u32 {
        self.domain
    }

    fn namespace(&self) -> &Namespace {
        &self.names
    }

    fn attachment(&self) -> Option<crate::pmda::Attachment> {
        self.inner.attachment()
    }

    fn refresh_namespace(&mut self) -> bool {
        let changed = self.inner.refresh_namespace();
        self.sync_names(changed) || changed
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        let mut d = self.inner.desc(self.pmid_in(pmid).ok_or(PmError::PMID)?)?;
        d.pmid = self.pmid_out(d.pmid);
        d.indom = self.indom_out(d.indom);
        Ok(d)
    }

    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let indom = self.indom_in(indom).ok_or(PmError::INDOM)?;
        self.inner.instances(indom, client)
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        client: &ClientContext,
    ) -> Result<String, PmError> {
        let target = self.text_target_in(target).ok_or(PmError::TEXT)?;
        self.inner.text(target, kind, client)
    }

    fn labels(&self, target: LabelTarget, client: &ClientContext) -> Result<LabelSet, PmError> {
        let target = match target {
            LabelTarget::Domain => LabelTarget::Domain,
            LabelTarget::Cluster(c) => LabelTarget::Cluster(c),
            LabelTarget::InDom(i) => LabelTarget::InDom(self.indom_in(i).ok_or(PmError::INDOM)?),
            LabelTarget::Item(p) => LabelTarget::Item(self.pmid_in(p).ok_or(PmError::PMID)?),
        };
        self.inner.labels(target, client)
    }

    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let indom = self.indom_in(indom).ok_or(PmError::INDOM)?;
        self.inner.instance_labels(indom, client)
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        let mapped: Vec<Option<Pmid>> = req.pmids.iter().map(|p| self.pmid_in(*p)).collect();
        let asked: Vec<Pmid> = mapped.iter().flatten().copied().collect();
        let profile = if req.profile.indoms.is_empty() {
            None
        } else {
            Some(self.profile_in(req.profile))
        };
        let mut answers = if asked.is_empty() {
            Vec::new()
        } else {
            let inner_req = FetchRequest {
                pmids: &asked,
                profile: profile.as_ref().unwrap_or(req.profile),
                client: req.client,
            };
            self.inner.fetch(&inner_req)
        }
        .into_iter();
        let out = mapped
            .iter()
            .map(|m| match m {
                // An agent that answers short breaks its contract; its
                // missing answers are PM_ERR_PMID, as for an unknown one.
                Some(_) => answers.next().unwrap_or(Err(PmError::PMID)),
                None => Err(PmError::PMID),
            })
            .collect();
        self.sync_names(false);
        out
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let pmid = self.pmid_in(pmid).ok_or(PmError::PMID)?;
        let r = self.inner.store(pmid, values, client);
        self.sync_names(false);
        r
    }

    fn labels_changed(&mut self) -> bool {
        self.inner.labels_changed()
    }

    fn client_closed(&mut self, slot: u32) {
        self.inner.client_closed(slot)
    }

    fn wait_ready(&mut self, timeout: std::time::Duration) {
        self.inner.wait_ready(timeout);
        self.sync_names(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Agent, Fetch, IndomDef, MetricDef, Sink, TablePmda};
    use crate::indom::ProfileState;
    use crate::testing::check_agent;
    use crate::{Host, PM_IN_NULL};

    const COLOURS: IndomDef = IndomDef::new(3, "Colours")
        .help("Two colours.")
        .instances(&[(0, "red"), (1, "green")]);

    crate::metrics! {
        enum M {
            Count = MetricDef::u32("t.count", 0, 0).storable().oneline("A count"),
            Colour = MetricDef::u32("t.colour", 1, 5).indom(&COLOURS).oneline("Per colour")
                .help("One value per colour."),
        }
    }

    #[derive(Debug, Default)]
    struct T {
        count: u32,
        stored: Vec<(u32, Value)>,
    }

    impl Agent for T {
        type Metric = M;
        fn refresh(&mut self, _: &Fetch<'_, M>) {
            self.count += 1;
        }
        fn value(&mut self, m: M, out: &mut Sink<'_>) -> Result<(), PmError> {
            match m {
                M::Count => out.set(self.count),
                M::Colour => {
                    out.put(0, 10u32);
                    out.put(1, 20u32);
                }
            }
            Ok(())
        }
        fn store(&mut self, _: M, inst: u32, v: &Value, _: &ClientContext) -> Result<(), PmError> {
            self.stored.push((inst, v.clone()));
            Ok(())
        }
    }

    fn moved(domain: u32) -> AtDomain<TablePmda<T>> {
        let a = TablePmda::new("t", 40, T::default()).unwrap();
        AtDomain::new(Box::new(a), domain).unwrap()
    }

    #[test]
    fn every_identifier_is_in_the_new_domain() {
        let mut a = moved(498);
        assert_eq!((a.domain(), a.own_domain()), (498, 40));
        let pmid = a.namespace().lookup("t.colour").unwrap();
        assert_eq!(pmid, Pmid::from_parts(498, 1, 5));
        let d = a.desc(pmid).unwrap();
        assert_eq!((d.pmid, d.indom), (pmid, InDom::from_parts(498, 3)));
        assert_eq!(a.namespace().names_of(pmid)[0].as_ref(), "t.colour");
        let client = ClientContext::local();
        let insts = a.instances(d.indom, &client).unwrap();
        assert_eq!(insts.len(), 2);
        assert_eq!(
            a.text(TextTarget::InDom(d.indom), TextKind::Help, &client)
                .unwrap(),
            "Two colours."
        );
        assert_eq!(
            a.text(TextTarget::Metric(pmid), TextKind::OneLine, &client)
                .unwrap(),
            "Per colour"
        );
        assert!(a.labels(LabelTarget::Item(pmid), &client).is_ok());
        assert!(a.labels(LabelTarget::InDom(d.indom), &client).is_ok());
        check_agent(&mut a).unwrap();
    }

    #[test]
    fn identifiers_of_the_own_domain_are_refused() {
        let mut a = moved(498);
        let client = ClientContext::local();
        let own = Pmid::from_parts(40, 0, 0);
        assert_eq!(a.desc(own), Err(PmError::PMID));
        assert_eq!(
            a.instances(InDom::from_parts(40, 3), &client),
            Err(PmError::INDOM)
        );
        assert_eq!(
            a.text(TextTarget::Metric(own), TextKind::OneLine, &client),
            Err(PmError::TEXT)
        );
        assert_eq!(
            a.labels(LabelTarget::Item(own), &client),
            Err(PmError::PMID)
        );
        assert_eq!(
            a.store(own, &[(PM_IN_NULL, Value::U32(1))], &client),
            Err(PmError::PMID)
        );
        let good = Pmid::from_parts(498, 0, 0);
        let r = a.fetch(&FetchRequest {
            pmids: &[own, good, own],
            profile: &Profile::all(),
            client: &client,
        });
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Err(PmError::PMID));
        assert_eq!(r[1], Ok(vec![(PM_IN_NULL, Value::U32(1))]));
        assert_eq!(r[2], Err(PmError::PMID));
    }

    #[test]
    fn profile_and_store_reach_the_agent_in_its_domain() {
        let mut host = Host::new();
        host.load(Box::new(moved(300))).unwrap();
        let colour = host.lookup("t.colour").unwrap();
        let indom = host.desc(colour).unwrap().indom;
        assert_eq!(indom, InDom::from_parts(300, 3));
        let mut a = moved(300);
        let client = ClientContext::local();
        let mut profile = Profile::all();
        profile
            .indoms
            .insert(indom, (ProfileState::OnlyListed, vec![1]));
        let r = a.fetch(&FetchRequest {
            pmids: &[colour],
            profile: &profile,
            client: &client,
        });
        assert_eq!(r[0], Ok(vec![(1, Value::U32(20))]));
        let count = Pmid::from_parts(300, 0, 0);
        a.store(count, &[(PM_IN_NULL, Value::U32(7))], &client)
            .unwrap();
        assert_eq!(a.inner().agent().stored, vec![(PM_IN_NULL, Value::U32(7))]);
    }

    #[test]
    fn two_copies_of_one_agent_load_side_by_side_in_a_host() {
        // Names must differ for one host; a copy at a second domain with
        // the same names is refused by the host, not by the wrapper.
        let mut host = Host::new();
        host.load(Box::new(moved(300))).unwrap();
        assert!(host.load(Box::new(moved(301))).is_err());
        assert!(matches!(
            AtDomain::new(
                Box::new(TablePmda::new("t", 40, T::default()).unwrap()),
                511
            ),
            Err(AtDomainError::OutOfRange(511))
        ));
    }
}
