//! The agent end to end through pcp-core's host, its sources over time:
//! scripts, rescans, restarts, parallel and slow sources, limits,
//! background scraping, the example config directory.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pcp_core::{PmError, Value};

#[test]
fn scripts_good_failing_hanging_and_not_executable() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "good.sh",
        "#!/bin/sh\necho 'script_value{k=\"v\"} 42'\necho 'to the log' >&2\n",
        0o755,
    );
    let bad = write(
        d.path(),
        "bad.sh",
        "#!/bin/sh\necho 'lost 1'\nexit 3\n",
        0o755,
    );
    write(
        d.path(),
        "hang.sh",
        "#!/bin/sh\necho 'hang_value 1'\nsleep 30\n",
        0o755,
    );
    write(d.path(), "plain.sh", "#!/bin/sh\necho 'never 1'\n", 0o644);
    let noexec = write(d.path(), "broken.sh", "#!/nonexistent/interpreter\n", 0o755);
    let t = Instant::now();
    let h = host(d.path(), |c| c.timeout = Duration::from_millis(700));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "start-up took {:?}",
        t.elapsed()
    );
    let srcs: Vec<String> = instances(&h, "prometheus.control.calls")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(srcs, ["control", "bad", "broken", "good", "hang"]);
    assert_eq!(
        values_by_name(&h, "prometheus.good.script_value")["0 k:v"],
        Value::Double(42.0)
    );
    // A failing script: the source exists, no metrics, failure status.
    assert!(names(&h, "prometheus.bad").is_empty());
    assert_eq!(
        control(&h, "prometheus", "status", "bad"),
        Some(Value::String(format!(
            "failed to fetch URL or execute script {}: script exited with exit status 3",
            bad.display()
        )))
    );
    let st = control(&h, "prometheus", "status", "broken").unwrap();
    assert!(
        st.as_str()
            .unwrap()
            .contains(&format!("cannot execute {}", noexec.display())),
        "{st:?}"
    );
    let st = control(&h, "prometheus", "status", "hang").unwrap();
    assert!(st.as_str().unwrap().contains("timed out"), "{st:?}");
    // A fetch of the good script is not held up by the hanging one.
    let good = h.lookup("prometheus.good.script_value").unwrap();
    let calls = h.lookup("prometheus.control.calls").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[good, calls]);
    assert!(r.values[0].1.is_ok());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn rescan_on_add_edit_and_delete() {
    let d = tempfile::tempdir().unwrap();
    let doc_a = write(d.path(), "data/a.txt", "alpha 1\n", 0o644);
    let doc_b = write(d.path(), "data/b.txt", "beta 2\nbeta_two 3\n", 0o644);
    let h = host(d.path(), |_| {});
    assert!(names(&h, "prometheus")
        .iter()
        .all(|n| n.starts_with("control.")));
    // Add.
    write(
        d.path(),
        "one.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    write(
        d.path(),
        "sub/two.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    assert_eq!(names(&h, "prometheus.one"), ["alpha"]);
    assert_eq!(names(&h, "prometheus.sub.two"), ["alpha"]);
    // Edit: point one.url at the other document.
    std::thread::sleep(Duration::from_millis(20));
    write(
        d.path(),
        "one.url",
        &format!("file://{}\n", doc_b.display()),
        0o644,
    );
    let n = names(&h, "prometheus.one");
    assert!(
        n.contains(&"beta".to_string()) && n.contains(&"beta_two".to_string()),
        "{n:?}"
    );
    assert_eq!(
        fetch(&h, "prometheus.one.beta").unwrap()[0].1,
        Value::Double(2.0)
    );
    // The old metric stays named but has no value any more.
    assert_eq!(fetch(&h, "prometheus.one.alpha"), Err(PmError::AGAIN));
    // Delete.
    std::fs::remove_file(d.path().join("sub/two.url")).unwrap();
    assert!(names(&h, "prometheus.sub").is_empty());
    let srcs: Vec<String> = instances(&h, "prometheus.control.calls")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(srcs, ["control", "one"]);
    // Re-add gets the same cluster back.
    let before = h.lookup("prometheus.one.beta").unwrap();
    write(
        d.path(),
        "sub/two.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    assert_eq!(names(&h, "prometheus.sub.two"), ["alpha"]);
    assert_eq!(h.lookup("prometheus.sub.two.alpha").unwrap().cluster(), 2);
    assert_eq!(h.lookup("prometheus.one.beta").unwrap(), before);
}

#[test]
fn restart_keeps_ids() {
    let d = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let doc = write(
        d.path(),
        "data/doc.txt",
        "m{a=\"1\"} 1\nm{a=\"2\"} 2\nother 3\n",
        0o644,
    );
    write(
        d.path(),
        "b.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    write(
        d.path(),
        "c.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let (pm, po, insts) = {
        let h = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
        (
            h.lookup("prometheus.c.m").unwrap(),
            h.lookup("prometheus.c.other").unwrap(),
            instances(&h, "prometheus.c.m"),
        )
    };
    // A new source that sorts first, and a new instance order in the doc.
    std::fs::write(&doc, "other 3\nm{a=\"3\"} 3\nm{a=\"2\"} 2\nm{a=\"1\"} 1\n").unwrap();
    write(
        d.path(),
        "a.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let h = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
    assert_eq!(h.lookup("prometheus.c.m").unwrap(), pm);
    assert_eq!(h.lookup("prometheus.c.other").unwrap(), po);
    assert_eq!(h.lookup("prometheus.a.m").unwrap().cluster(), 3);
    let now = instances(&h, "prometheus.c.m");
    assert_eq!(&now[..2], &insts[..]);
    assert_eq!(now[2].name, "2 a:3");
    let v = values_by_name(&h, "prometheus.c.m");
    assert_eq!(v["0 a:1"], Value::Double(1.0));
    // Instances restored from the id cache carry their labels again.
    let indom = h.desc(pm).unwrap().indom;
    let labels = h.instance_labels(indom).unwrap();
    for (id, want) in [(0, "1"), (1, "2"), (2, "3")] {
        let set = &labels
            .iter()
            .find(|(i, _)| *i == id)
            .unwrap_or_else(|| panic!("instance {id}: {labels:?}"))
            .1;
        assert_eq!(
            set.get("a").map(|l| l.value.clone()),
            Some(want.into()),
            "instance {id}"
        );
    }
    // A second agent on the same state directory uses the ids read-only.
    let h2 = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
    assert_eq!(h2.lookup("prometheus.c.m").unwrap(), pm);
}

#[test]
fn sources_are_scraped_in_parallel() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    for i in 0..30 {
        srv.route(
            &format!("/s{i}"),
            Reply {
                status: 200,
                body: format!("v{i} {i}\n"),
                delay: Duration::from_millis(300),
            },
        );
        write(
            d.path(),
            &format!("s{i:02}.url"),
            &format!("{}\n", srv.url(&format!("/s{i}"))),
            0o644,
        );
    }
    let h = host(d.path(), |_| {});
    let pmids: Vec<_> = (0..30)
        .map(|i| h.lookup(&format!("prometheus.s{i:02}.v{i}")).unwrap())
        .collect();
    let t = Instant::now();
    let r = h.fetch(&pmids);
    let took = t.elapsed();
    assert!(r.values.iter().all(|(_, v)| v.is_ok()));
    // 30 x 300 ms in sequence would be 9 s.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn slow_source_misses_the_deadline_alone_and_answers_stale() {
    let srv = Server::start();
    srv.route("/fast", Reply::ok("fast 1\n"));
    srv.route("/slow", Reply::ok("slow 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "fast.url",
        &format!("{}\n", srv.url("/fast")),
        0o644,
    );
    write(
        d.path(),
        "slow.url",
        &format!("{}\nTIMEOUT: 0.3\n", srv.url("/slow")),
        0o644,
    );
    let h = host(d.path(), |_| {});
    srv.route(
        "/slow",
        Reply {
            status: 200,
            body: "slow 1\n".into(),
            delay: Duration::from_secs(3),
        },
    );
    let a = h.lookup("prometheus.fast.fast").unwrap();
    let b = h.lookup("prometheus.slow.slow").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[a, b]);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(r.values[0].1.is_ok());
    // Its last good value, marked stale (it timed out: slow, not broken).
    assert_eq!(
        r.values[1].1,
        Ok(vec![(pcp_core::PM_IN_NULL, Value::Double(1.0))])
    );
    assert_eq!(
        control(&h, "prometheus", "stale", "slow"),
        Some(Value::U32(1))
    );
    // The fetch answered at the deadline; the scrape ends at its timeout
    // (the same 0.3 s here) and is then recorded.
    let mut st = control(&h, "prometheus", "status", "slow").unwrap();
    for _ in 0..100 {
        if st.as_str().unwrap().starts_with("failed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        st = control(&h, "prometheus", "status", "slow").unwrap();
    }
    assert!(st.as_str().unwrap().starts_with("failed"), "{st:?}");
    assert_eq!(
        control(&h, "prometheus", "stale", "fast"),
        Some(Value::U32(0))
    );
    let age = control(&h, "prometheus", "age", "slow")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(age >= 0.3, "{age}");
    let _ = PmError::AGAIN;
}

#[test]
fn limits_are_reported_in_the_status() {
    let d = tempfile::tempdir().unwrap();
    let mut doc = String::new();
    for i in 0..50 {
        doc.push_str(&format!("m{{i=\"{i}\"}} {i}\n"));
    }
    let p = write(d.path(), "doc.txt", &doc, 0o644);
    write(
        d.path(),
        "big.url",
        &format!("file://{}\n", p.display()),
        0o644,
    );
    let mut cfg = pmda_prometheus::PrometheusConfig {
        config_dir: d.path().to_path_buf(),
        ..Default::default()
    };
    cfg.timeout = Duration::from_secs(1);
    let agent = pmda_prometheus::prometheus_pmda(cfg).unwrap();
    agent.agent().set_limits(pmda_prometheus::Limits {
        max_body: 1 << 20,
        max_samples: 10,
        ..Default::default()
    });
    let mut h = pcp_core::Host::new();
    h.load(Box::new(agent)).unwrap();
    fetch(&h, "prometheus.big.m").unwrap();
    let v = values_by_name(&h, "prometheus.big.m");
    assert_eq!(v.len(), 10);
    let st = control(&h, "prometheus", "status", "big").unwrap();
    assert_eq!(
        st.as_str().unwrap(),
        "success; sample limit 10 reached, rest skipped"
    );
}

#[test]
fn background_scraping_serves_from_cache() {
    let srv = Server::start();
    srv.route("/m", Reply::ok("bg 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "bg.url", &format!("{}\n", srv.url("/m")), 0o644);
    let h = host(d.path(), |c| {
        c.scrape_interval = Some(Duration::from_millis(200))
    });
    let p = h.lookup("prometheus.bg.bg").unwrap();
    let before = srv.hits("/m");
    for _ in 0..20 {
        assert!(h.fetch(&[p]).values[0].1.is_ok());
    }
    // 20 fetches did not make 20 requests.
    assert!(srv.hits("/m") - before < 5);
    std::thread::sleep(Duration::from_millis(700));
    assert!(srv.hits("/m") > before, "background scrapes happen");
}

#[test]
fn example_config_dir_gives_loadavg() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.d");
    let h = host(&dir, |_| {});
    let before = std::fs::read_to_string("/proc/loadavg").unwrap();
    let v = values_by_name(&h, "prometheus.local.system.loadavg");
    let after = std::fs::read_to_string("/proc/loadavg").unwrap();
    let mut names: Vec<&String> = v.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0 interval:1-minute",
            "1 interval:5-minute",
            "2 interval:15-minute"
        ]
    );
    let one = v["0 interval:1-minute"].as_f64().unwrap();
    let lo: f64 = before.split(' ').next().unwrap().parse().unwrap();
    let hi: f64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!(
        one >= lo.min(hi) - 0.01 && one <= lo.max(hi) + 0.01,
        "{one} vs {lo}..{hi}"
    );
}
