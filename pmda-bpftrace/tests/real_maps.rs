//! Real bpftrace runs: every map shape becomes the right metrics. These use
//! tracepoint-free probes (BEGIN, interval, profile) that work on this
//! kernel; kprobes are not used (no kprobe_events here).

mod common;

use common::*;
use pcp_core::{Pmda, Semantics, TextKind, TextTarget, Type, Value};

fn desc(a: &mut Agent, name: &str) -> pcp_core::Desc {
    let p = a.pmid(name).unwrap();
    a.a.desc(p).unwrap()
}

fn metrictype(a: &mut Agent, name: &str) -> Option<String> {
    let p = a.pmid(name).unwrap();
    let l =
        a.a.labels(
            pcp_core::LabelTarget::Item(p),
            &pcp_core::ClientContext::local(),
        )
        .unwrap();
    l.get("metrictype")
        .map(|l| l.value.as_str().unwrap().to_string())
}

#[test]
fn scalar_keyed_signed_and_string_maps() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    let r = a.register(
        "// name: maps\n\
         BEGIN { @s = 5; @neg = -3; @str = \"hello\"; }\n\
         interval:ms:50 { @ticks = count(); @k[\"a\"] = 1; @k[\"b\"] = 2; @k2[1, \"x\"] = 3; @total = sum(-5); @mx = max(7); }",
    );
    assert_eq!(r["state"]["status"], "starting");
    assert_eq!(r["metadata"]["name"], "maps");
    a.a.wait_ready(std::time::Duration::from_secs(10));
    a.wait_until(10, "maps to appear", |a| {
        a.value("bpftrace.scripts.maps.data.ticks").is_some()
            && a.pmid("bpftrace.scripts.maps.data.k2").is_some()
    });
    // pmdabpftrace's U64 where the values fit it; signed once one does not.
    assert_eq!(a.value("bpftrace.scripts.maps.data.s"), Some(Value::U64(5)));
    assert_eq!(
        a.value("bpftrace.scripts.maps.data.neg"),
        Some(Value::I64(-3)),
        "negative values survive"
    );
    assert_eq!(
        a.value("bpftrace.scripts.maps.data.str"),
        Some(Value::String("hello".into()))
    );
    assert_eq!(
        desc(&mut a, "bpftrace.scripts.maps.data.str").ty,
        Type::String
    );
    let d = desc(&mut a, "bpftrace.scripts.maps.data.ticks");
    assert_eq!(
        (d.ty, d.sem),
        (Type::U64, Semantics::Counter),
        "count() is a counter"
    );
    let k = a.instances("bpftrace.scripts.maps.data.k");
    assert_eq!(
        k,
        vec![("a".into(), Value::U64(1)), ("b".into(), Value::U64(2))]
    );
    assert_eq!(
        a.instances("bpftrace.scripts.maps.data.k2"),
        vec![("1,x".into(), Value::U64(3))]
    );
    let Some(Value::I64(t1)) = a.value("bpftrace.scripts.maps.data.total") else {
        panic!()
    };
    assert!(t1 < 0);
    assert_eq!(
        desc(&mut a, "bpftrace.scripts.maps.data.total").sem,
        Semantics::Instant,
        "pmdabpftrace's: only count() and histograms are counters"
    );
    assert_eq!(
        a.value("bpftrace.scripts.maps.data.mx"),
        Some(Value::U64(7))
    );
    let Some(Value::U64(c1)) = a.value("bpftrace.scripts.maps.data.ticks") else {
        panic!()
    };
    a.wait_until(
        5,
        "the counter to grow",
        |a| matches!(a.value("bpftrace.scripts.maps.data.ticks"), Some(Value::U64(c)) if c > c1),
    );
    assert_eq!(a.status("maps"), "started");
    assert!(matches!(a.value("bpftrace.scripts.maps.probes"), Some(Value::U32(n)) if n >= 3));
    assert!(matches!(a.value("bpftrace.scripts.maps.data_bytes"), Some(Value::U32(n)) if n > 0));
    let p = a.pmid("bpftrace.scripts.maps.data.k").unwrap();
    assert!(a
        .a
        .text(
            TextTarget::Metric(p),
            TextKind::OneLine,
            &pcp_core::ClientContext::local()
        )
        .unwrap()
        .contains("@k"));
}

#[test]
fn histograms_keyed_histograms_and_stats() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register(
        "// name: hists\n\
         interval:ms:50 { @h = hist(0); @h = hist(1); @h = hist(-1); @h = hist(100); @h = hist(1500);\n\
           @lh = lhist(5, 0, 10, 2); @lh = lhist(20, 0, 10, 2); @lh = lhist(-1, 0, 10, 2);\n\
           @kh[\"x\"] = hist(3); @kh[\"y\"] = hist(8);\n\
           @st = stats(10); @st = stats(20); @kst[1] = stats(4); @av = avg(7); }",
    );
    a.wait_until(10, "histograms", |a| {
        a.fetch("bpftrace.scripts.hists.data.kh")
            .is_ok_and(|v| !v.is_empty())
            && a.value("bpftrace.scripts.hists.data.av").is_some()
            && a.fetch("bpftrace.scripts.hists.data.lh")
                .is_ok_and(|v| !v.is_empty())
    });
    let h = a.instances("bpftrace.scripts.hists.data.h");
    let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "-inf--1",
            "0-0",
            "1-1",
            "2-3",
            "4-7",
            "8-15",
            "16-31",
            "32-63",
            "64-127",
            "128-255",
            "256-511",
            "512-1023",
            "1024-2047"
        ],
        "bucket names and numeric order as pmdabpftrace"
    );
    let count = |v: &Value| match v {
        Value::U64(c) => *c,
        other => panic!("{other:?}"),
    };
    assert!(count(&h[0].1) > 0 && count(&h[4].1) == 0 && count(&h[12].1) > 0);
    assert_eq!(
        metrictype(&mut a, "bpftrace.scripts.hists.data.h").as_deref(),
        Some("histogram")
    );
    let d = desc(&mut a, "bpftrace.scripts.hists.data.h");
    assert_eq!((d.ty, d.sem), (Type::U64, Semantics::Counter));
    let lh: Vec<String> = a
        .instances("bpftrace.scripts.hists.data.lh")
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(lh, ["-inf--1", "0-1", "2-3", "4-5", "6-7", "8-9", "10-inf"]);
    let kh: Vec<String> = a
        .instances("bpftrace.scripts.hists.data.kh")
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(
        kh,
        ["x 2-3", "y 8-15"],
        "keyed histograms (refused by pmdabpftrace)"
    );
    let n = match a.value("bpftrace.scripts.hists.data.st.count") {
        Some(Value::U64(n)) => n,
        other => panic!("{other:?}"),
    };
    assert!(n >= 2 && n % 2 == 0);
    assert_eq!(
        a.value("bpftrace.scripts.hists.data.st.average"),
        Some(Value::I64(15))
    );
    assert!(
        matches!(a.value("bpftrace.scripts.hists.data.st.total"), Some(Value::I64(t)) if t >= 30)
    );
    assert_eq!(
        desc(&mut a, "bpftrace.scripts.hists.data.st.count").sem,
        Semantics::Counter
    );
    assert_eq!(
        desc(&mut a, "bpftrace.scripts.hists.data.st.average").sem,
        Semantics::Instant
    );
    assert_eq!(
        metrictype(&mut a, "bpftrace.scripts.hists.data.st.count").as_deref(),
        Some("stats")
    );
    let kst = a.instances("bpftrace.scripts.hists.data.kst.average");
    assert_eq!(kst, vec![("1".into(), Value::I64(4))]);
    assert_eq!(
        a.value("bpftrace.scripts.hists.data.av"),
        Some(Value::U64(7))
    );
}

#[test]
fn printf_output_keeps_header_and_last_lines() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    let r = a.register(
        "// name: table\n// table-retain-lines: 3\n\
         BEGIN { printf(\"n,double\\n\"); }\n\
         interval:ms:20 { printf(\"%d,%d\\n\", @n, @n * 2); @n++; }",
    );
    assert_eq!(r["variables"]["@output"]["metrictype"], "output");
    assert_eq!(r["metadata"]["table_retain_lines"], 3);
    a.wait_until(
        10,
        "six lines of output",
        |a| matches!(a.value("bpftrace.scripts.table.data.n"), Some(Value::U64(n)) if n >= 6),
    );
    let out = a.string("bpftrace.scripts.table.data.output");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "n,double", "{out:?}");
    assert!(lines.len() <= 4, "{out:?}");
    let nums: Vec<i64> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "the last lines, in order: {out:?}"
    );
    assert!(!out.contains("__pcp_agent"), "the sync marker never shows");
    assert_eq!(
        metrictype(&mut a, "bpftrace.scripts.table.data.output").as_deref(),
        Some("output")
    );
}

#[test]
fn stack_maps_with_profile_probe() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register("// name: stacks\nprofile:hz:99 { @st[kstack] = count(); }");
    a.wait_until(10, "stacks", |a| {
        a.fetch("bpftrace.scripts.stacks.data.st")
            .is_ok_and(|v| !v.is_empty())
    });
    let st = a.instances("bpftrace.scripts.stacks.data.st");
    // bpftrace's stack text; an empty kernel stack (a sample in user mode) is "".
    assert!(
        st.iter().all(|(n, _)| n.is_empty() || n.starts_with('\n')),
        "{st:?}"
    );
    assert_eq!(
        metrictype(&mut a, "bpftrace.scripts.stacks.data.st").as_deref(),
        Some("stacks")
    );
    let folded = a.string("bpftrace.scripts.stacks.folded.st");
    assert_eq!(
        metrictype(&mut a, "bpftrace.scripts.stacks.folded.st").as_deref(),
        Some("folded")
    );
    let mut total = 0u64;
    for line in folded.lines() {
        let (stack, count) = line.rsplit_once(' ').unwrap();
        assert!(!stack.is_empty() && !stack.contains('\n'));
        assert!(!stack.contains('+'), "offsets are dropped: {stack}");
        total += count.parse::<u64>().unwrap();
    }
    // The folded text is rendered from the same print as the instances
    // only if no print arrived in between; the totals are close.
    let inst_total: u64 = st
        .iter()
        .map(|(_, v)| if let Value::U64(c) = v { *c } else { 0 })
        .sum();
    assert!(total > 0 && inst_total > 0);
    // bpftrace prints the leaf first; folded stacks end with it.
    let (first_name, _) = st
        .iter()
        .find(|(n, _)| !n.is_empty())
        .expect("a kernel stack");
    let leaf = first_name
        .trim_start_matches('\n')
        .lines()
        .next()
        .unwrap()
        .trim();
    let leaf = leaf.rsplit_once('+').map_or(leaf, |x| x.0);
    assert!(
        folded
            .lines()
            .any(|l| l.rsplit_once(' ').unwrap().0.ends_with(leaf)),
        "{leaf} in {folded}"
    );
}

#[test]
fn syntax_error_is_reported() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register("// name: broken\nBEGIN { @x = ; }");
    a.wait_status("broken", "error", 10);
    let err = a.string("bpftrace.scripts.broken.error");
    assert!(err.contains("syntax error"), "{err}");
    assert!(matches!(a.value("bpftrace.scripts.broken.exit_code"), Some(Value::I32(c)) if c != 0));
    assert_eq!(
        a.value("bpftrace.scripts.broken.pid"),
        None,
        "no process, no pid"
    );
}

#[test]
fn self_exiting_script_keeps_its_data() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register("// name: once\nBEGIN { @x = 42; @k[7] = count(); exit(); }");
    a.wait_status("once", "stopped", 10);
    assert_eq!(
        a.value("bpftrace.scripts.once.exit_code"),
        Some(Value::I32(0))
    );
    assert_eq!(
        a.value("bpftrace.scripts.once.data.x"),
        Some(Value::U64(42)),
        "maps printed at exit are kept"
    );
    assert_eq!(
        a.instances("bpftrace.scripts.once.data.k"),
        vec![("7".into(), Value::U64(1))]
    );
}

#[test]
fn output_flood_stops_the_script() {
    if !available() {
        return;
    }
    let conf = format!("{CONF}\n[bpftrace]\nmax_throughput = 20000\n");
    let mut a = agent(&conf, &[]);
    a.register(
        "// name: flood\nprofile:hz:997 { printf(\"%s %s %s\\n\", \"flood flood flood flood flood\", \"flood flood flood flood\", \"flood flood flood\"); }",
    );
    a.wait_status("flood", "error", 15);
    let err = a.string("bpftrace.scripts.flood.error");
    assert!(
        err.contains("exceeds limit of 20000 bytes per second"),
        "{err}"
    );
    assert_eq!(a.value("bpftrace.scripts.flood.pid"), None);
    assert!(
        matches!(a.value("bpftrace.scripts.flood.data_bytes"), Some(Value::U32(n)) if n > 20000)
    );
    let out = a.string("bpftrace.scripts.flood.data.output");
    assert!(out.len() <= 1024 * 1024 && out.contains("flood"));
}

#[test]
fn unnamed_script_expires_without_fetches() {
    if !available() {
        return;
    }
    let conf = format!("{CONF}\n[bpftrace]\nscript_expiry_time = 1\n");
    let mut a = agent(&conf, &[]);
    let r = a.register("interval:ms:100 { @n = count(); }");
    let id = r["script_id"].as_str().unwrap().to_string();
    assert_eq!(r["persistent"], false);
    let status = format!("bpftrace.scripts.{id}.status");
    a.wait_status(&id, "started", 10);
    let Some(Value::U32(pid)) = a.value(&format!("bpftrace.scripts.{id}.pid")) else {
        panic!()
    };
    let pid = pid as i32;
    assert!(alive(pid));
    // Now only look at the names, never fetch the script's metrics.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while a.pmid(&status).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "script did not expire"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "bpftrace {pid} still running after expiry"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn dropping_the_agent_stops_bpftrace() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register("// name: forever\ninterval:ms:100 { @n = count(); }");
    a.wait_status("forever", "started", 10);
    let Some(Value::U32(pid)) = a.value("bpftrace.scripts.forever.pid") else {
        panic!()
    };
    let pid = pid as i32;
    assert!(alive(pid));
    drop(a);
    assert!(!alive(pid), "bpftrace {pid} outlived the agent");
}
