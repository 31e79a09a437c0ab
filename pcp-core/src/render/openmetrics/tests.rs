//! Tests of the parent module.
use super::*;
use crate::id::{InDom, Pmid};

fn disk_read_bytes(format: Format, help: Option<&str>) -> String {
    let desc = Desc::new(
        Pmid::from_parts(60, 0, 38),
        Type::U64,
        InDom::from_parts(60, 1),
        Semantics::Counter,
        Units::KBYTES,
    );
    let labels = LabelSet::new()
        .with("hostname", "vm")
        .with("userid", 0)
        .with("device_type", "block")
        .with("odd", "a\"b\\c\nd");
    let insts = vec![Instance::new(0, "vda"), Instance::new(1, "vdb")];
    let inst_labels = vec![(1, LabelSet::new().with("device_type", "nvme"))];
    let values: MetricResult = Ok(vec![(0, Value::U64(1644253)), (1, Value::U64(7))]);
    let names = exposition_name("disk.dev.read_bytes", true);
    let mut out = String::new();
    assert!(render_family(
        &mut out,
        &Family {
            name: "disk.dev.read_bytes",
            names: &names,
            desc: &desc,
            help,
            labels: &labels,
            instances: &insts,
            instance_labels: &inst_labels,
            values: &values,
        },
        format
    ));
    out
}

#[test]
fn counters_get_total_and_labels_are_escaped() {
    assert_eq!(
        disk_read_bytes(Format::Prometheus, Some("per-disk \"bytes\" read")),
        "# PCP5 disk.dev.read_bytes 60.0.38 u64 60.1 counter Kbyte\n\
         # HELP disk_dev_read_bytes_total per-disk \"bytes\" read\n\
         # TYPE disk_dev_read_bytes_total counter\n\
         disk_dev_read_bytes_total{hostname=\"vm\",device_type=\"block\",odd=\"a\\\"b\\\\c\\nd\",instname=\"vda\",instid=\"0\"} 1644253\n\
         disk_dev_read_bytes_total{hostname=\"vm\",odd=\"a\\\"b\\\\c\\nd\",device_type=\"nvme\",instname=\"vdb\",instid=\"1\"} 7\n"
    );
}

#[test]
fn openmetrics_names_the_family_without_total() {
    let out = disk_read_bytes(Format::OpenMetrics, None);
    assert!(
        out.starts_with(
            "# HELP disk_dev_read_bytes PCP metric disk.dev.read_bytes\n\
             # TYPE disk_dev_read_bytes counter\n\
             disk_dev_read_bytes_total{"
        ),
        "{out}"
    );
    // Kbyte is not an OpenMetrics unit: no UNIT line.
    assert!(!out.contains("# UNIT"), "{out}");
}

#[test]
fn openmetrics_unit_only_where_the_name_ends_in_it() {
    let desc = |units| {
        Desc::new(
            Pmid::from_parts(60, 0, 1),
            Type::Double,
            InDom::NULL,
            Semantics::Counter,
            units,
        )
    };
    let v: MetricResult = Ok(vec![(crate::PM_IN_NULL, Value::Double(1.5))]);
    let render = |name: &str, d: &Desc| {
        let names = exposition_name(name, true);
        let mut out = String::new();
        render_family(
            &mut out,
            &Family {
                name,
                names: &names,
                desc: d,
                help: Some("h"),
                labels: &LabelSet::new(),
                instances: &[],
                instance_labels: &[],
                values: &v,
            },
            Format::OpenMetrics,
        );
        out
    };
    let out = render("a.cpu_seconds", &desc(Units::SEC));
    assert!(out.contains("# UNIT a_cpu_seconds seconds\n"), "{out}");
    assert!(out.contains("a_cpu_seconds_total{} 1.5\n"), "{out}");
    let out = render("a.bytes", &desc(Units::BYTES));
    assert!(out.contains("# UNIT a_bytes bytes\n"), "{out}");
    let out = render("a.cpu", &desc(Units::SEC));
    assert!(!out.contains("# UNIT"), "{out}");
    let out = render("a.xseconds", &desc(Units::SEC));
    assert!(!out.contains("# UNIT"), "{out}");
}

#[test]
fn strings_are_left_out() {
    let desc = Desc::new(
        Pmid::from_parts(60, 12, 0),
        Type::String,
        InDom::NULL,
        Semantics::Discrete,
        Units::NONE,
    );
    let values: MetricResult = Ok(vec![(crate::PM_IN_NULL, Value::String("x".into()))]);
    let mut out = String::new();
    let labels = LabelSet::new();
    assert!(!render_family(
        &mut out,
        &Family {
            name: "a.b",
            names: &exposition_name("a.b", false),
            desc: &desc,
            help: None,
            labels: &labels,
            instances: &[],
            instance_labels: &[],
            values: &values
        },
        Format::Prometheus
    ));
    assert!(out.is_empty());
}

#[test]
fn floats_are_shortest() {
    let desc = Desc::new(
        Pmid::from_parts(60, 2, 0),
        Type::Float,
        InDom::NULL,
        Semantics::Instant,
        Units::NONE,
    );
    let values: MetricResult = Ok(vec![(crate::PM_IN_NULL, Value::Float(0.06))]);
    let mut out = String::new();
    render_family(
        &mut out,
        &Family {
            name: "kernel.all.load",
            names: &exposition_name("kernel.all.load", false),
            desc: &desc,
            help: Some("load"),
            labels: &LabelSet::new(),
            instances: &[],
            instance_labels: &[],
            values: &values,
        },
        Format::Prometheus,
    );
    assert!(out.ends_with("kernel_all_load{} 0.06\n"), "{out}");
}

#[test]
fn negotiation_follows_the_accept_header() {
    let prometheus_2_42 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::negotiate(prometheus_2_42), Format::OpenMetrics);
    assert_eq!(
        Format::negotiate("application/openmetrics-text"),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate("*/*"), Format::Prometheus);
    assert_eq!(Format::negotiate(""), Format::Prometheus);
    assert_eq!(
        Format::negotiate("text/plain;version=0.0.4"),
        Format::Prometheus
    );
    assert_eq!(
        Format::negotiate("text/plain, application/openmetrics-text;q=0.5"),
        Format::Prometheus
    );
    // Only 1.0 is spoken; 0.0.1 (an older draft) is not offered.
    assert_eq!(
        Format::negotiate("application/openmetrics-text;version=0.0.1"),
        Format::Prometheus
    );
    assert_eq!(
        Format::negotiate("application/openmetrics-text; q=0"),
        Format::Prometheus
    );
}
