//! Our bpftrace agent against PCP's pmdabpftrace 6.0.3, under one private
//! pmcd: PCP's agent runs two autostart scripts and one script registered
//! through `bpftrace.control.register`, then our agent replaces it at
//! domain 151 (`pcp_agent::pmcd::install` with `replace`) and is given the
//! same scripts. Every metric's name, PMID, type, instance domain,
//! semantics, units and help (`pminfo -dmT`), the order pminfo lists them
//! in, the instances of `bpftrace.info.scripts`, the instances of keyed and
//! histogram maps, and the members of `bpftrace.info.scripts_json` must be
//! the same.

mod install_support;
mod pmcd_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use install_support::install_options;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd;
use pmcd_support::*;

const PMDA: &str = "/usr/lib/pcp/pmdas/bpftrace/pmdabpftrace.python";

const AUTOSTART: &[(&str, &str)] = &[
    (
        "opens.bt",
        "BEGIN { @scalar = 2; }\ntracepoint:syscalls:sys_enter_openat { @ = count(); }\n",
    ),
    (
        "ticks.bt",
        "interval:ms:100 { @calls[1] = count(); @sizes = hist(5); @total = sum(3); printf(\"tick\\n\"); }\n",
    ),
];
const DYNAMIC: &str = "interval:ms:200 { @keyed[\"a\"] = count(); @last = 7; }";

/// The unnamed script's id (`s` and 32 hex digits, a fresh uuid each time)
/// as `SID`.
fn mask_ids(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let id = b.len() >= i + 33
            && b[i] == b's'
            && b[i + 1..i + 33].iter().all(|c| c.is_ascii_hexdigit())
            && b.get(i + 33).is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary && id {
            out.push_str("SID");
            i += 33;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[derive(Debug, PartialEq)]
struct Seen {
    /// `pminfo bpftrace`, in its order.
    order: Vec<String>,
    /// `pminfo -dmT` blocks by name.
    descs: BTreeMap<String, Vec<String>>,
    /// Instances of instance-domain metrics, `pminfo -f` lines without values.
    insts: BTreeMap<String, Vec<String>>,
    /// `scripts_json`: for each script, its members and the variables'
    /// fields, in order.
    json: Vec<String>,
}

fn seen(p: &PrivatePmcd) -> Seen {
    let run = |args: &[&str]| {
        let out = p.run(p.client("pminfo").args(args));
        assert!(out.status.success(), "pminfo {args:?}: {}", stderr(&out));
        mask_ids(&stdout(&out))
    };
    let order: Vec<String> = run(&["bpftrace"]).lines().map(str::to_string).collect();
    let descs = blocks(&run(&["-dmT", "bpftrace"]))
        .into_iter()
        .map(|b| (b.name, b.lines))
        .collect();
    let mut insts = BTreeMap::new();
    for b in blocks(&run(&["-f", "bpftrace"])) {
        let lines: Vec<String> = b
            .lines
            .iter()
            .filter(|l| l.trim_start().starts_with("inst ["))
            .map(|l| l.split("] value").next().unwrap_or(l).trim().to_string())
            .collect();
        if !lines.is_empty() {
            insts.insert(b.name, lines);
        }
    }
    // pminfo prints the string between quotes, unescaped.
    let out = p.run(
        p.client("pminfo")
            .args(["-f", "bpftrace.info.scripts_json"]),
    );
    let text = stdout(&out);
    let raw = text
        .find('"')
        .and_then(|i| text.rfind('"').filter(|&j| j > i).map(|j| &text[i + 1..j]));
    let doc: serde_json::Value = raw
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_else(|| panic!("scripts_json: {text}"));
    let mut json = Vec::new();
    for s in doc.as_array().expect("a JSON array") {
        let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        let vars = s["variables"].as_object().unwrap();
        let v: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        json.push(format!("{} {keys:?} {v:?}", s["metadata"]["name"]));
    }
    json.sort();
    Seen {
        order,
        descs,
        insts,
        json,
    }
}

fn register(p: &PrivatePmcd) {
    let out = p.run(
        p.client("pmstore")
            .args(["bpftrace.control.register", DYNAMIC]),
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// Every script running and every map printed at least once.
fn settled(p: &PrivatePmcd) -> bool {
    let out = p.run(p.client("pminfo").args(["-f", "bpftrace.scripts"]));
    let text = stdout(&out);
    text.matches("value \"started\"").count() == 3
        && text.contains("bpftrace.scripts.ticks.data.sizes")
        && text.contains("\"tick")
        && !text.contains("No value")
}

#[test]
fn descriptors_and_instances_equal_pmdabpftraces() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let python_ok = Command::new("/usr/bin/python3")
        .args(["-c", "import pcp.pmda"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require_pmcd("pmdabpftrace and ours under one private pmcd")
        || !pcp_core::testing::require(
            "pmdabpftrace",
            root && Path::new(PMDA).exists()
                && python_ok
                && pcp_core::testing::have_program("bpftrace"),
            "PCP's bpftrace agent, bpftrace and root",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pmdas = dir.path().join("pmdas");
    let sysconf = dir.path().join("etc");
    let autostart = pmdas.join("bpftrace/autostart");
    std::fs::create_dir_all(&autostart).unwrap();
    std::fs::create_dir_all(sysconf.join("bpftrace/autostart")).unwrap();
    for (name, code) in AUTOSTART {
        std::fs::write(autostart.join(name), code).unwrap();
    }
    let conf = pmdas.join("bpftrace/bpftrace.conf");
    std::fs::write(
        &conf,
        "[dynamic_scripts]\nenabled = true\nauth_enabled = false\n",
    )
    .unwrap();
    let env = [
        ("PCP_PMDAS_DIR", pmdas.to_str().unwrap()),
        ("PCP_SYSCONF_DIR", sysconf.to_str().unwrap()),
    ];
    let p = PrivatePmcd::start_with(
        &[format!(
            "bpftrace\t151\tpipe\tbinary\t/usr/bin/python3 {PMDA}"
        )],
        &root_block(&["bpftrace\t151:*:*".to_string()]),
        &env,
    );
    assert!(
        p.wait_for("bpftrace.scripts.ticks", Duration::from_secs(60)),
        "pmdabpftrace:\n{}",
        p.log()
    );
    register(&p);
    assert!(
        wait_until(Duration::from_secs(60), || settled(&p)),
        "pmdabpftrace's scripts did not all run:\n{}",
        p.log()
    );
    let want = seen(&p);

    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["bpftrace".into()];
    opts.bpftrace_config = Some(conf.clone());
    opts.bpftrace_autostart = vec![sysconf.join("bpftrace/autostart"), autostart.clone()];
    let mut io = install_options(&p, "bpftrace", 151, vec!["bpftrace".into()]);
    io.agent_args = opts.args_for("bpftrace");
    io.replace = true;
    io.wait = Duration::from_secs(60);
    pmcd::install(&io).unwrap_or_else(|e| panic!("install --replace: {e}\n{}", p.log()));
    assert!(
        p.wait_for("bpftrace.scripts.ticks", Duration::from_secs(60)),
        "ours:\n{}",
        p.log()
    );
    register(&p);
    assert!(
        wait_until(Duration::from_secs(60), || settled(&p)),
        "our scripts did not all run:\n{}",
        p.log()
    );
    let got = seen(&p);

    assert_eq!(got.order, want.order, "pminfo's listing");
    for (name, lines) in &want.descs {
        assert_eq!(got.descs.get(name), Some(lines), "{name}");
    }
    assert_eq!(got.descs.len(), want.descs.len());
    assert_eq!(got.insts, want.insts, "instances");
    assert_eq!(got.json, want.json, "scripts_json");
}
