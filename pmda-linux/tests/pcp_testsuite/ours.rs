//! This agent on a tree: its answers, the groups of metrics to ask
//! pmdalinux for and their instance domains.

use super::*;

/// What this agent says on a tree.
pub(crate) struct Ours {
    /// Its answers, as a root client.
    pub(crate) answers: BTreeMap<String, Answer>,
    /// Its metric names by cluster, in groups of at most 40.
    pub(crate) groups: Vec<Vec<String>>,
    /// The instance domains of its metrics ("60.N").
    pub(crate) indoms: BTreeSet<String>,
}

/// This agent on the tree at `root`, for the metrics under `prefixes`
/// (all of them when empty).
pub(crate) fn ours(root: &Path, prefixes: &[&str]) -> Ours {
    let mut a = pmda_linux::new(LinuxConfig {
        root: root.to_path_buf(),
        ..Default::default()
    })
    .expect("agent builds");
    let mut all = a.namespace().traverse("").unwrap_or_default();
    if !prefixes.is_empty() {
        all.retain(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)));
    }
    // The metrics both serve: pmdalinux 6.0.3's (a name it does not know
    // fails its whole fetch under dbpmda).
    let theirs = pmdalinux_names();
    all.retain(|(n, _)| theirs.contains(n.as_str()));
    let pmids: Vec<_> = all.iter().map(|(_, p)| *p).collect();
    let client = ClientContext::user(0, 0);
    let profile = Profile::all();
    let req = FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client: &client,
    };
    let _ = a.fetch(&req);
    let results = a.fetch(&req);
    let mut names_of: BTreeMap<InDom, BTreeMap<u32, String>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut indoms = BTreeSet::new();
    for ((name, pmid), r) in all.iter().zip(results) {
        let indom = a.desc(*pmid).unwrap().indom;
        if !indom.is_null() {
            indoms.insert(format!("60.{}", indom.serial()));
        }
        let mut ans = Answer::default();
        match r {
            Err(e) => ans.error = Some(e.to_string()),
            Ok(vals) => {
                if !indom.is_null() && !names_of.contains_key(&indom) {
                    let list = a.instances(indom, &client).unwrap_or_default();
                    names_of.insert(indom, list.into_iter().map(|i| (i.id, i.name)).collect());
                }
                for (id, v) in vals {
                    let key = if id == PM_IN_NULL {
                        String::new()
                    } else {
                        names_of
                            .get(&indom)
                            .and_then(|m| m.get(&id).cloned())
                            .unwrap_or_else(|| format!("#{id}"))
                    };
                    ans.values.insert(key, text(&v));
                }
            }
        }
        out.insert(name.clone(), ans);
    }
    let mut by_cluster: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (name, pmid) in &all {
        by_cluster
            .entry(pmid.cluster())
            .or_default()
            .push(name.clone());
    }
    let groups = by_cluster
        .into_values()
        .flat_map(|names| names.chunks(40).map(<[String]>::to_vec).collect::<Vec<_>>())
        .collect();
    Ours {
        answers: out,
        groups,
        indoms,
    }
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Float(f) => format!("{f}"),
        other => other.as_f64().map(|x| format!("{x}")).unwrap_or_default(),
    }
}
