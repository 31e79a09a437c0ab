//! When two values are the same, and the listed reasons a difference may
//! have: the method's artifacts and the pmdalinux behaviours not copied.

use super::*;

pub(crate) fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (Ok(mut x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) else {
        return false;
    };
    // dbpmda shows 32-bit signed values unsigned.
    if (2f64.powi(31)..2f64.powi(32)).contains(&x) && y < 0.0 {
        x -= 2f64.powi(32);
    }
    (x - y).abs() <= 1e-6 * x.abs().max(y.abs())
}

/// One value that differs between the two agents.
#[derive(Debug)]
pub(crate) struct Diff<'a> {
    pub(crate) root: &'a Path,
    pub(crate) metric: &'a str,
    pub(crate) inst: &'a str,
    /// pmdalinux's value, if any.
    pub(crate) real: Option<&'a str>,
    /// Our value, if any, and our error.
    pub(crate) ours: Option<&'a str>,
    pub(crate) our_err: Option<&'a str>,
}

impl Diff<'_> {
    fn in_(&self, prefixes: &[&str]) -> bool {
        prefixes.iter().any(|p| self.metric.starts_with(p))
    }
    fn has(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }
}

/// A class of differences that comes from the method (pmdalinux run on a
/// tree by LINUX_STATSPATH, which redirects its file reads but not its
/// system calls), not from either agent's reading of the tree.
pub(crate) struct Artifact {
    pub(crate) name: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) applies: fn(&Diff<'_>) -> bool,
}

pub(crate) const ENOENT: &str = "No such file or directory";

/// The method's artifacts, each with its reason.
pub(crate) const ARTIFACTS: &[Artifact] = &[
    Artifact {
        name: "file not in the tree",
        reason: "each tree holds only the files its PCP QA test needs; where ours \
                 fails with ENOENT for a missing file, pmdalinux answers from its \
                 zero-filled tables (0, \"unknown\", or its all-ones 'no value' \
                 marker, which tcp.maxconn passes through); on a live system the \
                 files exist",
        applies: |d| {
            d.our_err == Some(ENOENT)
                && matches!(d.real, Some("0" | "\"unknown\"" | "18446744073709551615"))
        },
    },
    Artifact {
        name: "no /proc/vmstat",
        reason: "without /proc/vmstat pmdalinux takes swap.in/out from the 'page' \
                 line of a 2.4 kernel's /proc/stat (0 when absent); ours, as \
                 pmdalinux on any kernel with /proc/vmstat, has no such counts",
        applies: |d| {
            d.in_(&["swap.in", "swap.out"]) && !d.has("proc/vmstat") && d.real == Some("0")
        },
    },
    Artifact {
        name: "uname(2) of the live machine",
        reason: "pmdalinux takes kernel.uname.*, pmda.uname and hinv.machine from \
                 uname(2) of the machine it runs on; ours reads the tree's \
                 /proc/sys/kernel files, which no tree has",
        applies: |d| {
            d.in_(&["kernel.uname.", "pmda.uname", "hinv.machine"])
                && !d.metric.ends_with("distro")
                && !d.has("proc/sys/kernel/osrelease")
        },
    },
    Artifact {
        name: "SysV IPC system calls on the live machine",
        reason: "pmdalinux takes the ipc limits and totals from shmctl/semctl/\
                 msgctl(IPC_INFO, SHM_INFO, SEM_INFO, MSG_INFO) of the machine \
                 it runs on; ours reads the tree's /proc/sys/kernel limits and sums \
                 its /proc/sysvipc tables (the same figures on a live system)",
        applies: |d| {
            d.in_(&["ipc.shm.", "ipc.msg.", "ipc.sem."])
                && ![
                    ".key",
                    ".owner",
                    ".perms",
                    ".segsz",
                    ".nattch",
                    ".status",
                    "_pid",
                    ".msgsz",
                    ".messages",
                    ".nsems",
                ]
                .iter()
                .any(|s| d.metric.ends_with(s))
        },
    },
    Artifact {
        name: "statfs(2) of the live machine",
        reason: "pmdalinux takes filesys.* and tmpfs.* figures from statfs(2) of \
                 the mount point on the machine it runs on; ours reads them from \
                 ROOT/statfs on a tree (see pmda-linux's fs module), which no \
                 PCP tree has",
        applies: |d| {
            d.in_(&["filesys.", "tmpfs."])
                && !d.metric.ends_with("mountdir")
                && d.ours.is_none()
                && !d.has("statfs")
        },
    },
    Artifact {
        name: "interface ioctl()s on the live machine",
        reason: "where the tree has no /sys/class/net/IF, pmdalinux asks the \
                 machine it runs on (SIOCGIFMTU, SIOCGIFFLAGS, ETHTOOL_GSET, \
                 SIOCGIFCONF...) about the interface of that name: the live \
                 lo and eth0 answer, others fail and read 0; ours has no value",
        applies: |d| {
            d.in_(&["network.interface."])
                && d.ours.is_none()
                && !d.has(&format!("sys/class/net/{}", d.inst))
        },
    },
    Artifact {
        name: "LINUX_NNODES=1",
        reason: "trees whose NUMA node directories list no CPUs (the capture kept \
                 only meminfo and numastat) are read by pmdalinux with its QA \
                 setting LINUX_NNODES=1, which puts every CPU in a single node0; \
                 ours reports every node directory",
        applies: |d| {
            cpuless_nodes(d.root)
                && (d.inst.starts_with("node") && d.inst != "node0" && d.real.is_none()
                    || d.metric == "hinv.nnode")
        },
    },
];

/// pmdalinux 6.0.3 behaviours this agent deliberately does not copy, each
/// judged against pmdalinux's code (a difference of this kind passes).
pub(crate) const NOT_COPIED: &[Artifact] = &[
    Artifact {
        name: "MemAvailable estimated in mixed units",
        reason: "on kernels before 3.14 (no MemAvailable) pmdalinux estimates it \
                 after the kernel's formula but takes the zones' low watermarks \
                 in bytes from figures in Kbytes, so the estimate goes negative \
                 and reads 0; ours keeps every figure in Kbytes",
        applies: |d| {
            d.metric == "mem.util.available"
                && d.real == Some("0")
                && std::fs::read_to_string(d.root.join("proc/meminfo"))
                    .is_ok_and(|t| !t.contains("MemAvailable:"))
        },
    },
    Artifact {
        name: "ERR and MIS rows as interrupt lines",
        reason: "pmdalinux recognises the error and missed counts of \
             /proc/interrupts with sscanf(\"ERR: %u\"), which fails when the \
             kernel right-aligns the row name to the width of the IRQ numbers \
             (' ERR:' on machines with IRQs of three digits and more); it then \
             reports ERR and MIS as interrupt lines (one value spread over every \
             CPU as zeros) and kernel.all.interrupts.errors/missed as 0; ours \
             reads them as the error and missed counts whatever the alignment",
        applies: |d| {
            d.in_(&["kernel.all.interrupts.total", "kernel.percpu.interrupts"])
                && ["ERR", "MIS"]
                    .iter()
                    .any(|r| d.inst == *r || d.inst.starts_with(&format!("{r}::")))
                && d.ours.is_none()
                && std::fs::read_to_string(d.root.join("proc/interrupts"))
                    .is_ok_and(|t| t.contains(" ERR:") || t.contains(" MIS:"))
        },
    },
];

/// The listed reasons that show on this crate's kernel format fixtures
/// rather than on PCP's QA trees (each test checks that its own reasons
/// still occur).
pub(crate) const FIXTURE_ONLY: &[&str] = &["MemAvailable estimated in mixed units"];

/// The trees' figures behind one metric value, for the report.
pub(crate) fn describe(d: &Diff<'_>) -> String {
    format!(
        "{} [{}]: pmdalinux {} ours {}{}",
        d.metric,
        d.inst,
        d.real.unwrap_or("-"),
        d.ours.unwrap_or("-"),
        d.our_err.map(|e| format!(" ({e})")).unwrap_or_default()
    )
}
