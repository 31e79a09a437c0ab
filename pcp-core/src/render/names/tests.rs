//! Tests of the parent module.
use super::*;

fn fam(n: &str, counter: bool) -> String {
    exposition_name(n, counter).family
}

fn series(n: &str, counter: bool) -> String {
    exposition_name(n, counter).series
}

#[test]
fn pmproxy_names_are_kept_where_they_are_valid() {
    assert_eq!(series("kernel.all.load", false), "kernel_all_load");
    assert_eq!(
        series("disk.dev.read_bytes", true),
        "disk_dev_read_bytes_total"
    );
    assert_eq!(fam("disk.dev.read_bytes", true), "disk_dev_read_bytes");
    assert_eq!(
        series("network.interface.in.bytes", true),
        "network_interface_in_bytes_total"
    );
    assert_eq!(series("hinv.ncpu", false), "hinv_ncpu");
}

#[test]
fn counters_samples_end_in_total() {
    assert_eq!(
        series("mem.vmstat.pgscan_direct", true),
        "mem_vmstat_pgscan_direct_total"
    );
    assert_eq!(
        fam("mem.vmstat.pgscan_direct", true),
        "mem_vmstat_pgscan_direct"
    );
    // Named like a Prometheus counter: the samples keep the name.
    assert_eq!(
        series("prometheus.node.node_cpu_seconds_total", true),
        "prometheus_node_node_cpu_seconds_total"
    );
    assert_eq!(
        fam("prometheus.node.node_cpu_seconds_total", true),
        "prometheus_node_node_cpu_seconds"
    );
    assert_eq!(series("total", true), "total_total");
    assert_eq!(series("a.count", true), "a_count_total");
}

#[test]
fn gauges_avoid_reserved_suffixes() {
    assert_eq!(
        series("mem.numa.util.total", false),
        "mem_numa_util_total_value"
    );
    assert_eq!(
        series("network.rawconn.count", false),
        "network_rawconn_count_value"
    );
    assert_eq!(series("a.sum", false), "a_sum_value");
    assert_eq!(series("a.bucket", false), "a_bucket_value");
    assert_eq!(series("a.created", false), "a_created");
    assert_eq!(series("a.totals", false), "a_totals");
    assert_eq!(series("total", false), "total");
}

#[test]
fn camel_case_becomes_snake_case() {
    assert_eq!(
        series("mem.numa.util.hugepagesFree", false),
        "mem_numa_util_hugepages_free"
    );
    assert_eq!(
        series("p.n.node_netstat_TcpExt_TCPSynRetrans", true),
        "p_n_node_netstat_tcp_ext_tcp_syn_retrans_total"
    );
    assert_eq!(
        series("p.n.node_memory_HugePages_Free", false),
        "p_n_node_memory_huge_pages_free"
    );
    // No lower-to-upper boundary: left as it is.
    assert_eq!(series("a.TCP_X", false), "a_TCP_X");
}

#[test]
fn rejected_words_are_joined() {
    assert_eq!(
        series("prometheus.control.fetch_time_us", true),
        "prometheus_control_fetch_timeus_total"
    );
    assert_eq!(
        series("bpftrace.scripts.x.data.h", true),
        "bpftrace_scripts_x_datah_total"
    );
    assert_eq!(
        series("p.node_entropy_available_bits", false),
        "p_node_entropy_availablebits"
    );
    assert_eq!(series("a.x_kilo_bits", false), "a_xkilobits");
    assert_eq!(series("a.request_counter", false), "a_requestcounter");
    assert_eq!(series("bits.a", false), "bitsa");
    assert_eq!(series("minutes", false), "minutesvalue");
    // A unit or abbreviation as the first word is allowed.
    assert_eq!(series("s.a", false), "s_a");
    assert_eq!(series("a.bytes", false), "a_bytes");
    assert_eq!(series("a.foo_Ms", false), "a_fooms");
}

#[test]
fn odd_characters_and_starts() {
    assert_eq!(series("a-x.c y", false), "a_x_c_y");
    assert_eq!(series("a-b.c d", false), "ab_cd");
    assert_eq!(series("9a.x", false), "pcp_9a_x");
    assert_eq!(series("_a", false), "pcp__a");
}

#[test]
fn clashes_are_settled_by_pcp_name_order() {
    let m = NameMap::build([
        ("a_x.c", false),
        ("a.x_c", false),
        ("mem.vmstat.pgscan_direct", true),
        ("mem.vmstat.pgscan_direct_total", true),
        ("y.z", true),
        ("y.z_total", false),
        ("y.z_created", false),
    ]);
    assert_eq!(m.get("a.x_c").unwrap().series, "a_x_c");
    assert_eq!(m.get("a_x.c").unwrap().series, "a_x_c_value");
    assert_eq!(
        m.get("mem.vmstat.pgscan_direct").unwrap().series,
        "mem_vmstat_pgscan_direct_total"
    );
    let twin = m.get("mem.vmstat.pgscan_direct_total").unwrap();
    assert_eq!(twin.family, "mem_vmstat_pgscan_direct_total_value");
    assert_eq!(twin.series, "mem_vmstat_pgscan_direct_total_value_total");
    // The gauge y.z_total is y_z_total_value by rule 5; the gauge
    // y.z_created would be a sample name of the counter y.z.
    assert_eq!(m.get("y.z_total").unwrap().series, "y_z_total_value");
    assert_eq!(m.get("y.z_created").unwrap().series, "y_z_created_value");
    // Order of the input does not matter.
    let again = NameMap::build([("a.x_c", false), ("a_x.c", false)]);
    let reversed = NameMap::build([("a_x.c", false), ("a.x_c", false)]);
    assert_eq!(again.get("a_x.c"), reversed.get("a_x.c"));
}

#[test]
fn the_hash_comes_when_value_is_taken_too() {
    let m = NameMap::build([("a.x_c", false), ("a_x.c", false), ("a_x_c.value", false)]);
    assert_eq!(m.get("a.x_c").unwrap().series, "a_x_c");
    assert_eq!(m.get("a_x_c.value").unwrap().series, "a_x_c_value");
    assert_eq!(
        m.get("a_x.c").unwrap().series,
        format!("a_x_c_{:08x}", fnv1a32("a_x.c"))
    );
}

#[test]
fn a_gauge_named_like_a_counter_family_clashes() {
    let m = NameMap::build([("a.x", true), ("a_x", false)]);
    assert_eq!(m.get("a.x").unwrap().family, "a_x");
    assert_eq!(m.get("a_x").unwrap().series, "a_x_value");
}

#[test]
fn names_are_one_to_one_over_many_clashing_names() {
    // Every way of writing a few words with dots, underscores, case
    // and suffixes.
    let words = ["a", "b_c", "B", "Total", "count", "ms", "bits", "x.y"];
    let mut names = Vec::new();
    for w1 in words {
        for w2 in words {
            for sep in [".", "_"] {
                for tail in ["", ".total", "_total", ".Count", "_ms"] {
                    names.push(format!("m{sep}{w1}.{w2}{tail}"));
                }
            }
        }
    }
    names.sort();
    names.dedup();
    let metrics: Vec<(&str, bool)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i % 3 == 0))
        .collect();
    let m = NameMap::build(metrics.iter().copied());
    let mut held = HashSet::new();
    for (n, _) in &metrics {
        for h in Taken::held(m.get(n).unwrap()) {
            assert!(held.insert(h.clone()), "{n}: {h} is held twice");
        }
    }
    assert!(names.len() > 500, "{}", names.len());
}

#[test]
fn label_names() {
    assert_eq!(label_name("hostname"), "hostname");
    assert_eq!(label_name("device_type"), "device_type");
    assert_eq!(label_name("le"), "exported_le");
    assert_eq!(label_name("quantile"), "exported_quantile");
    assert_eq!(label_name("instname"), "exported_instname");
    assert_eq!(label_name("__name__"), "exported___name__");
    assert_eq!(label_name("fooBar"), "foo_bar");
    assert_eq!(label_name("a.b"), "a_b");
    assert_eq!(label_name("9x"), "l9x");
}
