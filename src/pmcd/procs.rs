//! Agent processes: finding them by their exact arguments (pmcd starts an
//! agent from its pmcd.conf line), finding the pmcd that reads a given
//! pmcd.conf, and stopping a culled agent that keeps running after pmcd
//! let it go, as PCP's own cull does (`pmdaproc.sh`: TERM, then KILL).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every process: (pid, parent pid, arguments).
fn processes() -> Vec<(u32, u32, Vec<Vec<u8>>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args = cmdline
                .strip_suffix(b"\0")
                .unwrap_or(&cmdline)
                .split(|b| *b == 0)
                .map(<[u8]>::to_vec)
                .collect();
            Some((pid, ppid, args))
        })
        .collect()
}

/// True when a process's `args` are those of a pmcd.conf command `argv`:
/// the same, or the same after an `env VAR=VALUE...` in front (env runs
/// the rest in its place).
fn same_args(args: &[Vec<u8>], argv: &[String]) -> bool {
    let is_env = argv
        .first()
        .is_some_and(|a| a == "env" || a.ends_with("/env"));
    let argv = if is_env {
        let rest = &argv[1..];
        let vars = rest
            .iter()
            .take_while(|a| a.contains('=') && !a.starts_with('-'))
            .count();
        &rest[vars..]
    } else {
        argv
    };
    args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| a == b.as_bytes())
}

/// True when a process runs with exactly these arguments.
pub(crate) fn process_runs(argv: &[String]) -> bool {
    processes().iter().any(|(_, _, args)| same_args(args, argv))
}

/// The pmcd processes that read `conf`: those started with `-c CONF`, or
/// without `-c` when `conf` is PCP's default.
pub(crate) fn pmcds_reading(conf: &Path) -> Vec<u32> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let want = canon(conf);
    let default = canon(Path::new("/etc/pcp/pmcd/pmcd.conf"));
    processes()
        .into_iter()
        .filter(|(_, _, args)| {
            args.first()
                .is_some_and(|a| a.rsplit(|b| *b == b'/').next() == Some(b"pmcd"))
        })
        .filter(|(_, _, args)| {
            let given = args
                .windows(2)
                .find(|w| w[0] == b"-c")
                .map(|w| PathBuf::from(String::from_utf8_lossy(&w[1]).into_owned()));
            match given {
                Some(c) => canon(&c) == want,
                None => want == default,
            }
        })
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Stops the children of `parents` that run exactly `argv`: SIGTERM, and
/// SIGKILL to those still there after `grace`. Returns the pids stopped.
pub(crate) fn stop_children(parents: &[u32], argv: &[String], grace: Duration) -> Vec<u32> {
    let find = || -> Vec<u32> {
        processes()
            .into_iter()
            .filter(|(_, ppid, args)| parents.contains(ppid) && same_args(args, argv))
            .map(|(pid, _, _)| pid)
            .collect()
    };
    let pids = find();
    let signal = |sig: i32| {
        for pid in find() {
            // SAFETY: kill(2) on a pid we just found; a pid that has gone
            // meanwhile gets ESRCH, which is what we want anyway.
            unsafe { libc::kill(pid as libc::pid_t, sig) };
        }
    };
    signal(libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while !find().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(libc::SIGKILL);
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_by_its_arguments_and_stopped() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("987.25")
            .spawn()
            .unwrap();
        let argv = vec!["/bin/sleep".to_string(), "987.25".to_string()];
        // spawn() returns once the child has the new program's memory, a
        // moment before the kernel records where its arguments lie: until
        // then its command line reads empty.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !process_runs(&argv) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(process_runs(&argv));
        // Not a child of some other parent.
        assert!(stop_children(&[1], &argv, Duration::from_millis(10)).is_empty());
        let me = std::process::id();
        assert_eq!(
            stop_children(&[me], &argv, Duration::from_secs(2)),
            vec![child.id()]
        );
        let _ = child.wait();
        assert!(!process_runs(&argv));
        let env_line: Vec<String> = ["/usr/bin/env", "A=1", "B=2", "/bin/sleep", "1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(same_args(
            &[b"/bin/sleep".to_vec(), b"1".to_vec()],
            &env_line
        ));
        assert!(!same_args(&[b"/bin/sleep".to_vec()], &env_line));
    }
}
