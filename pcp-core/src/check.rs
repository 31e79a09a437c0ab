//! A conformance walker for agents: [`check_agent`] asks an agent every
//! question a client can ask and checks each answer against PCP's rules.
//! Every agent in the workspace, the examples and the test agents run it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use crate::answer::type_matches;
use crate::error::PmError;
use crate::id::{InDom, Pmid, PM_IN_NULL};
use crate::indom::{Instance, Profile};
use crate::labels::{LabelSet, MAX_LABEL_JSON};
use crate::pmda::{ClientContext, FetchRequest, LabelTarget, Pmda, TextKind, TextTarget};

/// What [`check_agent_with`] checks beyond the rules every agent obeys.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Every metric has non-empty one-line help (agents that pass through
    /// names from outside, which may come without help, turn this off).
    pub require_help: bool,
    /// The client the checks ask as (root by default, so root-only
    /// figures are checked too).
    pub client: ClientContext,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            require_help: true,
            client: ClientContext::user(0, 0),
        }
    }
}

/// What a passing check covered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Metrics walked.
    pub metrics: usize,
    /// Instance domains walked.
    pub indoms: usize,
    /// Values fetched.
    pub values: usize,
}

/// One broken rule: the metric or instance domain, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The metric name or instance domain it is about.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
}

/// Why a check failed: every broken rule found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CheckFailed {
    /// The agent checked.
    pub agent: String,
    /// Every broken rule.
    pub violations: Vec<Violation>,
}

impl fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "agent {} breaks {} rule(s):",
            self.agent,
            self.violations.len()
        )?;
        for v in self.violations.iter().take(50) {
            writeln!(f, "  {}: {}", v.subject, v.problem)?;
        }
        if self.violations.len() > 50 {
            writeln!(f, "  ... and {} more", self.violations.len() - 50)?;
        }
        Ok(())
    }
}

/// Checks `agent` with the default [`CheckOptions`].
///
/// ```
/// use pcp_core::agent::{Agent, MetricDef, Sink, TablePmda};
/// use pcp_core::testing::check_agent;
/// use pcp_core::PmError;
///
/// pcp_core::metrics! { enum M { Answer = MetricDef::u32("demo.answer", 0, 0).oneline("42") } }
/// #[derive(Debug)]
/// struct Demo;
/// impl Agent for Demo {
///     type Metric = M;
///     fn value(&mut self, _: M, out: &mut Sink<'_>) -> Result<(), PmError> {
///         out.set(42u32);
///         Ok(())
///     }
/// }
/// let report = check_agent(&mut TablePmda::new("demo", 400, Demo).unwrap()).unwrap();
/// assert_eq!((report.metrics, report.values), (1, 1));
/// ```
pub fn check_agent(agent: &mut dyn Pmda) -> Result<CheckReport, CheckFailed> {
    check_agent_with(agent, &CheckOptions::default())
}

/// Asks `agent` every question a client can ask (names, descriptors, help,
/// labels at every level, instances and their labels, one fetch of every
/// metric, a fetch of an unknown metric) and checks the answers:
/// - every name has a descriptor whose PMID is the name's and in the
///   agent's domain, and whose instance domain is in it too;
/// - help exists (unless [`CheckOptions::require_help`] is off);
/// - labels at every level are valid JSON objects within PCP's size limit;
/// - instance ids and names are unique, and no instance is `PM_IN_NULL`;
/// - a fetch answers once per PMID asked, in order; every value has its
///   descriptor's exact type; a singular metric has at most one value, for
///   `PM_IN_NULL`; a metric with an instance domain has no `PM_IN_NULL`
///   value and each instance at most once, every one of them listed by
///   [`Pmda::instances`] (before or after the fetch);
/// - an unknown PMID of the domain gets `PM_ERR_PMID`.
pub fn check_agent_with(
    agent: &mut dyn Pmda,
    opts: &CheckOptions,
) -> Result<CheckReport, CheckFailed> {
    let mut c = Checker {
        v: Vec::new(),
        report: CheckReport::default(),
    };
    let domain = agent.domain();
    agent.refresh_namespace();
    let mut leaves: Vec<(String, Pmid)> = Vec::new();
    agent
        .namespace()
        .for_each_leaf("", |n, p| leaves.push((n.to_string(), p)));
    c.report.metrics = leaves.len();
    let client = &opts.client;
    let mut indoms: BTreeSet<u32> = BTreeSet::new();
    let mut clusters: BTreeSet<u32> = BTreeSet::new();
    let mut descs = Vec::with_capacity(leaves.len());
    for (name, pmid) in &leaves {
        if pmid.domain() != domain {
            c.bad(
                name,
                format!("PMID {pmid} is outside the agent's domain {domain}"),
            );
        }
        clusters.insert(pmid.cluster());
        let desc = match agent.desc(*pmid) {
            Ok(d) => d,
            Err(e) => {
                c.bad(name, format!("no descriptor: {e}"));
                continue;
            }
        };
        if desc.pmid != *pmid {
            c.bad(
                name,
                format!("descriptor names PMID {} not {pmid}", desc.pmid),
            );
        }
        if !desc.indom.is_null() {
            if desc.indom.domain() != domain {
                c.bad(
                    name,
                    format!("instance domain {} of another domain", desc.indom),
                );
            }
            indoms.insert(desc.indom.raw());
        }
        match agent.text(TextTarget::Metric(*pmid), TextKind::OneLine, client) {
            Ok(t) if !t.is_empty() => {}
            Ok(_) | Err(PmError::TEXT) if !opts.require_help => {}
            Ok(_) => c.bad(name, "empty one-line help".into()),
            Err(e) => c.bad(name, format!("no one-line help: {e}")),
        }
        if let Err(e) = agent.text(TextTarget::Metric(*pmid), TextKind::Help, client) {
            if e != PmError::TEXT || opts.require_help {
                c.bad(name, format!("no help text: {e}"));
            }
        }
        c.labels(name, agent.labels(LabelTarget::Item(*pmid), client));
        descs.push((name.clone(), desc));
    }
    c.labels("domain labels", agent.labels(LabelTarget::Domain, client));
    for cl in &clusters {
        let what = format!("cluster {cl} labels");
        c.labels(&what, agent.labels(LabelTarget::Cluster(*cl), client));
    }
    let mut listed: HashMap<InDom, HashSet<u32>> = HashMap::new();
    for raw in &indoms {
        let indom = InDom::from_raw(*raw);
        let what = format!("instance domain {indom}");
        c.labels(&what, agent.labels(LabelTarget::InDom(indom), client));
        let insts = match agent.instances(indom, client) {
            Ok(i) => i,
            Err(e) => {
                c.bad(&what, format!("no instance list: {e}"));
                continue;
            }
        };
        c.instances(&what, &insts);
        let ids: HashSet<u32> = insts.iter().map(|i| i.id).collect();
        match agent.instance_labels(indom, client) {
            Ok(sets) => {
                for (id, set) in sets {
                    if !ids.contains(&id) {
                        c.bad(&what, format!("labels for unlisted instance {id}"));
                    }
                    c.labels(&format!("{what} instance {id}"), Ok(set));
                }
            }
            Err(e) => c.bad(&what, format!("instance labels fail: {e}")),
        }
        listed.insert(indom, ids);
    }
    c.report.indoms = indoms.len();
    let pmids: Vec<Pmid> = descs.iter().map(|(_, d)| d.pmid).collect();
    let profile = Profile::all();
    let results = agent.fetch(&FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client,
    });
    if results.len() != pmids.len() {
        c.bad(
            "fetch",
            format!("{} answers for {} metrics", results.len(), pmids.len()),
        );
    }
    for ((name, desc), r) in descs.iter().zip(&results) {
        let Ok(vals) = r else { continue };
        c.report.values += vals.len();
        if vals.iter().any(|(_, v)| !type_matches(v, desc.ty)) {
            c.bad(
                name,
                format!("a value is not of the descriptor's type {}", desc.ty.name()),
            );
        }
        if desc.indom.is_null() {
            if vals.len() > 1 || vals.iter().any(|(i, _)| *i != PM_IN_NULL) {
                c.bad(name, "singular metric answered with instances".into());
            }
            continue;
        }
        if vals.iter().any(|(i, _)| *i == PM_IN_NULL) {
            c.bad(
                name,
                "PM_IN_NULL value for a metric with an instance domain".into(),
            );
        }
        let mut seen = HashSet::new();
        if !vals.iter().all(|(i, _)| seen.insert(*i)) {
            c.bad(name, "an instance answered twice".into());
        }
        let before = listed.get(&desc.indom);
        let mut after: Option<HashSet<u32>> = None;
        for (i, _) in vals.iter().filter(|(i, _)| *i != PM_IN_NULL) {
            if before.is_some_and(|b| b.contains(i)) {
                continue;
            }
            let now = after.get_or_insert_with(|| {
                agent
                    .instances(desc.indom, client)
                    .map(|l| l.iter().map(|x| x.id).collect())
                    .unwrap_or_default()
            });
            if !now.contains(i) {
                c.bad(
                    name,
                    format!("value for instance {i}, which the agent does not list"),
                );
                break;
            }
        }
    }
    // Two answers for a PMID asked twice, an error for one never defined.
    if let Some(&first) = pmids.first() {
        let unknown = (0..4096u32)
            .flat_map(|cl| (0..4u32).map(move |it| (cl, it)))
            .map(|(cl, it)| Pmid::from_parts(domain, cl, 1023 - it))
            .find(|p| agent.desc(*p).is_err());
        if let Some(unknown) = unknown {
            let ask = [first, unknown, first];
            let r = agent.fetch(&FetchRequest {
                pmids: &ask,
                profile: &profile,
                client,
            });
            if r.len() != 3 {
                c.bad("fetch", format!("{} answers for 3 metrics", r.len()));
            } else if r[1] != Err(PmError::PMID) {
                c.bad(
                    "fetch",
                    format!("unknown PMID {unknown} answered {:?}", r[1]),
                );
            }
        }
    }
    if c.v.is_empty() {
        Ok(c.report)
    } else {
        Err(CheckFailed {
            agent: agent.name().to_string(),
            violations: c.v,
        })
    }
}

struct Checker {
    v: Vec<Violation>,
    report: CheckReport,
}

impl Checker {
    fn bad(&mut self, subject: &str, problem: String) {
        self.v.push(Violation {
            subject: subject.to_string(),
            problem,
        });
    }

    fn labels(&mut self, subject: &str, set: Result<LabelSet, PmError>) {
        let set = match set {
            Ok(s) => s,
            Err(e) => return self.bad(subject, format!("labels fail: {e}")),
        };
        let json = set.to_json();
        if json.len() > MAX_LABEL_JSON {
            self.bad(
                subject,
                format!(
                    "labels are {} bytes of JSON, over {MAX_LABEL_JSON}",
                    json.len()
                ),
            );
        }
        match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => self.bad(subject, format!("labels are not a JSON object: {json}")),
        }
    }

    fn instances(&mut self, subject: &str, insts: &[Instance]) {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for i in insts {
            if i.id == PM_IN_NULL {
                self.bad(subject, format!("instance {:?} has id PM_IN_NULL", i.name));
            }
            if !ids.insert(i.id) {
                self.bad(subject, format!("instance id {} listed twice", i.id));
            }
            // PCP: instance names are unique up to their first space.
            let short = i.name.split(' ').next().unwrap_or("");
            if !names.insert(short.to_string()) {
                self.bad(
                    subject,
                    format!("instance name {:?} not unique to its first space", i.name),
                );
            }
        }
    }
}
