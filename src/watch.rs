//! `pcp-agent watch`: live values like pmval and pmrep. Counters are shown
//! as per-second rates (time counters as utilisation), instances as
//! columns, one line per sample; `--json` prints one JSON object per sample.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use pcp_core::rate::{rate_units, Converted, RateConverter};
use pcp_core::{Desc, InDom, Instance, Pmapi, Pmid};
use serde_json::{json, Map, Value as Json};

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Metric names (leaves or subtrees).
    pub names: Vec<String>,
    /// Time between samples.
    pub interval: Duration,
    /// Number of samples (None: until interrupted).
    pub samples: Option<u64>,
    /// One JSON object per sample instead of columns.
    pub json: bool,
}

struct Watched {
    name: String,
    pmid: Pmid,
    desc: Desc,
}

/// Resolves names (expanding subtrees) to watched metrics.
fn resolve(host: &dyn Pmapi, names: &[String]) -> Result<Vec<Watched>, String> {
    let mut out = Vec::new();
    for n in names {
        let leaves = match host.lookup(n) {
            Ok(p) => vec![(n.clone(), p)],
            Err(_) => host.traverse(n).map_err(|e| format!("{n}: {e}"))?,
        };
        if leaves.is_empty() {
            return Err(format!("{n}: Unknown metric name"));
        }
        for (name, pmid) in leaves {
            let desc = host.desc(pmid).map_err(|e| format!("{name}: {e}"))?;
            out.push(Watched { name, pmid, desc });
        }
    }
    Ok(out)
}

fn inst_name(
    cache: &mut HashMap<InDom, Vec<Instance>>,
    host: &dyn Pmapi,
    indom: InDom,
    id: u32,
) -> String {
    let find = |v: &Vec<Instance>| v.iter().find(|i| i.id == id).map(|i| i.name.clone());
    if let Some(n) = cache.get(&indom).and_then(find) {
        return n;
    }
    let fresh = host.instances(indom).unwrap_or_default();
    let n = find(&fresh).unwrap_or_else(|| id.to_string());
    cache.insert(indom, fresh);
    n
}

fn fmt_num(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e12 {
        return format!("{x:.0}");
    }
    if !(1e-3..1e9).contains(&a) {
        format!("{x:.3e}")
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

/// Runs the watch loop, printing to standard output.
pub fn run(host: &dyn Pmapi, opts: &WatchOptions) -> Result<(), String> {
    let watched = resolve(host, &opts.names)?;
    let pmids: Vec<Pmid> = watched.iter().map(|w| w.pmid).collect();
    let mut rates = RateConverter::new();
    let mut indoms: HashMap<InDom, Vec<Instance>> = HashMap::new();
    // Column layout, fixed by the first sample's instances.
    let mut columns: Option<Vec<(usize, u32)>> = None;
    let mut n = 0u64;
    let mut next = Instant::now();
    while opts.samples.is_none_or(|s| n < s) {
        let result = host.fetch(&pmids);
        let mut sample: Vec<HashMap<u32, Option<Converted>>> = Vec::with_capacity(watched.len());
        for (w, (_, r)) in watched.iter().zip(result.values.iter()) {
            let conv = rates
                .convert_result(&w.desc, r, result.timestamp)
                .unwrap_or_default();
            sample.push(conv.into_iter().collect());
        }
        let stamp = humantime(result.timestamp);
        if opts.json {
            let mut values = Map::new();
            for (w, (vals, (_, r))) in watched.iter().zip(sample.iter().zip(result.values.iter())) {
                let entry = match r {
                    Err(e) => json!({"error": e.to_string()}),
                    Ok(_) if w.desc.indom.is_null() => conv_json(vals.values().next()),
                    Ok(_) => {
                        let mut m = Map::new();
                        let mut ids: Vec<&u32> = vals.keys().collect();
                        ids.sort();
                        for id in ids {
                            m.insert(
                                inst_name(&mut indoms, host, w.desc.indom, *id),
                                conv_json(vals.get(id)),
                            );
                        }
                        Json::Object(m)
                    }
                };
                values.insert(w.name.clone(), entry);
            }
            let ts = result
                .timestamp
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            println!(
                "{}",
                json!({"timestamp": ts, "time": stamp, "values": values})
            );
        } else {
            if columns.is_none() {
                let mut cols = Vec::new();
                for (i, w) in watched.iter().enumerate() {
                    let mut ids: Vec<u32> = sample[i].keys().copied().collect();
                    ids.sort_unstable();
                    if ids.is_empty() {
                        ids.push(pcp_core::PM_IN_NULL);
                    }
                    cols.extend(ids.into_iter().map(|id| (i, id)));
                    let _ = w;
                }
                print_header(host, &watched, &cols, &mut indoms);
                columns = Some(cols);
            }
            let mut line = format!("{stamp:>8}");
            for (i, id) in columns.as_deref().unwrap_or_default() {
                let text = match &result.values[*i].1 {
                    Err(_) => "?".to_string(),
                    Ok(_) => match sample[*i].get(id) {
                        Some(Some(Converted::Number(x))) => fmt_num(*x),
                        Some(Some(Converted::Other(v))) => v.to_string(),
                        Some(None) => "N/A".to_string(),
                        None => "-".to_string(),
                    },
                };
                let width = col_width(&watched[*i].name);
                let _ = write!(line, " {text:>width$}");
            }
            println!("{line}");
        }
        n += 1;
        if opts.samples.is_some_and(|s| n >= s) {
            break;
        }
        next += opts.interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    Ok(())
}

fn col_width(name: &str) -> usize {
    abbreviate(name).len().clamp(10, 24)
}

/// pmrep-style short names: every component but the last cut to one letter.
fn abbreviate(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            s.push_str(p);
        } else {
            s.push_str(&p[..p.len().min(1)]);
            s.push('.');
        }
    }
    s
}

fn print_header(
    host: &dyn Pmapi,
    watched: &[Watched],
    cols: &[(usize, u32)],
    indoms: &mut HashMap<InDom, Vec<Instance>>,
) {
    let mut names = format!("{:>8}", "");
    let mut insts = format!("{:>8}", "");
    let mut units = format!("{:>8}", "");
    for (i, id) in cols {
        let w = &watched[*i];
        let width = col_width(&w.name);
        let mut short = abbreviate(&w.name);
        short.truncate(width);
        let _ = write!(names, " {short:>width$}");
        let inst = if w.desc.indom.is_null() {
            String::new()
        } else {
            let mut s = inst_name(indoms, host, w.desc.indom, *id);
            s.truncate(width);
            s
        };
        let _ = write!(insts, " {inst:>width$}");
        let u = rate_units(&w.desc);
        let mut label = if w.desc.sem == pcp_core::Semantics::Counter
            && u.is_dimensionless()
            && !w.desc.units.is_dimensionless()
        {
            "util".to_string()
        } else {
            u.to_string()
        };
        label.truncate(width);
        let _ = write!(units, " {label:>width$}");
    }
    println!("{names}");
    if cols.iter().any(|(i, _)| !watched[*i].desc.indom.is_null()) {
        println!("{insts}");
    }
    println!("{units}");
}

fn conv_json(c: Option<&Option<Converted>>) -> Json {
    match c {
        Some(Some(Converted::Number(x))) => serde_json::Number::from_f64(*x)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Some(Some(Converted::Other(v))) => pcp_core::render::json::value_json(v),
        _ => Json::Null,
    }
}

/// Local wall-clock time of day, HH:MM:SS.
fn humantime(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into the struct we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations() {
        assert_eq!(abbreviate("kernel.all.cpu.user"), "k.a.c.user");
        assert_eq!(abbreviate("load"), "load");
    }
}
