//! One client context's derived metrics, and the host seen through it.
//!
//! As in libpcp, a context binds each global definition the first time it
//! is used (operands looked up, semantic checks, descriptor), keeps
//! per-context definitions of its own (pmAddDerived, PMIDs counting down
//! from 511.2047.1023), and keeps the previous values `delta()` and
//! `rate()` need, so two contexts fetching the same metric do not disturb
//! each other. A definition whose name is a real metric's is ignored (the
//! real metric wins); one whose operands are missing is left out silently;
//! one that breaks a semantic rule is reported once on standard error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::bind::{bind, BindError, Node, Resolver};
use super::eval::{Env, Scratch};
use super::{parse_bounded, Definition, RegisterError, Registry};
use crate::desc::Desc;
use crate::error::PmError;
use crate::host::FetchResult;
use crate::id::{InDom, Pmid, DYNAMIC_DOMAIN};
use crate::indom::{Instance, Profile};
use crate::labels::LabelSet;
use crate::namespace::Child;
use crate::pmapi::Pmapi;
use crate::pmda::{LabelTarget, MetricResult, TextKind, TextTarget};
use crate::value::Value;

/// Most per-context definitions (pmAddDerived) one context may hold.
pub const MAX_CONTEXT_METRICS: usize = 1024;

enum Binding {
    Valid(Box<Node>),
    /// Not usable: the base generation it was tried at (tried again when
    /// the host's names change, so a metric whose operand appears later
    /// becomes usable).
    Invalid(u64),
}

#[derive(Default)]
struct Inner {
    local: Vec<Definition>,
    local_by_name: HashMap<String, usize>,
    next_local: Option<(u32, u32)>,
    bound: HashMap<Pmid, Binding>,
    changes: u64,
    /// Working space of evaluations, kept between fetches.
    scratch: Scratch,
}

/// One client context's derived metrics (see the module docs).
pub struct DerivedContext {
    registry: Arc<Registry>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for DerivedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("DerivedContext")
            .field("global", &self.registry.definitions().len())
            .field("local", &inner.local.len())
            .field("bound", &inner.bound.len())
            .finish()
    }
}

/// Why pmAddDerived refused a definition, with pmAddDerivedMetric's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddError {
    /// The PCP error code (PM_ERR_BADDERIVE).
    pub code: PmError,
    /// The message pmAddDerivedMetric builds (several lines).
    pub message: String,
}

impl std::fmt::Display for AddError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

struct BaseResolver<'a>(&'a dyn Pmapi);

impl Resolver for BaseResolver<'_> {
    fn resolve(&mut self, name: &str) -> Result<(Pmid, Desc), PmError> {
        let pmid = self.0.lookup(name)?;
        Ok((pmid, self.0.desc(pmid)?))
    }
}

impl DerivedContext {
    /// A fresh context over the global definitions of `registry`.
    pub fn new(registry: Arc<Registry>) -> DerivedContext {
        DerivedContext {
            registry,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many per-context definitions this context holds.
    pub fn local_count(&self) -> usize {
        self.lock().local.len()
    }

    /// The global definitions.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The host `base` seen through this context.
    pub fn view<'a>(&'a self, base: &'a dyn Pmapi) -> DerivedHost<'a> {
        DerivedHost { base, ctx: self }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single insert or push: a panic elsewhere cannot
        // leave the maps half-changed.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a per-context definition (pmAddDerived): parsed and checked
    /// now; a semantic error is returned (the PMID is still used up, as in
    /// libpcp). A definition whose operands are missing is accepted but
    /// stays invisible.
    pub fn add(&self, base: &dyn Pmapi, name: &str, expr: &str) -> Result<Pmid, AddError> {
        let pmapi_error = |what: &str| AddError {
            code: PmError::BADDERIVE,
            message: format!(
                "Error: pmAddDerivedMetric(\"{name}\", ...): returns {}\n{what}\n",
                PmError::BADDERIVE.code()
            ),
        };
        let mut inner = self.lock();
        if inner.local.len() >= MAX_CONTEXT_METRICS {
            return Err(pmapi_error("Too many per-context derived metrics"));
        }
        if inner.local_by_name.contains_key(name) {
            return Err(pmapi_error("Duplicate per-context derived metric name"));
        }
        let parsed = parse_bounded(expr).map_err(|e| {
            let (pos, msg) = match &e {
                RegisterError::Syntax(s) => (s.pos, s.message.clone()),
                RegisterError::Refused(m) => (0, Some(m.to_string())),
            };
            let caret = super::SyntaxError { pos, message: None }.caret();
            let mut message =
                format!("Syntax Error: pmAddDerivedMetric(\"{name}\", ...)\n{expr}\n{caret}\n");
            if let Some(m) = msg {
                message.push_str(&m);
                message.push('\n');
            }
            AddError {
                code: PmError::BADDERIVE,
                message,
            }
        })?;
        let (cluster, item) = match inner.next_local {
            None => (2047, 1023),
            Some((c, i)) if i > 1 => (c, i - 1),
            Some((c, _)) if c > 0 => (c - 1, 1023),
            Some(_) => return Err(pmapi_error("per-context PMID space exhausted")),
        };
        inner.next_local = Some((cluster, item));
        let pmid = Pmid::from_parts(DYNAMIC_DOMAIN, cluster, item);
        let def = Definition {
            name: name.to_string(),
            pmid,
            source: expr.to_string(),
            expr: Arc::new(parsed),
            anon: false,
            oneline: None,
            help: None,
        };
        let index = inner.local.len();
        inner.local_by_name.insert(name.to_string(), index);
        inner.local.push(def.clone());
        inner.changes += 1;
        match self.try_bind(base, &def) {
            Ok(node) => {
                inner.bound.insert(pmid, Binding::Valid(Box::new(node)));
                Ok(pmid)
            }
            Err(BindError::Semantic { message, .. }) => {
                inner
                    .bound
                    .insert(pmid, Binding::Invalid(base.metadata_generation()));
                Err(AddError {
                    code: PmError::BADDERIVE,
                    message: format!(
                        "Semantic Error: pmAddDerivedMetric(\"{name}\", ...)\n{expr}\n^\n{message}\n"
                    ),
                })
            }
            Err(BindError::Operand { .. }) => {
                inner
                    .bound
                    .insert(pmid, Binding::Invalid(base.metadata_generation()));
                Ok(pmid)
            }
        }
    }

    fn try_bind(&self, base: &dyn Pmapi, def: &Definition) -> Result<Node, BindError> {
        if !def.anon && base.lookup(&def.name).is_ok() {
            // A real metric of that name wins.
            return Err(BindError::Operand {
                name: def.name.clone(),
                error: PmError::NAME,
            });
        }
        let mut node = bind(&def.expr, &mut BaseResolver(base))?;
        node.desc.pmid = def.pmid;
        Ok(node)
    }

    /// The definition with this PMID (a per-context one masks the global
    /// one of the same name).
    fn definition<'a>(&'a self, inner: &'a Inner, pmid: Pmid) -> Option<&'a Definition> {
        if pmid.domain() != DYNAMIC_DOMAIN {
            return None;
        }
        if let Some(d) = inner.local.iter().find(|d| d.pmid == pmid) {
            return Some(d);
        }
        self.registry
            .by_pmid(pmid)
            .filter(|d| !inner.local_by_name.contains_key(&d.name))
    }

    /// Every visible definition: globals in order, then per-context ones.
    fn all_definitions(&self, inner: &Inner) -> Vec<(Pmid, String)> {
        self.registry
            .definitions()
            .iter()
            .filter(|d| !inner.local_by_name.contains_key(&d.name))
            .chain(inner.local.iter())
            .map(|d| (d.pmid, d.name.clone()))
            .collect()
    }

    /// Binds `pmid` in this context if not done yet; true if usable.
    fn ensure_bound(&self, inner: &mut Inner, base: &dyn Pmapi, pmid: Pmid) -> bool {
        let generation = base.metadata_generation();
        match inner.bound.get(&pmid) {
            Some(Binding::Valid(_)) => return true,
            Some(Binding::Invalid(g)) if *g == generation => return false,
            _ => {}
        }
        let Some(def) = self.definition(inner, pmid).cloned() else {
            return false;
        };
        let local = inner.local_by_name.contains_key(&def.name);
        match self.try_bind(base, &def) {
            Ok(node) => {
                inner.bound.insert(pmid, Binding::Valid(Box::new(node)));
                true
            }
            Err(e) => {
                if let (BindError::Semantic { node, message }, false) = (&e, local) {
                    self.registry.report_once(
                        &def.name,
                        &format!(
                            "Semantic error: derived metric {}: {node}: {message}",
                            def.name
                        ),
                    );
                }
                inner.bound.insert(pmid, Binding::Invalid(generation));
                false
            }
        }
    }
}

/// A host seen through a [`DerivedContext`]: every [`Pmapi`] answer with
/// the context's derived metrics added.
#[derive(Clone, Copy)]
pub struct DerivedHost<'a> {
    base: &'a dyn Pmapi,
    ctx: &'a DerivedContext,
}

impl std::fmt::Debug for DerivedHost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedHost")
            .field("ctx", self.ctx)
            .finish()
    }
}

fn is_derived(pmid: Pmid) -> bool {
    pmid.domain() == DYNAMIC_DOMAIN
}

fn under(name: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || (name.len() > prefix.len()
            && name.starts_with(prefix)
            && name.as_bytes()[prefix.len()] == b'.')
}

struct FetchEnv<'a> {
    base: &'a dyn Pmapi,
    operands: HashMap<Pmid, MetricResult>,
    stamp: SystemTime,
    instances: HashMap<InDom, Vec<Instance>>,
}

impl Env for FetchEnv<'_> {
    fn operand(&self, pmid: Pmid) -> Option<&MetricResult> {
        self.operands.get(&pmid)
    }
    fn instances(&mut self, indom: InDom) -> Option<&[Instance]> {
        if !self.instances.contains_key(&indom) {
            let list = self.base.instances(indom).ok()?;
            self.instances.insert(indom, list);
        }
        self.instances.get(&indom).map(|v| v.as_slice())
    }
    fn stamp(&self) -> SystemTime {
        self.stamp
    }
}

fn operands(node: &Node, out: &mut Vec<Pmid>) {
    use super::bind::Kind::*;
    match &node.kind {
        Name { pmid, .. } => out.push(*pmid),
        Const | Anon => {}
        Binary(_, a, b) => {
            operands(a, out);
            operands(b, out);
        }
        Ternary(g, y, n) => {
            operands(g, out);
            operands(y, out);
            operands(n, out);
        }
        Neg(x) | Not(x) | Aggregate(_, x) | Delta(x) | Instant(x) | Rescale(x, _) | Scalar(x) => {
            operands(x, out)
        }
        Rate { x, .. } | MatchInst { x, .. } | Instance { x, .. } => operands(x, out),
    }
}

impl DerivedHost<'_> {
    /// The derived metric of this name, if usable in this context.
    fn derived_named(&self, name: &str) -> Option<Pmid> {
        let mut inner = self.ctx.lock();
        let pmid = match inner.local_by_name.get(name) {
            Some(&i) => inner.local[i].pmid,
            None => self.ctx.registry.get(name)?.pmid,
        };
        self.ctx
            .ensure_bound(&mut inner, self.base, pmid)
            .then_some(pmid)
    }

    /// The usable derived metrics at or below `prefix`, in order.
    fn derived_under(&self, prefix: &str) -> Vec<(String, Pmid)> {
        let mut inner = self.ctx.lock();
        let all = self.ctx.all_definitions(&inner);
        all.into_iter()
            .filter(|(_, name)| under(name, prefix))
            .filter(|(pmid, _)| self.ctx.ensure_bound(&mut inner, self.base, *pmid))
            .map(|(pmid, name)| (name, pmid))
            .collect()
    }

    fn definition_text(&self, pmid: Pmid, kind: TextKind) -> Result<String, PmError> {
        let inner = self.ctx.lock();
        let def = self.ctx.definition(&inner, pmid).ok_or(PmError::PMID)?;
        let text = match kind {
            TextKind::OneLine => def.oneline.clone(),
            TextKind::Help => def.help.clone().or_else(|| def.oneline.clone()),
        };
        text.ok_or(PmError::TEXT)
    }
}

impl Pmapi for DerivedHost<'_> {
    fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        match self.base.lookup(name) {
            Ok(p) => Ok(p),
            Err(PmError::NAME) => self.derived_named(name).ok_or(PmError::NAME),
            Err(e) => Err(e),
        }
    }

    fn names_of(&self, pmid: Pmid) -> Result<Vec<String>, PmError> {
        if !is_derived(pmid) {
            return self.base.names_of(pmid);
        }
        let mut inner = self.ctx.lock();
        if !self.ctx.ensure_bound(&mut inner, self.base, pmid) {
            return Err(PmError::PMID);
        }
        let def = self.ctx.definition(&inner, pmid).ok_or(PmError::PMID)?;
        Ok(vec![def.name.clone()])
    }

    fn children(&self, name: &str) -> Result<Vec<Child>, PmError> {
        let base = self.base.children(name);
        let derived = self.derived_under(name);
        let mut out = match (&base, derived.is_empty()) {
            (Err(e), true) => return Err(*e),
            (Err(_), false) => Vec::new(),
            (Ok(list), _) => list.clone(),
        };
        let skip = if name.is_empty() { 0 } else { name.len() + 1 };
        for (full, _) in derived {
            if full.len() <= skip {
                continue;
            }
            let rest = &full[skip..];
            let (part, leaf) = match rest.split_once('.') {
                Some((p, _)) => (p, false),
                None => (rest, true),
            };
            if !out.iter().any(|c| c.name == part) {
                out.push(Child {
                    name: part.to_string(),
                    leaf,
                });
            }
        }
        Ok(out)
    }

    fn traverse(&self, name: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        let base = self.base.traverse(name);
        let derived = self.derived_under(name);
        match base {
            Ok(mut list) => {
                list.extend(derived);
                Ok(list)
            }
            Err(_) if !derived.is_empty() => Ok(derived),
            Err(e) => Err(e),
        }
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        if !is_derived(pmid) {
            return self.base.desc(pmid);
        }
        let mut inner = self.ctx.lock();
        if self.ctx.definition(&inner, pmid).is_none() {
            return Err(PmError::PMID);
        }
        if !self.ctx.ensure_bound(&mut inner, self.base, pmid) {
            return Err(PmError::BADDERIVE);
        }
        match inner.bound.get(&pmid) {
            Some(Binding::Valid(node)) => Ok(node.desc),
            _ => Err(PmError::BADDERIVE),
        }
    }

    fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        self.base.instances(indom)
    }

    fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        match target {
            TextTarget::Metric(p) if is_derived(p) => self.definition_text(p, kind),
            _ => self.base.text(target, kind),
        }
    }

    fn labels(&self, domain: u32, target: LabelTarget) -> Result<LabelSet, PmError> {
        if domain == DYNAMIC_DOMAIN {
            // No agent serves the dynamic domain: no labels of its own.
            return Ok(LabelSet::new());
        }
        self.base.labels(domain, target)
    }

    fn metric_labels(&self, pmid: Pmid) -> Result<LabelSet, PmError> {
        if !is_derived(pmid) {
            return self.base.metric_labels(pmid);
        }
        // The context's labels and those of the operands' instance domain,
        // as pminfo merges them for a derived metric.
        let desc = self.desc(pmid)?;
        let context = self.base.context_labels().clone();
        if desc.indom.is_null() {
            return Ok(context);
        }
        let indom = self
            .base
            .labels(desc.indom.domain(), LabelTarget::InDom(desc.indom))
            .unwrap_or_default();
        Ok(LabelSet::merge([&context, &indom]))
    }

    fn instance_labels(&self, indom: InDom) -> Result<Vec<(u32, LabelSet)>, PmError> {
        self.base.instance_labels(indom)
    }

    fn context_labels(&self) -> &LabelSet {
        self.base.context_labels()
    }

    fn fetch_with(&self, pmids: &[Pmid], profile: &Profile) -> FetchResult {
        if !pmids.iter().any(|p| is_derived(*p)) {
            return self.base.fetch_with(pmids, profile);
        }
        let mut inner = self.ctx.lock();
        let mut wanted: Vec<Pmid> = Vec::new();
        let mut request: Vec<Pmid> = pmids.iter().copied().filter(|p| !is_derived(*p)).collect();
        for &p in pmids.iter().filter(|p| is_derived(**p)) {
            if wanted.contains(&p) || !self.ctx.ensure_bound(&mut inner, self.base, p) {
                continue;
            }
            wanted.push(p);
            if let Some(Binding::Valid(node)) = inner.bound.get(&p) {
                operands(node, &mut request);
            }
        }
        let mut seen = std::collections::HashSet::new();
        request.retain(|p| seen.insert(*p));
        let base_result = self.base.fetch_with(&request, profile);
        let (stamp, names_changed, labels_changed) = (
            base_result.timestamp,
            base_result.names_changed,
            base_result.labels_changed,
        );
        // The nodes read the operands' answers where they are and keep
        // what delta()/rate() need in their own columns, so each answer
        // moves to the result uncopied.
        let mut env = FetchEnv {
            base: self.base,
            operands: base_result.values.into_iter().collect(),
            stamp,
            instances: HashMap::new(),
        };
        let mut computed: HashMap<Pmid, MetricResult> = HashMap::with_capacity(wanted.len());
        let Inner { bound, scratch, .. } = &mut *inner;
        for p in &wanted {
            if let Some(Binding::Valid(node)) = bound.get_mut(p) {
                node.eval(&mut env, scratch);
                computed.insert(*p, node.vals.answer(node.desc.ty));
            }
        }
        // How many more times each PMID is asked for: the last asking
        // takes the answer, earlier ones (a PMID asked twice) a copy.
        let mut left: HashMap<Pmid, usize> = HashMap::with_capacity(pmids.len());
        for p in pmids {
            *left.entry(*p).or_default() += 1;
        }
        let mut values = Vec::with_capacity(pmids.len());
        for p in pmids {
            let n = left.get_mut(p).map_or(0, |n| {
                *n -= 1;
                *n
            });
            let r = if is_derived(*p) {
                match (n, computed.get(p)) {
                    (_, None) => Err(PmError::PMID),
                    (0, Some(_)) => computed.remove(p).unwrap_or(Err(PmError::PMID)),
                    (_, Some(r)) => r.clone(),
                }
            } else {
                match (n, env.operands.get(p)) {
                    (_, None) => Err(PmError::PMID),
                    (0, Some(_)) => env.operands.remove(p).unwrap_or(Err(PmError::PMID)),
                    (_, Some(answer)) => answer.clone(),
                }
            };
            values.push((*p, r));
        }
        FetchResult {
            timestamp: stamp,
            values,
            names_changed,
            labels_changed,
        }
    }

    fn store(&self, pmid: Pmid, values: &[(u32, Value)]) -> Result<(), PmError> {
        if is_derived(pmid) {
            return Err(PmError::PERMISSION);
        }
        self.base.store(pmid, values)
    }

    fn metadata_generation(&self) -> u64 {
        let local = self.ctx.lock().changes;
        self.base.metadata_generation().wrapping_add(local << 32)
    }

    fn wait_ready(&self, timeout: Duration) {
        self.base.wait_ready(timeout)
    }
}
