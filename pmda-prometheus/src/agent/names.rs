//! The agent's table: the control rows, then each source's metrics,
//! `ROOT.SOURCE.LEAF` at the PMIDs the source assigned, in cluster order.

use pcp_core::agent::{Metrics, Spec};

use crate::agent::Handle;
use crate::log::{log, Level};
use crate::scrape::Shared;

/// The table of now: `control` and every source's metrics. A name that
/// cannot be added (it collides with another source's, or is not a PCP
/// name) is logged and left out.
pub(crate) fn build(control: &Metrics<Handle>, shared: &Shared) -> Metrics<Handle> {
    let mut t = control.clone();
    let root = &shared.settings.root;
    for s in shared.sources.read().values() {
        let st = s.state.lock();
        for m in &st.metrics {
            let item = m.desc.pmid.item();
            let indom = (!m.desc.indom.is_null()).then(|| m.desc.indom.serial());
            if let Some(serial) = indom {
                let text = format!(
                    "Instances of {root}.{}.{}, one per label set",
                    s.name, m.leaf
                );
                t.set_indom_text(serial, text, "");
            }
            let spec = Spec {
                cluster: s.cluster,
                item,
                ty: m.desc.ty,
                sem: m.desc.sem,
                units: m.desc.units,
                indom,
            };
            let name = format!("{root}.{}.{}", s.name, m.leaf);
            let handle = Handle::Source {
                cluster: s.cluster,
                item,
            };
            match t.add(name, spec, handle) {
                Ok(row) => {
                    row.oneline = m.oneline.clone().into();
                    row.help = m.help.clone().into();
                    // As the reference: a metric without HELP has empty
                    // texts (pminfo prints "<empty entry>"), not missing ones.
                    row.empty_help = true;
                }
                Err(e) => log(Level::Debug, root, &format!("metric of {}: {e}", s.name)),
            }
        }
    }
    t
}
