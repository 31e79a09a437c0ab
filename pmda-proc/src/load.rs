//! Reading the files a fetch needs for one process into its entry, each at
//! most once per fetch. A file the process does not have, or that the
//! client may not read, leaves its part `None` (no value for that
//! process), as pmdaproc does; a kernel without `smaps_rollup` gives
//! `PM_ERR_APPVERSION`.

use std::io::ErrorKind;

use pcp_core::PmError;

use crate::pidtab::{file, Entry};
use crate::procfs::ProcDir;
use crate::{small, stat, status};

/// Reads into `e` every file of `need` it has not read this fetch.
pub fn load(dir: &mut ProcDir, e: &mut Entry, need: u32, buf: &mut Vec<u8>) {
    let todo = need & !e.read;
    if todo == 0 {
        return;
    }
    e.read |= todo;
    let (tgid, pid) = (e.tgid, e.pid);
    let read = |name: &str, buf: &mut Vec<u8>| dir.read_record(tgid, pid, name, buf).ok();
    let read_all = |name: &str, buf: &mut Vec<u8>| dir.read_task(tgid, pid, name, buf).ok();
    let f = e.files_mut();
    if todo & file::STAT != 0 {
        f.stat = read("stat", buf).and_then(|_| stat::parse(buf).ok());
    }
    if todo & file::STATUS != 0 {
        f.status = read("status", buf).map(|_| status::parse(buf));
    }
    if todo & file::STATM != 0 {
        // `status` is read before `statm`: when this fetch has it, it holds
        // every `statm` figure.
        let derived = f
            .status
            .as_ref()
            .and_then(|s| small::statm_from_status(s, page_kb()));
        f.statm = derived.or_else(|| read("statm", buf).map(|_| small::statm(buf)));
    }
    if todo & file::IO != 0 {
        f.io = read("io", buf).map(|_| small::io(buf));
    }
    if todo & file::SCHEDSTAT != 0 {
        f.schedstat = read("schedstat", buf).and_then(|_| small::schedstat(buf));
    }
    if todo & file::SMAPS != 0 {
        f.smaps = match dir.read_record(tgid, pid, "smaps_rollup", buf) {
            Ok(()) => Some(Ok(Box::new(small::smaps(buf)))),
            Err(e) if e.kind() == ErrorKind::NotFound => Some(Err(PmError::APPVERSION)),
            Err(_) => None,
        };
    }
    if todo & file::CGROUP != 0 {
        f.cgroup = read("cgroup", buf).map(|_| cgroups_of(buf));
    }
    if todo & file::LABEL != 0 {
        f.label = read("attr/current", buf)
            .filter(|_| !buf.is_empty())
            .map(|_| String::from_utf8_lossy(trim_nl(buf)).into_owned());
    }
    if todo & file::OOM != 0 {
        f.oom =
            read("oom_score", buf).and_then(|_| std::str::from_utf8(buf).ok()?.trim().parse().ok());
    }
    if todo & file::AUTOGROUP != 0 {
        // An empty or odd file (kernel threads) reads as group 0, nice 0.
        f.autogroup = read("autogroup", buf).map(|_| autogroup(buf).unwrap_or((0, 0)));
    }
    if todo & file::ENVIRON != 0 {
        // Unreadable environments read as empty, as pmdaproc gives them.
        let text = read_all("environ", buf).map_or_else(String::new, |_| nuls_to_spaces(buf));
        f.environ = Some(text);
    }
    if todo & file::WCHAN != 0 {
        f.wchan = read("wchan", buf).map(|_| String::from_utf8_lossy(buf).into_owned());
    }
    if todo & file::MAPS != 0 {
        f.maps = read_all("maps", buf).map(|_| String::from_utf8_lossy(buf).into_owned());
    }
    if todo & file::EXE != 0 {
        f.exe = link(dir, tgid, pid, "exe");
    }
    if todo & file::CWD != 0 {
        f.cwd = link(dir, tgid, pid, "cwd");
    }
    if todo & file::FD != 0 {
        let rel = if tgid == pid {
            "fd".to_string()
        } else {
            format!("task/{pid}/fd")
        };
        f.fd = dir.count_entries(tgid, &rel).ok();
    }
}

/// The page size in kB.
fn page_kb() -> u64 {
    static PAGE_KB: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE_KB.get_or_init(|| {
        // SAFETY: sysconf only reads a configuration value.
        let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if bytes > 0 {
            bytes as u64 / 1024
        } else {
            4
        }
    })
}

/// A link's target; one that cannot be read (kernel threads have no
/// executable) reads as empty, as pmdaproc gives it.
fn link(dir: &ProcDir, tgid: u32, pid: u32, name: &str) -> Option<String> {
    let target = if tgid == pid {
        dir.readlink(pid, name)
    } else {
        dir.readlink(tgid, &format!("task/{pid}/{name}"))
    };
    Some(target.unwrap_or_default())
}

fn trim_nl(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

fn nuls_to_spaces(b: &[u8]) -> String {
    let mut v: Vec<u8> = b.iter().map(|&c| if c == 0 { b' ' } else { c }).collect();
    if v.last() == Some(&b' ') {
        v.pop();
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// `/proc/PID/autogroup`: `/autogroup-25 nice 0`.
pub fn autogroup(text: &[u8]) -> Option<(u32, i32)> {
    let t = std::str::from_utf8(text).ok()?;
    let mut w = t.split_whitespace();
    let id = w.next()?.strip_prefix("/autogroup-")?.parse().ok()?;
    if w.next()? != "nice" {
        return None;
    }
    Some((id, w.next()?.parse().ok()?))
}

/// `/proc/PID/cgroup` as `ps` prints it (`hierarchy-less controllers:path`
/// entries joined by `;`), and the container id found in the cpuset
/// controller's path (pmdaproc's rule) or, on a unified-only host, in the
/// unified path.
///
/// ```
/// let (cg, id) = pmda_proc::load::cgroups_of(b"2:cpu:/\n1:cpuset:/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n0::/\n");
/// assert_eq!(cg, "cpu:/;cpuset:/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef;:/");
/// assert_eq!(id.len(), 64);
/// ```
pub fn cgroups_of(text: &[u8]) -> (String, String) {
    let t = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut cpuset = None;
    let mut unified = None;
    for line in t.lines() {
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        if let Some(p) = rest.strip_prefix("cpuset:") {
            cpuset = Some(p.to_string());
        } else if let Some(p) = rest.strip_prefix(':') {
            unified = Some(p.to_string());
        }
        out.push(rest.to_string());
    }
    let id = cpuset
        .as_deref()
        .and_then(container_id)
        .or_else(|| {
            if cpuset.is_none() {
                unified.as_deref().and_then(container_id)
            } else {
                None
            }
        })
        .unwrap_or_default();
    (out.join(";"), id)
}

/// A container id (64 hex digits) at the end of a control group path:
/// `/docker/ID`, `/system.slice/docker-ID.scope`, `/libpod-ID.scope`,
/// `/kubepods/.../ID`, `/machine.slice/libpod-ID.scope/container`.
pub fn container_id(path: &str) -> Option<String> {
    let last = path
        .rsplit('/')
        .find(|c| !c.is_empty() && *c != "container")?;
    let core = last
        .strip_prefix("docker-")
        .or_else(|| last.strip_prefix("libpod-"))
        .or_else(|| last.strip_prefix("cri-containerd-"))
        .or_else(|| last.strip_prefix("crio-"))
        .map(|s| s.strip_suffix(".scope").unwrap_or(s))
        .unwrap_or(last);
    (core.len() == 64 && core.bytes().all(|b| b.is_ascii_hexdigit())).then(|| core.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autogroup_lines() {
        assert_eq!(autogroup(b"/autogroup-25 nice 0\n"), Some((25, 0)));
        assert_eq!(autogroup(b"/autogroup-3 nice -5\n"), Some((3, -5)));
        assert_eq!(autogroup(b"garbage"), None);
    }

    #[test]
    fn container_ids() {
        let id = "a".repeat(64);
        for p in [
            format!("/docker/{id}"),
            format!("/system.slice/docker-{id}.scope"),
            format!("/machine.slice/libpod-{id}.scope/container"),
            format!("/kubepods/burstable/pod1/{id}"),
        ] {
            assert_eq!(container_id(&p).as_deref(), Some(id.as_str()), "{p}");
        }
        assert_eq!(container_id("/user.slice"), None);
        assert_eq!(container_id("/"), None);
    }
}
