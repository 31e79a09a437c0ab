//! `/proc/PID/status`: `Key:\tvalue` lines. Memory figures are in kB;
//! ids come four to a line (real, effective, saved, filesystem); the
//! nested pid-namespace lines hold one id per namespace, outermost first
//! (served comma-separated, as pmdaproc does). Lines a kernel does not
//! have (Ngid before 3.13, NStgid/NSpid before 4.1, VmPin before 3.2,
//! envID off OpenVZ) are `None`.

/// The fields of `/proc/PID/status` the agent serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidStatus {
    /// Name (comm).
    pub name: String,
    /// Thread group id.
    pub tgid: Option<u32>,
    /// NUMA group id.
    pub ngid: Option<u32>,
    /// Real, effective, saved and filesystem uids.
    pub uid: [u32; 4],
    /// Real, effective, saved and filesystem gids.
    pub gid: [u32; 4],
    /// Ids in nested pid namespaces, comma-separated: tgid, pid, pgid, sid.
    pub ns: [Option<String>; 4],
    /// Peak virtual size, kB.
    pub vm_peak: u64,
    /// Virtual size, kB.
    pub vm_size: u64,
    /// Locked, kB.
    pub vm_lck: u64,
    /// Pinned, kB.
    pub vm_pin: u64,
    /// Peak RSS, kB.
    pub vm_hwm: u64,
    /// RSS, kB.
    pub vm_rss: u64,
    /// Data, kB.
    pub vm_data: u64,
    /// Stack, kB.
    pub vm_stk: u64,
    /// Text, kB.
    pub vm_exe: u64,
    /// Library code, kB.
    pub vm_lib: u64,
    /// Page tables, kB.
    pub vm_pte: u64,
    /// Swapped anonymous memory, kB.
    pub vm_swap: u64,
    /// Resident file-backed memory, kB (kernels since 4.5).
    pub rss_file: Option<u64>,
    /// Resident shared memory, kB (kernels since 4.5).
    pub rss_shmem: Option<u64>,
    /// The process has an address space (a `VmSize` line): kernel threads
    /// and zombies have none.
    pub has_vm: bool,
    /// Threads.
    pub threads: u64,
    /// Signal masks as written: pending, blocked, ignored, caught.
    pub sig: [String; 4],
    /// Allowed CPUs as a list (`0-3,8`).
    pub cpus_allowed: Option<String>,
    /// Voluntary context switches.
    pub vctxsw: u64,
    /// Involuntary context switches.
    pub nvctxsw: u64,
    /// OpenVZ container id.
    pub envid: Option<u32>,
}

/// Parses the text of `/proc/PID/status`. Unknown lines are skipped and
/// malformed numbers read as zero, so a new kernel's additions never fail
/// a fetch.
///
/// ```
/// let s = pmda_proc::status::parse(b"Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nVmRSS:\t  3000 kB\nNSpid:\t42\t7\n");
/// assert_eq!((s.name.as_str(), s.uid[3], s.vm_rss), ("bash", 1000, 3000));
/// assert_eq!(s.ns[1].as_deref(), Some("42,7"));
/// ```
pub fn parse(text: &[u8]) -> PidStatus {
    let mut s = PidStatus::default();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let key = &line[..colon];
        let val = std::str::from_utf8(&line[colon + 1..]).unwrap_or("").trim();
        let num = || first_number(val);
        match key {
            b"Name" => s.name = val.to_string(),
            b"Tgid" => s.tgid = Some(num() as u32),
            b"Ngid" => s.ngid = Some(num() as u32),
            b"Uid" => s.uid = four(val),
            b"Gid" => s.gid = four(val),
            b"NStgid" => s.ns[0] = Some(commas(val)),
            b"NSpid" => s.ns[1] = Some(commas(val)),
            b"NSpgid" => s.ns[2] = Some(commas(val)),
            b"NSsid" => s.ns[3] = Some(commas(val)),
            b"VmPeak" => s.vm_peak = num(),
            b"VmSize" => {
                s.vm_size = num();
                s.has_vm = true;
            }
            b"VmLck" => s.vm_lck = num(),
            b"VmPin" => s.vm_pin = num(),
            b"VmHWM" => s.vm_hwm = num(),
            b"VmRSS" => s.vm_rss = num(),
            b"VmData" => s.vm_data = num(),
            b"VmStk" => s.vm_stk = num(),
            b"VmExe" => s.vm_exe = num(),
            b"VmLib" => s.vm_lib = num(),
            b"VmPTE" => s.vm_pte = num(),
            b"VmSwap" => s.vm_swap = num(),
            b"RssFile" => s.rss_file = Some(num()),
            b"RssShmem" => s.rss_shmem = Some(num()),
            b"Threads" => s.threads = num(),
            b"SigPnd" => s.sig[0] = val.to_string(),
            b"SigBlk" => s.sig[1] = val.to_string(),
            b"SigIgn" => s.sig[2] = val.to_string(),
            b"SigCgt" => s.sig[3] = val.to_string(),
            b"Cpus_allowed_list" => s.cpus_allowed = Some(val.to_string()),
            b"voluntary_ctxt_switches" => s.vctxsw = num(),
            b"nonvoluntary_ctxt_switches" => s.nvctxsw = num(),
            b"envID" => s.envid = Some(num() as u32),
            _ => {}
        }
    }
    s
}

fn first_number(v: &str) -> u64 {
    v.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

fn four(v: &str) -> [u32; 4] {
    let mut out = [0; 4];
    for (o, w) in out.iter_mut().zip(v.split_whitespace()) {
        *o = w.parse().unwrap_or(0);
    }
    out
}

fn commas(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process() {
        let s = super::parse(&std::fs::read("/proc/self/status").unwrap());
        // SAFETY: getuid has no preconditions.
        assert_eq!(s.uid[0], unsafe { libc::getuid() });
        assert!(s.vm_rss > 0 && s.threads >= 1);
        assert!(s.cpus_allowed.is_some() && s.tgid.is_some());
        assert_eq!(s.sig[0].len(), 16);
    }
}
