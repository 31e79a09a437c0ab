//! `serve --profile`: the profiler's pages and files.
//!
//! - `GET /debug/pprof/profile?seconds=N` (Go's net/http/pprof path): the
//!   profiles of the last N seconds (30 by default) merged into one
//!   gzipped pprof; `pid=`, `service_name=` and `type=cpu|off_cpu` narrow
//!   it. The profiler runs continuously, so this answers at once with
//!   the intervals already collected, where Go's handler would wait N s;
//! - `GET /profiles`: the kept intervals and the profiler's counters, JSON;
//! - `GET /profiles/pprof?id=ID`, `/profiles/folded?...`: one interval's
//!   pprof file, or folded stacks of an interval or a window;
//! - `GET /profiles/flamegraph?...`: a page with the flame graph of a
//!   window or an interval (`id=`), or the diff of two intervals
//!   (`base=ID&compare=ID`: red where `compare` grew, blue where it
//!   shrank), rendered on the server so it needs no script;
//!   `/profiles/flamegraph.svg?...` is the SVG alone (interactive: zoom,
//!   search).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pcp_profile::store::{Filter, ProfileStore};
use pcp_profile::{flame, pprof, Profile, ProfileKind};

use super::http::{Request, Response};
use super::query::Query;

/// Longest window `seconds=` may ask for.
const MAX_SECONDS: u64 = 24 * 3600;

/// Answers the profiler's paths; `None` for any other path.
pub(super) fn route(store: &ProfileStore, req: &Request) -> Option<Response> {
    let path = req.path.as_str();
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return None;
    }
    if !(path == "/debug/pprof/profile" || path == "/profiles" || path.starts_with("/profiles/")) {
        return None;
    }
    let q = match Query::parse(&req.query) {
        Ok(q) => q,
        Err(e) => return Some(Response::text(400, e.to_string())),
    };
    Some(match answer(store, path, &q) {
        Ok(r) => r,
        Err((status, msg)) => Response::text(status, msg),
    })
}

type Answer = Result<Response, (u16, String)>;

fn answer(store: &ProfileStore, path: &str, q: &Query) -> Answer {
    match path {
        "/debug/pprof/profile" => {
            let p = window(store, q, 30)?;
            Ok(pprof_response(&p, "profile.pb.gz"))
        }
        "/profiles" => Ok(listing(store)),
        "/profiles/pprof" => {
            let p = by_id(store, q, "id")?;
            Ok(pprof_response(
                &p,
                &format!("{}-{}.pb.gz", p.service_name, p.kind.name()),
            ))
        }
        "/profiles/folded" => {
            let p = chosen(store, q)?;
            Ok(Response::new(
                200,
                "text/plain; charset=utf-8",
                flame::folded(&p),
            ))
        }
        "/profiles/flamegraph.svg" => {
            let svg = svg_of(store, q)?;
            Ok(Response::new(200, "image/svg+xml", svg))
        }
        "/profiles/flamegraph" => page(store, q),
        _ => Err((
            404,
            format!(
                "no such page: {path}\nthe profiler answers /debug/pprof/profile, /profiles, \
                 /profiles/flamegraph, /profiles/flamegraph.svg, /profiles/folded, /profiles/pprof"
            ),
        )),
    }
}

fn number<T: std::str::FromStr>(q: &Query, key: &str) -> Result<Option<T>, (u16, String)> {
    match q.get(key) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| (400, format!("{key}={v:?} is not a valid number"))),
    }
}

fn filter(q: &Query) -> Result<Filter, (u16, String)> {
    let kind = match q.get("type") {
        None | Some("") => None,
        Some(t) => Some(ProfileKind::from_name(t).ok_or((
            400,
            format!("type={t:?}: the profile types are cpu and off_cpu"),
        ))?),
    };
    Ok(Filter {
        kind,
        service_name: q
            .get("service_name")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        pid: number(q, "pid")?,
    })
}

/// The merged profiles of the last `seconds=` (default `default_secs`).
fn window(store: &ProfileStore, q: &Query, default_secs: u64) -> Result<Profile, (u16, String)> {
    let secs: u64 = number(q, "seconds")?.unwrap_or(default_secs);
    if secs == 0 || secs > MAX_SECONDS {
        return Err((400, format!("seconds={secs} is outside 1..={MAX_SECONDS}")));
    }
    let since = SystemTime::now() - Duration::from_secs(secs);
    let f = filter(q)?;
    store.window(since, &f).ok_or_else(|| {
        (
            404,
            format!(
                "no {} samples in the last {secs} s{}{} yet: profiles are gathered every {:?}",
                f.kind.unwrap_or(ProfileKind::Cpu).name(),
                f.service_name
                    .map(|s| format!(" for service_name={s}"))
                    .unwrap_or_default(),
                f.pid.map(|p| format!(" for pid {p}")).unwrap_or_default(),
                store.collect_interval
            ),
        )
    })
}

fn by_id(store: &ProfileStore, q: &Query, key: &str) -> Result<Profile, (u16, String)> {
    let id: u64 = number(q, key)?.ok_or((400, format!("{key}= is required")))?;
    let p = store.get(id).ok_or((
        404,
        format!("no interval {id}: it is not (or no longer) kept; see /profiles"),
    ))?;
    Ok(match number::<u32>(q, "pid")? {
        Some(pid) => p.only_pid(pid),
        None => (*p).clone(),
    })
}

/// One interval (`id=`) or a window (`seconds=`, default 300).
fn chosen(store: &ProfileStore, q: &Query) -> Result<Profile, (u16, String)> {
    if q.get("id").is_some_and(|v| !v.is_empty()) {
        by_id(store, q, "id")
    } else {
        window(store, q, 300)
    }
}

fn title_of(p: &Profile) -> String {
    format!(
        "{} {} {} .. {}",
        p.service_name,
        p.kind.name(),
        stamp(p.start),
        stamp(p.end())
    )
}

fn svg_of(store: &ProfileStore, q: &Query) -> Result<Vec<u8>, (u16, String)> {
    let internal = |e: pcp_profile::ProfileError| (500, e.to_string());
    if q.get("base").is_some_and(|v| !v.is_empty()) {
        let base = by_id(store, q, "base")?;
        let compare = by_id(store, q, "compare")?;
        if base.kind != compare.kind {
            return Err((
                400,
                "base and compare are profiles of different types".into(),
            ));
        }
        let title = format!("diff: {} -> {}", title_of(&base), title_of(&compare));
        flame::diff_svg(&base, &compare, &title).map_err(internal)
    } else {
        let p = chosen(store, q)?;
        flame::svg(&p, &title_of(&p)).map_err(internal)
    }
}

fn pprof_response(p: &Profile, filename: &str) -> Response {
    Response::new(200, "application/octet-stream", pprof::encode_gzip(p)).with_header(
        "Content-Disposition",
        format!(
            "attachment; filename=\"{}\"",
            pcp_profile::output::file_safe(filename)
        ),
    )
}

fn listing(store: &ProfileStore) -> Response {
    let s = store.stats.snapshot();
    let targets: serde_json::Map<String, serde_json::Value> = s
        .targets
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                serde_json::json!({
                    "samples": t.samples, "interval_samples": t.interval_samples,
                    "off_cpu_ns": t.off_cpu_ns, "interval_off_cpu_ns": t.interval_off_cpu_ns,
                }),
            )
        })
        .collect();
    let body = serde_json::json!({
        "sample_rate": store.sample_rate,
        "collect_interval_ms": store.collect_interval.as_millis() as u64,
        "stats": {
            "running": s.running, "intervals": s.intervals, "samples": s.samples,
            "lost_samples": s.lost_samples, "stack_errors": s.stack_errors,
            "lost_events": s.lost_events, "parse_errors": s.parse_errors,
            "symbolize_hits": s.symbolize_hits, "symbolize_misses": s.symbolize_misses,
            "push_sent": s.push_sent, "push_errors": s.push_errors,
            "push_dropped": s.push_dropped, "push_queue_depth": s.push_queue_depth,
            "files_written": s.files_written, "write_errors": s.write_errors,
            "last_error": s.last_error, "targets": targets,
        },
        "profiles": store.list(),
    });
    let mut b = serde_json::to_vec_pretty(&body).unwrap_or_default();
    b.push(b'\n');
    Response::new(200, "application/json", b)
}

fn stamp(t: SystemTime) -> String {
    let s = pcp_profile::output::utc_stamp(t);
    // 20260101T120000Z -> 2026-01-01 12:00:00Z
    format!(
        "{}-{}-{} {}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The flame-graph page: controls, the chosen graph inline, the intervals.
fn page(store: &ProfileStore, q: &Query) -> Answer {
    let list = store.list();
    let s = store.stats.snapshot();
    let arg = |k: &str| q.get(k).unwrap_or("").to_string();
    let (kind, svc, seconds, pid) = (arg("type"), arg("service_name"), arg("seconds"), arg("pid"));
    let (id, base, compare) = (arg("id"), arg("base"), arg("compare"));
    let graph = match svg_of(store, q) {
        Ok(svg) => {
            let text = String::from_utf8_lossy(&svg).into_owned();
            let start = text.find("<svg").unwrap_or(0);
            format!("<div class=\"graph\">{}</div>", &text[start..])
        }
        Err((_, msg)) => format!("<p class=\"empty\">{}</p>", esc(&msg)),
    };
    let mut services: Vec<&str> = list.iter().map(|p| p.service_name.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let opt = |v: &str, label: &str, cur: &str| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            esc(v),
            if v == cur { " selected" } else { "" },
            esc(label)
        )
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>pcp-agent profiles</title>\
         <style>body{{font-family:sans-serif;margin:12px;color:#222}}h1{{font-size:20px;margin:4px 0}}\
         .stats{{color:#555;font-size:13px;margin-bottom:8px}}form{{display:inline-block;margin:4px 16px 4px 0}}\
         label{{font-size:13px;margin-right:6px}}.graph svg{{width:100%;height:auto;border:1px solid #ddd}}\
         table{{border-collapse:collapse;font-size:12px;margin-top:10px}}td,th{{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}}\
         .empty{{color:#a00}}</style></head><body>\
         <h1>pcp-agent profiles</h1><div class=\"stats\" id=\"stats\">{} Hz every {:?} &middot; {} intervals &middot; \
         {} samples ({} lost, {} stack errors) &middot; {} frames resolved, {} without symbol &middot; \
         push: {} sent, {} errors, {} dropped, {} queued</div>",
        store.sample_rate,
        store.collect_interval,
        s.intervals,
        s.samples,
        s.lost_samples,
        s.stack_errors,
        s.symbolize_hits,
        s.symbolize_misses,
        s.push_sent,
        s.push_errors,
        s.push_dropped,
        s.push_queue_depth
    );
    // The window form.
    let _ = write!(
        h,
        "<form method=\"get\" action=\"/profiles/flamegraph\"><label>service <select name=\"service_name\">{}",
        opt("", "all", &svc)
    );
    for sv in &services {
        h.push_str(&opt(sv, sv, &svc));
    }
    let _ = write!(
        h,
        "</select></label><label>type <select name=\"type\">{}{}</select></label>\
         <label>last <select name=\"seconds\">{}{}{}{}</select></label>\
         <label>pid <input name=\"pid\" size=\"7\" value=\"{}\"></label><button>show</button></form>",
        opt("cpu", "cpu", &kind),
        opt("off_cpu", "off-CPU", &kind),
        opt("60", "1 min", &seconds),
        opt("300", "5 min", &seconds),
        opt("900", "15 min", &seconds),
        opt("3600", "1 h", &seconds),
        esc(&pid)
    );
    // The diff form.
    let mut intervals = String::new();
    for p in &list {
        let label = format!(
            "#{} {} {} {}",
            p.id,
            p.service_name,
            p.kind,
            stamp(UNIX_EPOCH + Duration::from_millis(p.start_ms))
        );
        intervals.push_str(&opt(&p.id.to_string(), &label, ""));
    }
    let sel = |cur: &str| {
        intervals.replace(
            &format!("value=\"{cur}\">"),
            &format!("value=\"{cur}\" selected>"),
        )
    };
    let _ = write!(
        h,
        "<form method=\"get\" action=\"/profiles/flamegraph\"><label>diff <select name=\"base\">{}</select></label>\
         <label>&rarr; <select name=\"compare\">{}</select></label><button>diff</button></form>",
        sel(&base),
        sel(&compare)
    );
    let raw_svg = format!("/profiles/flamegraph.svg?{}", esc(&query_of(q)));
    let _ = write!(
        h,
        "<div style=\"font-size:12px\"><a href=\"{raw_svg}\">open the SVG alone</a> (click to zoom, Ctrl-F to search){}</div>{graph}",
        if id.is_empty() { String::new() } else { format!(" &middot; interval #{}", esc(&id)) }
    );
    h.push_str("<table><tr><th>#</th><th>service</th><th>type</th><th>start (UTC)</th><th>s</th><th>total</th><th>pids</th><th></th></tr>");
    let mut prev: std::collections::HashMap<(&str, &str), u64> = std::collections::HashMap::new();
    for p in list.iter().rev() {
        let diff = prev
            .get(&(p.service_name.as_str(), p.kind))
            .map(|later| format!(" <a href=\"/profiles/flamegraph?base={}&amp;compare={later}\">diff with next</a>", p.id))
            .unwrap_or_default();
        prev.insert((p.service_name.as_str(), p.kind), p.id);
        let _ = write!(
            h,
            "<tr><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td>\
             <td><a href=\"/profiles/flamegraph?id={id}\">flame</a> <a href=\"/profiles/pprof?id={id}\">pprof</a> \
             <a href=\"/profiles/folded?id={id}\">folded</a>{diff}</td></tr>",
            esc(&p.service_name),
            p.kind,
            stamp(UNIX_EPOCH + Duration::from_millis(p.start_ms)),
            p.duration_ms as f64 / 1000.0,
            p.total,
            p.pids.len(),
            id = p.id
        );
    }
    h.push_str("</table></body></html>\n");
    Ok(Response::new(200, "text/html; charset=utf-8", h).with_header("Cache-Control", "no-cache"))
}

/// The query string of `q`'s known keys, re-encoded.
fn query_of(q: &Query) -> String {
    let mut parts = Vec::new();
    for k in [
        "id",
        "base",
        "compare",
        "seconds",
        "service_name",
        "type",
        "pid",
    ] {
        if let Some(v) = q.get(k).filter(|v| !v.is_empty()) {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            parts.push(format!("{k}={enc}"));
        }
    }
    parts.join("&")
}
