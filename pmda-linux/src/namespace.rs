//! Answering for a client's container (`pminfo --container=NAME`): whose
//! namespaces the namespaced sources are read in, and how.
//!
//! pmdalinux answers the network families (`/proc/net/*`: interfaces,
//! protocol counters, sockets; the interfaces' sysfs attributes and
//! addresses), the filesystems (`filesys.*`, `tmpfs.*`) and
//! `kernel.uname.*` for the container's network, mount and UTS
//! namespaces; everything else is the host's. It does so by `setns(2)`
//! into each namespace and back around the reads. This agent is
//! multithreaded, where joining a mount namespace is impossible, so it
//! reads through one process of the container, its *leader*
//! ([`pcp_core::container::Scope::leader`]), instead:
//!
//! | what | host | container |
//! |---|---|---|
//! | `/proc/net/X` | kept open | `/proc/LEADER/net/X`, opened afresh |
//! | the mounts table | `/proc/self/mounts` | `/proc/LEADER/mounts` |
//! | `statfs` of a mount point | `DIR` | `/proc/LEADER/root/DIR` |
//! | sysfs (`/sys/class/net`) | `/sys/...` | `/proc/LEADER/root/sys/...` |
//! | uname(2) | in this thread | in a short-lived thread that joined the leader's UTS namespace |
//! | IPv4 addresses (getifaddrs) | in this thread | in a short-lived thread that joined the leader's network namespace |
//! | TCP sockets by state | sock_diag netlink | `/proc/LEADER/net/tcp{,6}` |
//!
//! Network and UTS namespaces may be joined per thread, so the helper
//! thread changes nothing of the agent's own threads and takes its
//! namespaces with it when it ends. Kept-open files are for the host only:
//! a container's are opened afresh each time, so no descriptor read for
//! one namespace answers for another. Two differences from pmdalinux,
//! both to the container's side: `statfs` is the container's mount's
//! (pmdalinux calls `statfs` on the path outside the mount namespace, so
//! its figures are the host's file system at that path), and device names
//! in the mounts table are kept as the container's table spells them
//! (pmdalinux resolves symlinks in the container's `/dev`; the host's
//! `/dev` would be the wrong one to resolve them in).

use std::borrow::Cow;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use pcp_core::PmError;

use crate::read::io_err;

/// Whose namespaces a fetch reads the namespaced sources in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum View {
    /// The host's (the agent's own): no container asked.
    #[default]
    Host,
    /// Those of a container's process, by pid.
    Process(u32),
}

impl View {
    /// The file `rel` of a per-process /proc file of the view:
    /// `proc/net/X` and `proc/self/X` are the host's as given, and
    /// `proc/PID/net/X` and `proc/PID/X` for a container's process.
    pub(crate) fn proc_rel(self, rel: &str) -> Cow<'_, str> {
        match self {
            View::Host => Cow::Borrowed(rel),
            View::Process(pid) => {
                let rest = rel
                    .strip_prefix("proc/self/")
                    .or_else(|| rel.strip_prefix("proc/"))
                    .unwrap_or(rel);
                Cow::Owned(format!("proc/{pid}/{rest}"))
            }
        }
    }

    /// The file `rel` as the view's mount namespace sees it (`sys/...`,
    /// a mount point): as given on the host, below `proc/PID/root/` for a
    /// container's process.
    pub(crate) fn root_rel(self, rel: &str) -> Cow<'_, str> {
        match self {
            View::Host => Cow::Borrowed(rel),
            View::Process(pid) => {
                Cow::Owned(format!("proc/{pid}/root/{}", rel.trim_start_matches('/')))
            }
        }
    }
}

/// A namespace a helper thread can join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace {
    /// The network namespace (interfaces, addresses, sockets).
    Net,
    /// The UTS namespace (host and domain name).
    Uts,
}

impl Namespace {
    fn file(self) -> &'static str {
        match self {
            Namespace::Net => "net",
            Namespace::Uts => "uts",
        }
    }

    fn flag(self) -> libc::c_int {
        match self {
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Uts => libc::CLONE_NEWUTS,
        }
    }
}

/// Runs `f` on a short-lived thread that has joined namespace `ns` of
/// process `pid` (`ROOT/proc/PID/ns/{net,uts}`); the thread ends with `f`.
/// The error is why the namespace could not be joined (`-ENOENT` for a
/// process gone, `-EPERM` without the privilege `setns` needs).
pub(crate) fn run_in<T: Send>(
    root: &Path,
    pid: u32,
    ns: Namespace,
    f: impl FnOnce() -> T + Send,
) -> Result<T, PmError> {
    let file =
        File::open(root.join(format!("proc/{pid}/ns/{}", ns.file()))).map_err(|e| io_err(&e))?;
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("pmda-linux-ns".into())
            .spawn_scoped(s, || {
                // SAFETY: setns on an open namespace descriptor changes
                // only this thread's network or UTS namespace (both may be
                // joined by one thread of many); the thread ends after `f`.
                if unsafe { libc::setns(file.as_raw_fd(), ns.flag()) } != 0 {
                    return Err(io_err(&std::io::Error::last_os_error()));
                }
                Ok(f())
            })
            .map_err(|e| io_err(&e))?;
        worker
            .join()
            .unwrap_or_else(|_| Err(PmError::from_errno(libc::EIO)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_map_paths_to_the_process() {
        let h = View::Host;
        assert_eq!(h.proc_rel("proc/net/dev"), "proc/net/dev");
        assert_eq!(h.root_rel("sys/class/net"), "sys/class/net");
        let p = View::Process(42);
        assert_eq!(p.proc_rel("proc/net/dev"), "proc/42/net/dev");
        assert_eq!(p.proc_rel("proc/self/mounts"), "proc/42/mounts");
        assert_eq!(p.root_rel("sys/class/net"), "proc/42/root/sys/class/net");
        assert_eq!(p.root_rel("/dev/shm"), "proc/42/root/dev/shm");
        assert_eq!(p.root_rel("/"), "proc/42/root/");
    }

    #[test]
    fn joining_a_missing_process_fails_with_its_errno() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(
            run_in(t.path(), 1, Namespace::Uts, || ()),
            Err(PmError::from_errno(libc::ENOENT))
        );
    }

    /// Joining one's own namespace is allowed to root (and a no-op), so
    /// the thread runs `f` and its answer comes back.
    #[test]
    fn the_helper_thread_runs_in_the_namespace() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !pcp_core::testing::require("root", root, "setns needs CAP_SYS_ADMIN") {
            return;
        }
        let me = std::process::id();
        let got = run_in(Path::new("/"), me, Namespace::Net, || 7).unwrap();
        assert_eq!(got, 7);
    }
}
