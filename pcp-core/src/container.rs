//! Containers: the control group a client's `container=` attribute names
//! (`pminfo --container=NAME`, passed on by pmcd; [`crate::ClientContext`]'s
//! `container`), and the processes in it. Agents that answer for a
//! client's container (processes and control groups; network and file
//! systems through a process's namespaces) share this resolver.
//!
//! A container is found by its control group, the one thing every engine
//! leaves behind: podman's `libpod-ID`, docker's `docker-ID.scope` or
//! `/docker/ID`, containerd's `cri-containerd-ID.scope`, CRI-O's
//! `crio-ID.scope`, kubelet's `/kubepods/.../ID`, systemd-machined's
//! `machine-NAME.scope`, LXC's `lxc.payload.NAME` or `lxc/NAME`, or any
//! group whose last component is the name asked. Names are turned into ids
//! through the engines' own state files where they are readable (podman's
//! `containers.json`, docker's `config.v2.json`), so `--container=web` finds
//! `libpod-3f0c...`; an id prefix of 12 or more hex digits works as the
//! engines' short ids do.
//!
//! The memory controller's hierarchy is searched first (every engine uses
//! it), then the unified one, then the rest. A resolution is kept while its
//! directory exists, so a fetch costs one `stat` and the container's
//! `cgroup.procs` files, not a walk of the whole tree.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::PmError;

/// The deepest directory level searched for a container's group.
const MAX_DEPTH: usize = 16;

/// The most directories searched for one name (a bound on the cost of a
/// name that matches nothing on a host with a huge tree).
const MAX_DIRS: usize = 200_000;

/// Where a container's processes are: a group path below one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The group's path below the hierarchy's mount, as the kernel spells
    /// it (`/libpod_parent/libpod-ID`): the prefix of every `cgroup.*`
    /// instance the container's clients see.
    pub cgroup: String,
    /// The mount (below the agent's root) where it was found.
    pub mount: PathBuf,
    /// A cgroup v2 hierarchy (threads are in `cgroup.threads`, not `tasks`).
    pub v2: bool,
}

impl Scope {
    /// True when group `name` (a path below a mount) is the container's
    /// group or below it.
    pub fn contains(&self, name: &str) -> bool {
        in_group(name, &self.cgroup)
    }

    /// One process of the container (the lowest pid), whose namespaces
    /// are the container's (`/proc/PID/net/dev` is the container's
    /// network devices); `None` when the group is empty.
    pub fn leader(&self) -> Option<u32> {
        self.pids(false).into_iter().min()
    }

    /// The pids (or, with `threads`, the thread ids) in the container's
    /// group and its descendants.
    pub fn pids(&self, threads: bool) -> HashSet<u32> {
        let file = match (threads, self.v2) {
            (false, _) => "cgroup.procs",
            (true, false) => "tasks",
            (true, true) => "cgroup.threads",
        };
        let mut out = HashSet::new();
        let mut stack = vec![self.dir()];
        let mut dirs = 0usize;
        while let Some(dir) = stack.pop() {
            dirs += 1;
            if dirs > MAX_DIRS {
                break;
            }
            if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                stack.extend(
                    rd.flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
        out
    }

    fn dir(&self) -> PathBuf {
        self.mount.join(self.cgroup.trim_start_matches('/'))
    }
}

/// True when `name` is group `group` or below it.
pub fn in_group(name: &str, group: &str) -> bool {
    let group = group.trim_end_matches('/');
    group.is_empty()
        || name == group
        || name
            .strip_prefix(group)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Container names resolved to their groups, remembered while the group
/// exists.
#[derive(Debug)]
pub struct Containers {
    root: PathBuf,
    known: HashMap<String, Scope>,
}

impl Containers {
    /// A resolver reading engines' state and control groups below `root`
    /// (`/`, or a test tree).
    pub fn new(root: &Path) -> Containers {
        Containers {
            root: root.to_path_buf(),
            known: HashMap::new(),
        }
    }

    /// The group of container `name`, searched in the control-group
    /// hierarchies mounted here (`/proc/self/mounts` below the root).
    /// `PM_ERR_NOCONTAINER` when no engine and no group knows it.
    pub fn find(&mut self, name: &str) -> Result<Scope, PmError> {
        let text = std::fs::read(self.root.join("proc/self/mounts")).unwrap_or_default();
        let mounts = hierarchies(&text);
        self.resolve(name, &mounts)
    }

    /// The group of container `name`, searched in `mounts`.
    /// `PM_ERR_NOCONTAINER` when no engine and no group knows it.
    pub fn resolve(&mut self, name: &str, mounts: &[Hierarchy]) -> Result<Scope, PmError> {
        if let Some(s) = self.known.get(name) {
            if s.dir().is_dir() {
                return Ok(s.clone());
            }
            self.known.remove(name);
        }
        let name = name.trim();
        if name.is_empty() || name.contains('\0') {
            return Err(PmError::NOCONTAINER);
        }
        // An engine's container of that name or id first, then a group
        // named so.
        let ids = engine_ids(&self.root, name);
        let by_engine = Wanted {
            name: None,
            ids: &ids,
        };
        let by_name = Wanted {
            name: Some(name),
            ids: &[],
        };
        for want in [by_engine, by_name] {
            if want.name.is_none() && want.ids.is_empty() {
                continue;
            }
            for (mount, v2) in search_order(mounts) {
                let base = self.root.join(mount.trim_start_matches('/'));
                if let Some(cgroup) = find_group(&base, &want) {
                    let scope = Scope {
                        cgroup,
                        mount: base,
                        v2,
                    };
                    if self.known.len() > 1024 {
                        self.known.clear();
                    }
                    self.known.insert(name.to_string(), scope.clone());
                    return Ok(scope);
                }
            }
        }
        Err(PmError::NOCONTAINER)
    }
}

/// A control-group hierarchy as mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub path: String,
    /// A cgroup2 (unified) hierarchy.
    pub v2: bool,
    /// A v1 hierarchy's mount options (naming its controllers).
    pub options: Vec<String>,
}

/// The control-group hierarchies in a mount table (`/proc/mounts`).
pub fn hierarchies(mounts: &[u8]) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for l in String::from_utf8_lossy(mounts).lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let (Some(path), Some(ty), Some(opts)) = (w.get(1), w.get(2), w.get(3)) else {
            continue;
        };
        let v2 = match *ty {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        if out.iter().any(|m| m.path == *path) {
            continue;
        }
        out.push(Hierarchy {
            path: path.to_string(),
            v2,
            options: if v2 {
                Vec::new()
            } else {
                opts.split(',').map(str::to_string).collect()
            },
        });
    }
    out
}

/// systemd's `\xNN` escapes in unit names undone (`a\x2db` is `a-b`).
pub fn unescape(name: &str) -> String {
    if !name.contains("\\x") {
        return name.to_string();
    }
    let hex = |c: u8| (c as char).to_digit(16);
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let (Some(h), Some(l)) = (
                b.get(i + 2).copied().and_then(hex),
                b.get(i + 3).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hierarchies to search, best first: memory (v1), unified, others.
fn search_order(mounts: &[Hierarchy]) -> Vec<(&str, bool)> {
    let mut out: Vec<(&str, bool)> = Vec::new();
    let memory = |m: &&Hierarchy| !m.v2 && m.options.iter().any(|o| o == "memory");
    out.extend(
        mounts
            .iter()
            .filter(memory)
            .map(|m| (m.path.as_str(), false)),
    );
    out.extend(
        mounts
            .iter()
            .filter(|m| m.v2)
            .map(|m| (m.path.as_str(), true)),
    );
    out.extend(
        mounts
            .iter()
            .filter(|m| !m.v2 && !memory(m))
            .map(|m| (m.path.as_str(), false)),
    );
    out
}

/// What a group's last path component must match.
struct Wanted<'a> {
    /// A name (or short id) to match, if any.
    name: Option<&'a str>,
    /// Full container ids to match.
    ids: &'a [String],
}

impl Wanted<'_> {
    fn matches(&self, component: &str) -> bool {
        let core = engine_core(component);
        if self.ids.iter().any(|id| id == core) {
            return true;
        }
        let Some(name) = self.name else {
            return false;
        };
        if core == name || component == name {
            return true;
        }
        // A short id: 12 or more hex digits starting a 64-digit one.
        let short = name.len() >= 12 && name.bytes().all(|b| b.is_ascii_hexdigit());
        short && core.len() == 64 && core.starts_with(name)
    }
}

/// A group's last component without an engine's wrapping:
/// `libpod-ID` → `ID`, `docker-ID.scope` → `ID`,
/// `machine-web\x2d1.scope` → `web-1`, `lxc.payload.web` → `web`.
fn engine_core(component: &str) -> &str {
    const PREFIXES: [&str; 6] = [
        "libpod-",
        "docker-",
        "cri-containerd-",
        "crio-",
        "machine-",
        "lxc.payload.",
    ];
    let body = component.strip_suffix(".scope").unwrap_or(component);
    PREFIXES
        .iter()
        .find_map(|p| body.strip_prefix(p))
        .unwrap_or(component)
}

/// Breadth-first search of the tree below `base` for the first group
/// whose last component matches; its path below `base`, shortest first
/// (podman's `libpod-ID/container` child is not the container's group).
fn find_group(base: &Path, want: &Wanted<'_>) -> Option<String> {
    let mut level: Vec<(PathBuf, String)> = vec![(base.to_path_buf(), String::new())];
    let mut dirs = 0usize;
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (dir, rel) in level {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut children: Vec<String> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            children.sort();
            for c in children {
                dirs += 1;
                if dirs > MAX_DIRS {
                    return None;
                }
                let path = format!("{rel}/{c}");
                if want.matches(&unescape(&c)) {
                    return Some(path);
                }
                next.push((dir.join(&c), path));
            }
        }
        if next.is_empty() {
            return None;
        }
        level = next;
    }
    None
}

/// The full ids the engines on this host give the container called
/// `name` (or whose id starts with `name`).
fn engine_ids(root: &Path, name: &str) -> Vec<String> {
    let mut ids = Vec::new();
    podman_ids(
        &root.join("var/lib/containers/storage/overlay-containers/containers.json"),
        name,
        &mut ids,
    );
    docker_ids(&root.join("var/lib/docker/containers"), name, &mut ids);
    ids
}

/// Whether an engine's record (`id`, `names`) is the one asked.
fn record_matches(id: &str, names: &[&str], name: &str) -> bool {
    id == name
        || names.iter().any(|n| n.trim_start_matches('/') == name)
        || (name.len() >= 3 && id.starts_with(name))
}

/// podman (root): a JSON array of `{"id": ..., "names": [...]}`.
fn podman_ids(file: &Path, name: &str, out: &mut Vec<String>) {
    let Ok(text) = std::fs::read(file) else {
        return;
    };
    let Ok(serde_json::Value::Array(list)) = serde_json::from_slice(&text) else {
        return;
    };
    for c in &list {
        let Some(id) = c.get("id").and_then(|v| v.as_str()) else {
            continue;
        };
        let names: Vec<&str> = c
            .get("names")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        if record_matches(id, &names, name) {
            out.push(id.to_string());
        }
    }
}

/// docker: one directory per container id holding `config.v2.json` with
/// its `Name` (`/web`).
fn docker_ids(dir: &Path, name: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read(e.path().join("config.v2.json")) else {
            continue;
        };
        let Ok(cfg) = serde_json::from_slice::<serde_json::Value>(&text) else {
            continue;
        };
        let cname = cfg.get("Name").and_then(|v| v.as_str()).unwrap_or("");
        if record_matches(&id, &[cname], name) {
            out.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_wrappings_are_removed() {
        let id = "0123456789abcdef".repeat(4);
        for c in [
            format!("libpod-{id}"),
            format!("libpod-{id}.scope"),
            format!("docker-{id}.scope"),
            format!("cri-containerd-{id}.scope"),
            format!("crio-{id}.scope"),
            id.clone(),
        ] {
            assert_eq!(engine_core(&c), id, "{c}");
        }
        assert_eq!(engine_core("machine-web-1.scope"), "web-1");
        assert_eq!(engine_core("lxc.payload.web"), "web");
        assert_eq!(engine_core("user.slice"), "user.slice");
    }

    #[test]
    fn short_ids_need_twelve_hex_digits() {
        let id = "0123456789abcdef".repeat(4);
        let none: Vec<String> = Vec::new();
        let w = |n: &'static str| Wanted {
            name: Some(n),
            ids: &none,
        };
        assert!(w("0123456789ab").matches(&format!("libpod-{id}")));
        assert!(!w("0123456789a").matches(&format!("libpod-{id}")));
        assert!(!w("0123456789ax").matches(&format!("libpod-{id}")));
        assert!(w("web").matches("machine-web.scope"));
        assert!(!w("web").matches("webserver"));
    }

    #[test]
    fn systemd_escapes_are_undone_and_odd_bytes_kept() {
        assert_eq!(unescape("machine-web\\x2d1.scope"), "machine-web-1.scope");
        assert_eq!(unescape("a\\xzz"), "a\\xzz");
        assert_eq!(unescape("a\\x"), "a\\x");
        assert_eq!(unescape("\\xé1"), "\\xé1");
    }

    #[test]
    fn mount_tables_give_the_hierarchies() {
        let t = b"cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\nproc /proc proc rw 0 0\n";
        let h = hierarchies(t);
        assert_eq!(h.len(), 2);
        assert!(!h[0].v2 && h[0].options.contains(&"memory".to_string()));
        assert!(h[1].v2 && h[1].path == "/sys/fs/cgroup/unified");
    }

    #[test]
    fn groups_contain_their_descendants_only() {
        assert!(in_group("/a/b", "/a"));
        assert!(in_group("/a", "/a"));
        assert!(!in_group("/ab", "/a"));
        assert!(in_group("/anything", "/"));
    }

    #[test]
    fn names_resolve_through_engine_state_and_groups() {
        let t = tempfile::tempdir().unwrap();
        let id = "fedcba9876543210".repeat(4);
        let pod = t
            .path()
            .join("var/lib/containers/storage/overlay-containers");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(
            pod.join("containers.json"),
            format!(r#"[{{"id":"{id}","names":["web"]}}]"#),
        )
        .unwrap();
        let group = t
            .path()
            .join(format!("sys/fs/cgroup/memory/libpod_parent/libpod-{id}"));
        std::fs::create_dir_all(group.join("container")).unwrap();
        std::fs::write(group.join("cgroup.procs"), "10\n11\n").unwrap();
        std::fs::write(group.join("container/cgroup.procs"), "12\n").unwrap();
        let mounts = vec![Hierarchy {
            path: "/sys/fs/cgroup/memory".into(),
            v2: false,
            options: vec!["rw".into(), "memory".into()],
        }];
        let mut c = Containers::new(t.path());
        let s = c.resolve("web", &mounts).unwrap();
        assert_eq!(s.cgroup, format!("/libpod_parent/libpod-{id}"));
        let mut pids: Vec<u32> = s.pids(false).into_iter().collect();
        pids.sort();
        assert_eq!(pids, [10, 11, 12]);
        assert_eq!(c.resolve(&id[..12], &mounts).unwrap(), s);
        assert_eq!(c.resolve("db", &mounts), Err(PmError::NOCONTAINER));
        // Gone: resolved afresh, and not found.
        std::fs::remove_dir_all(t.path().join("sys/fs/cgroup/memory/libpod_parent")).unwrap();
        assert_eq!(c.resolve("web", &mounts), Err(PmError::NOCONTAINER));
    }
}
