//! Autostart scripts are numbered as pmdabpftrace numbers them, whatever
//! ours kept from earlier runs: clusters from 100 in autostart order,
//! items in code order (pmdabpftrace keeps no ids at all; the comparison
//! with it on the same directories is `tests/bpftrace_reference.rs` at the
//! workspace root). So `install bpftrace --replace` and `remove bpftrace`
//! keep every PMID either way, even after the autostart scripts changed
//! while the other agent ran. Dynamically registered named scripts keep
//! their ids across restarts where no autostart script takes them.
//! A stand-in bpftrace runs the scripts (no probes needed).

mod common;

use std::path::PathBuf;

use common::*;
use pmda_bpftrace::{BpftraceConfig, BpftracePmda};

fn started(conf: &std::path::Path, state: &std::path::Path, dirs: &[PathBuf]) -> Agent {
    Agent {
        a: BpftracePmda::new(BpftraceConfig {
            autostart_dirs: dirs.to_vec(),
            config_file: Some(conf.to_path_buf()),
            state_dir: Some(state.to_path_buf()),
            pcp_dir: None,
            ..Default::default()
        })
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

fn cluster(a: &mut Agent, name: &str) -> u32 {
    a.pmid(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .cluster()
}

fn item(a: &mut Agent, name: &str) -> u32 {
    a.pmid(name).unwrap_or_else(|| panic!("no {name}")).item()
}

#[test]
fn autostart_ids_follow_the_reference_not_what_was_kept() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_bpftrace(dir.path(), None);
    let conf = dir.path().join("bpftrace.conf");
    std::fs::write(
        &conf,
        format!(
            "[bpftrace]\nbpftrace_path = {}\nstop_timeout = 2\n\
             [dynamic_scripts]\nenabled = true\nauth_enabled = true\nallowed_users = root\n",
            fake.display()
        ),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let later = root_only_dir(&[("a.bt", "// name: a\nBEGIN { @x = 1; @y = 2; }\n")]);

    // First run: "a" alone, then a named script registered by a client.
    let mut first = started(&conf, state.path(), &[path(&later)]);
    assert_eq!(cluster(&mut first, "bpftrace.scripts.a.data.x"), 100);
    assert!(
        item(&mut first, "bpftrace.scripts.a.data.x")
            < item(&mut first, "bpftrace.scripts.a.data.y")
    );
    first.register("// name: dyn\nBEGIN { @z = 1; }\n");
    assert_eq!(cluster(&mut first, "bpftrace.scripts.dyn.data.z"), 101);
    drop(first);

    // Meanwhile a script was added in an autostart directory read first,
    // and a's variables were swapped. pmdabpftrace now gives z 100 and a
    // 101, a's y before its x; so must ours.
    let earlier = root_only_dir(&[("z.bt", "// name: z\nBEGIN { @q = 1; }\n")]);
    std::fs::write(
        later.path().join("a.bt"),
        "// name: a\nBEGIN { @y = 2; @x = 1; }\n",
    )
    .unwrap();
    let mut second = started(&conf, state.path(), &[path(&earlier), path(&later)]);
    assert_eq!(cluster(&mut second, "bpftrace.scripts.z.data.q"), 100);
    assert_eq!(cluster(&mut second, "bpftrace.scripts.a.data.x"), 101);
    assert!(
        item(&mut second, "bpftrace.scripts.a.data.y")
            < item(&mut second, "bpftrace.scripts.a.data.x"),
        "a's items in code order"
    );
    // dyn's kept 101 is a's now: the next of the sequence, as pmdabpftrace.
    second.register("// name: dyn\nBEGIN { @z = 1; }\n");
    assert_eq!(cluster(&mut second, "bpftrace.scripts.dyn.data.z"), 102);
    drop(second);

    // Without the added script, dyn registered first gets its own back.
    let mut third = started(&conf, state.path(), &[]);
    third.register("// name: dyn\nBEGIN { @z = 1; }\n");
    assert_eq!(cluster(&mut third, "bpftrace.scripts.dyn.data.z"), 101);
}
