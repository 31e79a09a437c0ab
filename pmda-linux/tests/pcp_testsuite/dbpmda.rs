//! PCP's pmdalinux on a tree, under dbpmda: its answers and the names it serves.

use super::*;

/// pmdalinux's answers under dbpmda for `names` (whose instance
/// domains are `indoms`, as "60.N") on the tree at `root`.
///
/// One session: every metric fetched twice in groups of one cluster each
/// (some clusters fill their instance domains on a first fetch; pmdalinux
/// fails a whole fetch when a refresh fails, e.g. without
/// /proc/net/netstat, so a group holds the metrics that one refresh
/// answers and its error is theirs), then the descriptors and the
/// instance lists.
pub(crate) fn pmdalinux(
    root: &Path,
    groups: &[Vec<String>],
    indoms: &BTreeSet<String>,
) -> BTreeMap<String, Answer> {
    let names: Vec<&String> = groups.iter().flatten().collect();
    let var = tempfile::Builder::new()
        .prefix("pcp-testsuite-var-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(var.path().join("config/pmda")).unwrap();
    let mut script = format!("open pipe {PMDALINUX} -d 60\nattr 11 \"0\"\n");
    for _ in 0..2 {
        for g in groups {
            script.push_str(&format!("fetch {}\n", g.join(" ")));
        }
    }
    for n in &names {
        script.push_str(&format!("desc {n}\n"));
    }
    for d in indoms {
        script.push_str(&format!("instance {d}\n"));
    }
    let out = run_dbpmda(root, var.path(), &script);

    // Values by numeric instance id until the names are known.
    let mut raw: BTreeMap<String, BTreeMap<Option<u32>, String>> = BTreeMap::new();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut metric_indom: BTreeMap<String, String> = BTreeMap::new();
    let mut inames: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
    // What the last command was about.
    enum At {
        Nothing,
        Fetch(Vec<String>),
        Desc(String),
        Instances(String),
    }
    let mut at = At::Nothing;
    let mut cur: Option<String> = None;
    for line in out.lines() {
        let t = line.trim();
        if let Some(cmd) = t.strip_prefix("dbpmda>") {
            let cmd = cmd.trim();
            cur = None;
            at = if let Some(list) = cmd.strip_prefix("fetch ") {
                // The second fetch of a group replaces the first.
                let group: Vec<String> = list.split(' ').map(str::to_string).collect();
                for n in &group {
                    raw.remove(n);
                    errors.remove(n);
                }
                At::Fetch(group)
            } else if let Some(n) = cmd.strip_prefix("desc ") {
                At::Desc(n.to_string())
            } else if let Some(d) = cmd.strip_prefix("instance ") {
                At::Instances(d.to_string())
            } else {
                At::Nothing
            };
            continue;
        }
        match &at {
            At::Nothing => {}
            At::Desc(n) => {
                if let Some((_, indom)) = t
                    .strip_prefix("Data Type:")
                    .and_then(|r| r.split_once("InDom: "))
                {
                    let indom = indom.split_whitespace().next().unwrap_or("");
                    if indom != "PM_INDOM_NULL" {
                        metric_indom.insert(n.clone(), indom.to_string());
                    }
                }
            }
            At::Instances(d) => {
                // [  0] inst: 0 name: "cpu0"
                if let Some((id, name)) = t
                    .split_once("inst: ")
                    .and_then(|(_, r)| r.split_once(" name: "))
                {
                    if let Ok(id) = id.trim().parse() {
                        inames
                            .entry(d.clone())
                            .or_default()
                            .insert(id, name.trim().trim_matches('"').to_string());
                    }
                }
            }
            At::Fetch(group) => {
                if let Some(e) = t.strip_prefix("Error PDU: ") {
                    for n in group {
                        errors.insert(n.clone(), e.to_string());
                    }
                    continue;
                }
                // "60.2.0 (kernel.all.load): numval: 3 ..." or "...: No values returned!"
                if let Some((head, rest)) = t.split_once("): ") {
                    if let Some((_, name)) = head.split_once(" (") {
                        raw.insert(name.to_string(), BTreeMap::new());
                        errors.remove(name);
                        cur = None;
                        if rest.starts_with("numval:") {
                            cur = Some(name.to_string());
                        } else if !rest.starts_with("No values") {
                            errors.insert(name.to_string(), rest.to_string());
                        }
                        continue;
                    }
                }
                let Some(c) = &cur else { continue };
                if let Some(rest) = t.strip_prefix("inst [") {
                    let Some((id, rest)) = rest.split_once(" or ") else {
                        continue;
                    };
                    let Some((_, v)) = rest.split_once("] value ") else {
                        continue;
                    };
                    if let Ok(id) = id.parse() {
                        raw.get_mut(c).unwrap().insert(Some(id), first(v));
                    }
                } else if let Some(v) = t.strip_prefix("value ") {
                    raw.get_mut(c).unwrap().insert(None, first(v));
                }
            }
        }
    }
    names
        .into_iter()
        .map(|n| {
            let mut a = Answer {
                error: errors.get(n).cloned(),
                ..Default::default()
            };
            let names_of = metric_indom.get(n).and_then(|d| inames.get(d));
            for (id, v) in raw.get(n).into_iter().flatten() {
                let key = match id {
                    None => String::new(),
                    Some(id) => names_of
                        .and_then(|m| m.get(id).cloned())
                        .unwrap_or_else(|| format!("#{id}")),
                };
                a.values.insert(key, v.clone());
            }
            (n.clone(), a)
        })
        .collect()
}

pub(crate) fn run_dbpmda(root: &Path, var: &Path, script: &str) -> String {
    use std::io::Write;
    let cpus = tree_cpus(root);
    let mut cmd = Command::new("dbpmda");
    cmd.args(["-n", PMNS, "-ie"])
        .env("LINUX_STATSPATH", root)
        // md health from the tree's mdadm, where ours looks for it.
        .env("LINUX_MDADM", root.join("sbin/mdadm"))
        .env("PCP_VAR_DIR", var)
        // pmdalinux writes its log in the working directory.
        .current_dir(var)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if cpus > 0 {
        // pmdalinux's QA setting for the tree's CPU count (it otherwise
        // takes the live machine's).
        cmd.env("LINUX_NCPUS", cpus.to_string());
    }
    if cpuless_nodes(root) {
        cmd.env("LINUX_NNODES", "1");
    }
    let mut child = cmd.spawn().expect("dbpmda starts");
    let mut stdin = child.stdin.take().unwrap();
    let script = script.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(script.as_bytes());
    });
    let out = child.wait_with_output().expect("dbpmda runs");
    writer.join().unwrap();
    if let Ok(dir) = std::env::var("PCP_TESTSUITE_DBPMDA_DUMP") {
        let name = root.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::write(Path::new(&dir).join(name), &out.stdout).unwrap();
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first word of a dbpmda value (it adds hex and other forms after
/// 32-bit values), or the whole quoted string.
pub(crate) fn first(v: &str) -> String {
    let v = v.trim();
    if v.starts_with('"') {
        return v.to_string();
    }
    v.split_whitespace().next().unwrap_or("").to_string()
}

/// The names PCP 6.0.3's pmdalinux serves, as captured from it
/// (`tools/pmdalinux-descs.tsv`); the agent also serves a few of later
/// releases (`tools/added-descs.tsv`), which are left out here.
pub(crate) fn pmdalinux_names() -> BTreeSet<String> {
    let tsv = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pmdalinux-descs.tsv");
    std::fs::read_to_string(tsv)
        .expect("the captured descriptors")
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect()
}
