//! `pcp_core::testing::check_agent` over the bpftrace agent: with no
//! scripts (a stand-in bpftrace, so it runs anywhere, with the profiler's
//! cluster), and with live scripts whose maps cover every shape the agent
//! exports (counts, keyed and plain histograms, stats, strings, stacks,
//! printf output), registered through the control metrics.

mod common;

use std::sync::Arc;

use common::*;
use pcp_core::testing::check_agent;
use pcp_core::{Pmda, Value};
use pmda_bpftrace::profiler::{ProfilerSnapshot, ProfilerSource};
use pmda_bpftrace::BpftraceConfig;

#[derive(Debug)]
struct Profiler;

impl ProfilerSource for Profiler {
    fn snapshot(&self) -> ProfilerSnapshot {
        ProfilerSnapshot {
            running: true,
            intervals: 2,
            targets: vec![("web".into(), 40, 7), ("db".into(), 3, 0)],
            ..ProfilerSnapshot::default()
        }
    }
}

#[test]
fn without_scripts_the_agent_passes_the_conformance_check() {
    let dir = tempfile::tempdir().unwrap();
    // An empty transcript: `bpftrace -l` lists no probes and exits.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let fake = fake_bpftrace(dir.path(), Some(&empty));
    let conf = dir.path().join("bpftrace.conf");
    std::fs::write(
        &conf,
        format!("[bpftrace]\nbpftrace_path = {}\n", fake.display()),
    )
    .unwrap();
    let mut a = pmda_bpftrace::bpftrace_pmda(BpftraceConfig {
        config_file: Some(conf),
        profiler: Some(Arc::new(Profiler)),
        ..Default::default()
    })
    .unwrap();
    let report = check_agent(&mut a).unwrap_or_else(|e| panic!("{e}"));
    // 4 control, 3 info, 11 profiler metrics; scripts and targets indoms.
    assert_eq!(report.metrics, 18, "{report:?}");
    assert_eq!(report.indoms, 2, "{report:?}");
    assert!(a.namespace().lookup("bpftrace.profiler.samples").is_some());
}

#[test]
fn with_live_scripts_the_agent_passes_the_conformance_check() {
    if !available() {
        return;
    }
    let mut a = agent(CONF, &[]);
    a.register(
        "// name: shapes\n\
         interval:ms:20 {\n\
           @count = count();\n\
           @keyed[\"a\"] = count(); @keyed[\"b\"] = count();\n\
           @h = hist(7); @lh[\"x\"] = lhist(5, 0, 10, 1);\n\
           @st = stats(3);\n\
           @name = \"text\";\n\
           @neg = -5;\n\
           @stacks[kstack] = count();\n\
           printf(\"tick\\n\");\n\
         }",
    );
    a.register("// name: second\ninterval:ms:20 { @x[pid] = count(); }");
    a.wait_status("shapes", "started", 30);
    a.wait_until(30, "every map of shapes and second", |a| {
        a.pmid("bpftrace.scripts.shapes.data.neg").is_some()
            && a.pmid("bpftrace.scripts.shapes.folded.stacks").is_some()
            && a.pmid("bpftrace.scripts.second.data.x").is_some()
            && matches!(
                a.value("bpftrace.scripts.shapes.data.output"),
                Some(Value::String(s)) if s.contains("tick")
            )
    });
    let report = check_agent(&mut a.a).unwrap_or_else(|e| panic!("{e}"));
    // Fixed 7, 2 x 7 script items, and the data metrics of both scripts.
    assert!(report.metrics > 7 + 14 + 10, "{report:?}");
    assert!(report.indoms >= 5, "{report:?}");
    // Values of every shape were walked, not only the script items'.
    assert!(report.values >= 20, "{report:?}");
}
