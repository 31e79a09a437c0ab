//! The real-Nagios test's side of things: the Nagios configuration it
//! generates (three hosts, services sharing names across hosts, host checks
//! with perfdata), and what Nagios itself says it did (its debug log, its
//! perfdata files), read independently of the agent.

use std::collections::BTreeMap;
use std::path::Path;

/// Debian's nagios4-core.
pub const NAGIOS: &str = "/usr/sbin/nagios4";
/// Debian's monitoring-plugins.
pub const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// The agent's source names for the two perfdata files (their `.perfdata`
/// files' names).
pub const SERVICE_SOURCE: &str = "nagios";
/// The host perfdata file's source.
pub const HOST_SOURCE: &str = "hosts";
/// The series name the agent keeps host check results under.
pub const HOST_SERIES: &str = pmda_nagios::store::HOST_SERVICE;

/// A monitored host: its name, address (all reach loopback), the `id` its
/// echo checks print, and the state its `Echo` service returns.
pub struct HostDef {
    /// `host_name`.
    pub name: &'static str,
    /// `address`.
    pub address: &'static str,
    /// The `id=` perfdata value of its echo checks.
    pub id: u32,
    /// The exit code of its `Echo` service.
    pub echo_state: u32,
    /// Its services other than `Echo`: (description, command).
    pub services: &'static [(&'static str, &'static str)],
}

/// localhost runs every real plugin; web and db share service names with
/// it (`Current Load`, `Users`, and `Echo` on all three), so the agent must
/// keep host+service pairs apart.
pub const HOSTS: [HostDef; 3] = [
    HostDef {
        name: "localhost",
        address: "127.0.0.1",
        id: 1,
        echo_state: 0,
        services: &[
            ("Current Load", "check_load"),
            ("Users", "check_users"),
            ("Disk", "check_disk"),
            ("Procs", "check_procs"),
            ("Swap", "check_swap"),
            ("TCP", "check_tcp"),
            ("Dummy0", "check_dummy0"),
            ("Dummy1", "check_dummy1"),
            ("Dummy2", "check_dummy2"),
            ("Dummy3", "check_dummy3"),
        ],
    },
    HostDef {
        name: "web",
        address: "127.0.0.2",
        id: 2,
        echo_state: 1,
        services: &[("Current Load", "check_load")],
    },
    HostDef {
        name: "db",
        address: "127.0.0.3",
        id: 3,
        echo_state: 2,
        services: &[("Users", "check_users")],
    },
];

/// The series (source, host, service) Nagios is configured to produce:
/// every service of every host, and every host's check.
pub fn configured() -> Vec<Key> {
    let mut v = Vec::new();
    for h in &HOSTS {
        for (svc, _) in h.services.iter().chain(&[("Echo", "")]) {
            v.push(Key::new(SERVICE_SOURCE, h.name, svc));
        }
        v.push(Key::new(HOST_SOURCE, h.name, HOST_SERIES));
    }
    v.sort();
    v
}

/// A (source, host, service) triple.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The agent's source.
    pub source: String,
    /// The Nagios host.
    pub host: String,
    /// The service, or [`HOST_SERIES`] for host checks.
    pub service: String,
}

impl Key {
    /// A key.
    pub fn new(source: &str, host: &str, service: &str) -> Key {
        Key {
            source: source.into(),
            host: host.into(),
            service: service.into(),
        }
    }
}

/// The echo check: prints its host's id and a changing tick as perfdata,
/// and exits with the state it is given.
pub const ECHO_SCRIPT: &str = "#!/bin/sh\necho \"$1 echo|id=$2 tick=$(date +%N)\"\nexit $3\n";

/// The object configuration.
pub fn objects(dir: &Path, tcp_port: u16) -> String {
    let d = dir.display();
    let service = |host: &str, desc: &str, cmd: &str| {
        format!(
            "define service {{\n host_name {host}\n service_description {desc}\n check_command {cmd}\n \
             max_check_attempts 1\n check_interval 2\n retry_interval 2\n check_period 24x7\n \
             contacts nobody\n notification_period 24x7\n notifications_enabled 0\n}}\n"
        )
    };
    let command = |name: &str, line: &str| {
        format!("define command {{\n command_name {name}\n command_line {line}\n}}\n")
    };
    let mut s = String::from(
        "define timeperiod {\n timeperiod_name 24x7\n alias always\n sunday 00:00-24:00\n \
         monday 00:00-24:00\n tuesday 00:00-24:00\n wednesday 00:00-24:00\n thursday 00:00-24:00\n \
         friday 00:00-24:00\n saturday 00:00-24:00\n}\n\
         define contact {\n contact_name nobody\n host_notifications_enabled 0\n \
         service_notifications_enabled 0\n host_notification_period 24x7\n \
         service_notification_period 24x7\n host_notification_options n\n \
         service_notification_options n\n host_notification_commands noop\n \
         service_notification_commands noop\n}\n",
    );
    for h in &HOSTS {
        s += &format!(
            "define host {{\n host_name {}\n address {}\n check_command echo!{}!0\n \
             max_check_attempts 1\n check_interval 2\n retry_interval 2\n check_period 24x7\n \
             contacts nobody\n notification_period 24x7\n notifications_enabled 0\n}}\n",
            h.name, h.address, h.id
        );
    }
    s += &command("noop", "/bin/true");
    s += &command("echo", &format!("{d}/echo.sh $HOSTNAME$ $ARG1$ $ARG2$"));
    s += &command(
        "check_load",
        &format!("{PLUGINS}/check_load -w 5,4,3 -c 10,8,6"),
    );
    s += &command("check_users", &format!("{PLUGINS}/check_users -w 5 -c 10"));
    s += &command(
        "check_disk",
        &format!("{PLUGINS}/check_disk -w 10% -c 5% -p /"),
    );
    s += &command(
        "check_procs",
        &format!("{PLUGINS}/check_procs -w 5000 -c 10000"),
    );
    s += &command("check_swap", &format!("{PLUGINS}/check_swap -w 10% -c 5%"));
    s += &command(
        "check_tcp",
        &format!("{PLUGINS}/check_tcp -H 127.0.0.1 -p {tcp_port}"),
    );
    for n in 0..4 {
        s += &command(
            &format!("check_dummy{n}"),
            &format!("{PLUGINS}/check_dummy {n} dummy{n}"),
        );
    }
    for kind in ["service", "host"] {
        s += &command(
            &format!("rotate_{kind}_perfdata"),
            &format!("/bin/mv {d}/{kind}-perfdata {d}/{kind}-perfdata.$TIMET$"),
        );
    }
    for h in &HOSTS {
        for (desc, cmd) in h.services {
            s += &service(h.name, desc, cmd);
        }
        s += &service(h.name, "Echo", &format!("echo!{}!{}", h.id, h.echo_state));
    }
    s
}

/// The main configuration: both perfdata files, rotated every 3 s. No
/// cached host results (`cached_host_check_horizon=0`): with Nagios's 15 s
/// default, a host check due within 15 s of the last (every 2 s here, and
/// the on-demand ones non-OK services bring) is not run, and writes no
/// perfdata line: each host would be checked once in this test's time.
pub fn nagios_cfg(dir: &Path) -> String {
    let d = dir.display();
    let mut perf = String::new();
    for kind in ["service", "host"] {
        perf += &format!(
            "{kind}_perfdata_file={d}/{kind}-perfdata\n{kind}_perfdata_file_mode=a\n\
             {kind}_perfdata_file_processing_interval=3\n\
             {kind}_perfdata_file_processing_command=rotate_{kind}_perfdata\n"
        );
    }
    format!(
        "log_file={d}/nagios.log\ncfg_file={d}/objects.cfg\nobject_cache_file={d}/objects.cache\n\
         precached_object_file={d}/objects.precache\nstatus_file={d}/status.dat\n\
         status_update_interval=1\nnagios_user=nagios\nnagios_group=nagios\n\
         check_external_commands=0\ncommand_file={d}/nagios.cmd\nlock_file={d}/nagios.lock\n\
         temp_file={d}/nagios.tmp\ntemp_path={d}\ncheck_result_path={d}/checkresults\n\
         check_result_reaper_frequency=1\ninterval_length=1\nservice_inter_check_delay_method=n\n\
         host_inter_check_delay_method=n\nmax_service_check_spread=1\nmax_host_check_spread=1\n\
         process_performance_data=1\n{perf}cached_host_check_horizon=0\nenable_notifications=0\n\
         retain_state_information=0\nstate_retention_file={d}/retention.dat\nuse_syslog=0\n\
         log_initial_states=0\ndebug_level=16\ndebug_verbosity=0\ndebug_file={d}/debug.log\n\
         enable_flap_detection=0\nillegal_macro_output_chars=`~$&|'\"<>\n"
    )
}

/// Check results per series in Nagios's debug log (Nagios 4.4's
/// `Handling ACTIVE async check result for service 'S' on host 'H'` and
/// `... for host 'H'` lines).
pub fn logged(dir: &Path) -> BTreeMap<Key, u64> {
    let log = std::fs::read_to_string(dir.join("debug.log")).unwrap_or_default();
    let quoted = |s: &str| s.split('\'').nth(1).map(str::to_string);
    let mut m = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.split("Handling ACTIVE async check result for ").nth(1) else {
            continue;
        };
        let key = if let Some(r) = rest.strip_prefix("service ") {
            let svc = quoted(r).unwrap_or_default();
            let host = r.split(" on host ").nth(1).and_then(quoted);
            Key::new(SERVICE_SOURCE, &host.unwrap_or_default(), &svc)
        } else if let Some(r) = rest.strip_prefix("host ") {
            Key::new(HOST_SOURCE, &quoted(r).unwrap_or_default(), HOST_SERIES)
        } else {
            continue;
        };
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

/// What Nagios wrote to its perfdata files, read with no help from the
/// agent: lines per series, and each series' last perfdata as
/// `label -> value` (the number as printed, its unit left off).
#[derive(Debug, Default)]
pub struct Written {
    /// Lines per series.
    pub lines: BTreeMap<Key, u64>,
    /// The last line's perfdata per series.
    pub last: BTreeMap<Key, BTreeMap<String, f64>>,
}

/// Reads every `service-perfdata*` and `host-perfdata*` file in `dir`, the
/// rotated ones (`NAME.TIMET`) in time order, then the current one.
pub fn written(dir: &Path) -> Written {
    let mut w = Written::default();
    for (kind, source) in [("service", SERVICE_SOURCE), ("host", HOST_SOURCE)] {
        let base = format!("{kind}-perfdata");
        let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let order = match name.strip_prefix(&base)? {
                    "" => u64::MAX,
                    t => t.strip_prefix('.')?.parse().ok()?,
                };
                Some((order, e.path()))
            })
            .collect();
        files.sort();
        for (_, path) in files {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let f: Vec<&str> = line.split('\t').collect();
                // [SERVICEPERFDATA] TIMET HOST SERVICE EXEC LATENCY OUTPUT PERFDATA
                // [HOSTPERFDATA] TIMET HOST EXEC OUTPUT PERFDATA
                let (key, perf) = match (kind, f.as_slice()) {
                    ("service", [_, _, h, s, _, _, _, p]) => (Key::new(source, h, s), *p),
                    ("host", [_, _, h, _, _, p]) => (Key::new(source, h, HOST_SERIES), *p),
                    _ => panic!("unexpected {kind} perfdata line {line:?}"),
                };
                *w.lines.entry(key.clone()).or_insert(0) += 1;
                w.last.insert(key, numbers(perf));
            }
        }
    }
    w
}

/// `label=value...` items of the plain kind the plugins used here print
/// (no quoted labels): label -> the value's number.
fn numbers(perf: &str) -> BTreeMap<String, f64> {
    perf.split_whitespace()
        .filter_map(|item| {
            let (label, rest) = item.split_once('=')?;
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || ".-+eE".contains(c)))
                .unwrap_or(rest.len());
            Some((label.to_string(), rest[..end].parse().ok()?))
        })
        .collect()
}
