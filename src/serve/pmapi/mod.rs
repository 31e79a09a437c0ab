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

use std::time::Instant;

use pcp_core::labels::LabelSet;
use pcp_core::render::json::fetch_json;
use pcp_core::{Desc, InDom, Instance, PmError, Pmapi, Pmid, TextKind, TextTarget};
use serde_json::{json, Map, Value as Json};

use super::context::{ContextError, Contexts};
use super::http::{Request, Response};
use super::query::{split_list, Query};

mod instances;
mod matching;

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
    fn idents_are_stable_hex() {
        let a = ident("x");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, ident("x"));
        assert_ne!(a, ident("y"));
    }
}
