//! Prints every metric of the agent in `pminfo -f` style: `cargo run -p
//! pmda-linux --example dump [ROOT] [NAME-PREFIX...]`.
use pcp_core::{ClientContext, FetchRequest, Pmda, Profile, TextKind};
use pmda_linux::LinuxConfig;

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "/".into());
    let prefixes: Vec<String> = args.collect();
    let mut pmda = match pmda_linux::new(LinuxConfig {
        root: root.into(),
        ..Default::default()
    }) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut names: Vec<(String, pcp_core::Pmid)> =
        pmda.namespace().traverse("").unwrap_or_default();
    names.sort();
    names
        .retain(|(n, _)| prefixes.is_empty() || prefixes.iter().any(|p| n.starts_with(p.as_str())));
    let pmids: Vec<_> = names.iter().map(|(_, p)| *p).collect();
    let profile = Profile::all();
    let client = ClientContext::local();
    let res = pmda.fetch(&FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client: &client,
    });
    for ((name, pmid), r) in names.iter().zip(res) {
        let _ = pmda.text(
            pcp_core::TextTarget::Metric(*pmid),
            TextKind::OneLine,
            &pcp_core::ClientContext::local(),
        );
        println!("\n{name}");
        match r {
            Err(e) => println!("Error: {e}"),
            Ok(v) if v.is_empty() => println!("No value(s) available!"),
            Ok(v) => {
                for (inst, val) in v {
                    if inst == pcp_core::PM_IN_NULL {
                        println!("    value {val}");
                    } else {
                        println!("    inst [{inst}] value {val}");
                    }
                }
            }
        }
    }
}
