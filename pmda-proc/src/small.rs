//! The small per-process files: `statm` (sizes in pages), `io` (I/O
//! counters), `schedstat` (run and wait time in nanoseconds, timeslices)
//! and `smaps_rollup` (memory summed over every mapping, in kB), each a
//! pure parser over the file's bytes.

/// `/proc/PID/statm`, in pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statm {
    /// Total program size.
    pub size: u64,
    /// Resident.
    pub rss: u64,
    /// Resident shared (file-backed and shmem).
    pub share: u64,
    /// Text.
    pub text: u64,
    /// Library (0 since 2.6).
    pub lib: u64,
    /// Data and stack.
    pub data: u64,
    /// Dirty (0 since 2.6).
    pub dirty: u64,
}

/// `statm` computed from a `status` read in the same fetch, saving a file
/// per process: the kernel prints both from the same counters (size is
/// VmSize, resident VmRSS, shared RssFile + RssShmem, text VmExe, data
/// VmData + VmStk, lib and dirty 0 since 2.6), `status` in kB, `statm` in
/// pages of `page_kb` kB. A process without an address space (a kernel
/// thread, a zombie) has all zeros in `statm`. `None` when `status` lacks
/// a figure (kernels before 4.5 have no RssFile): read `statm` then.
pub fn statm_from_status(s: &crate::status::PidStatus, page_kb: u64) -> Option<Statm> {
    if !s.has_vm {
        return Some(Statm::default());
    }
    let pages = |kb: u64| kb / page_kb.max(1);
    Some(Statm {
        size: pages(s.vm_size),
        rss: pages(s.vm_rss),
        share: pages(s.rss_file?.saturating_add(s.rss_shmem?)),
        text: pages(s.vm_exe),
        lib: 0,
        data: pages(s.vm_data.saturating_add(s.vm_stk)),
        dirty: 0,
    })
}

/// Parses `statm`. Missing fields read as zero.
pub fn statm(text: &[u8]) -> Statm {
    let mut v = [0u64; 7];
    for (o, w) in v.iter_mut().zip(words(text)) {
        *o = w.parse().unwrap_or(0);
    }
    Statm {
        size: v[0],
        rss: v[1],
        share: v[2],
        text: v[3],
        lib: v[4],
        data: v[5],
        dirty: v[6],
    }
}

/// `/proc/PID/io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Io {
    /// Bytes read by read-like calls.
    pub rchar: u64,
    /// Bytes written by write-like calls.
    pub wchar: u64,
    /// Read-like calls.
    pub syscr: u64,
    /// Write-like calls.
    pub syscw: u64,
    /// Bytes fetched from storage.
    pub read_bytes: u64,
    /// Bytes sent to storage.
    pub write_bytes: u64,
    /// Writes cancelled by truncation.
    pub cancelled_write_bytes: u64,
}

/// Parses `io`.
///
/// ```
/// let io = pmda_proc::small::io(b"rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 0\ncancelled_write_bytes: 0\n");
/// assert_eq!((io.rchar, io.syscw, io.read_bytes), (10, 2, 4096));
/// ```
pub fn io(text: &[u8]) -> Io {
    let mut io = Io::default();
    for (k, v) in keyed(text) {
        let n = v.parse().unwrap_or(0);
        match k {
            "rchar" => io.rchar = n,
            "wchar" => io.wchar = n,
            "syscr" => io.syscr = n,
            "syscw" => io.syscw = n,
            "read_bytes" => io.read_bytes = n,
            "write_bytes" => io.write_bytes = n,
            "cancelled_write_bytes" => io.cancelled_write_bytes = n,
            _ => {}
        }
    }
    io
}

/// `/proc/PID/schedstat`: time on a CPU and waiting for one (ns), and
/// timeslices run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedstat {
    /// Time running, ns.
    pub cpu_time: u64,
    /// Time runnable but waiting, ns.
    pub run_delay: u64,
    /// Timeslices.
    pub pcount: u64,
}

/// Parses `schedstat`; `None` when it does not hold three numbers.
pub fn schedstat(text: &[u8]) -> Option<Schedstat> {
    let mut w = words(text).map(|w| w.parse::<u64>().ok());
    Some(Schedstat {
        cpu_time: w.next()??,
        run_delay: w.next()??,
        pcount: w.next()??,
    })
}

/// The `smaps_rollup` figures, in kB, in pmdaproc's item order (rss, pss,
/// pss_anon, pss_file, pss_shmem, shared_clean, shared_dirty,
/// private_clean, private_dirty, referenced, anonymous, lazyfree,
/// anonhugepages, shmempmdmapped, filepmdmapped, shared_hugetlb,
/// private_hugetlb, swap, swappss, locked).
pub const SMAPS_KEYS: [&str; 20] = [
    "Rss",
    "Pss",
    "Pss_Anon",
    "Pss_File",
    "Pss_Shmem",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "LazyFree",
    "AnonHugePages",
    "ShmemPmdMapped",
    "FilePmdMapped",
    "Shared_Hugetlb",
    "Private_Hugetlb",
    "Swap",
    "SwapPss",
    "Locked",
];

/// Parses `smaps_rollup` into [`SMAPS_KEYS`] order (absent keys are 0).
pub fn smaps(text: &[u8]) -> [u64; 20] {
    let mut out = [0u64; 20];
    for (k, v) in keyed(text) {
        if let Some(i) = SMAPS_KEYS.iter().position(|s| *s == k) {
            out[i] = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    out
}

fn words(text: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(text).unwrap_or("").split_whitespace()
}

/// `key: value` lines.
fn keyed(text: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    std::str::from_utf8(text)
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim(), v.trim()))
        })
}

#[cfg(test)]
mod tests {

    /// The figures computed from `status` equal the ones `statm` prints,
    /// for a process with an address space (a sleeping child, whose memory
    /// does not move between the two reads) and for a kernel thread.
    #[test]
    fn statm_from_status_is_what_statm_says() {
        // SAFETY: sysconf only reads a configuration value.
        let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } / 1024) as u64;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let dir = format!("/proc/{}", child.id());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let status = crate::status::parse(&std::fs::read(format!("{dir}/status")).unwrap());
        let read = statm(&std::fs::read(format!("{dir}/statm")).unwrap());
        let _ = child.kill();
        let _ = child.wait();
        assert!(status.has_vm && read.size > 0);
        assert_eq!(statm_from_status(&status, page_kb), Some(read));
        // kthreadd (pid 2) has no address space: all zeros, as statm says.
        let kthread = crate::status::parse(&std::fs::read("/proc/2/status").unwrap());
        let zeros = statm(&std::fs::read("/proc/2/statm").unwrap());
        assert_eq!(statm_from_status(&kthread, page_kb), Some(zeros));
        assert_eq!(zeros, Statm::default());
        // A kernel without RssFile/RssShmem: read statm instead.
        let old = crate::status::parse(b"Name:\tx\nVmSize:\t8 kB\nVmRSS:\t4 kB\n");
        assert_eq!(statm_from_status(&old, page_kb), None);
    }
    use super::*;

    #[test]
    fn parses_this_process_files() {
        let s = statm(&std::fs::read("/proc/self/statm").unwrap());
        assert!(s.size >= s.rss && s.rss > 0);
        let st = schedstat(&std::fs::read("/proc/self/schedstat").unwrap()).unwrap();
        assert!(st.cpu_time > 0);
        let sm = smaps(&std::fs::read("/proc/self/smaps_rollup").unwrap());
        assert!(sm[0] > 0 && sm[1] > 0);
        assert!(schedstat(b"1 2").is_none());
        assert_eq!(smaps(b"garbage\nRss: x kB\n")[0], 0);
    }
}
