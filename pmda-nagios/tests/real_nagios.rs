//! A real Nagios (Debian's nagios4-core) runs the monitoring-plugins the
//! plugin test runs (check_load, check_disk, check_users, check_procs,
//! check_swap, check_dummy for each state, check_tcp against a port the test
//! opens) as service checks every 2 s and writes their perfdata to a file it rotates every 3 s (rename to
//! `FILE.$TIMET$`, then reopen), as GroundWork-style setups do. The agent
//! follows the file through several rotations, is restarted in the middle
//! (and misses a rotation while down), and in the end has counted exactly
//! the check results Nagios's own debug log records, per service: no line
//! lost, none read twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_core::testing::require;
use pcp_core::{Host, Value};
use pmda_nagios::store::SeriesKey;
use pmda_nagios::{nagios_pmda, NagiosConfig, Shared};

const NAGIOS: &str = "/usr/sbin/nagios4";
const PLUGINS: &str = "/usr/lib/nagios/plugins";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn objects(dir: &Path, tcp_port: u16) -> String {
    let d = dir.display();
    let service = |desc: &str, cmd: &str| {
        format!(
            "define service {{\n host_name localhost\n service_description {desc}\n check_command {cmd}\n \
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
         service_notification_commands noop\n}\n\
         define host {\n host_name localhost\n address 127.0.0.1\n check_command host_up\n \
         max_check_attempts 1\n check_interval 60\n retry_interval 1\n check_period 24x7\n \
         contacts nobody\n notification_period 24x7\n notifications_enabled 0\n}\n",
    );
    s += &command("noop", "/bin/true");
    s += &command("host_up", &format!("{PLUGINS}/check_dummy 0 up"));
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
    s += &command(
        "rotate_perfdata",
        &format!("/bin/mv {d}/service-perfdata {d}/service-perfdata.$TIMET$"),
    );
    s += &service("Current Load", "check_load");
    s += &service("Users", "check_users");
    s += &service("Disk", "check_disk");
    s += &service("Procs", "check_procs");
    s += &service("Swap", "check_swap");
    s += &service("TCP", "check_tcp");
    for n in 0..4 {
        s += &service(&format!("Dummy{n}"), &format!("check_dummy{n}"));
    }
    s
}

/// The services `objects` defines.
const SERVICES: usize = 10;

fn nagios_cfg(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "log_file={d}/nagios.log\ncfg_file={d}/objects.cfg\nobject_cache_file={d}/objects.cache\n\
         precached_object_file={d}/objects.precache\nstatus_file={d}/status.dat\n\
         status_update_interval=1\nnagios_user=nagios\nnagios_group=nagios\n\
         check_external_commands=0\ncommand_file={d}/nagios.cmd\nlock_file={d}/nagios.lock\n\
         temp_file={d}/nagios.tmp\ntemp_path={d}\ncheck_result_path={d}/checkresults\n\
         check_result_reaper_frequency=1\ninterval_length=1\nservice_inter_check_delay_method=n\n\
         host_inter_check_delay_method=n\nmax_service_check_spread=1\nmax_host_check_spread=1\n\
         process_performance_data=1\nservice_perfdata_file={d}/service-perfdata\n\
         service_perfdata_file_mode=a\nservice_perfdata_file_processing_interval=3\n\
         service_perfdata_file_processing_command=rotate_perfdata\nenable_notifications=0\n\
         retain_state_information=0\nstate_retention_file={d}/retention.dat\nuse_syslog=0\n\
         log_initial_states=0\ndebug_level=16\ndebug_verbosity=0\ndebug_file={d}/debug.log\n\
         enable_flap_detection=0\nillegal_macro_output_chars=`~$&|'\"<>\n"
    )
}

/// Results per service in the agent's store.
fn counted(shared: &Shared) -> BTreeMap<String, u64> {
    shared
        .store
        .lock()
        .series
        .iter()
        .filter_map(|(SeriesKey { service, .. }, s)| {
            Some((service.clone()?, s.hosts.get("localhost")?.results))
        })
        .collect()
}

/// Check results per service in Nagios's debug log.
fn logged(dir: &Path) -> BTreeMap<String, u64> {
    let log = std::fs::read_to_string(dir.join("debug.log")).unwrap_or_default();
    let mut m = BTreeMap::new();
    for line in log.lines() {
        if let Some(rest) = line
            .split("Handling ACTIVE async check result for service '")
            .nth(1)
        {
            let svc = rest.split('\'').next().unwrap_or("").to_string();
            *m.entry(svc).or_insert(0) += 1;
        }
    }
    m
}

fn start_agent(conf: &Path, state: &Path) -> (Host, Arc<Shared>) {
    let agent = nagios_pmda(NagiosConfig {
        config_dir: conf.to_path_buf(),
        state_dir: Some(state.to_path_buf()),
        poll: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    let shared = Arc::clone(agent.agent().shared());
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    (host, shared)
}

fn rotations(shared: &Shared) -> u64 {
    shared
        .store
        .lock()
        .stats
        .get("nagios")
        .map_or(0, |s| s.rotations)
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn follows_a_real_nagios_through_rotations_and_a_restart() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have = Path::new(NAGIOS).exists() && Path::new(PLUGINS).join("check_load").exists();
    if !require(
        "nagios4",
        have && root,
        "needs Debian's nagios4-core and monitoring-plugins-basic, as root",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nagios");
    std::fs::create_dir_all(dir.join("checkresults")).unwrap();
    // check_tcp's port: the kernel completes its connections from the
    // listen backlog, nothing needs to accept them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = listener.local_addr().unwrap().port();
    std::fs::write(dir.join("objects.cfg"), objects(&dir, tcp_port)).unwrap();
    std::fs::write(dir.join("nagios.cfg"), nagios_cfg(&dir)).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "nagios:nagios"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("nagios.perfdata"),
        format!("{}/service-perfdata\n", dir.display()),
    )
    .unwrap();
    let state = tmp.path().join("state");

    let (host, shared) = start_agent(&conf, &state);
    let nagios = Running(
        Command::new(NAGIOS)
            .arg(dir.join("nagios.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("two rotations", 30, || rotations(&shared) >= 2);
    wait_until("every service's first result", 30, || {
        counted(&shared).len() == SERVICES
    });
    // Names and values through the host, with the host as the instance.
    let load = host
        .lookup("nagios.nagios.Current_Load.perf.load1.value")
        .unwrap();
    let r = host.fetch(&[load]).values[0].1.clone().unwrap();
    assert_eq!(r.len(), 1);
    assert!(matches!(r[0].1, Value::Double(v) if v >= 0.0));
    let insts = host.instances(host.desc(load).unwrap().indom).unwrap();
    assert_eq!(
        insts.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["localhost"]
    );
    // Each check_dummy's status line, state word first, as Nagios ran it;
    // check_tcp's response time as a metric in seconds.
    for (n, word) in ["OK", "WARNING", "CRITICAL", "UNKNOWN"].iter().enumerate() {
        let p = host
            .lookup(&format!("nagios.nagios.Dummy{n}.output"))
            .unwrap();
        let r = host.fetch(&[p]).values[0].1.clone().unwrap();
        assert!(
            matches!(&r[0].1, Value::String(t) if t.starts_with(word) && t.contains(&format!("dummy{n}"))),
            "Dummy{n}: {r:?}"
        );
    }
    let time = host.lookup("nagios.nagios.TCP.perf.time.value").unwrap();
    assert_eq!(host.desc(time).unwrap().units.to_string(), "sec");
    let first_rotations = rotations(&shared);
    // Stop the agent (its follower finishes its poll and saves its place).
    drop(host);
    let first = counted(&shared);
    assert!(first.values().all(|&n| n > 0), "{first:?}");
    // A rotation happens while the agent is down.
    std::thread::sleep(Duration::from_secs(4));
    let (host, shared2) = start_agent(&conf, &state);
    wait_until("two more rotations", 30, || rotations(&shared2) >= 2);
    drop(nagios);
    // Nagios has stopped: let the agent read what it wrote last.
    std::thread::sleep(Duration::from_millis(800));
    drop(host);
    drop(listener);
    let second = counted(&shared2);
    let mut total = first.clone();
    for (svc, n) in &second {
        *total.entry(svc.clone()).or_insert(0) += n;
    }
    let nagios_says = logged(&dir);
    assert_eq!(nagios_says.len(), SERVICES, "{nagios_says:?}");
    assert_eq!(total, nagios_says, "first run {first:?}, second {second:?}");
    let lines: usize = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("service-perfdata")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap().lines().count())
        .sum();
    assert_eq!(total.values().sum::<u64>() as usize, lines);
    eprintln!(
        "followed {} rotations ({} + {}): {} results, as Nagios logged",
        first_rotations + rotations(&shared2),
        first_rotations,
        rotations(&shared2),
        lines
    );
}
