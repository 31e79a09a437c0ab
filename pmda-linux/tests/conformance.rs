//! The linux agent against the library's conformance walker
//! (`pcp_core::testing::check_agent`): every name has a descriptor and
//! help, labels are valid, every answer obeys PCP's rules, on the live
//! system and on every fixture tree, asked as root (so the root-only
//! figures are walked too) and as an anonymous client. (The trees of
//! `fixtures/kernels` hold only the files whose format they pin down; an
//! instance domain whose file is missing there answers its read error, as
//! pmdalinux's does, which the walker rightly reports.)

use std::path::{Path, PathBuf};

use pcp_core::testing::{check_agent_with, CheckOptions};
use pcp_core::ClientContext;
use pmda_linux::LinuxConfig;

fn roots() -> Vec<PathBuf> {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    vec![PathBuf::from("/"), f.join("vm"), f.join("multi")]
}

#[test]
fn passes_the_conformance_check_everywhere() {
    for root in roots() {
        for client in [ClientContext::user(0, 0), ClientContext::anonymous()] {
            let mut a = pmda_linux::new(LinuxConfig {
                root: root.clone(),
                ..Default::default()
            })
            .unwrap();
            let opts = CheckOptions {
                client: client.clone(),
                ..Default::default()
            };
            let report = check_agent_with(&mut a, &opts)
                .unwrap_or_else(|e| panic!("{} as {client:?}: {e}", root.display()));
            assert!(report.metrics >= 1340, "{}: {report:?}", root.display());
            assert!(report.values > 500, "{}: {report:?}", root.display());
        }
    }
}
