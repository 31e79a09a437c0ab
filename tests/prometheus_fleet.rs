//! A thousand endpoints behind real network delays (the test bed in
//! `fleet_support`: private network namespaces and a delay line), some
//! hanging, resetting or answering slowly: one fetch costs about the
//! slowest endpoint within the deadline (not the sum of their delays),
//! kept-alive connections are reused, late endpoints answer stale or with
//! PCP's per-value error, and under a real pmcd the agent always answers
//! before pmcd's timeout.

mod fleet_support;
#[path = "pmcd_support/mod.rs"]
mod pmcd_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fleet_support::{available, in_private_netns, Bed, Behaviour, Endpoint, Link};
use pcp_core::{Host, PmError, Value};
use pmda_prometheus::{prometheus_pmda, PrometheusConfig};

fn require_bed() -> bool {
    pcp_core::testing::require(
        "network namespace test bed",
        available(),
        "needs root, /dev/net/tun, ip (iproute2) and unshare",
    )
}

/// 1,000 endpoints: 850 at 50 ms, 50 at 200 ms with 20 ms jitter and 1%
/// loss, 50 hanging, 25 resetting, 25 answering over 3 s.
fn fleet() -> Vec<Endpoint> {
    (0..1000)
        .map(|i| {
            let (behaviour, link) = match i {
                0..850 => (Behaviour::Normal, Link::delay(50)),
                850..900 => (
                    Behaviour::Normal,
                    Link {
                        delay: Duration::from_millis(200),
                        jitter: Duration::from_millis(20),
                        loss: 0.01,
                    },
                ),
                900..950 => (Behaviour::Hang, Link::delay(50)),
                950..975 => (Behaviour::Reset, Link::delay(50)),
                _ => (Behaviour::Slow(Duration::from_secs(3)), Link::delay(50)),
            };
            Endpoint { behaviour, link }
        })
        .collect()
}

fn control(h: &Host, leaf: &str) -> HashMap<u32, Value> {
    let p = h.lookup(&format!("prometheus.control.{leaf}")).unwrap();
    h.fetch(&[p])
        .values
        .remove(0)
        .1
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn a_thousand_slow_endpoints_cost_one_fetch_about_the_slowest() {
    if !require_bed()
        || !in_private_netns("a_thousand_slow_endpoints_cost_one_fetch_about_the_slowest")
    {
        return;
    }
    let bed = Bed::start(fleet());
    let dir = tempfile::tempdir().unwrap();
    bed.write_config(dir.path(), "DEADLINE: 1\nTIMEOUT: 5\n");
    let t = Instant::now();
    let agent = prometheus_pmda(PrometheusConfig {
        config_dir: dir.path().to_path_buf(),
        ..PrometheusConfig::default()
    })
    .unwrap();
    let start_up = t.elapsed();
    let mut h = Host::new();
    h.load(Box::new(agent)).unwrap();
    // Every answering endpoint gets its names: within the first deadline,
    // or (a lost SYN waits a second for its retransmission) soon after.
    let answering: Vec<usize> = (0..900).collect();
    let lookup = |h: &Host| -> Result<Vec<pcp_core::Pmid>, String> {
        answering
            .iter()
            .map(|i| {
                h.lookup(&format!("prometheus.e{i:04}.endpoint"))
                    .map_err(|e| format!("e{i:04}: {e}"))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let pmids = loop {
        match lookup(&h) {
            Ok(p) => break p,
            Err(e) if Instant::now() > deadline => panic!("{e} (start-up {start_up:?})"),
            Err(e) => {
                // Only the lossy endpoints (850..900) may still be late.
                assert!(
                    e.get(1..5)
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| (850..900).contains(&i)),
                    "{e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let connects = |h: &Host| match control(h, "connections").remove(&pcp_core::PM_IN_NULL) {
        Some(Value::U64(n)) => n,
        v => panic!("{v:?}"),
    };
    let before = connects(&h);
    let mut walls = Vec::new();
    for round in 0..3 {
        let t = Instant::now();
        let r = h.fetch(&pmids);
        let wall = t.elapsed();
        walls.push(wall);
        let mut missing = Vec::new();
        for (k, (_, v)) in r.values.iter().enumerate() {
            let i = answering[k];
            match v {
                Ok(vals) => assert_eq!(vals[0].1, Value::Double(i as f64), "e{i:04}"),
                Err(e) => missing.push((i, *e)),
            }
        }
        // 1% loss may cost an endpoint a retransmission past the deadline
        // (it then answers stale, with its last value); none is lost.
        assert!(missing.is_empty(), "round {round}: {missing:?}");
        // The slowest answering endpoints are 200 ms (+ jitter, a lost
        // packet's retransmission) away; the hung ones are cut at the
        // 1 s deadline. In sequence the delays would add up to 82 s.
        assert!(
            wall < Duration::from_millis(1600),
            "round {round}: {wall:?}"
        );
    }
    eprintln!("start-up {start_up:?}, fetch walls {walls:?}");
    // The connections were kept and reused: no new ones for the 900.
    let after = connects(&h);
    assert!(after - before < 60, "{} new connections", after - before);
    // Hung endpoints: no names, and either still in flight or timed out;
    // resets: a failure status.
    let in_flight = control(&h, "in_flight");
    let status = control(&h, "status");
    for i in 900..950 {
        let c = i as u32 + 1;
        assert!(h.lookup(&format!("prometheus.e{i:04}.endpoint")).is_err());
        let s = status[&c].as_str().unwrap().to_string();
        assert!(
            in_flight[&c] == Value::U32(1) || s.contains("timed out"),
            "e{i:04}: {s}"
        );
    }
    for i in 950..975 {
        let s = status[&(i as u32 + 1)].as_str().unwrap().to_string();
        assert!(s.starts_with("failed"), "e{i:04}: {s}");
    }
    // The slow ones answer eventually (their 3 s exceed the deadline):
    // their names appear; until then their values are PM_ERR_AGAIN.
    std::thread::sleep(Duration::from_secs(3));
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.lookup("prometheus.e0999.endpoint").is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let p = h.lookup("prometheus.e0999.endpoint").unwrap();
    let v = h.fetch(&[p]).values.remove(0).1;
    assert!(
        v == Ok(vec![(pcp_core::PM_IN_NULL, Value::Double(999.0))]) || v == Err(PmError::AGAIN),
        "{v:?}"
    );
    drop(h);
    drop(bed);
}

#[test]
fn under_pmcd_the_agent_answers_before_pmcd_gives_up() {
    let pmapi = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pcp.pmapi"])
        .status()
        .is_ok_and(|s| s.success());
    if !require_bed()
        || !pmcd_support::require_pmcd("the agent under a private pmcd")
        || !pcp_core::testing::require("python3-pcp", pmapi, "a PMAPI client timing one fetch")
        || !in_private_netns("under_pmcd_the_agent_answers_before_pmcd_gives_up")
    {
        return;
    }
    // 300 endpoints 200 ms away; a third answer once (so they have names)
    // and then hang; every source asks for a deadline past pmcd's 5 s. The
    // agent still answers each request within its own 3.5 s, with the
    // hung sources' last values.
    let eps: Vec<Endpoint> = (0..300)
        .map(|i| Endpoint {
            behaviour: if i % 3 == 0 {
                Behaviour::HangAfter(1)
            } else {
                Behaviour::Normal
            },
            link: Link::delay(200),
        })
        .collect();
    let bed = Bed::start(eps);
    let conf = tempfile::tempdir().unwrap();
    bed.write_config(conf.path(), "DEADLINE: 20\nTIMEOUT: 30\n");
    let state = tempfile::tempdir().unwrap();
    let line = format!(
        "prometheus\t144\tpipe\tbinary notready\t{} --state-dir {} pmda prometheus --notready --prometheus-config {}",
        env!("CARGO_BIN_EXE_pcp-agent"),
        state.path().display(),
        conf.path().display()
    );
    let pmcd = pmcd_support::PrivatePmcd::start(
        &[pmcd_support::PMCD_DSO_LINE.to_string(), line],
        &["prometheus\t144:*:*".to_string()],
    );
    assert!(
        pmcd.wait_for("prometheus.e0001", Duration::from_secs(30)),
        "{}",
        pmcd.log()
    );
    let names: Vec<String> = (0..300)
        .map(|i| format!("prometheus.e{i:04}.endpoint"))
        .collect();
    // One pmFetch of all 300 (PCP's Python PMAPI, as a client would):
    // its time and the values it got.
    let script = "import sys, time\n\
from pcp import pmapi\n\
import cpmapi as c\n\
ctx = pmapi.pmContext(c.PM_CONTEXT_HOST, sys.argv[1])\n\
ids = ctx.pmLookupName(sys.argv[2:])\n\
t = time.time()\n\
r = ctx.pmFetch(ids)\n\
took = time.time() - t\n\
print(took, sum(1 for i in range(r.contents.numpmid) if r.contents.get_numval(i) == 1))\n";
    for round in 0..3 {
        let out = pmcd.run(
            std::process::Command::new("/usr/bin/python3")
                .args(["-c", script, &pmcd.host()])
                .args(&names),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut w = text.split_whitespace();
        let took: f64 = w.next().unwrap().parse().unwrap();
        let good: usize = w.next().unwrap().parse().unwrap();
        eprintln!(
            "round {round}: one fetch of 300 endpoints, 100 hung: {took:.3} s, {good} values"
        );
        assert_eq!(good, 300, "the hung ones answer with their last values");
        assert!(took < 4.0, "{took}");
    }
    let out = pmcd.run(pmcd.tool("pminfo").args(["-f", "prometheus.control.stale"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("inst [0 or \"control\"] value 100"), "{text}");
    let log = pmcd.log();
    assert!(
        !log.contains("timeout") && !log.contains("not responding"),
        "pmcd gave up on the agent:\n{log}"
    );
}
