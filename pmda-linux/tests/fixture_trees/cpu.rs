//! The cpu collector: online CPUs and nodes, thermal throttling and
//! frequency scaling.

use super::*;

#[test]
fn online_cpus_and_nodes() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let cpus = fetch(&mut a, "hinv.cpu.online").unwrap();
    // CPUs of /proc/stat: cpu0 has no online file (counts as online).
    assert_eq!(
        cpus.keys().cloned().collect::<Vec<_>>(),
        ["cpu0", "cpu1", "cpu3"]
    );
    for (cpu, v) in &cpus {
        let f = root.join(format!("sys/devices/system/{}/{cpu}/online", "cpu"));
        let want = std::fs::read_to_string(f).map_or(1, |t| t.trim().parse().unwrap());
        assert_eq!(u(v), want, "{cpu}");
    }
    let nodes = fetch(&mut a, "hinv.node.online").unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.values().all(|v| u(v) == 1));
    // An offline CPU's 0, and an unreadable file's default.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("proc")).unwrap();
    std::fs::write(
        r.join("proc/stat"),
        "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\ncpu2 0 0 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    for (cpu, text) in [("cpu1", "0\n"), ("cpu2", "garbage\n")] {
        let d = r.join(format!("sys/devices/system/cpu/{cpu}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("online"), text).unwrap();
    }
    let mut a = agent(r);
    let cpus = fetch(&mut a, "hinv.cpu.online").unwrap();
    let got: Vec<u64> = cpus.values().map(u).collect();
    assert_eq!(got, [1, 0, 1]);
}

#[test]
fn thermal_throttling_per_cpu() {
    let root = fixture("multi");
    let mut a = agent(&root);
    for (metric, file) in [
        ("core.count", "core_throttle_count"),
        ("core.time", "core_throttle_total_time_ms"),
        ("package.count", "package_throttle_count"),
        ("package.time", "package_throttle_total_time_ms"),
    ] {
        let got = fetch(&mut a, &format!("hinv.cpu.thermal_throttle.{metric}")).unwrap();
        assert_eq!(got.len(), 3);
        for (cpu, v) in &got {
            let f = root.join(format!(
                "sys/devices/system/cpu/{cpu}/thermal_throttle/{file}"
            ));
            let want = std::fs::read_to_string(f).map_or(0, |t| t.trim().parse().unwrap());
            assert_eq!(u(v), want, "{metric} {cpu}");
        }
        assert_ne!(u(&got["cpu3"]), 0);
    }
}

#[test]
fn cpu_frequency_scaling() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let dir = |cpu: &str| root.join(format!("sys/devices/system/cpu/{cpu}/cpufreq"));
    let num = |cpu: &str, f: &str| -> Option<u64> {
        std::fs::read_to_string(dir(cpu).join(f))
            .ok()
            .map(|t| t.trim().parse().unwrap())
    };
    let count = fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap();
    let time = fetch(&mut a, "hinv.cpu.frequency_scaling.time").unwrap();
    let max = fetch(&mut a, "hinv.cpu.frequency_scaling.max").unwrap();
    let min = fetch(&mut a, "hinv.cpu.frequency_scaling.min").unwrap();
    // cpu0: from the statistics; MHz (kHz / 1000) times time, summed.
    let tis = read(
        &root,
        "sys/devices/system/cpu/cpu0/cpufreq/stats/time_in_state",
    );
    let rows: Vec<(u64, u64)> = tis
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace().map(|x| x.parse::<u64>().unwrap());
            (w.next().unwrap() / 1000, w.next().unwrap())
        })
        .collect();
    assert_eq!(
        u(&count["cpu0"]),
        rows.iter().map(|(f, t)| f * t).sum::<u64>()
    );
    assert_eq!(u(&time["cpu0"]), rows.iter().map(|(_, t)| t).sum::<u64>());
    assert_eq!(u(&max["cpu0"]), rows.iter().map(|(f, _)| *f).max().unwrap());
    assert_eq!(u(&min["cpu0"]), rows.iter().map(|(f, _)| *f).min().unwrap());
    // cpu1: no statistics: current, highest and lowest frequency in MHz.
    assert_eq!(
        u(&count["cpu1"]),
        num("cpu1", "scaling_cur_freq").unwrap() / 1000
    );
    assert!(!time.contains_key("cpu1"));
    assert_eq!(
        u(&max["cpu1"]),
        num("cpu1", "cpuinfo_max_freq").unwrap() / 1000
    );
    assert_eq!(
        u(&min["cpu1"]),
        num("cpu1", "cpuinfo_min_freq").unwrap() / 1000
    );
    // cpu3: no cpufreq at all.
    assert!(!count.contains_key("cpu3") && !max.contains_key("cpu3"));

    // Sampled once, until a fetch includes a /proc/cpuinfo figure.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("proc")).unwrap();
    std::fs::write(
        r.join("proc/stat"),
        "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n",
    )
    .unwrap();
    std::fs::write(
        r.join("proc/cpuinfo"),
        "processor\t: 0\ncpu MHz\t\t: 2000.000\n\n",
    )
    .unwrap();
    let f = r.join("sys/devices/system/cpu/cpu0/cpufreq");
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join("scaling_cur_freq"), "2000000\n").unwrap();
    let mut a = agent(r);
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        2000
    );
    std::fs::write(f.join("scaling_cur_freq"), "3000000\n").unwrap();
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        2000
    );
    assert!(!fetch(&mut a, "hinv.cpu.clock").unwrap().is_empty());
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        3000
    );
}
