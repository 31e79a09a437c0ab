//! The agent: the metric table built from the generated descriptors and
//! the collectors' bindings, and the table-driven layer's [`Agent`]
//! (refresh the sources a fetch needs, then answer each metric from its
//! binding's getter), for the host or for a client's container (see
//! [`crate::namespace`]).

use std::borrow::Cow;
use std::collections::HashMap;

use pcp_core::agent::{Agent, Fetch, Metrics, Sink, TablePmda};
use pcp_core::container::Containers;
use pcp_core::{ClientContext, InDom, Instance, LabelSet, LabelTarget, PmError};

use crate::binding::{match_binding, Binding, Help, IndomBinding};
use crate::collectors::{Collectors, Id, Plan};
use crate::namespace::View;
use crate::system::System;
use crate::{descs, LinuxConfig, LinuxError, LinuxPmda, DOMAIN};

/// A metric of the agent: its binding, and its argument within the
/// binding's family.
#[derive(Debug, Clone, Copy)]
pub struct Handle {
    binding: &'static Binding,
    arg: u32,
}

/// The Linux agent's state: its environment and every collector.
#[derive(Debug)]
pub struct Linux {
    sys: System,
    c: Collectors,
    indoms: HashMap<u32, &'static IndomBinding>,
    containers: Containers,
    /// Why the current fetch's container cannot be answered for (no
    /// such container, or none of its processes left): every metric of
    /// the fetch fails with it, as pmdalinux fails the whole fetch.
    refused: Option<PmError>,
}

/// True for a client pmcd says is root: pmdalinux gives the root-only
/// figures to such clients only.
fn is_root(client: &ClientContext) -> bool {
    client.user_id == Some(0)
}

impl Linux {
    /// The agent for `config`, served as a [`pcp_core::Pmda`].
    pub fn pmda(config: LinuxConfig) -> Result<LinuxPmda, LinuxError> {
        let root = config.root;
        if !root.is_dir() {
            return Err(LinuxError::Root(root));
        }
        let mut disabled = Vec::new();
        for name in &config.disable {
            match Id::ALL.iter().find(|c| c.name() == name.as_str()) {
                Some(id) => disabled.push(*id),
                None => return Err(LinuxError::UnknownCollector { name: name.clone() }),
            }
        }
        let live = root == std::path::Path::new("/");
        let sys = System::new(root, live);
        let mut c = Collectors::new(&sys);
        let bindings: Vec<(Id, &'static Binding)> = Id::ALL
            .iter()
            .flat_map(|id| {
                id.bindings()
                    .iter()
                    .flat_map(move |t| t.iter().map(move |b| (*id, b)))
            })
            .collect();
        let mut table = Metrics::new(DOMAIN);
        for def in descs::METRICS {
            let (id, binding, arg) = match_binding(&bindings, &mut c, def.name, def.cluster)
                .ok_or_else(|| LinuxError::Unmapped(def.name.to_string()))?;
            if disabled.contains(&id) {
                continue;
            }
            let row = table.add_def(def, Handle { binding, arg })?;
            match binding.help {
                Help::Text(one, long) => {
                    row.oneline = Cow::Borrowed(one);
                    row.help = Cow::Borrowed(long);
                }
                Help::Made(made) => {
                    let (one, long) = made(def.name);
                    row.oneline = Cow::Owned(one);
                    row.help = Cow::Owned(long);
                }
            }
            if let Some(labels) = binding.labels {
                row.labels = labels();
            }
        }
        let mut indoms = HashMap::new();
        for id in Id::ALL {
            for b in id.indoms() {
                indoms.insert(b.serial, b);
                table.set_indom_text(b.serial, b.oneline, b.help);
            }
        }
        let containers = Containers::new(sys.root());
        let agent = Linux {
            sys,
            c,
            indoms,
            containers,
            refused: None,
        };
        Ok(TablePmda::with_table("linux", agent, table))
    }

    /// Format errors met by the most recent fetch (files that did not
    /// parse). Missing files are not errors here: their metrics report
    /// `-errno`.
    pub fn source_errors(&self) -> &[LinuxError] {
        self.sys.errors()
    }

    /// Starts a new fetch in `view`'s namespaces and reads what `plan`
    /// needs.
    fn run(&mut self, view: View, plan: &Plan) {
        self.sys.begin(view);
        self.c.refresh(&mut self.sys, plan);
    }

    /// Whose namespaces `client` is answered for: the host's, or those of
    /// one process of its container (`container=` attribute).
    /// `PM_ERR_NOCONTAINER` for a container no engine and no control
    /// group knows, or one without processes. Without a container this
    /// costs nothing.
    fn view_of(&mut self, client: &ClientContext) -> Result<View, PmError> {
        let Some(name) = client.container.as_deref() else {
            return Ok(View::Host);
        };
        let scope = self.containers.find(name)?;
        scope
            .leader()
            .map(View::Process)
            .ok_or(PmError::NOCONTAINER)
    }

    fn indom(&self, indom: InDom) -> Result<&'static IndomBinding, PmError> {
        if indom.domain() != DOMAIN {
            return Err(PmError::INDOM);
        }
        self.indoms
            .get(&indom.serial())
            .copied()
            .ok_or(PmError::INDOM)
    }
}

impl Agent for Linux {
    type Metric = Handle;

    fn refresh(&mut self, fetch: &Fetch<'_, Handle>) {
        let view = match self.view_of(fetch.client()) {
            Ok(v) => v,
            Err(e) => {
                self.refused = Some(e);
                return;
            }
        };
        self.refused = None;
        let root = is_root(fetch.client());
        let mut plan = Plan::default();
        for h in fetch.metrics() {
            // Root-only figures are not read for anyone else.
            if h.binding.root_only && !root {
                continue;
            }
            plan.add(h.binding.needs);
        }
        self.run(view, &plan);
    }

    fn value(&mut self, h: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        if h.binding.root_only && !is_root(out.client()) {
            return Ok(());
        }
        for need in h.binding.needs {
            self.sys.status(*need)?;
        }
        (h.binding.get)(&self.c, h.arg, out)
    }

    /// The slab-cache and serial-line lists come from root-only files: they
    /// are re-read for a root client only; anyone else gets them as last
    /// read for root (none before that), as pmdalinux answers.
    ///
    /// A list whose file this machine does not have (`-ENOENT`: no swap
    /// areas file, no /proc/scsi, a capture without /proc/stat) is empty,
    /// as pmdalinux lists it; the metrics over it still answer `-ENOENT`.
    /// Any other failure to read or parse the file is the answer.
    ///
    /// A client's container lists its own interfaces, addresses and
    /// mounts; a container that cannot be answered for is
    /// `PM_ERR_NOCONTAINER`, for every instance domain.
    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let b = self.indom(indom)?;
        let view = self.view_of(client)?;
        if !b.root_only || is_root(client) {
            let mut plan = Plan::default();
            plan.add(b.needs);
            self.run(view, &plan);
            let mut missing = false;
            for need in b.needs {
                match self.sys.status(*need) {
                    Err(e) if e == PmError::from_errno(libc::ENOENT) => missing = true,
                    other => other?,
                }
            }
            if missing {
                return Ok(Vec::new());
            }
        }
        Ok((b.list)(&self.c))
    }

    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> LabelSet {
        match target {
            LabelTarget::InDom(indom) => self
                .indom(indom)
                .map(|b| b.indom_labels())
                .unwrap_or_default(),
            _ => LabelSet::new(),
        }
    }

    /// Labels of the instances `client` may see: the root-only lists are
    /// not refreshed for anyone else (the same rule as instances).
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let insts = self.instances(indom, client)?;
        let b = self.indom(indom)?;
        Ok(match b.instance_labels {
            Some(f) => f(&self.c, &insts),
            None => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Binding;
    use pcp_core::Pmda;

    fn bindings() -> Vec<(Id, &'static Binding)> {
        Id::ALL
            .iter()
            .flat_map(|id| {
                id.bindings()
                    .iter()
                    .flat_map(move |t| t.iter().map(move |b| (*id, b)))
            })
            .collect()
    }

    fn fixture() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vm")
    }

    /// Every descriptor has one binding, with no tie: no two bindings of
    /// the same exact name and cluster, and no two families of the same
    /// prefix that both take a name; and every binding serves at least
    /// one descriptor (a binding without a descriptor is dead code).
    #[test]
    fn descriptors_and_bindings_match_one_to_one() {
        let sys = System::new(fixture(), false);
        let mut c = Collectors::new(&sys);
        let all = bindings();
        let mut used = vec![0usize; all.len()];
        for def in descs::METRICS {
            let fits = |b: &Binding| b.cluster.is_none_or(|cl| cl == def.cluster);
            let exact: Vec<usize> = (0..all.len())
                .filter(|&i| !all[i].1.family && all[i].1.name == def.name && fits(all[i].1))
                .collect();
            assert!(
                exact.len() <= 1,
                "{}: {} exact bindings",
                def.name,
                exact.len()
            );
            let chosen = match exact.first() {
                Some(&i) => i,
                None => {
                    let fams: Vec<usize> = (0..all.len())
                        .filter(|&i| {
                            let b = all[i].1;
                            b.family && def.name.starts_with(b.name) && fits(b)
                        })
                        .filter(|&i| {
                            let b = all[i].1;
                            (b.resolve.unwrap())(&mut c, &def.name[b.name.len()..], def.cluster)
                                .is_some()
                        })
                        .collect();
                    let longest = fams.iter().map(|&i| all[i].1.name.len()).max();
                    let best: Vec<usize> = fams
                        .into_iter()
                        .filter(|&i| Some(all[i].1.name.len()) == longest)
                        .collect();
                    assert_eq!(best.len(), 1, "{}: {:?}", def.name, best);
                    best[0]
                }
            };
            used[chosen] += 1;
        }
        for (i, n) in used.iter().enumerate() {
            assert!(
                *n > 0,
                "binding {:?} of {} serves no metric",
                all[i].1,
                all[i].0.name()
            );
        }
    }

    #[test]
    fn every_metric_and_instance_domain_has_help() {
        let mut a = Linux::pmda(LinuxConfig {
            root: fixture(),
            ..Default::default()
        })
        .unwrap();
        pcp_core::testing::check_agent(&mut a).unwrap();
        for id in Id::ALL {
            for b in id.indoms() {
                assert!(!b.oneline.is_empty() && !b.help.is_empty(), "{b:?}");
            }
        }
    }

    #[test]
    fn collectors_switch_off_by_name() {
        let names = |a: &LinuxPmda| -> Vec<String> {
            a.namespace()
                .traverse("")
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let all = names(
            &Linux::pmda(LinuxConfig {
                root: fixture(),
                ..Default::default()
            })
            .unwrap(),
        );
        let mut a = Linux::pmda(LinuxConfig {
            root: fixture(),
            disable: vec!["swapdev".into(), "cpu".into()],
        })
        .unwrap();
        let some = names(&a);
        assert!(all.iter().any(|n| n.starts_with("swapdev.")));
        assert!(!some
            .iter()
            .any(|n| n.starts_with("swapdev.") || n.starts_with("kernel.all.cpu.")));
        assert_eq!(
            all.len() - some.len(),
            all.iter()
                .filter(|n| n.starts_with("swapdev.")
                    || n.starts_with("kernel.all.cpu.")
                    || n.starts_with("kernel.percpu.cpu.")
                    || n.starts_with("kernel.pernode.cpu.")
                    || n.starts_with("hinv.cpu.")
                    || [
                        "hinv.ncpu",
                        "kernel.all.hz",
                        "hinv.map.cpu_num",
                        "hinv.map.cpu_node"
                    ]
                    .contains(&n.as_str()))
                .count()
        );
        // Another collector's metric still reads the switched-off one's
        // file (kernel.all.pswitch comes from /proc/stat).
        let pmid = a.namespace().lookup("kernel.all.pswitch").unwrap();
        let r = a.fetch(&pcp_core::FetchRequest {
            pmids: &[pmid],
            profile: &pcp_core::Profile::all(),
            client: &ClientContext::user(0, 0),
        });
        assert!(matches!(&r[0], Ok(v) if v.len() == 1), "{r:?}");
        let err = Linux::pmda(LinuxConfig {
            root: fixture(),
            disable: vec!["swap".into()],
        })
        .unwrap_err();
        assert!(err.to_string().contains("swapdev"), "{err}");
    }
}
