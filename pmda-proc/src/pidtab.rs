//! The process table: one entry per process (or thread), keyed by pid,
//! holding its instance name (kept for its lifetime) and what this fetch
//! read of its files. Each file is read at most once per fetch, only for
//! processes the client asked about, only when an asked metric needs it.

use std::collections::HashMap;

use pcp_core::PmError;

use crate::procfs::ProcDir;
use crate::small::{Io, Schedstat, Statm};
use crate::stat::PidStat;
use crate::status::PidStatus;

/// The files of a process a fetch may need (a bit set).
pub mod file {
    /// `stat`.
    pub const STAT: u32 = 1 << 0;
    /// `status`.
    pub const STATUS: u32 = 1 << 1;
    /// `statm`.
    pub const STATM: u32 = 1 << 2;
    /// `io`.
    pub const IO: u32 = 1 << 3;
    /// `schedstat`.
    pub const SCHEDSTAT: u32 = 1 << 4;
    /// `smaps_rollup`.
    pub const SMAPS: u32 = 1 << 5;
    /// the `fd` directory.
    pub const FD: u32 = 1 << 6;
    /// `cgroup`.
    pub const CGROUP: u32 = 1 << 7;
    /// `attr/current`.
    pub const LABEL: u32 = 1 << 8;
    /// `oom_score`.
    pub const OOM: u32 = 1 << 9;
    /// the `exe` link.
    pub const EXE: u32 = 1 << 10;
    /// the `cwd` link.
    pub const CWD: u32 = 1 << 11;
    /// `autogroup`.
    pub const AUTOGROUP: u32 = 1 << 12;
    /// `environ`.
    pub const ENVIRON: u32 = 1 << 13;
    /// `wchan`.
    pub const WCHAN: u32 = 1 << 14;
    /// `maps`.
    pub const MAPS: u32 = 1 << 15;
}

/// What one fetch read of a process (`None`: not read, or unreadable).
#[derive(Debug, Default, Clone)]
pub struct Files {
    /// `stat`.
    pub stat: Option<PidStat>,
    /// `status`.
    pub status: Option<PidStatus>,
    /// `statm`.
    pub statm: Option<Statm>,
    /// `io`.
    pub io: Option<Io>,
    /// `schedstat`.
    pub schedstat: Option<Schedstat>,
    /// `smaps_rollup`, kB in [`crate::small::SMAPS_KEYS`] order;
    /// `Err(PM_ERR_APPVERSION)` where the kernel has no smaps_rollup.
    pub smaps: Option<Result<Box<[u64; 20]>, PmError>>,
    /// Open descriptors.
    pub fd: Option<u32>,
    /// Control groups, `ps` style (`cpu:/;cpuset:/`), and the container
    /// id found in them (empty if none).
    pub cgroup: Option<(String, String)>,
    /// Security label.
    pub label: Option<String>,
    /// OOM score.
    pub oom: Option<u32>,
    /// Executable path.
    pub exe: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Autogroup id and nice.
    pub autogroup: Option<(u32, i32)>,
    /// Environment, NULs made spaces (empty when unreadable).
    pub environ: Option<String>,
    /// Wait channel name.
    pub wchan: Option<String>,
    /// Memory maps.
    pub maps: Option<String>,
}

/// One process or thread.
#[derive(Debug)]
pub struct Entry {
    /// pid (or tid).
    pub pid: u32,
    /// `NNNNNN command args...` as first seen; psargs starts after the
    /// first space.
    pub name: String,
    /// The instance name: the pid and the command up to its first
    /// argument (`012345 /usr/bin/bash`).
    pub instname: String,
    /// The thread group it belongs to (itself for a process).
    pub tgid: u32,
    /// Files read this fetch.
    pub read: u32,
    /// Their contents, allocated at the first read (a process no fetch
    /// reads, only lists or names, costs no more than its names).
    pub files: Option<Box<Files>>,
    /// The generation of the listing that last saw it.
    pub seen: u64,
}

/// Nothing read.
static NO_FILES: Files = Files {
    stat: None,
    status: None,
    statm: None,
    io: None,
    schedstat: None,
    smaps: None,
    fd: None,
    cgroup: None,
    label: None,
    oom: None,
    exe: None,
    cwd: None,
    autogroup: None,
    environ: None,
    wchan: None,
    maps: None,
};

impl Entry {
    /// What this fetch read of the process.
    pub fn files(&self) -> &Files {
        self.files.as_deref().unwrap_or(&NO_FILES)
    }

    /// What this fetch read of the process, to fill in.
    pub fn files_mut(&mut self) -> &mut Files {
        self.files.get_or_insert_with(Box::default)
    }

    /// The full command line (psargs).
    pub fn psargs(&self) -> &str {
        self.name.split_once(' ').map_or("", |(_, a)| a)
    }
}

/// The longest instance name, pid and command line together, in bytes
/// (pmdaproc's too: a process's psargs is the name after its pid).
const NAME_MAX: usize = 4095;

/// Every process known, and the listing that found them.
#[derive(Debug, Default)]
pub struct PidTable {
    entries: HashMap<u32, Entry>,
    generation: u64,
    scratch: Vec<u32>,
}

impl PidTable {
    /// The entry of `pid`.
    pub fn get(&self, pid: u32) -> Option<&Entry> {
        self.entries.get(&pid)
    }

    /// The entry of `pid`, mutable.
    pub fn get_mut(&mut self, pid: u32) -> Option<&mut Entry> {
        self.entries.get_mut(&pid)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lists `ROOT/proc` (and with `threads` every task of every process),
    /// adds new processes (naming each once, from its command line) and
    /// forgets those gone. Returns the pids in listing order.
    pub fn refresh(&mut self, dir: &mut ProcDir, threads: bool, buf: &mut Vec<u8>) -> Vec<u32> {
        self.generation += 1;
        let generation = self.generation;
        self.scratch.clear();
        let _ = dir.list(None, &mut self.scratch);
        let mut out = Vec::with_capacity(self.scratch.len());
        let pids = std::mem::take(&mut self.scratch);
        let mut tasks = Vec::new();
        for &pid in &pids {
            if threads {
                tasks.clear();
                let _ = dir.list(Some(pid), &mut tasks);
                if tasks.is_empty() {
                    tasks.push(pid);
                }
                for &tid in &tasks {
                    if self.touch(dir, pid, tid, generation, buf) {
                        out.push(tid);
                    }
                }
            } else if self.touch(dir, pid, pid, generation, buf) {
                out.push(pid);
            }
        }
        self.scratch = pids;
        self.entries.retain(|_, e| e.seen == generation);
        out
    }

    /// Makes sure `pid` has an entry (for a profile naming pids without a
    /// listing); false if the process does not exist.
    pub fn ensure(&mut self, dir: &ProcDir, pid: u32, buf: &mut Vec<u8>) -> bool {
        let generation = self.generation;
        self.touch(dir, pid, pid, generation, buf)
    }

    fn touch(
        &mut self,
        dir: &ProcDir,
        tgid: u32,
        pid: u32,
        generation: u64,
        buf: &mut Vec<u8>,
    ) -> bool {
        if let Some(e) = self.entries.get_mut(&pid) {
            e.seen = generation;
            return true;
        }
        let Some(name) = instance_name(dir, tgid, pid, buf) else {
            return false;
        };
        let instname = short_name(&name);
        self.entries.insert(
            pid,
            Entry {
                pid,
                name,
                instname,
                tgid,
                read: 0,
                files: None,
                seen: generation,
            },
        );
        true
    }

    /// Forgets what the previous fetch read.
    pub fn clear_reads(&mut self, pids: &[u32]) {
        for pid in pids {
            if let Some(e) = self.entries.get_mut(pid) {
                e.read = 0;
                if let Some(f) = e.files.as_deref_mut() {
                    *f = Files::default();
                }
            }
        }
    }
}

/// `NNNNNN cmdline` (arguments joined by spaces), or `NNNNNN (Name)` from
/// `status` for a process with no command line (kernel threads, zombies).
fn instance_name(dir: &ProcDir, tgid: u32, pid: u32, buf: &mut Vec<u8>) -> Option<String> {
    let mut name = format!("{pid:06} ");
    if dir.read_task(tgid, pid, "cmdline", buf).is_ok() && buf.iter().any(|&b| b != 0) {
        while buf.last() == Some(&0) {
            buf.pop();
        }
        buf.truncate(NAME_MAX.saturating_sub(name.len()));
        clean_cmdline(buf);
        name.push_str(&String::from_utf8_lossy(buf));
        return Some(name);
    }
    dir.read_task(tgid, pid, "status", buf).ok()?;
    let text = String::from_utf8_lossy(buf);
    let first = text.lines().next()?;
    let comm = first.strip_prefix("Name:").map(str::trim).unwrap_or("");
    name.push('(');
    name.push_str(comm);
    name.push(')');
    Some(name)
}

/// Makes a raw command line one printable line, as current PCP does for
/// psargs: the NULs between arguments and every other control character
/// (newline, tab, DEL) become spaces, and terminal escape sequences
/// (`ESC [ ... final`, `ESC ] ... BEL` or `ESC ] ... ESC \`, `ESC x`) are
/// dropped, so a crafted argv cannot break a client's line-per-process
/// output or drive its terminal. (PCP 6.0.3 kept newlines and escapes.)
fn clean_cmdline(buf: &mut Vec<u8>) {
    const ESC: u8 = 0x1b;
    let (mut r, mut w) = (0, 0);
    let end = buf.len();
    while r < end {
        let b = buf[r];
        r += 1;
        if b == ESC {
            match buf.get(r) {
                Some(b'[') => {
                    r += 1;
                    while r < end && !(0x40..=0x7e).contains(&buf[r]) {
                        r += 1;
                    }
                    r = (r + 1).min(end);
                }
                Some(b']') => {
                    r += 1;
                    while r < end && buf[r] != 0x07 && buf[r] != ESC {
                        r += 1;
                    }
                    if buf.get(r) == Some(&0x07) {
                        r += 1;
                    } else if buf.get(r) == Some(&ESC) && buf.get(r + 1) == Some(&b'\\') {
                        r += 2;
                    }
                }
                Some(_) => r += 1,
                None => {}
            }
            continue;
        }
        buf[w] = if b < 0x20 || b == 0x7f { b' ' } else { b };
        w += 1;
    }
    buf.truncate(w);
}

/// The instance name: up to the second space of the full name.
fn short_name(name: &str) -> String {
    let mut spaces = name.match_indices(' ').map(|(i, _)| i);
    spaces.next();
    match spaces.next() {
        Some(i) => name[..i].to_string(),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(raw: &[u8]) -> String {
        let mut buf = raw.to_vec();
        clean_cmdline(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn command_lines_become_one_printable_line() {
        assert_eq!(cleaned(b"sleep\x00600"), "sleep 600");
        assert_eq!(
            cleaned(b"bash\0-c\0set -e\n\n\techo x\x7f"),
            "bash -c set -e   echo x "
        );
        // Escape sequences go whole: colour (CSI), a window title (OSC
        // ended by BEL, and by ESC \), a two-byte sequence, a bare ESC.
        assert_eq!(cleaned(b"a\x1b[1;31mred\x1b[0m"), "ared");
        assert_eq!(cleaned(b"a\x1b]0;title\x07b"), "ab");
        assert_eq!(cleaned(b"a\x1b]0;title\x1b\\b"), "ab");
        assert_eq!(cleaned(b"a\x1bcb"), "ab");
        assert_eq!(cleaned(b"a\x1b"), "a");
        // Unterminated sequences end with the buffer.
        assert_eq!(cleaned(b"a\x1b[12"), "a");
        assert_eq!(cleaned(b"a\x1b]title"), "a");
        // Other bytes, UTF-8 included, are kept.
        assert_eq!(
            cleaned("caf\u{e9} \u{2603}".as_bytes()),
            "caf\u{e9} \u{2603}"
        );
    }

    #[test]
    fn long_command_lines_are_cut_to_pmdaprocs_name_length() {
        let t = tempfile::tempdir().unwrap();
        let long: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for pid in [7u32, 1_234_567] {
            std::fs::create_dir_all(t.path().join(format!("proc/{pid}"))).unwrap();
            std::fs::write(t.path().join(format!("proc/{pid}/cmdline")), &long).unwrap();
        }
        let dir = ProcDir::open(t.path()).unwrap();
        let mut buf = Vec::new();
        let short = instance_name(&dir, 7, 7, &mut buf).unwrap();
        assert_eq!(short.len(), 4095);
        assert!(short.starts_with("000007 abc"));
        let wide = instance_name(&dir, 1_234_567, 1_234_567, &mut buf).unwrap();
        assert_eq!(wide.len(), 4095);
        assert!(wide.starts_with("1234567 abc"));
    }

    #[test]
    fn names_are_pid_and_command() {
        assert_eq!(short_name("000042 /bin/sleep 10"), "000042 /bin/sleep");
        assert_eq!(short_name("000002 (kthreadd)"), "000002 (kthreadd)");
        let mut dir = ProcDir::open(std::path::Path::new("/")).unwrap();
        let mut t = PidTable::default();
        let mut buf = Vec::new();
        let pids = t.refresh(&mut dir, false, &mut buf);
        let me = std::process::id();
        assert!(pids.contains(&me));
        let e = t.get(me).unwrap();
        assert!(
            e.instname.starts_with(&format!("{me:06} ")),
            "{}",
            e.instname
        );
        assert!(!e.psargs().is_empty());
        // With threads, this test's own threads are listed too: those
        // alive before and after the listing (other tests' threads come
        // and go meanwhile, as the machine's processes do).
        let tids = || -> std::collections::BTreeSet<u32> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        };
        let before = tids();
        let with_threads = t.refresh(&mut dir, true, &mut buf);
        let after = tids();
        let lasting: Vec<u32> = before.intersection(&after).copied().collect();
        // SAFETY: gettid has no preconditions.
        let this_thread = unsafe { libc::gettid() } as u32;
        assert!(lasting.contains(&this_thread) && lasting.contains(&me));
        for tid in lasting {
            assert!(with_threads.contains(&tid), "{tid}");
        }
    }
}
