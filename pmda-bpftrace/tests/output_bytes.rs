//! `data_bytes` counts what pmdabpftrace counts: every byte of every line
//! bpftrace writes to stdout, and nothing of our own sync marker (the
//! printf we append to each print block; pmdabpftrace appends none). A
//! stand-in bpftrace replays a transcript recorded from a real run
//! (`tests/fixtures/agent-program.jsonl`, markers included) and exits, so
//! no bpftrace is needed.

mod common;

use common::*;
use pcp_core::Value;
use pmda_bpftrace::code::SYNC_MARKER;

#[test]
fn data_bytes_leaves_out_the_sync_marker() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let transcript = std::fs::read_to_string(format!("{fixtures}/agent-program.jsonl")).unwrap();
    let marker_json = format!(
        "\"data\": \"{}\"",
        SYNC_MARKER.trim_end_matches('\n').to_string() + "\\n"
    );
    let (markers, others): (Vec<&str>, Vec<&str>) = transcript
        .split_inclusive('\n')
        .partition(|l| l.contains(&marker_json));
    assert!(markers.len() >= 3, "the transcript has no markers");
    let want: usize = others.iter().map(|l| l.len()).sum();

    let dir = tempfile::tempdir().unwrap();
    let transcript_path = std::path::PathBuf::from(format!("{fixtures}/agent-program.jsonl"));
    let fake = fake_bpftrace(dir.path(), Some(&transcript_path));

    let conf = format!(
        "[bpftrace]\nbpftrace_path = {}\nstop_timeout = 2\n\
         [dynamic_scripts]\nenabled = true\nauth_enabled = true\nallowed_users = root\n",
        fake.display()
    );
    let mut a = agent(&conf, &[]);
    // The script the transcript was recorded from, as a user writes it (the
    // agent adds the print block and marker).
    let r = a.register(
        "// name: replay\n\
         interval:ms:100 { @ticks++; if (@ticks < 4) { @k[@ticks % 3] = count(); } \
         if (@ticks == 4) { clear(@k); } }\n\
         interval:ms:1100 { exit(); }\n",
    );
    assert!(r["error"].as_str().unwrap_or("").is_empty(), "{r}");
    a.wait_status("replay", "stopped", 20);
    assert_eq!(
        a.value("bpftrace.scripts.replay.data_bytes"),
        Some(Value::U32(want as u32)),
        "{} transcript bytes, {} of them in {} marker lines",
        transcript.len(),
        transcript.len() - want,
        markers.len()
    );
}
