//! Scrape scheduling: a fetch never blocks on slow or dead sources
//! (deadlines, stale values, per-value errors), kept-alive connections are
//! reused, a bounded number of scrapes is in flight and dead endpoints do
//! not starve live ones, and the minimum interval shares one scrape among
//! many fetches.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pcp_core::{PmError, Value, PM_IN_NULL};

fn hang() -> Reply {
    Reply {
        status: 200,
        body: "never 1\n".into(),
        delay: Duration::from_secs(60),
    }
}

fn singular(v: f64) -> Result<Vec<(u32, Value)>, PmError> {
    Ok(vec![(PM_IN_NULL, Value::Double(v))])
}

#[test]
fn hung_sources_do_not_block_others() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    for i in 0..16 {
        srv.route(&format!("/ok{i}"), Reply::ok(&format!("up{i} {i}\n")));
        write(
            d.path(),
            &format!("ok{i:02}.url"),
            &format!(
                "{}\nDEADLINE: 0.3\nTIMEOUT: 10\n",
                srv.url(&format!("/ok{i}"))
            ),
            0o644,
        );
    }
    for i in 0..4 {
        srv.route(&format!("/hang{i}"), hang());
        write(
            d.path(),
            &format!("hang{i}.url"),
            &format!(
                "{}\nDEADLINE: 0.3\nTIMEOUT: 10\n",
                srv.url(&format!("/hang{i}"))
            ),
            0o644,
        );
    }
    let t = Instant::now();
    let h = host(d.path(), |_| {});
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "start-up {:?}",
        t.elapsed()
    );
    let mut pmids: Vec<_> = (0..16)
        .map(|i| h.lookup(&format!("prometheus.ok{i:02}.up{i}")).unwrap())
        .collect();
    // The hung sources never answered: they have no names, and their
    // control instances say so.
    assert!(names(&h, "prometheus.hang0").is_empty());
    pmids.push(h.lookup("prometheus.control.in_flight").unwrap());
    for round in 0..3 {
        let t = Instant::now();
        let r = h.fetch(&pmids);
        let took = t.elapsed();
        // About the slowest live source, not the hung ones' timeouts.
        assert!(
            took < Duration::from_millis(1200),
            "round {round}: {took:?}"
        );
        for (i, (_, v)) in r.values.iter().take(16).enumerate() {
            assert_eq!(*v, singular(i as f64), "round {round} source {i}");
        }
    }
    // Still hanging: four scrapes in flight, joined rather than repeated.
    assert_eq!(
        control(&h, "prometheus", "in_flight", "control"),
        Some(Value::U32(4))
    );
    assert_eq!(
        srv.hits("/hang0"),
        1,
        "one scrape of a hung source at a time"
    );
}

#[test]
fn a_source_that_never_answered_gives_a_per_value_error() {
    let srv = Server::start();
    srv.route("/m", Reply::ok("known 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "s.url",
        &format!("{}\nDEADLINE: 0.2\n", srv.url("/m")),
        0o644,
    );
    let h = host(d.path(), |_| {});
    let p = h.lookup("prometheus.s.known").unwrap();
    assert_eq!(h.fetch(&[p]).values[0].1, singular(1.0));
    // Its endpoint stops answering (an HTTP error, not slowness): no values.
    srv.route(
        "/m",
        Reply {
            status: 500,
            body: "no\n".into(),
            delay: Duration::ZERO,
        },
    );
    assert_eq!(h.fetch(&[p]).values[0].1, Err(PmError::AGAIN));
    assert_eq!(control(&h, "prometheus", "stale", "s"), Some(Value::U32(0)));
    // Back, then slow past its deadline: its last values, stale.
    srv.route("/m", Reply::ok("known 2\n"));
    assert_eq!(h.fetch(&[p]).values[0].1, singular(2.0));
    srv.route(
        "/m",
        Reply {
            status: 200,
            body: "known 3\n".into(),
            delay: Duration::from_millis(800),
        },
    );
    let t = Instant::now();
    assert_eq!(h.fetch(&[p]).values[0].1, singular(2.0));
    assert!(
        t.elapsed() < Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(control(&h, "prometheus", "stale", "s"), Some(Value::U32(1)));
    assert!(
        matches!(control(&h, "prometheus", "deadline_misses", "s"), Some(Value::U64(n)) if n >= 1)
    );
    // The late scrape finished in the background: the next fetch joins or
    // follows it and sees the new value.
    std::thread::sleep(Duration::from_millis(900));
    srv.route("/m", Reply::ok("known 3\n"));
    assert_eq!(h.fetch(&[p]).values[0].1, singular(3.0));
    assert_eq!(control(&h, "prometheus", "stale", "s"), Some(Value::U32(0)));
}

#[test]
fn the_agent_deadline_applies_to_sources_without_their_own() {
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
        &format!("{}\n", srv.url("/slow")),
        0o644,
    );
    let h = host(d.path(), |c| {
        c.deadline = Some(Duration::from_millis(250));
        c.timeout = Duration::from_secs(10);
    });
    srv.route(
        "/slow",
        Reply {
            status: 200,
            body: "slow 2\n".into(),
            delay: Duration::from_secs(5),
        },
    );
    let a = h.lookup("prometheus.fast.fast").unwrap();
    let b = h.lookup("prometheus.slow.slow").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[a, b]);
    assert!(
        t.elapsed() < Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.values[0].1, singular(1.0));
    assert_eq!(r.values[1].1, singular(1.0), "stale value");
}

#[test]
fn a_fetch_never_answers_past_the_fetch_deadline() {
    let srv = Server::start();
    srv.route("/m", Reply::ok("m 1\n"));
    let d = tempfile::tempdir().unwrap();
    // A deadline past what pmcd allows is cut to FETCH_DEADLINE.
    write(
        d.path(),
        "s.url",
        &format!("{}\nDEADLINE: 30\nTIMEOUT: 30\n", srv.url("/m")),
        0o644,
    );
    let h = host(d.path(), |_| {});
    srv.route("/m", hang());
    let p = h.lookup("prometheus.s.m").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[p]);
    let took = t.elapsed();
    assert!(took >= pmda_prometheus::FETCH_DEADLINE, "{took:?}");
    assert!(
        took < pmda_prometheus::FETCH_DEADLINE + Duration::from_millis(500),
        "{took:?}"
    );
    assert_eq!(r.values[0].1, singular(1.0));
}

#[test]
fn kept_alive_connections_are_reused() {
    let srv = Server::start_keep_alive();
    let d = tempfile::tempdir().unwrap();
    for i in 0..5 {
        srv.route(&format!("/s{i}"), Reply::ok(&format!("v {i}\n")));
        write(
            d.path(),
            &format!("s{i}.url"),
            &format!("{}\n", srv.url(&format!("/s{i}"))),
            0o644,
        );
    }
    let h = host(d.path(), |_| {});
    let pmids: Vec<_> = (0..5)
        .map(|i| h.lookup(&format!("prometheus.s{i}.v")).unwrap())
        .collect();
    for _ in 0..10 {
        let r = h.fetch(&pmids);
        assert!(r.values.iter().all(|(_, v)| v.is_ok()));
    }
    // One host: its connections are shared; 55 requests over at most one
    // connection per source scraped at once.
    assert!(srv.connections() <= 5, "{} connections", srv.connections());
    assert_eq!(srv.hits("/s0"), 11);
    let reuses = fetch(&h, "prometheus.control.reuses").unwrap()[0].1.clone();
    assert!(matches!(reuses, Value::U64(n) if n >= 50), "{reuses:?}");
}

#[test]
fn a_server_closing_an_idle_connection_is_retried_unseen() {
    // Connection: close after each answer, while the client would keep
    // it: the next request goes on a new connection, without an error.
    let srv = Server::start();
    srv.route("/m", Reply::ok("m 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "s.url", &format!("{}\n", srv.url("/m")), 0o644);
    let h = host(d.path(), |_| {});
    let p = h.lookup("prometheus.s.m").unwrap();
    for _ in 0..20 {
        assert_eq!(h.fetch(&[p]).values[0].1, singular(1.0));
    }
    assert_eq!(srv.connections(), 21);
}

#[test]
fn dead_endpoints_do_not_starve_live_ones() {
    // Four connection slots; eight hung endpoints listed (and so started)
    // before four live ones.
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    for i in 0..8 {
        srv.route(&format!("/dead{i}"), hang());
        write(
            d.path(),
            &format!("a_dead{i}.url"),
            &format!(
                "{}\nDEADLINE: 0.2\nTIMEOUT: 30\n",
                srv.url(&format!("/dead{i}"))
            ),
            0o644,
        );
    }
    for i in 0..4 {
        srv.route(&format!("/live{i}"), Reply::ok(&format!("live {i}\n")));
        write(
            d.path(),
            &format!("z_live{i}.url"),
            &format!(
                "{}\nDEADLINE: 0.2\nTIMEOUT: 30\n",
                srv.url(&format!("/live{i}"))
            ),
            0o644,
        );
    }
    let h = host(d.path(), |c| c.max_in_flight = 4);
    // Live sources got their names despite the dead ones ahead of them.
    let mut live = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while live.len() < 4 && Instant::now() < deadline {
        live = (0..4)
            .filter_map(|i| h.lookup(&format!("prometheus.z_live{i}.live")).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(live.len(), 4, "live sources found");
    // Fetch everything again and again: the live ones always answer.
    for round in 0..5 {
        let t = Instant::now();
        let r = h.fetch(&live);
        for (i, (_, v)) in r.values.iter().enumerate() {
            assert_eq!(*v, singular(i as f64), "round {round} live {i}");
        }
        assert!(
            t.elapsed() < Duration::from_millis(700),
            "{:?}",
            t.elapsed()
        );
    }
    let ev = fetch(&h, "prometheus.control.evictions").unwrap()[0]
        .1
        .clone();
    assert!(matches!(ev, Value::U64(n) if n > 0), "{ev:?}");
    // With the four slots held by hung endpoints, scrapes waited for one,
    // and the sources say so.
    let waits: u64 = fetch(&h, "prometheus.control.pool_waits")
        .unwrap()
        .iter()
        .map(|(_, v)| match v {
            Value::U64(n) => *n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert!(waits > 0, "no scrape waited for a slot");
}

#[test]
fn the_minimum_interval_shares_one_scrape_among_many_fetches() {
    let srv = Server::start_keep_alive();
    srv.route("/m", Reply::ok("m 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "cached.url",
        &format!("{}\nMIN_INTERVAL: 5\n", srv.url("/m")),
        0o644,
    );
    write(
        d.path(),
        "plain.url",
        &format!("{}\n", srv.url("/m")),
        0o644,
    );
    let h = host(d.path(), |_| {});
    let a = h.lookup("prometheus.cached.m").unwrap();
    let b = h.lookup("prometheus.plain.m").unwrap();
    let before = srv.hits("/m");
    for _ in 0..20 {
        let r = h.fetch(&[a, b]);
        assert!(r.values.iter().all(|(_, v)| v.is_ok()));
    }
    // 20 fetches: the plain source was scraped 20 times, the cached one
    // not at all (its first scrape, at start-up, is less than 5 s old).
    assert_eq!(srv.hits("/m") - before, 20);
    assert_eq!(
        control(&h, "prometheus", "cache_hits", "cached"),
        Some(Value::U64(20))
    );
    assert_eq!(
        control(&h, "prometheus", "cache_hits", "plain"),
        Some(Value::U64(0))
    );
    assert_eq!(
        control(&h, "prometheus", "min_interval", "cached"),
        Some(Value::Double(5.0))
    );
}

#[test]
fn the_agent_minimum_interval_is_off_by_default_and_can_be_set() {
    let srv = Server::start_keep_alive();
    srv.route("/m", Reply::ok("m 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "s.url", &format!("{}\n", srv.url("/m")), 0o644);
    let h = host(d.path(), |c| {
        c.min_interval = Some(Duration::from_millis(300))
    });
    let p = h.lookup("prometheus.s.m").unwrap();
    let before = srv.hits("/m");
    let t = Instant::now();
    let mut fetches = 0;
    while t.elapsed() < Duration::from_millis(1000) {
        assert!(h.fetch(&[p]).values[0].1.is_ok());
        fetches += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let scrapes = srv.hits("/m") - before;
    assert!(fetches > 30, "{fetches}");
    assert!(
        (3..=5).contains(&scrapes),
        "{scrapes} scrapes in 1 s at 0.3 s"
    );
    assert_eq!(
        control(&h, "prometheus", "min_interval", "control"),
        Some(Value::Double(0.3))
    );
}
