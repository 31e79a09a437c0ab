//! Derived metrics for the host's clients (`info`, `watch`, `serve`), loaded
//! as a PCP client loads them: `$PCP_DERIVED_CONFIG` (empty: none), else
//! PCP's configuration directory, else (on a machine without PCP) the copy
//! of PCP 6.0.3's definitions shipped in `conf/derived/`; then each
//! `--derived FILE` (or directory). Agents under pmcd (`pcp-agent pmda`)
//! get none, as PCP's agents get none from libpcp.

use std::path::PathBuf;
use std::sync::Arc;

use pcp_core::derive::{LoadReport, Registry};

/// The shipped definitions, in the order PCP's directory lists them on a
/// Debian host (so PMIDs agree with such a host's).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "conf/derived/cpu-util.conf",
        include_str!("../conf/derived/cpu-util.conf"),
    ),
    (
        "conf/derived/proc.conf",
        include_str!("../conf/derived/proc.conf"),
    ),
    (
        "conf/derived/iostat.conf",
        include_str!("../conf/derived/iostat.conf"),
    ),
    (
        "conf/derived/mssql.conf",
        include_str!("../conf/derived/mssql.conf"),
    ),
];

/// Options for derived metrics, shared by the client subcommands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DerivedOptions {
    /// More derived metric definitions: a file or directory in
    /// pmLoadDerivedConfig(3) format (repeatable).
    #[arg(long = "derived", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl DerivedOptions {
    /// Loads the default definitions and the `--derived` files. Problems in
    /// the files are printed on standard error (as libpcp prints them) and
    /// the rest still loads; a `--derived` file that cannot be read is an
    /// error.
    pub fn load(&self) -> Result<Arc<Registry>, String> {
        let mut registry = Registry::new();
        let mut report = LoadReport::default();
        registry.load_default(SHIPPED, &mut report);
        for f in &self.files {
            registry
                .load_path(f, &mut report)
                .map_err(|e| format!("--derived {}: {e}", f.display()))?;
        }
        for m in &report.messages {
            eprintln!("{m}");
        }
        Ok(Arc::new(registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_copy_loads_cleanly_with_pcps_expressions() {
        let mut r = Registry::new();
        let mut report = LoadReport::default();
        for (name, text) in SHIPPED {
            r.load_text(name, text, &mut report);
        }
        assert!(report.messages.is_empty(), "{:?}", report.messages);
        assert_eq!(report.loaded, 62);
        // The PMIDs a PCP 6.0.3 client gives them on this project's
        // Debian build machine (pminfo -m).
        for (name, pmid) in [
            ("kernel.cpu.util.user", "511.0.3"),
            ("proc.psinfo.age", "511.0.10"),
            ("disk.dev.await", "511.0.16"),
            ("disk.dm.util", "511.0.37"),
            ("disk.md.util", "511.0.48"),
            ("disk.wwid.util", "511.0.59"),
        ] {
            assert_eq!(r.get(name).unwrap().pmid.to_string(), pmid, "{name}");
        }
        assert!(r.get("disk.dev.await").unwrap().help.is_some());
    }
}
