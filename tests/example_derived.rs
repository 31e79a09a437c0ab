//! examples/custom_collector.rs defines a derived metric in code and
//! reports it with the agents' metrics: run it (cargo test builds the
//! examples) and check the derived values follow from their operands.

use std::process::Command;

fn example(name: &str) -> std::path::PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

#[test]
fn custom_collector_reports_its_own_derived_metric() {
    let bin = example("custom_collector");
    assert!(bin.exists(), "{} not built", bin.display());
    let out = Command::new(&bin).args(["0.2", "2"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let rates = &lines[1]["rates"];
    if let Some(per_cpu) = rates["collector.load_per_cpu"].as_object() {
        // kernel.all.load / hinv.ncpu, per load-average instance.
        // hinv.ncpu counts the cpuN lines of /proc/stat (not the CPUs
        // this process may use).
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let ncpu = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count() as f64;
        for (inst, v) in per_cpu {
            let load = rates["kernel.all.load"][inst].as_f64().unwrap();
            assert!(
                (v.as_f64().unwrap() - load / ncpu).abs() < 1e-6,
                "{inst}: {rates}"
            );
        }
    } else {
        // sum(simple.color): the sum of the color instances.
        let total = rates["collector.color_total"]["value"].as_f64().unwrap();
        let sum: f64 = rates["simple.color"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!((total - sum).abs() < 1e-6, "{rates}");
    }
}
