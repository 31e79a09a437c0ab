//! The agent answers for a client's container (`pminfo --container=NAME`,
//! the `container` attribute pmcd passes on) as pmdalinux does: network
//! interfaces, their attributes and addresses, protocol and socket
//! figures from the container's network namespace, `filesys.*` and
//! `tmpfs.*` from its mounts, `kernel.uname.*` from its UTS namespace;
//! everything else, and everything without a container, is the host's.
//!
//! Two kinds of container: one this test makes (a control group of its
//! own holding a process in new network, UTS and mount namespaces, found
//! by the group's name) and a podman container compared with PCP's
//! pmdalinux through the system pmcd (`podman.rs`; run it under the
//! lock the tests that use the system pmcd share). PCP's container lookup
//! (pmdaroot) knows only engines' containers (docker, podman, lxc), not a
//! bare control group, so the test-made one (`namespaces.rs`) is checked
//! against what the test set up, not against pmdalinux.

mod namespaces;
mod podman;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pcp_core::{ClientContext, Host, InDom, PmError, Profile, Value};
use pmda_linux::LinuxConfig;

/// Polls `f` every 20 ms until it holds or `limit` passes.
pub(crate) fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// root, asking for `container` (the host's figures for `None`).
pub(crate) fn client(container: Option<&str>) -> ClientContext {
    ClientContext {
        user_id: Some(0),
        group_id: Some(0),
        container: container.map(str::to_string),
        ..Default::default()
    }
}

/// A host with this agent loaded, reading the live system.
pub(crate) fn linux_host() -> Host {
    let mut host = Host::new();
    host.load(Box::new(pmda_linux::new(LinuxConfig::default()).unwrap()))
        .unwrap();
    host
}

/// The values of metric `name` for `who`, by instance name ("" for a
/// singular metric).
pub(crate) fn values(
    host: &mut Host,
    name: &str,
    who: &ClientContext,
) -> Result<BTreeMap<String, Value>, PmError> {
    let pmid = host.lookup(name).unwrap();
    let r = host.fetch_as(who, &[pmid], &Profile::default());
    let vals = r.values.into_iter().next().unwrap().1?;
    let indom = host.desc(pmid).unwrap().indom;
    let names: BTreeMap<u32, String> = if indom == InDom::NULL {
        BTreeMap::new()
    } else {
        host.instances_as(who, indom)?
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect()
    };
    Ok(vals
        .into_iter()
        .map(|(id, v)| (names.get(&id).cloned().unwrap_or_default(), v))
        .collect())
}

/// The instance names of `m`.
pub(crate) fn keys(m: &BTreeMap<String, Value>) -> BTreeSet<String> {
    m.keys().cloned().collect()
}

#[test]
fn an_unknown_container_fails_every_metric_as_pmdalinux_does() {
    let mut host = linux_host();
    let nowhere = client(Some("no-such-container-here"));
    for name in [
        "network.interface.in.bytes",
        "kernel.uname.nodename",
        "filesys.capacity",
        "kernel.all.load",
    ] {
        assert_eq!(
            values(&mut host, name, &nowhere),
            Err(PmError::NOCONTAINER),
            "{name}"
        );
    }
    let pmid = host.lookup("network.interface.in.bytes").unwrap();
    let indom = host.desc(pmid).unwrap().indom;
    assert_eq!(
        host.instances_as(&nowhere, indom).map(|_| ()),
        Err(PmError::NOCONTAINER)
    );
    // The same agent still answers the host.
    assert!(values(&mut host, "kernel.all.load", &client(None)).is_ok());
}
