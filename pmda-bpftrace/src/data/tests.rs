//! Tests of a script's data: metrics from maps, values, instances and output.

use pcp_core::{InDom, PmError, PM_IN_NULL};

use super::*;
use crate::code::{analyse, SYNC_MARKER};
use crate::event::parse_line;

fn data_for(code: &str) -> ScriptData {
    let info = Arc::new(analyse(code).unwrap());
    ScriptData::new(
        151,
        100,
        info,
        IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
        1 << 20,
    )
}

fn feed(d: &mut ScriptData, line: &str) -> Applied {
    d.apply(parse_line(line.as_bytes()).unwrap().unwrap())
}

fn item(d: &ScriptData, name: &str) -> u32 {
    d.names()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
        .item()
}

#[test]
fn assigned_maps_exist_before_data_as_pmdabpftraces() {
    let mut d = data_for("tracepoint:raw_syscalls:sys_enter { @calls[comm] = count(); @x = 1; }");
    let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
    assert_eq!(names, ["data.calls", "data.x"], "in the order of the code");
    let it = item(&d, "data.calls");
    assert_eq!(it, 10);
    let (desc, help, mt) = d.desc(it).unwrap();
    assert_eq!(
        (desc.ty, desc.sem, desc.units, mt),
        (Type::U64, Semantics::Counter, Units::NONE, None)
    );
    assert_eq!(help, "@calls variable of bpftrace script");
    assert_eq!(desc.indom, InDom::from_parts(151, 100_010));
    assert_eq!(d.fetch(it).unwrap(), vec![]);
    let a = feed(
        &mut d,
        r#"{"type": "map", "data": {"@calls": {"sshd": 5, "bash": 7}}}"#,
    );
    assert!(a.data && !a.names);
    let insts = d.instances(100_010).unwrap();
    assert_eq!(
        insts.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["bash", "sshd"]
    );
    let x = item(&d, "data.x");
    assert_eq!(x, 11);
    let (desc, _, _) = d.desc(x).unwrap();
    assert_eq!((desc.ty, desc.sem), (Type::U64, Semantics::Instant));
    feed(&mut d, r#"{"type": "map", "data": {"@x": 3}}"#);
    assert_eq!(d.fetch(x).unwrap(), vec![(PM_IN_NULL, Value::U64(3))]);
    // A value pmdabpftrace's U64 cannot hold: the metric turns signed.
    feed(&mut d, r#"{"type": "map", "data": {"@x": -5}}"#);
    assert_eq!(item(&d, "data.x"), 11, "same PMID");
    assert_eq!(d.desc(x).unwrap().0.ty, Type::I64);
    assert_eq!(d.fetch(x).unwrap(), vec![(PM_IN_NULL, Value::I64(-5))]);
}

#[test]
fn fetches_between_prints_see_the_latest_print() {
    let mut d = data_for("BEGIN { @k[1] = count(); @h = hist(1); }");
    let k = item(&d, "data.k");
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@k": {"a": 1, "b": 2}}}"#,
    );
    let first = d.fetch(k).unwrap();
    assert_eq!(d.fetch(k).unwrap(), first, "repeated fetches agree");
    let ids: Vec<u32> = first.iter().map(|v| v.0).collect();
    feed(&mut d, r#"{"type": "map", "data": {"@k": {"b": 5}}}"#);
    assert_eq!(d.fetch(k).unwrap(), vec![(ids[1], Value::U64(5))]);
    feed(
        &mut d,
        r#"{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": 3}]}}"#,
    );
    let h = item(&d, "data.h");
    assert_eq!(d.fetch(h).unwrap().len(), 1);
    assert_eq!(d.fetch(k).unwrap(), vec![(ids[1], Value::U64(5))]);
    let marker = format!(
        r#"{{"type": "printf", "data": "{}"}}"#,
        SYNC_MARKER.replace('\n', "\\n")
    );
    feed(&mut d, &marker);
    assert_eq!(d.fetch(h).unwrap().len(), 1, "printed in the block");
    feed(&mut d, r#"{"type": "map", "data": {"@k": {"a": 9}}}"#);
    assert_eq!(d.fetch(k).unwrap(), vec![(ids[0], Value::U64(9))]);
    feed(&mut d, &marker);
    assert_eq!(
        d.fetch(h).unwrap(),
        vec![],
        "not printed in the block: empty"
    );
    assert_eq!(d.fetch(k).unwrap(), vec![(ids[0], Value::U64(9))]);
    d.reset();
    assert_eq!(d.fetch(k).unwrap(), vec![]);
}

#[test]
fn instance_ids_are_stable_and_maps_empty_at_the_marker() {
    let mut d = data_for("BEGIN { @k[1] = count(); }");
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@k": {"1": 1, "2": 2}}}"#,
    );
    feed(
        &mut d,
        r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
    );
    let first = d.instances(100_010).unwrap();
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@k": {"2": 3, "3": 1}}}"#,
    );
    let second = d.instances(100_010).unwrap();
    assert_eq!(first[1], second[0], "instance 2 keeps its id");
    assert!(second[1].id > first[1].id, "new keys get new ids");
    // The next block prints nothing for @k: it was cleared.
    feed(
        &mut d,
        r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
    );
    feed(
        &mut d,
        r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
    );
    assert_eq!(d.instances(100_010).unwrap(), vec![]);
    assert!(d.output.is_none(), "the marker is not output");
}

#[test]
fn a_key_printed_twice_keeps_the_last_value() {
    let mut d = data_for("BEGIN { @k[1] = count(); }");
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@k": {"a": 1, "b": 2, "a": 3}}}"#,
    );
    let it = item(&d, "data.k");
    let v = d.fetch(it).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].1, Value::U64(3));
}

#[test]
fn histograms_are_numeric_and_keyed_histograms_work() {
    let mut d = data_for("BEGIN { @h = hist(1); @kh[comm] = lhist(1, 0, 10, 1); }");
    feed(
        &mut d,
        r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 2}, {"min": 2, "max": 3, "count": 4}, {"min": 1024, "count": 5}]}}"#,
    );
    let h = item(&d, "data.h");
    let (desc, _, mt) = d.desc(h).unwrap();
    assert_eq!(
        (desc.ty, desc.sem, mt),
        (Type::U64, Semantics::Counter, Some("histogram"))
    );
    let names: Vec<String> = d
        .instances(100_000 + h)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["-inf--1", "0-0", "2-3", "1024-inf"]);
    feed(
        &mut d,
        r#"{"type": "hist", "data": {"@kh": {"b": [{"min": 10, "count": 1}], "a": [{"max": -1, "count": 2}, {"min": 1, "max": 1, "count": 3}]}}}"#,
    );
    let kh = item(&d, "data.kh");
    let names: Vec<String> = d
        .instances(100_000 + kh)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["a -inf--1", "a 1-1", "b 10-inf"]);
    let vals = d.fetch(kh).unwrap();
    assert_eq!(vals.len(), 3);
}

#[test]
fn stats_become_three_metrics() {
    let mut d = data_for("BEGIN { @st = stats(10); @ks[pid] = stats(1); }");
    let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
    assert_eq!(
        names,
        [
            "data.st.count",
            "data.st.average",
            "data.st.total",
            "data.ks.count",
            "data.ks.average",
            "data.ks.total"
        ]
    );
    feed(
        &mut d,
        r#"{"type": "stats", "data": {"@st": {"count": 2, "average": -15, "total": -30}}}"#,
    );
    assert_eq!(
        d.fetch(item(&d, "data.st.count")).unwrap(),
        vec![(PM_IN_NULL, Value::U64(2))]
    );
    assert_eq!(
        d.fetch(item(&d, "data.st.average")).unwrap(),
        vec![(PM_IN_NULL, Value::I64(-15))]
    );
    assert_eq!(
        d.fetch(item(&d, "data.st.total")).unwrap(),
        vec![(PM_IN_NULL, Value::I64(-30))]
    );
    let (desc, _, _) = d.desc(item(&d, "data.st.total")).unwrap();
    assert_eq!(desc.sem, Semantics::Counter);
}

#[test]
fn strings_and_unsigned_values_are_faithful() {
    let mut d = data_for("BEGIN { @s = comm; @u = 1; @t[1] = (1, \"a\"); }");
    feed(&mut d, r#"{"type": "map", "data": {"@s": "bash"}}"#);
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@u": 18446744073709551615}}"#,
    );
    feed(&mut d, r#"{"type": "map", "data": {"@t": {"1": [1,"a"]}}}"#);
    assert_eq!(
        d.fetch(item(&d, "data.s")).unwrap(),
        vec![(PM_IN_NULL, Value::String("bash".into()))]
    );
    assert_eq!(
        d.fetch(item(&d, "data.u")).unwrap(),
        vec![(PM_IN_NULL, Value::U64(u64::MAX))]
    );
    assert_eq!(
        d.fetch(item(&d, "data.t")).unwrap()[0].1,
        Value::String("(1, a)".into())
    );
}

#[test]
fn stack_maps_have_folded_rendering() {
    let mut d = data_for("profile:hz:99 { @st[kstack, comm] = count(); }");
    feed(
        &mut d,
        r#"{"type": "map", "data": {"@st": {"\n    leaf+11\n    mid+5\n    root+0\n,swapper/0": 29, "\n    other+1\n    root+0\n,bash": 2, ",idle": 1, "": 4}}}"#,
    );
    let st = item(&d, "data.st");
    assert_eq!(d.desc(st).unwrap().2, Some("stacks"));
    let f = item(&d, "folded.st");
    let text = d.fetch(f).unwrap().remove(0).1;
    assert_eq!(
        text,
        Value::String(
            "[unknown] 4\nbash;root;other 2\nidle 1\nswapper/0;root;mid;leaf 29\n".into()
        )
    );
}

#[test]
fn output_is_bounded_and_retains_table_lines() {
    let mut d = data_for("// table-retain-lines: 2\nBEGIN { printf(\"a,b\\n\"); }");
    let out = item(&d, "data.output");
    assert_eq!(d.desc(out).unwrap().2, Some("output"));
    assert_eq!(d.fetch(out), Err(PmError::VALUE));
    for l in ["h1,h2\n", "1,1\n", "2,2\n", "3,", "3\n", "4,4"] {
        feed(
            &mut d,
            &format!(
                r#"{{"type": "printf", "data": "{}"}}"#,
                l.replace('\n', "\\n")
            ),
        );
    }
    assert_eq!(
        d.fetch(out).unwrap()[0].1,
        Value::String("h1,h2\n3,3\n4,4".into())
    );
    let mut b = OutputBuf::new(None, 10);
    for _ in 0..10 {
        b.push("12345\n");
    }
    assert_eq!(b.text(), "12345\n");
    b.push("abcdefghijklmnop");
    assert_eq!(b.text(), "ghijklmnop");
}

#[test]
fn include_limits_exported_maps() {
    let mut d = data_for("// include: @a\nBEGIN { @a = count(); @b = count(); printf(\"x\"); }");
    feed(&mut d, r#"{"type": "map", "data": {"@b": 1}}"#);
    feed(&mut d, r#"{"type": "printf", "data": "x"}"#);
    let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
    assert_eq!(names, ["data.a"]);
}
