//! The pmproxy REST API subset (`/pmapi/*`) that Grafana's PCP Vector data
//! source and pmproxy's own clients use, answered from the in-process
//! [`Host`] in pmproxy 6.0.3's JSON shapes: every answer carries the
//! `context` it ran in; errors are `{"context":N,"message":...,"success":false}`
//! with pmproxy's messages and status codes.
//!
//! Differences from pmproxy 6.0.3, on purpose:
//! - errors that pmproxy reports as an HTML page (a missing required
//!   parameter, an unknown command) are JSON too, with a message saying what
//!   to send, as later pmproxy versions do ("all errors in JSON");
//! - `/pmapi/label` (absent from pmproxy 6.0.3) lists merged metric and
//!   instance labels: `{"context":N,"labels":[{"name","pmid","labels":{},
//!   "instances":[{"instance","name","labels":{}}]}]}`;
//! - `/pmapi/store` is refused with 403 unless the server was started with
//!   `--allow-store`;
//! - a fetched metric whose agent failed carries `"error"` (pmproxy drops
//!   its instances silently);
//! - `match=regex` uses the regex crate's syntax (close to POSIX ERE for
//!   the usual forms); a pattern that does not compile is a 400 naming
//!   it (pmproxy 6.0.3 ignores regcomp's failure and crashes in regexec);
//! - `series` and `source` are stable 40-hex-digit identifiers of our own
//!   (pmproxy's are SHA-1 digests of its own metadata encoding);
//! - a singular metric with no value in this fetch (a derived rate's first
//!   fetch in a context) has no instance; pmproxy prints its zeroed cache,
//!   `{"instance":null,"value":0}`, which looks like a real 0.
//!
//! Each context has its own derived metrics (`/pmapi/derive`, see
//! [`super::derive`]) and its own history for derived rates, as each of
//! pmproxy's web contexts is a PMAPI context.

use std::collections::HashSet;
use std::time::Instant;

use pcp_core::labels::LabelSet;
use pcp_core::render::json::fetch_json;
use pcp_core::{
    Desc, InDom, Instance, LabelTarget, PmError, Pmapi, Pmid, Profile, TextKind, TextTarget, Value,
};
use serde_json::{json, Map, Value as Json};

use super::context::{ContextError, Contexts};
use super::http::{Request, Response};
use super::query::{split_list, Query};

/// Most names (or PMIDs, instances) one request may list.
pub(crate) const MAX_NAMES: usize = 4096;

/// Shared state of the API.
pub(crate) struct Api<'a> {
    /// The host (seen through a context's derived metrics while a request
    /// is answered).
    pub host: &'a dyn Pmapi,
    /// The host itself (what per-context derived metrics are defined over).
    pub base: &'a dyn Pmapi,
    /// Live contexts.
    pub contexts: &'a Contexts,
    /// Held around every fetch (see [`Service`](super) for why).
    /// Whether `/pmapi/store` may store.
    pub allow_store: bool,
    /// The `source` identifier of the host.
    pub source: &'a str,
    /// The `hostspec` (our host name).
    pub hostspec: &'a str,
}

impl std::fmt::Debug for Api<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("allow_store", &self.allow_store)
            .field("source", &self.source)
            .finish()
    }
}

/// An API answer before it becomes a response.
type Answer = Result<Json, ApiError>;

/// A failed request: status, context (if one was resolved) and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: u16,
    context: Option<u32>,
    message: String,
}

impl ApiError {
    fn bad(context: Option<u32>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            context,
            message: message.into(),
        }
    }

    fn with_status(mut self, status: u16) -> ApiError {
        self.status = status;
        self
    }
}

/// The pmproxy error body.
pub(crate) fn error_response(status: u16, context: Option<u32>, message: &str) -> Response {
    let mut m = Map::new();
    if let Some(c) = context {
        m.insert("context".into(), json!(c));
    }
    m.insert("message".into(), json!(message));
    m.insert("success".into(), json!(false));
    json_response(status, &Json::Object(m))
}

/// A JSON response with pmproxy's CORS headers.
pub(crate) fn json_response(status: u16, body: &Json) -> Response {
    let mut b = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    b.extend_from_slice(b"\r\n");
    Response::new(status, "application/json", b)
}

/// Labels without the client's credentials, as a JSON object.
pub(crate) fn labels_json(set: &LabelSet) -> Json {
    let m: Map<String, Json> = set
        .iter()
        .filter(|l| l.name != "userid" && l.name != "groupid")
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    Json::Object(m)
}

/// A stable 160-bit identifier (40 hex digits) of `text`: three FNV-1a
/// passes with different seeds.
pub(crate) fn ident(text: &str) -> String {
    let mut out = String::with_capacity(48);
    for seed in 0u64..3 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

/// Parses a PMID as pmproxy does: `D.C.I`, a decimal number or `0x` hex.
pub(crate) fn parse_pmid(s: &str) -> Option<Pmid> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok().map(pmid_from_raw);
    }
    let parts: Vec<&str> = s.split('.').collect();
    match parts.as_slice() {
        [d, c, i] => Pmid::new(d.parse().ok()?, c.parse().ok()?, i.parse().ok()?).ok(),
        [n] => n.parse::<u32>().ok().map(pmid_from_raw),
        _ => None,
    }
}

fn pmid_from_raw(raw: u32) -> Pmid {
    Pmid::from_parts(raw >> 22, (raw >> 10) & 0xfff, raw & 0x3ff)
}

/// Parses an InDom as pmproxy does: `D.S`, a decimal number or `0x` hex.
pub(crate) fn parse_indom(s: &str) -> Option<InDom> {
    let s = s.trim();
    let raw = |r: u32| InDom::from_parts(r >> 22, r & 0x3f_ffff);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).ok().map(raw);
    }
    match s.split_once('.') {
        Some((d, n)) => InDom::new(d.parse().ok()?, n.parse().ok()?).ok(),
        None => s.parse::<u32>().ok().map(raw),
    }
}

/// How instance names are matched (`match=`), as pmproxy does for
/// `/pmapi/indom` and `/pmapi/profile` (and we for `/pmapi/store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// The whole name, byte for byte (the default).
    Exact,
    /// fnmatch(3) patterns.
    Glob,
    /// Regular expressions matched anywhere in the name, as pmproxy's
    /// regexec(3) of an extended (POSIX ERE) expression does; the syntax
    /// is the regex crate's, which accepts ERE's usual forms (`^`, `$`,
    /// `|`, groups, bounds, bracket classes with `[:alpha:]` and so on).
    Regex,
}

fn parse_match(q: &Query, ctx: Option<u32>) -> Result<Match, ApiError> {
    match q.get("match") {
        None | Some("exact") => Ok(Match::Exact),
        Some("glob") => Ok(Match::Glob),
        Some("regex") => Ok(Match::Regex),
        Some(m) => Err(ApiError::bad(
            ctx,
            format!("{m} - invalid 'match' parameter value"),
        )),
    }
}

/// Largest compiled size of one `match=regex` pattern (and of its lazy
/// DFA cache): hostile patterns are refused instead of eating memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Instance-name patterns of one request, compiled once.
#[derive(Debug)]
enum NameMatcher {
    Exact(Vec<String>),
    Glob(Vec<String>),
    Regex(Vec<regex::Regex>),
}

impl NameMatcher {
    /// Compiles `names` under `how`; a bad regular expression is a 400
    /// naming the pattern and what is wrong with it.
    fn new(how: Match, names: Vec<String>, ctx: Option<u32>) -> Result<NameMatcher, ApiError> {
        Ok(match how {
            Match::Exact => NameMatcher::Exact(names),
            Match::Glob => NameMatcher::Glob(names),
            Match::Regex => NameMatcher::Regex(
                names
                    .iter()
                    .map(|n| {
                        regex::RegexBuilder::new(n)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .dfa_size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(|e| {
                                ApiError::bad(
                                    ctx,
                                    format!(
                                        "{n} - invalid regular expression in 'iname': {}",
                                        regex_error(&e)
                                    ),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// True if any pattern matches `name`.
    fn matches(&self, name: &str) -> bool {
        match self {
            NameMatcher::Exact(v) => v.iter().any(|n| n == name),
            NameMatcher::Glob(v) => v.iter().any(|n| glob_match(n, name)),
            NameMatcher::Regex(v) => v.iter().any(|r| r.is_match(name)),
        }
    }
}

/// The regex crate's error on one line (its syntax errors span several,
/// with a caret under the offending spot).
fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled pattern would exceed {limit} bytes")
        }
        other => {
            let text = other.to_string();
            text.lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error:"))
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("error:")
                        .trim()
                        .to_string()
                })
                .unwrap_or_else(|| text.lines().last().unwrap_or("").trim().to_string())
        }
    }
}

/// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^` and ranges),
/// and `\` escapes.
pub(crate) fn glob_match(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative with one backtrack point for the last `*`: linear-ish, no
    // exponential blow-up on hostile patterns.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class_match(&p, pi, t[ti]) {
                        if ok {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == t[ti] {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if c == t[ti] {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`: Some((hit,
/// index after the class)), or None if the class is not closed.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if lo == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

fn names_param(
    q: &Query,
    keys: &[&str],
    ctx: Option<u32>,
) -> Result<Option<(String, Vec<String>)>, ApiError> {
    for k in keys {
        if let Some(v) = q.get(k) {
            let list =
                split_list(k, v, MAX_NAMES).map_err(|e| ApiError::bad(ctx, e.to_string()))?;
            return Ok(Some((k.to_string(), list)));
        }
    }
    Ok(None)
}

impl Api<'_> {
    /// Handles `/pmapi/[N/]command`. `path_ctx` is the N of the path form.
    pub fn handle(&self, command: &str, path_ctx: Option<&str>, req: &Request) -> Response {
        let q = match Query::parse(&req.query) {
            Ok(q) => q,
            Err(e) => return error_response(400, None, &e.to_string()),
        };
        let known = matches!(
            command,
            "context"
                | "metric"
                | "fetch"
                | "indom"
                | "profile"
                | "children"
                | "store"
                | "label"
                | "derive"
        );
        if !known {
            return error_response(
                400,
                None,
                &format!(
                    "unknown servlet: no handler for URL /pmapi/{command}: the commands are \
                     context, metric, fetch, indom, profile, children, store, label, derive and metrics"
                ),
            );
        }
        if req.method == "POST" && !matches!(command, "store" | "derive") {
            return error_response(
                405,
                None,
                &format!("POST is not allowed on /pmapi/{command}: use GET"),
            )
            .with_header("Allow", "GET, HEAD, OPTIONS");
        }
        // Required parameters are checked before a context is made, as
        // pmproxy does.
        if let Some(msg) = missing_params(command, &q, req.method == "POST") {
            return error_response(400, None, msg);
        }
        let given = path_ctx.or_else(|| q.get("context"));
        let ctx = match self.contexts.resolve(given, q.get("polltimeout")) {
            Ok(c) => c,
            Err(e) => {
                let c = match &e {
                    ContextError::Unknown(n) => Some(*n),
                    _ => None,
                };
                return error_response(400, c, &e.to_string());
            }
        };
        // The request is answered in its context: with the global derived
        // metrics and those /pmapi/derive added there.
        let derived = self.contexts.derived(ctx);
        let view = derived.view(self.host);
        let api = Api {
            host: &view,
            base: self.base,
            contexts: self.contexts,
            allow_store: self.allow_store,
            source: self.source,
            hostspec: self.hostspec,
        };
        api.answer(command, ctx, &q, req)
    }

    fn answer(&self, command: &str, ctx: u32, q: &Query, req: &Request) -> Response {
        let answer = match command {
            "context" => Ok(self.context(ctx)),
            "metric" => self.metric(ctx, q, req.deadline),
            "fetch" => self.fetch(ctx, q),
            "indom" => self.indom(ctx, q),
            "profile" => self.profile(ctx, q),
            "children" => self.children(ctx, q),
            "store" => self.store(ctx, q, &req.body),
            "label" => self.label(ctx, q, req.deadline),
            _ => self.derive(ctx, q, &req.body),
        };
        match answer {
            Ok(mut j) => {
                if let Json::Object(m) = &mut j {
                    m.insert("context".into(), json!(ctx));
                }
                json_response(200, &j)
            }
            Err(e) => error_response(e.status, e.context, &e.message),
        }
    }

    fn derive(&self, ctx: u32, q: &Query, body: &[u8]) -> Answer {
        let body = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad(Some(ctx), "the derive body is not UTF-8 text"))?;
        let expr = q.get("expr").or_else(|| (!body.is_empty()).then_some(body));
        // The context's derived metrics are defined over the host itself.
        super::derive::derive(self.base, self.contexts, ctx, q.get("name"), expr)
            .map_err(|m| ApiError::bad(Some(ctx), m))?;
        Ok(json!({ "success": true }))
    }

    fn context(&self, _ctx: u32) -> Json {
        json!({
            "source": self.source,
            "hostspec": self.hostspec,
            "labels": labels_json(self.host.context_labels()),
        })
    }

    fn metric_entry(&self, name: &str, pmid: Pmid) -> Result<Json, PmError> {
        let desc = self.host.desc(pmid)?;
        let labels = self.host.metric_labels(pmid).unwrap_or_default();
        let oneline = self
            .host
            .text(TextTarget::Metric(pmid), TextKind::OneLine)
            .unwrap_or_default();
        let help = self
            .host
            .text(TextTarget::Metric(pmid), TextKind::Help)
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| oneline.clone());
        Ok(metric_json(
            self.source,
            name,
            &desc,
            &labels,
            &oneline,
            &help,
        ))
    }

    fn metric(&self, ctx: u32, q: &Query, deadline: Instant) -> Answer {
        let names = names_param(q, &["prefix", "names", "name"], Some(ctx))?
            .map(|(_, l)| l)
            .unwrap_or_default();
        let roots = if names.is_empty() {
            vec![String::new()]
        } else {
            names
        };
        let single = roots.len() == 1;
        let mut out = Vec::new();
        for root in &roots {
            let leaves = match self.host.traverse(root) {
                Ok(l) => l,
                Err(e) => {
                    if single {
                        return Err(ApiError::bad(
                            Some(ctx),
                            format!("{root} traversal failed - {e}"),
                        ));
                    }
                    out.push(bad_name(root, &e.to_string()));
                    continue;
                }
            };
            for (i, (name, pmid)) in leaves.iter().enumerate() {
                if i % 64 == 63 && Instant::now() > deadline {
                    return Err(timed_out(ctx));
                }
                match self.metric_entry(name, *pmid) {
                    Ok(j) => out.push(j),
                    Err(e) => out.push(bad_name(name, &e.to_string())),
                }
            }
        }
        Ok(json!({ "metrics": out }))
    }

    fn fetch(&self, ctx: u32, q: &Query) -> Answer {
        let bad = || ApiError::bad(Some(ctx), "bad parameters passed");
        let (key, list) =
            names_param(q, &["names", "name", "pmids", "pmid"], Some(ctx))?.ok_or_else(bad)?;
        let singular = key == "name" || key == "pmid";
        if list.is_empty() {
            return Err(ApiError::bad(Some(ctx), PmError::TOOSMALL.to_string()));
        }
        let mut names = Vec::with_capacity(list.len());
        let mut pmids = Vec::with_capacity(list.len());
        for item in &list {
            let found = if key.starts_with("pmid") {
                parse_pmid(item).and_then(|p| {
                    self.host
                        .names_of(p)
                        .ok()
                        .and_then(|n| n.into_iter().next())
                        .map(|n| (n, p))
                })
            } else {
                self.host.lookup(item).ok().map(|p| (item.clone(), p))
            };
            match found {
                Some((n, p)) => {
                    names.push(n);
                    pmids.push(p);
                }
                None if singular => return Err(bad()),
                None => {}
            }
        }
        let profile = self.contexts.profile(ctx);
        let result = self.host.fetch_with(&pmids, &profile);
        Ok(fetch_json(&names, &result))
    }

    fn lookup_indom_of(&self, ctx: u32, name: &str) -> Result<InDom, ApiError> {
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
        let err = |e: super::query::QueryError| ApiError::bad(Some(ctx), e.to_string());
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

    fn indom(&self, ctx: u32, q: &Query) -> Answer {
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

    fn profile(&self, ctx: u32, q: &Query) -> Answer {
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

    fn children(&self, ctx: u32, q: &Query) -> Answer {
        let prefix = q.get("prefix").or_else(|| q.get("name")).unwrap_or("");
        let kids = self
            .host
            .children(prefix)
            .map_err(|e| ApiError::bad(Some(ctx), format!("child traversal failed - {e}")))?;
        let (leaf, nonleaf): (Vec<_>, Vec<_>) = kids.into_iter().partition(|c| c.leaf);
        Ok(json!({
            "name": prefix,
            "leaf": leaf.into_iter().map(|c| c.name).collect::<Vec<_>>(),
            "nonleaf": nonleaf.into_iter().map(|c| c.name).collect::<Vec<_>>(),
        }))
    }

    fn store(&self, ctx: u32, q: &Query, body: &[u8]) -> Answer {
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

    fn label(&self, ctx: u32, q: &Query, deadline: Instant) -> Answer {
        let (key, list) = names_param(q, &["names", "name", "pmids", "pmid"], Some(ctx))?
            .ok_or_else(|| {
                ApiError::bad(Some(ctx), "bad parameters passed: give names= or pmids=")
            })?;
        let mut out = Vec::new();
        for (n, item) in list.iter().enumerate() {
            if n % 64 == 63 && Instant::now() > deadline {
                return Err(timed_out(ctx));
            }
            let found = if key.starts_with("pmid") {
                parse_pmid(item).and_then(|p| {
                    self.host
                        .names_of(p)
                        .ok()
                        .and_then(|v| v.into_iter().next())
                        .map(|name| (name, p))
                })
            } else {
                self.host.lookup(item).ok().map(|p| (item.clone(), p))
            };
            let Some((name, pmid)) = found else {
                out.push(bad_name(item, &PmError::NAME.to_string()));
                continue;
            };
            let (labels, desc) = match (self.host.metric_labels(pmid), self.host.desc(pmid)) {
                (Ok(l), Ok(d)) => (l, d),
                (Err(e), _) | (_, Err(e)) => {
                    out.push(bad_name(&name, &e.to_string()));
                    continue;
                }
            };
            let mut entry = Map::new();
            entry.insert("name".into(), json!(name));
            entry.insert("pmid".into(), json!(pmid.to_string()));
            entry.insert("labels".into(), labels_json(&labels));
            if !desc.indom.is_null() {
                let insts = self.host.instances(desc.indom).unwrap_or_default();
                let own = self.host.instance_labels(desc.indom).unwrap_or_default();
                entry.insert("instances".into(), instances_json(&insts, &own, &labels));
            }
            out.push(Json::Object(entry));
        }
        Ok(json!({ "labels": out }))
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

fn timed_out(ctx: u32) -> ApiError {
    ApiError::bad(
        Some(ctx),
        "request timed out before the answer was complete: ask for fewer metrics",
    )
    .with_status(503)
}

/// Instances as pmproxy lists them: id, name, and the metric's labels
/// merged with each instance's own.
fn instances_json(insts: &[Instance], own: &[(u32, LabelSet)], base: &LabelSet) -> Json {
    let empty = LabelSet::new();
    let list = insts
        .iter()
        .map(|i| {
            let mine = own
                .iter()
                .find(|(id, _)| *id == i.id)
                .map_or(&empty, |(_, l)| l);
            json!({
                "instance": i.id,
                "name": i.name,
                "labels": labels_json(&LabelSet::merge([base, mine])),
            })
        })
        .collect();
    Json::Array(list)
}

fn bad_name(name: &str, message: &str) -> Json {
    json!({ "name": name, "message": message, "success": false })
}

/// One `/pmapi/metric` entry in pmproxy's shape (no `indom` key for a
/// singular metric; `text-help` falls back to the one-line text).
pub(crate) fn metric_json(
    source: &str,
    name: &str,
    desc: &Desc,
    labels: &LabelSet,
    oneline: &str,
    help: &str,
) -> Json {
    let mut j = pcp_core::render::json::metric_json(name, desc, labels, oneline, help);
    if let Json::Object(m) = &mut j {
        m.insert("series".into(), json!(ident(&format!("{source}\n{name}"))));
    }
    j
}

/// Which required parameters a command lacks (checked before making a
/// context, like pmproxy).
fn missing_params(command: &str, q: &Query, post: bool) -> Option<&'static str> {
    let any = |keys: &[&str]| keys.iter().any(|k| q.has(k));
    match command {
        "fetch" if !any(&["names", "name", "pmids", "pmid"]) => {
            Some("bad parameters: /pmapi/fetch needs names=, name=, pmids= or pmid=")
        }
        "indom" if !any(&["indom", "name"]) => {
            Some("bad parameters: /pmapi/indom needs name= (a metric) or indom=")
        }
        "profile" if !q.has("expr") => {
            Some("bad parameters: /pmapi/profile needs expr=add or expr=del")
        }
        "store" if !any(&["name", "pmid"]) => {
            Some("bad parameters: /pmapi/store needs name= or pmid=, and value=")
        }
        "store" if !post && !q.has("value") => {
            Some("bad parameters: /pmapi/store needs value= (or a POST body)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_pmproxy() {
        assert_eq!(parse_pmid("60.2.0"), Some(Pmid::from_parts(60, 2, 0)));
        let raw = (60u32 << 22) | (2 << 10);
        assert_eq!(
            parse_pmid(&raw.to_string()),
            Some(Pmid::from_parts(60, 2, 0))
        );
        assert_eq!(
            parse_pmid(&format!("0x{raw:x}")),
            Some(Pmid::from_parts(60, 2, 0))
        );
        assert_eq!(parse_pmid("garbage"), None);
        assert_eq!(parse_pmid("1.2"), None);
        assert_eq!(parse_pmid("999.0.0"), None);
        assert_eq!(parse_indom("60.2"), Some(InDom::from_parts(60, 2)));
        assert_eq!(parse_indom("x.y"), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*minute", "15 minute"));
        assert!(glob_match("1?", "15"));
        assert!(!glob_match("1?", "1"));
        assert!(glob_match("[0-9]*", "5 minute"));
        assert!(!glob_match("[!0-9]*", "5 minute"));
        assert!(glob_match("re[dx]", "red"));
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
        assert!(glob_match("*", ""));
        // Hostile patterns stay fast.
        let long = "a".repeat(5000);
        let t0 = std::time::Instant::now();
        assert!(!glob_match(&format!("{}b", "*a".repeat(200)), &long));
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn regexes_match_anywhere_and_bad_ones_are_refused() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = NameMatcher::new(Match::Regex, names(&["^1 ", "15$"]), Some(7)).unwrap();
        assert!(m.matches("1 minute"));
        assert!(m.matches("15"));
        assert!(!m.matches("5 minute"));
        let m =
            NameMatcher::new(Match::Regex, names(&["sd[a-c]", "[[:digit:]]{2}"]), None).unwrap();
        assert!(m.matches("/dev/sdb1"), "unanchored, as regexec(3)");
        assert!(m.matches("nvme0n12"));
        assert!(!m.matches("sdd"));
        let e = NameMatcher::new(Match::Regex, names(&["ok", "(re"]), Some(7)).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.context, Some(7));
        assert_eq!(
            e.message,
            "(re - invalid regular expression in 'iname': unclosed group"
        );
        let e = NameMatcher::new(Match::Regex, names(&["(a{1000}){1000}"]), None).unwrap_err();
        assert!(e.message.contains("exceed"), "{}", e.message);
        let m = NameMatcher::new(Match::Exact, names(&["red"]), None).unwrap();
        assert!(m.matches("red") && !m.matches("reddish"));
    }

    #[test]
    fn idents_are_stable_hex() {
        let a = ident("x");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, ident("x"));
        assert_ne!(a, ident("y"));
    }

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
