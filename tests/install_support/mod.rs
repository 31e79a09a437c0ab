//! Registering our agents in a test's private pmcd, as `pcp-agent install`
//! registers them in the system's (tests of the pcp-agent package only:
//! pmcd_support is shared with crates that do not depend on it).

use std::path::PathBuf;
use std::time::Duration;

use pcp_agent::pmcd::{InstallOptions, Reload};

use crate::pmcd_support::PrivatePmcd;

/// What `pcp-agent install NAME` needs to register our agent `name` (the
/// test's build of `pcp-agent`, at `domain`, owning `prefixes`) in `p`
/// instead of the system's pmcd: its pmcd.conf and PMNS, a reload by
/// signal, its host for the wait (30 s). Callers set `agent_args`,
/// `replace` and a longer `wait` as they need.
pub fn install_options(
    p: &PrivatePmcd,
    name: &str,
    domain: u32,
    prefixes: Vec<String>,
) -> InstallOptions {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_pcp-agent"));
    let mut io = InstallOptions::system(name, domain, bin, prefixes);
    io.pmcd_conf = p.conf.clone();
    io.pmns_dir = p.pmns_dir.clone();
    io.reload = Reload::Pid(p.pid());
    io.host = Some(p.host());
    io.wait = Duration::from_secs(30);
    io
}
