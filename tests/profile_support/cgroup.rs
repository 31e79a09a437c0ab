//! A cgroup v2 tree of the test's own, for the profiler's `cgroup:` and
//! `container:` targets: made under the cgroup2 mount, removed on drop
//! (also when the test panics). Only the test's workloads are put in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` on a v2
/// host, `/sys/fs/cgroup/unified` on a hybrid one), from
/// /proc/self/mountinfo.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER
        let (head, tail) = l.split_once(" - ")?;
        (tail.split_whitespace().next() == Some("cgroup2"))
            .then(|| head.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// Where the cgroup v1 hierarchy of `controller` is mounted (hybrid and
/// legacy hosts), from /proc/self/mountinfo.
pub fn cgroup1_mount(controller: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (head, tail) = l.split_once(" - ")?;
        let t: Vec<&str> = tail.split_whitespace().collect();
        (t.first() == Some(&"cgroup") && t.get(2)?.split(',').any(|o| o == controller))
            .then(|| head.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// The cgroup v2 path of `pid` as /proc/PID/cgroup gives it (its `0::`
/// line): what `cgroup:` targets name.
pub fn v2_path_of(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// A group and the groups made below it, removed (deepest first) on drop.
#[derive(Debug)]
pub struct TestCgroup {
    root: PathBuf,
    made: Vec<PathBuf>,
}

impl TestCgroup {
    /// Makes `MOUNT/NAME`; an error if it cannot (not root, no cgroup2,
    /// a delegated tree that does not allow it).
    pub fn create(mount: &Path, name: &str) -> std::io::Result<TestCgroup> {
        let root = mount.join(name);
        std::fs::create_dir(&root)?;
        Ok(TestCgroup {
            made: vec![root.clone()],
            root,
        })
    }

    /// Makes `REL` (with its missing parents) below the group; its
    /// directory.
    pub fn child(&mut self, rel: &str) -> PathBuf {
        let mut dir = self.root.clone();
        for part in rel.split('/') {
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                self.made.push(dir.clone());
            }
        }
        dir
    }

    /// Moves process `pid` (all its threads) into the group at `dir`.
    pub fn move_into(&self, dir: &Path, pid: u32) {
        assert!(dir.starts_with(&self.root), "{} is not ours", dir.display());
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // The workloads were killed and reaped first (they are declared
        // after this guard); a group may stay busy a moment after that.
        for dir in self.made.iter().rev() {
            for _ in 0..50 {
                match std::fs::remove_dir(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
            if dir.exists() {
                eprintln!("could not remove cgroup {}", dir.display());
            }
        }
    }
}
