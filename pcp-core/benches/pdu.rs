//! PDU codec and daemon-loop rates: `cargo bench -p pcp-core --bench pdu`.
//!
//! Plain `Instant` loops. Each figure is printed with a reference measured
//! in the same run: encoding a fetch reply straight from the agent's
//! values is compared with building the generic `ResultPdu` first (what a
//! straightforward encoder does), and every byte rate with a `memcpy` of
//! the same bytes (the floor any codec pays).

use std::hint::black_box;
use std::time::{Duration, Instant};

use pcp_core::agent::{Metrics, Spec};
use pcp_core::daemon::{DaemonOptions, Session};
use pcp_core::pdu::*;
use pcp_core::*;

/// Nanoseconds per call of `f`: the best of several rounds within
/// `budget`, so other load on a shared machine inflates it less.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..100 {
        f();
    }
    let rounds = 7;
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let mut n = 0u64;
        let t = Instant::now();
        while t.elapsed() < budget / rounds {
            for _ in 0..20 {
                f();
            }
            n += 20;
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

struct Agent {
    table: Metrics<()>,
}

impl Pmda for Agent {
    fn name(&self) -> &str {
        "bench"
    }
    fn domain(&self) -> u32 {
        400
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        req.pmids.iter().map(|&p| Ok(values_of(p))).collect()
    }
}

/// A mix like a system agent's: mostly 64-bit counters, some 32-bit
/// values and per-CPU sets, a few strings.
fn values_of(p: Pmid) -> InstValues {
    match p.item() % 10 {
        0..=4 => vec![(PM_IN_NULL, Value::U64(123_456_789_000 + p.item() as u64))],
        5 | 6 => vec![(PM_IN_NULL, Value::U32(p.item()))],
        7 | 8 => (0..8).map(|i| (i, Value::U64(1000 * i as u64))).collect(),
        _ => vec![(PM_IN_NULL, Value::String(format!("value of {p}")))],
    }
}

fn ty_of(p: Pmid) -> Type {
    match p.item() % 10 {
        0..=4 | 7 | 8 => Type::U64,
        5 | 6 => Type::U32,
        _ => Type::String,
    }
}

/// One result for `scripts/bench-summary.sh`: `ratio` as `ratio_text`
/// says (strings are plain ASCII, so Rust's debug quoting is JSON's).
#[allow(clippy::too_many_arguments, dead_code)]
fn summary(
    group: &str,
    what: &str,
    ours: f64,
    unit: &str,
    reference: &str,
    ref_value: f64,
    ratio: f64,
    ratio_text: &str,
    note: &str,
) {
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{what:?},\"ours\":{ours},\"unit\":{unit:?},\"ref\":{reference:?},\"ref_value\":{ref_value},\"ratio\":{ratio},\"ratio_text\":{ratio_text:?},\"note\":{note:?}}}"
    );
}

fn main() {
    let budget = Duration::from_millis(700);
    let n = 100u32;
    let pmids: Vec<Pmid> = (0..n).map(|i| Pmid::from_parts(400, 0, i)).collect();
    let mut table = Metrics::new(400);
    for &p in &pmids {
        let spec = Spec {
            cluster: p.cluster(),
            item: p.item(),
            ty: ty_of(p),
            sem: Semantics::Counter,
            units: Units::COUNT,
            indom: matches!(p.item() % 10, 7 | 8).then_some(0),
        };
        table
            .add(format!("bench.m{}", p.item()), spec, ())
            .unwrap()
            .oneline = "x".into();
    }
    let answers: Vec<(Pmid, MetricResult)> = pmids.iter().map(|&p| (p, Ok(values_of(p)))).collect();
    let enc = Encoder::default();
    let mut out = Vec::with_capacity(1 << 16);

    println!("PDU codec, {n} metrics per fetch (mixed U64/U32/per-instance/string values)\n");

    // Encoding a fetch reply.
    let direct = rate(budget, || {
        out.clear();
        enc.fetch_result(0, black_box(&answers), &mut out);
        black_box(&out);
    });
    let reply_len = out.len();
    let generic = rate(budget, || {
        let vsets = answers
            .iter()
            .map(|(p, r)| VSet {
                pmid: *p,
                values: match r {
                    Err(e) => VSetValues::Error(e.code()),
                    Ok(v) if v.iter().all(|(_, x)| insitu_from_value(x).is_some()) => {
                        VSetValues::Insitu(
                            v.iter()
                                .map(|(i, x)| (*i, insitu_from_value(x).unwrap_or(0)))
                                .collect(),
                        )
                    }
                    Ok(v) => VSetValues::Blocks {
                        valfmt: PM_VAL_DPTR,
                        values: v.iter().map(|(i, x)| (*i, block_from_value(x))).collect(),
                    },
                },
            })
            .collect();
        out.clear();
        enc.encode(
            &Pdu::Result(ResultPdu {
                tv_sec: 0,
                tv_usec: 0,
                vsets,
            }),
            0,
            &mut out,
        );
        black_box(&out);
    });
    let copy_src = out.clone();
    let mut copy_dst = vec![0u8; copy_src.len()];
    let memcpy = rate(budget, || {
        copy_dst.copy_from_slice(black_box(&copy_src));
        black_box(&copy_dst);
    });
    println!(
        "encode RESULT ({reply_len} bytes), direct from values: {direct:>8.0} ns  ({:.0} MB/s)",
        reply_len as f64 / direct * 1e3
    );
    println!("encode RESULT via generic ResultPdu (reference):    {generic:>8.0} ns  -> direct is {:.1}x faster", generic / direct);
    summary(
        "pdu-encode",
        &format!("PDU: encode a {n}-metric fetch reply"),
        direct / 1000.0,
        "us",
        "building the generic PDU first",
        generic / 1000.0,
        generic / direct,
        "x faster",
        "",
    );
    println!("memcpy of the same bytes (floor):                    {memcpy:>8.0} ns  -> direct costs {:.0}x a memcpy", direct / memcpy);

    // Decoding.
    let mut fetch_pdu = Vec::new();
    enc.encode(
        &Pdu::Fetch(FetchPdu {
            ctx: 0,
            pmids: pmids.clone(),
        }),
        7,
        &mut fetch_pdu,
    );
    let dec_fetch = rate(budget, || {
        black_box(decode(black_box(&fetch_pdu)).unwrap());
    });
    let dec_result = rate(budget, || {
        black_box(decode(black_box(&copy_src)).unwrap());
    });
    println!(
        "decode FETCH ({} bytes):                           {dec_fetch:>8.0} ns",
        fetch_pdu.len()
    );
    println!("decode RESULT ({reply_len} bytes):                          {dec_result:>8.0} ns  ({:.0} MB/s)", reply_len as f64 / dec_result * 1e3);

    // Labels.
    let set = LabelSet::new()
        .with("agent", "linux")
        .with("device_type", "cpu")
        .with("indom_name", "per cpu");
    let lab = rate(budget, || {
        let w = labelset_to_wire(black_box(&set), PM_IN_NULL, 16).unwrap();
        out.clear();
        enc.encode(
            &Pdu::Label(LabelPdu {
                ident: 1,
                kind: 16,
                sets: vec![w],
            }),
            0,
            &mut out,
        );
        black_box(&out);
    });
    println!("encode LABEL (3 labels, JSONB index):              {lab:>8.0} ns");

    // The whole request path of the daemon loop, without pipes.
    let mut agent = Agent { table };
    let mut session = Session::new(&mut agent, &DaemonOptions::default());
    let full = rate(budget, || {
        black_box(session.handle(black_box(&fetch_pdu)).unwrap());
    });
    let mut desc_req = Vec::new();
    enc.encode(&Pdu::DescReq(pmids[3]), 0, &mut desc_req);
    let desc = rate(budget, || {
        black_box(session.handle(black_box(&desc_req)).unwrap());
    });
    println!("\ndaemon FETCH handled (decode, agent fetch, check against descriptors, encode): {full:>8.0} ns = {:.0} fetches/s", 1e9 / full);
    summary(
        "pdu-daemon",
        &format!("PDU daemon: one {n}-metric FETCH handled end to end"),
        full / 1000.0,
        "us",
        "",
        f64::NAN,
        f64::NAN,
        "",
        &format!("{:.0} fetches/s", 1e9 / full),
    );
    println!("daemon DESC_REQ handled:                                                        {desc:>8.0} ns = {:.0} requests/s", 1e9 / desc);
}
