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
    let cgroup = p
        .cgroups()
        .ok()
        .and_then(|c| {
            let v2 =
                c.0.iter()
                    .find(|g| g.hierarchy == 0)
                    .map(|g| g.pathname.clone());
            v2.or_else(|| c.0.first().map(|g| g.pathname.clone()))
        })
        .unwrap_or_default();
    let container_id = container_id_from_cgroup(&cgroup);
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
