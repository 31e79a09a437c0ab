//! The JSON event parser and the data model on transcripts recorded from
//! real bpftrace runs on this machine (`tests/fixtures/capture.sh`): no
//! bpftrace needed.

use std::sync::Arc;

use pcp_core::{IdCache, Type, Value, PM_IN_NULL};
use pmda_bpftrace::code::analyse;
use pmda_bpftrace::data::{ScriptData, FIRST_DATA_ITEM, LAST_DATA_ITEM};
use pmda_bpftrace::event::{parse_line, Event, MapData, Scalar, TextKind};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn events(name: &str) -> Vec<Event<'static>> {
    fixture(name)
        .lines()
        .filter_map(|l| {
            parse_line(l.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {e}: {l}"))
                .map(Event::into_owned)
        })
        .collect()
}

/// Feeds a transcript to the data model of its script.
fn data(script: &str, transcript: &str) -> ScriptData {
    let info = Arc::new(analyse(&fixture(script)).unwrap());
    let mut d = ScriptData::new(
        151,
        100,
        info,
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        1 << 20,
    );
    for ev in events(transcript) {
        d.apply(ev);
    }
    d
}

fn item(d: &ScriptData, name: &str) -> u32 {
    d.names()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", d.names()))
        .1
        .item()
}

fn one(d: &ScriptData, name: &str) -> Value {
    let mut v = d.fetch(item(d, name)).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    assert_eq!(v[0].0, PM_IN_NULL);
    v.remove(0).1
}

fn instance_names(d: &mut ScriptData, name: &str) -> Vec<String> {
    let it = item(d, name);
    let indom = d.desc(it).unwrap().0.indom;
    d.instances(indom.serial())
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect()
}

#[test]
fn every_line_of_every_transcript_parses() {
    for f in [
        "shapes.jsonl",
        "stacks.jsonl",
        "agent-program.jsonl",
        "tool-syscount.jsonl",
        "tool-pidpersec.jsonl",
    ] {
        let evs = events(f);
        assert!(matches!(evs[0], Event::AttachedProbes(n) if n > 0), "{f}");
        assert!(!evs.iter().any(|e| matches!(e, Event::Unknown(_))), "{f}");
    }
    assert!(fixture("syntax-error.jsonl").is_empty());
    assert!(fixture("syntax-error.stderr").contains("syntax error"));
}

#[test]
fn shapes_transcript_gives_faithful_metrics() {
    let evs = events("shapes.jsonl");
    let texts: Vec<(TextKind, &str)> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Text(k, t) => Some((*k, t.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(texts[0], (TextKind::Printf, "hello 5\n"));
    assert_eq!(texts[1].0, TextKind::Time);
    assert_eq!(texts[2], (TextKind::Value, "5\n"));
    assert_eq!(texts[3], (TextKind::Value, "(1, b)\n"));
    assert_eq!(texts[4], (TextKind::Cat, "Linux\n"));
    let mut d = data("shapes.bt", "shapes.jsonl");
    // pmdabpftrace's U64 where the values fit it, else signed or string.
    assert_eq!(one(&d, "data.scalar"), Value::U64(5));
    assert_eq!(one(&d, "data.neg"), Value::I64(-3));
    assert_eq!(one(&d, "data.str"), Value::String("hello".into()));
    assert_eq!(one(&d, "data.tuple"), Value::String("(1, a)".into()));
    assert_eq!(one(&d, "data.cnt"), Value::U64(1));
    assert_eq!(one(&d, "data.total"), Value::I64(-10));
    assert_eq!(one(&d, "data.lo"), Value::I64(-4));
    assert_eq!(one(&d, "data.hi"), Value::U64(7));
    assert_eq!(
        one(&d, "data.mean"),
        Value::U64(10),
        "avg() arrives as a stats message with a number"
    );
    assert_eq!(instance_names(&mut d, "data.keyed"), ["1", "2"]);
    assert_eq!(instance_names(&mut d, "data.multi"), ["1,a"]);
    assert_eq!(instance_names(&mut d, "data.escaped"), ["a\"b\\c"]);
    assert_eq!(
        instance_names(&mut d, "data.h"),
        ["-inf--1", "0-0", "1-1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127"]
    );
    assert_eq!(
        instance_names(&mut d, "data.lh"),
        [
            "-inf--1", "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79",
            "80-89", "90-99", "100-inf"
        ]
    );
    assert_eq!(instance_names(&mut d, "data.kh"), ["1 2-3", "2 8-15"]);
    assert_eq!(one(&d, "data.st.count"), Value::U64(2));
    assert_eq!(one(&d, "data.st.average"), Value::I64(15));
    assert_eq!(one(&d, "data.st.total"), Value::I64(30));
    assert_eq!(instance_names(&mut d, "data.kst.total"), ["x"]);
    let out = one(&d, "data.output");
    assert!(
        matches!(&out, Value::String(s) if s.starts_with("hello 5\n") && s.ends_with("(1, b)\nLinux\n")),
        "{out:?}"
    );
    let (desc, _, _) = d.desc(item(&d, "data.str")).unwrap();
    assert_eq!(desc.ty, Type::String);
}

#[test]
fn stack_transcript_folds() {
    let evs = events("stacks.jsonl");
    let Event::Maps(m) = &evs[1] else { panic!() };
    let MapData::Keyed(kv) = &m[0].1 else {
        panic!()
    };
    assert!(kv
        .iter()
        .all(|(k, v)| (k.is_empty() || k.starts_with("\n    "))
            && matches!(v, Scalar::Int(n) if *n > 0)));
    let mut d = data("stacks.bt", "stacks.jsonl");
    let names = instance_names(&mut d, "data.k");
    assert!(!names.is_empty());
    let Value::String(folded) = one(&d, "folded.k") else {
        panic!()
    };
    for line in folded.lines() {
        let (stack, n) = line.rsplit_once(' ').unwrap();
        assert!(n.parse::<u64>().unwrap() > 0);
        assert!(!stack.contains('\n') && !stack.is_empty());
    }
    let Value::String(folded_u) = one(&d, "folded.u") else {
        panic!()
    };
    // ustack maps keyed with comm: the comm is the root frame.
    assert!(folded_u.lines().all(|l| !l.starts_with(';')), "{folded_u}");
}

#[test]
fn agent_program_transcript_empties_cleared_maps_at_the_marker() {
    let evs = events("agent-program.jsonl");
    let markers = evs
        .iter()
        .filter(|e| matches!(e, Event::Text(TextKind::Printf, t) if t == pmda_bpftrace::code::SYNC_MARKER))
        .count();
    assert!(markers >= 3);
    let info = Arc::new(analyse(&fixture("agent-program.bt")).unwrap());
    let mut d = ScriptData::new(
        151,
        100,
        info,
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        1 << 20,
    );
    let mut seen_keys = false;
    for ev in evs {
        d.apply(ev);
        if d.names().iter().any(|n| n.0 == "data.k") && !instance_names(&mut d, "data.k").is_empty()
        {
            seen_keys = true;
        }
    }
    assert!(seen_keys);
    assert!(
        instance_names(&mut d, "data.k").is_empty(),
        "@k was cleared: no instances"
    );
    assert_eq!(one(&d, "data.ticks"), Value::U64(11));
    // (The fixture's code holds the marker printf, so @output exists; the
    // marker itself never becomes output.)
    assert_eq!(
        d.fetch(item(&d, "data.output")),
        Err(pcp_core::PmError::VALUE),
        "the marker is not output"
    );
}

/// The tools' code is not kept here: maps are discovered from the output.
fn discovered(transcript: &str) -> ScriptData {
    let info = Arc::new(pmda_bpftrace::code::CodeInfo::default());
    let mut d = ScriptData::new(
        151,
        100,
        info,
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        1 << 20,
    );
    for ev in events(transcript) {
        d.apply(ev);
    }
    d
}

#[test]
fn tool_transcripts_discover_their_maps() {
    let mut d = discovered("tool-syscount.jsonl");
    let sys = instance_names(&mut d, "data.syscall");
    assert_eq!(sys.len(), 10, "print(@syscall, 10) prints the top 10");
    assert!(sys.iter().all(|k| k.parse::<u32>().is_ok()));
    assert_eq!(instance_names(&mut d, "data.process").len(), 10);
    let Value::String(out) = one(&d, "data.output") else {
        panic!()
    };
    assert!(out.starts_with("Counting syscalls..."));
    let mut d = discovered("tool-pidpersec.jsonl");
    assert!(
        matches!(one(&d, "data.root"), Value::U64(_)),
        "the anonymous map @ is data.root"
    );
    let Value::String(out) = one(&d, "data.output") else {
        panic!()
    };
    assert!(out.contains("PIDs/sec: "));
    let _ = instance_names;
    let _ = &mut d;
}
