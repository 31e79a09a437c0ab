//! The `vmstat` collector: `/proc/vmstat`, the kernel's virtual memory
//! counters (`mem.vmstat.*`, `swap.pagesin`, `swap.pagesout`), and the
//! swap operation counts of old kernels (`swap.in`, `swap.out`).

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::keyed::{Derive, Field, Keyed};
use crate::system::System;
use crate::value::Put;

/// /proc/vmstat.
const VMSTAT: Need = Need::new(Id::Vmstat, 0);

/// The collector's state.
#[derive(Debug, Default)]
pub struct Vmstat {
    keyed: Keyed,
    /// Each metric's field, by its binding argument.
    fields: Vec<Field>,
}

impl Vmstat {
    pub(crate) fn new(_: &System) -> Vmstat {
        Vmstat::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & VMSTAT.bit != 0 {
            let k = &mut self.keyed;
            sys.parse(VMSTAT, "proc/vmstat", |b| k.parse_space(b));
        }
    }

    fn field(&mut self, derive: impl FnOnce(&mut Keyed) -> Derive, key: &str) -> u32 {
        let slot = self.keyed.slot(key);
        let derive = derive(&mut self.keyed);
        self.fields.push(Field { slot, derive });
        (self.fields.len() - 1) as u32
    }
}

/// The field of `mem.vmstat.NAME` (NAME is the kernel's key), with what
/// pmdalinux reports when this kernel lacks it.
fn resolve(c: &mut Collectors, name: &str, _: u32) -> Option<u32> {
    let derive = |k: &mut Keyed| match name {
        "nr_slab" => Derive::SumIfMissing(
            k.slot("nr_slab_reclaimable"),
            k.slot("nr_slab_unreclaimable"),
        ),
        // Split in two in 4.5; pmdalinux adds the halves back up.
        "thp_split" => {
            Derive::SumIfMissing(k.slot("thp_split_page"), k.slot("thp_split_page_failed"))
        }
        // pmdalinux's totals add up every field of its own vmstat table
        // that starts with the prefix and is in the file: per zone before
        // 4.8 (pgsteal_kswapd_normal...), per reclaimer since
        // (pgsteal_kswapd, pgsteal_direct), plus pgsteal_file and
        // pgscan_direct_throttle where the kernel has them; 0 when none is
        // there.
        "pgscan_direct_total" | "pgscan_kswapd_total" | "pgsteal_total" => {
            let prefix = name.trim_end_matches("_total");
            Derive::Total(
                descs::METRICS
                    .iter()
                    .filter_map(|m| m.name.strip_prefix("mem.vmstat."))
                    .filter(|f| f.starts_with(prefix) && !f.ends_with("_total"))
                    .map(|f| k.slot(f))
                    .collect(),
            )
        }
        _ => Derive::None,
    };
    Some(c.vmstat.field(derive, name))
}

fn value(c: &Collectors, f: u32, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    let v = &c.vmstat;
    out.set_opt(v.fields.get(f as usize).and_then(|f| v.keyed.value(f)));
    Ok(())
}

fn help(name: &str) -> (String, String) {
    let f = name.trim_start_matches("mem.vmstat.");
    (
        format!("{f} from /proc/vmstat"),
        format!("The kernel's {f} virtual memory statistic, read from /proc/vmstat; no value when this kernel does not report it."),
    )
}

/// The vmstat collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("mem.vmstat.", &[VMSTAT], resolve, value).made_help(help),
    Binding::new("swap.pagesin", &[VMSTAT], value)
        .key("pswpin", resolve)
        .help(
            "pages swapped in",
            "Pages read in from swap (pswpin in /proc/vmstat).",
        ),
    Binding::new("swap.pagesout", &[VMSTAT], value)
        .key("pswpout", resolve)
        .help(
            "pages swapped out",
            "Pages written out to swap (pswpout in /proc/vmstat).",
        ),
    Binding::new("swap.in", &[], |_, _, _| Err(PmError::APPVERSION)).help(
        "swap-in operations (old kernels)",
        "Swap-in operations from /proc/stat; Linux 2.6 and later do not report them.",
    ),
    Binding::new("swap.out", &[], |_, _, _| Err(PmError::APPVERSION)).help(
        "swap-out operations (old kernels)",
        "Swap-out operations from /proc/stat; Linux 2.6 and later do not report them.",
    ),
]];

/// The vmstat collector lists no instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[];
