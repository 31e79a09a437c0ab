//! Tests of the analysis of scripts and of the program given to bpftrace.

use super::*;

fn map<'a>(info: &'a CodeInfo, name: &str) -> &'a MapUse {
    info.maps.iter().find(|m| m.name == name).unwrap()
}

#[test]
fn every_assignment_form_is_found() {
    let code = r#"
        tracepoint:syscalls:sys_enter_read { @x += 1; @y++; ++@z; @c[comm] = count(); }
        tracepoint:syscalls:sys_exit_read /@x == 3/ { @h[pid] = hist(args->ret); @s = sum(args->ret); @w -= 2; }
    "#;
    let info = analyse(code).unwrap();
    let names: Vec<&str> = info.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["@x", "@y", "@z", "@c", "@h", "@s", "@w"]);
    assert_eq!(map(&info, "@x").func, Some(Func::Plain));
    assert_eq!(map(&info, "@c").func, Some(Func::Count));
    assert!(map(&info, "@c").keyed);
    assert_eq!(map(&info, "@h").func, Some(Func::Hist));
    assert!(map(&info, "@h").keyed);
    assert_eq!(map(&info, "@s").func, Some(Func::Sum));
    assert!(!info.has_output);
}

#[test]
fn strings_and_comments_are_skipped() {
    let code = "// @notamap = 1\n/* @nor = 2 */ BEGIN { printf(\"@fake = %d \\\" @x\\n\", 1); @real = 1; }";
    let info = analyse(code).unwrap();
    let names: Vec<&str> = info.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["@real"]);
    assert!(info.has_output);
}

#[test]
fn anonymous_stacks_and_mentions() {
    let code = "profile:hz:99 { @[kstack, comm] = count(); @u[ustack(perf, 3)] = count(); }\n\
                END { print(@); clear(@never); }";
    let info = analyse(code).unwrap();
    let anon = map(&info, "@");
    assert!(anon.keyed && anon.stacks);
    assert_eq!(anon.func, Some(Func::Count));
    assert!(map(&info, "@u").stacks);
    // Mentioned but never assigned: last, without a function.
    assert_eq!(info.maps.last().unwrap().name, "@never");
    assert_eq!(info.maps.last().unwrap().func, None);
    assert!(!info.has_output, "print(@map) is not text output");
}

#[test]
fn metadata_comments() {
    let md = parse_metadata(
        "// name: runq_lat\n// include: @a, @output\n// table-retain-lines: 5\n// custom-output-block\n// name the maps below\nBEGIN {}",
    )
    .unwrap();
    assert_eq!(md.name.as_deref(), Some("runq_lat"));
    assert_eq!(md.include.unwrap(), ["@a", "@output"]);
    assert_eq!(md.table_retain_lines, Some(5));
    assert!(md.custom_output_block);
    assert!(parse_metadata("// name: 9lives\n").is_err());
    assert!(parse_metadata("// name: a-b\n").is_err());
    assert!(parse_metadata("// table-retain-lines: ten\n").is_err());
    assert!(parse_metadata("// table-retain-lines: -1\n").is_err());
}

#[test]
fn include_filters_maps_and_output() {
    let info = analyse("// include: @a\nBEGIN { @a = 1; @b = 2; printf(\"x\"); }").unwrap();
    assert_eq!(info.maps.len(), 1);
    assert!(!info.exports_output());
    assert!(info.exports("@a") && !info.exports("@b"));
}

#[test]
fn program_appends_print_block_with_marker() {
    let code = "BEGIN { @a = 1; @b[1] = count(); }";
    let info = analyse(code).unwrap();
    let p = program(code, &info, 1000);
    assert!(p.starts_with(code));
    assert!(p.ends_with(
        "interval:ms:1000 { print(@a); print(@b); printf(\"__pcp_agent_bpftrace_sync__\\n\"); }\n"
    ));
    let custom = "// custom-output-block\nBEGIN { @a = 1; }";
    assert_eq!(program(custom, &analyse(custom).unwrap(), 1000), custom);
}
