//! What the profiler reads about a process: its identity (start time, so
//! a reused pid is noticed), command name, cgroup and container id, and
//! its executable memory mappings, through the `procfs` crate.

use std::path::PathBuf;

/// A process's identity and grouping facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcMeta {
    /// Start time in clock ticks after boot: with the pid, identifies the
    /// process (pids are reused).
    pub start_time: u64,
    /// The main thread's command name.
    pub comm: String,
    /// The cgroup v2 path (`/system.slice/x.service`), or the first v1 path.
    pub cgroup: String,
    /// The container id found in the cgroup path, if any.
    pub container_id: Option<String>,
}

/// Reads `pid`'s facts; `None` if it is gone.
pub fn read_meta(pid: u32) -> Option<ProcMeta> {
    let p = procfs::process::Process::new(pid as i32).ok()?;
    let stat = p.stat().ok()?;
    let groups: Vec<(u32, String)> = p
        .cgroups()
        .map(|c| c.0.into_iter().map(|g| (g.hierarchy, g.pathname)).collect())
        .unwrap_or_default();
    let groups: Vec<(u32, &str)> = groups.iter().map(|(h, p)| (*h, p.as_str())).collect();
    let cgroup = groups
        .iter()
        .find(|g| g.0 == 0)
        .or_else(|| groups.first())
        .map(|g| g.1.to_string())
        .unwrap_or_default();
    let container_id = container_id_of(&groups);
    Some(ProcMeta {
        start_time: stat.starttime,
        comm: stat.comm,
        cgroup,
        container_id,
    })
}

/// `pid`'s start time, the cheap check that a cached entry is still it.
pub fn start_time(pid: u32) -> Option<u64> {
    procfs::process::Process::new(pid as i32)
        .ok()?
        .stat()
        .ok()
        .map(|s| s.starttime)
}

/// The container id in a cgroup path: the last 64-hex-digit run in a path
/// component, as docker (`/docker/ID`, `docker-ID.scope`), containerd
/// (`cri-containerd-ID.scope`), CRI-O (`crio-ID.scope`) and podman
/// (`libpod-ID.scope`) name them.
///
/// ```
/// use pcp_profile::procinfo::container_id_from_cgroup;
/// let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// assert_eq!(
///     container_id_from_cgroup(&format!("/system.slice/docker-{id}.scope")).as_deref(),
///     Some(id)
/// );
/// assert_eq!(container_id_from_cgroup("/user.slice/user-0.slice"), None);
/// ```
pub fn container_id_from_cgroup(path: &str) -> Option<String> {
    for component in path.rsplit('/') {
        let b = component.as_bytes();
        let mut run = 0usize;
        let mut best = None;
        for (i, c) in b.iter().enumerate() {
            if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                run += 1;
                if run == 64 && b.get(i + 1).is_none_or(|n| !n.is_ascii_hexdigit()) {
                    best = Some(&component[i + 1 - 64..=i]);
                }
            } else {
                run = 0;
            }
        }
        if let Some(id) = best {
            return Some(id.to_string());
        }
    }
    None
}

/// The container id of a process from its `/proc/PID/cgroup` lines
/// (hierarchy, path): from the v2 path (hierarchy 0), else from the first
/// v1 path naming one. On a hybrid host a runtime's cgroupfs driver
/// (docker's default there) puts the container in v1 groups
/// (`/docker/ID`) only, and the v2 path is its parent's.
///
/// ```
/// use pcp_profile::procinfo::container_id_of;
/// let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// let v1 = format!("/docker/{id}");
/// let hybrid = [(0, "/system.slice/containerd.service"), (4, v1.as_str())];
/// assert_eq!(container_id_of(&hybrid).as_deref(), Some(id));
/// ```
pub fn container_id_of(groups: &[(u32, &str)]) -> Option<String> {
    let v2 = groups.iter().filter(|g| g.0 == 0);
    let v1 = groups.iter().filter(|g| g.0 != 0);
    v2.chain(v1).find_map(|g| container_id_from_cgroup(g.1))
}

/// What backs an executable mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A file: its path as the process sees it, device and inode.
    File {
        /// The path in the process's mount namespace.
        path: PathBuf,
        /// Device (major, minor).
        dev: (i32, i32),
        /// Inode.
        inode: u64,
    },
    /// The vDSO.
    Vdso,
    /// Anonymous memory (JIT code) or another pseudo-path (`[heap]`...).
    Anonymous(String),
}

/// One executable mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// What is mapped.
    pub backing: Backing,
}

impl Mapping {
    /// The module name shown for frames without a symbol: the file's base
    /// name, or `[vdso]`, `[anon]`...
    pub fn module_name(&self) -> String {
        match &self.backing {
            Backing::File { path, .. } => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            Backing::Vdso => "[vdso]".into(),
            Backing::Anonymous(n) if n.is_empty() => "[anon]".into(),
            Backing::Anonymous(n) => n.clone(),
        }
    }

    /// The file offset of `addr`, which lies in this mapping.
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr - self.start + self.offset
    }
}

/// Reads `pid`'s executable mappings, sorted by address.
pub fn read_maps(pid: u32) -> std::io::Result<Vec<Mapping>> {
    use procfs::process::{MMPermissions, MMapPath};
    let p = procfs::process::Process::new(pid as i32).map_err(to_io)?;
    let maps = p.maps().map_err(to_io)?;
    let mut out: Vec<Mapping> = maps
        .into_iter()
        .filter(|m| m.perms.contains(MMPermissions::EXECUTE))
        .map(|m| Mapping {
            start: m.address.0,
            end: m.address.1,
            offset: m.offset,
            backing: match m.pathname {
                MMapPath::Path(path) => Backing::File {
                    path,
                    dev: m.dev,
                    inode: m.inode,
                },
                MMapPath::Vdso => Backing::Vdso,
                MMapPath::Anonymous => Backing::Anonymous(String::new()),
                MMapPath::Other(o) => Backing::Anonymous(o),
                other => Backing::Anonymous(format!("{other:?}")),
            },
        })
        .collect();
    out.sort_by_key(|m| m.start);
    Ok(out)
}

/// The mapping holding `addr`, in `maps` sorted by address.
pub fn find_mapping(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    let i = maps.partition_point(|m| m.start <= addr);
    let m = maps.get(i.checked_sub(1)?)?;
    (addr < m.end).then_some(m)
}

fn to_io(e: procfs::ProcError) -> std::io::Error {
    match e {
        procfs::ProcError::NotFound(_) => std::io::Error::from(std::io::ErrorKind::NotFound),
        procfs::ProcError::PermissionDenied(_) => {
            std::io::Error::from(std::io::ErrorKind::PermissionDenied)
        }
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_from_runtime_cgroup_paths() {
        let id = "a".repeat(64);
        for p in [
            format!("/docker/{id}"),
            format!("/system.slice/docker-{id}.scope"),
            format!("/kubepods.slice/kubepods-besteffort.slice/cri-containerd-{id}.scope"),
            format!("/machine.slice/libpod-{id}.scope/container"),
            format!("/kubepods/burstable/pod1234/crio-{id}"),
        ] {
            assert_eq!(
                container_id_from_cgroup(&p).as_deref(),
                Some(id.as_str()),
                "{p}"
            );
        }
        // 65 digits is not an id; upper case is not docker's.
        assert_eq!(container_id_from_cgroup(&format!("/x/{id}a")), None);
        assert_eq!(
            container_id_from_cgroup(&format!("/x/{}", "A".repeat(64))),
            None
        );
        assert_eq!(container_id_from_cgroup("/"), None);
    }

    #[test]
    fn container_ids_from_v2_then_v1_paths() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let (v2, v1) = (
            format!("/system.slice/docker-{a}.scope"),
            format!("/docker/{b}"),
        );
        // The v2 path's id wins, whatever the order of the lines.
        for groups in [
            vec![(4, v1.as_str()), (0, v2.as_str())],
            vec![(0, v2.as_str()), (4, v1.as_str())],
        ] {
            assert_eq!(container_id_of(&groups).as_deref(), Some(a.as_str()));
        }
        // Hybrid host, cgroupfs driver: only the v1 groups name it.
        let hybrid = [(0, "/"), (9, "/"), (4, v1.as_str()), (1, v1.as_str())];
        assert_eq!(container_id_of(&hybrid).as_deref(), Some(b.as_str()));
        assert_eq!(container_id_of(&[(0, "/user.slice"), (4, "/")]), None);
        assert_eq!(container_id_of(&[]), None);
    }

    #[test]
    fn own_process_facts_and_maps() {
        let me = std::process::id();
        let meta = read_meta(me).expect("own /proc entry");
        assert!(!meta.comm.is_empty());
        assert_eq!(start_time(me), Some(meta.start_time));
        let maps = read_maps(me).unwrap();
        let here = own_process_facts_and_maps as *const () as usize as u64;
        let m = find_mapping(&maps, here).expect("this function is mapped");
        assert!(matches!(m.backing, Backing::File { .. }), "{m:?}");
        assert!(find_mapping(&maps, 0).is_none());
        assert!(read_meta(u32::MAX - 1).is_none());
    }
}
