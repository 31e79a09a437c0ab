//! `pmda-linux`: a drop-in subset of PCP's pmdalinux (domain 60), serving
//! kernel, CPU, memory, disk, network, filesystem and VFS metrics from
//! `/proc` and `/sys` with pmdalinux's names, PMIDs, types, semantics,
//! units, instance domains and instance names.
//!
//! - The metric table ([`metrics::METRICS`]) is data: one row per metric.
//!   Each row is resolved once, by name, to what computes it ([`kind`]).
//! - A fetch works out which files its metrics need, reads each of them
//!   once into a reused buffer, parses it, and answers every metric from
//!   the parsed data. A file that cannot be read fails only the metrics
//!   behind it (with `-errno`); a file that does not parse fails them with
//!   `PM_ERR_VALUE` and is reported (see [`LinuxPmda::source_errors`]).
//! - Every path is under a configurable root ([`LinuxConfig::root`]), like
//!   pmdalinux's `LINUX_STATSPATH`, so the agent runs on fixture trees.
//!
//! ```no_run
//! use pcp_core::{Host, Pmda};
//! use pmda_linux::{LinuxConfig, LinuxPmda};
//!
//! let mut host = Host::new();
//! host.load(Box::new(LinuxPmda::new(LinuxConfig::default()).unwrap())).unwrap();
//! let load = host.lookup("kernel.all.load").unwrap();
//! let result = host.fetch(&[load]);
//! println!("{:?}", result.values[0].1);
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod cpufreq;
pub mod cpuinfo;
pub mod disk;
pub mod fs;
pub mod indom;
pub mod ipc;
pub mod irq;
pub mod keyed;
pub mod kind;
pub mod metrics;
pub mod misc;
pub mod net;
pub mod netaddr;
pub mod numa;
mod read;
pub mod rpc;
pub mod slabinfo;
pub mod sockdiag;
pub mod stat;
pub mod tapefc;
pub mod zoneinfo;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pcp_core::{
    ClientContext, Desc, FetchRequest, InDom, Instance, LabelSet, LabelTarget, MetricResult,
    MetricTable, Namespace, NamespaceError, PmError, Pmda, Pmid, TextKind, TextTarget, Type, Value,
    PM_IN_NULL,
};
use procfs::{FromRead, LoadAverage, Uptime};

use crate::disk::{Dev, DevKind};
use crate::fs::{Mount, Statfs};
use crate::indom::InstMap;
use crate::irq::IrqTable;
use crate::keyed::Keyed;
use crate::kind::{
    CpuScope, CpuState, DField, Derive, DiskScope, FsF, IpcF, IrqF, Kind, MemF, NetF, NumaF, RpcF,
    Src, NSRC,
};
use crate::net::{AttrNeed, IfAttrs, NetIf};
use crate::stat::Stat;

/// pmdalinux's domain number.
pub const DOMAIN: u32 = 60;

/// pmdalinux's cluster of /proc/cpuinfo figures.
const CLUSTER_CPUINFO: u32 = 18;

/// The PCP release whose pmdalinux this agent stands in for (the value of
/// `pmda.version`).
pub const PCP_VERSION: &str = "6.0.3";

/// Where the agent reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxConfig {
    /// A directory holding `proc/` and `sys/` (default `/`). With any other
    /// root, filesystem figures come from `ROOT/statfs` (see [`fs`]),
    /// `uname -m` from `ROOT/proc/sys/kernel/arch`, IPC owner names from
    /// `ROOT/etc/passwd` and md device health from `ROOT/sbin/mdadm`.
    pub root: PathBuf,
}

impl Default for LinuxConfig {
    fn default() -> LinuxConfig {
        LinuxConfig {
            root: PathBuf::from("/"),
        }
    }
}

/// Failures of the Linux agent.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// The metric table is inconsistent (a duplicate name or PMID).
    #[error("metric table: {0}")]
    Table(#[from] NamespaceError),
    /// A metric in the table has no reader.
    #[error("metric {0} has no reader")]
    Unmapped(String),
    /// The root directory does not exist.
    #[error("root {0} is not a directory")]
    Root(PathBuf),
    /// A file's contents surprised the parser.
    #[error("{path}: unexpected format: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// Where the live system's TCP counts come from.
#[derive(Debug)]
enum TcpDiag {
    /// Not tried yet: the netlink socket opens on first use.
    Untried,
    /// Counting over this netlink socket.
    Open(sockdiag::SockDiag),
    /// Not the live system, or netlink failed: the files are read.
    Unavailable,
}

/// Pressure stall figures of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Pressure {
    some: Option<([f32; 3], u64)>,
    full: Option<([f32; 3], u64)>,
}

/// Everything read in one fetch, with buffers kept between fetches.
#[derive(Debug, Default)]
struct Data {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    stat: Stat,
    load: Option<LoadAverage>,
    uptime: Option<(f64, f64)>,
    devs: Vec<Dev>,
    dev_ids: Vec<u32>,
    caps: HashMap<String, u64>,
    netifs: Vec<NetIf>,
    net_ids: Vec<u32>,
    attrs: Vec<IfAttrs>,
    attrs_have: AttrNeed,
    mounts: Vec<Mount>,
    fs_ids: Vec<u32>,
    statfs: Vec<Option<Result<Statfs, PmError>>>,
    statfs_file: Option<Result<Vec<u8>, PmError>>,
    cpuinfo: cpuinfo::CpuInfo,
    nodes: Vec<(u32, Vec<u32>)>,
    pressure: [Pressure; 4],
    /// Small /proc/sys files read in this fetch (several metrics share one).
    sys_files: HashMap<&'static str, Result<String, PmError>>,
    /// uname(2) of this fetch (live only): sysname, nodename, release,
    /// version, machine.
    uts: Option<[String; 5]>,
    interrupts: IrqTable,
    /// Instance id of each interrupt row, and of each row and CPU.
    irq_ids: Vec<u32>,
    irq_cpu_ids: Vec<u32>,
    softirqs: IrqTable,
    soft_ids: Vec<u32>,
    soft_cpu_ids: Vec<u32>,
    softnet: Vec<(u32, [u64; 6])>,
    /// Columns of softnet_stat's last row.
    softnet_cols: usize,
    locks: misc::LockCounts,
    /// Socket counts per state of /proc/net/{tcp,tcp6,udp,udp6}.
    conns: [[u64; 12]; 4],
    key: String,
    addrs: Vec<netaddr::IfAddr>,
    addr_ids: Vec<u32>,
    buddy: Vec<misc::BuddyRow>,
    /// Instance id of each (row, order) of `buddy`, row by row.
    buddy_ids: Vec<u32>,
    /// RPC figures of the NFS client (0) and server (1), and whether each
    /// file was there in this fetch.
    rpc: [rpc::RpcSide; 2],
    rpc_ok: [bool; 2],
    /// nfsd thread figures, `None` when pmdalinux would have none.
    nfsd: Option<rpc::NfsdThreads>,
    /// Serial ports seen in this fetch (instance ids, file order).
    tty_ids: Vec<u32>,
    /// Counters of every serial port ever seen, by instance id: like
    /// pmdalinux's cached entries, a counter the kernel stops printing
    /// (it prints the error counts only when non-zero) keeps its value.
    tty_counts: HashMap<u32, (String, rpc::TtyCounts)>,
    /// Users, root users and records of the utmp file.
    logins: [u64; 3],
    /// ICMP message counts by type (the IcmpMsg lines of /proc/net/snmp).
    icmpmsg: misc::IcmpMsg,
    /// What was wrong with the IcmpMsg lines, when /proc/net/snmp parsed
    /// otherwise: it fails the icmpmsg metrics only.
    icmpmsg_err: Option<String>,
    /// /proc/zoneinfo, with the instance id of each row and protection row.
    zoneinfo: zoneinfo::Zoneinfo,
    zone_ids: Vec<u32>,
    prot_ids: Vec<u32>,
    /// /proc/slabinfo caches and their instance ids.
    slabs: Vec<slabinfo::SlabCache>,
    slab_ids: Vec<u32>,
    /// /proc/swaps areas and their instance ids.
    swaps: Vec<misc::SwapArea>,
    swap_ids: Vec<u32>,
    /// tmpfs mounts (from /proc/mounts), their instance ids and statfs
    /// figures of this fetch.
    tmpfs: Vec<Mount>,
    tmpfs_ids: Vec<u32>,
    tmpfs_statfs: Vec<Option<Result<Statfs, PmError>>>,
    /// Unix domain socket counts.
    unix: misc::UnixCounts,
    /// Raw socket counts: IPv4, IPv6.
    raw: [u64; 2],
    /// Per-node meminfo and numastat figures.
    numa: Vec<numa::NodeMem>,
    /// Tape drives and FC hosts with their figures and instance ids.
    tapes: Vec<tapefc::DevCounts<10>>,
    tape_ids: Vec<u32>,
    fchosts: Vec<tapefc::DevCounts<8>>,
    fchost_ids: Vec<u32>,
    /// Every SCSI device seen since start-up: (instance id, name, block
    /// device). pmdalinux never retires them.
    scsi: Vec<(u32, String, String)>,
    /// WWIDs of this fetch with the indexes (into `devs`) of their
    /// paths, in order of first path, and their instance ids.
    wwids: Option<Vec<(String, Vec<usize>)>>,
    wwid_ids: Vec<u32>,
    /// Frequency scaling samples by CPU, kept until a fetch asks for a
    /// /proc/cpuinfo figure (see [`cpufreq`]).
    freq: HashMap<u32, cpufreq::Sample>,
    /// zram sysfs statistics files read in this fetch, by path: their
    /// numbers, or `None` when unreadable.
    zram_files: HashMap<String, Option<Vec<u64>>>,
    /// System V IPC tables and the instance ids of their objects, and the
    /// read error of each table file (shm, msg, sem) this kernel lacks.
    ipc: ipc::Tables,
    ipc_missing: [Option<PmError>; 3],
    /// IPC owners' user names looked up in this fetch, by user id.
    owners: HashMap<u32, String>,
    shm_ids: Vec<u32>,
    msg_ids: Vec<u32>,
    sem_ids: Vec<u32>,
}

/// Instance id maps of the indoms that pmdalinux caches.
#[derive(Debug)]
struct Maps {
    disk: InstMap,
    part: InstMap,
    dm: InstMap,
    md: InstMap,
    zram: InstMap,
    net: InstMap,
    fs: InstMap,
    irq: InstMap,
    irq_cpu: InstMap,
    softirq: InstMap,
    softirq_cpu: InstMap,
    net_addr: InstMap,
    buddy: InstMap,
    tty: InstMap,
    zone: InstMap,
    zone_prot: InstMap,
    slab: InstMap,
    swapdev: InstMap,
    tmpfs: InstMap,
    shm: InstMap,
    msg: InstMap,
    sem: InstMap,
    tape: InstMap,
    fchost: InstMap,
    scsi: InstMap,
    wwid: InstMap,
}

impl Maps {
    fn for_kind(&mut self, k: DevKind) -> &mut InstMap {
        match k {
            DevKind::Disk => &mut self.disk,
            DevKind::Partition => &mut self.part,
            DevKind::Dm => &mut self.dm,
            DevKind::Md => &mut self.md,
            DevKind::Zram => &mut self.zram,
        }
    }
}

/// The Linux agent. See the crate documentation.
#[derive(Debug)]
pub struct LinuxPmda {
    table: MetricTable,
    kinds: HashMap<Pmid, Kind>,
    root: PathBuf,
    live: bool,
    hz: u64,
    pagesize: u64,
    keyed: [Keyed; NSRC],
    groups: Vec<Vec<usize>>,
    d: Data,
    status: [Option<Result<(), PmError>>; NSRC],
    maps: Maps,
    errors: Vec<LinuxError>,
    /// The live system's TCP counts come over netlink (see [`sockdiag`]);
    /// `Unavailable` once that failed, and the files are read instead.
    tcp_diag: TcpDiag,
    /// Fixed /proc files kept open between fetches (live system only).
    kept: read::KeptFiles,
    /// kernel.uname.distro, found once as pmdalinux does.
    distro: Option<String>,
    /// Interfaces left out of the network.all.* sums (see
    /// [`net::not_counted_pattern`]), read once at start-up as pmdalinux
    /// reads it.
    not_counted: regex::Regex,
}

/// A computed value before conversion to the metric's type.
#[derive(Debug, Clone, PartialEq)]
enum V {
    U(u64),
    F(f64),
    S(String),
}

fn convert(v: V, ty: Type) -> Value {
    // Integer narrowing wraps as pmdalinux's C assignments do.
    match (v, ty) {
        (V::U(n), Type::U32) => Value::U32(n as u32),
        (V::U(n), Type::I32) => Value::I32(n as i32),
        (V::U(n), Type::I64) => Value::I64(n as i64),
        (V::U(n), Type::Float) => Value::Float(n as f32),
        (V::U(n), Type::Double) => Value::Double(n as f64),
        (V::U(n), Type::String) => Value::String(n.to_string()),
        (V::U(n), _) => Value::U64(n),
        (V::F(f), Type::Float) => Value::Float(f as f32),
        (V::F(f), Type::Double) => Value::Double(f),
        (V::F(f), Type::U32) => Value::U32(f as u32),
        (V::F(f), Type::I32) => Value::I32(f as i32),
        (V::F(f), Type::I64) => Value::I64(f as i64),
        (V::F(f), Type::String) => Value::String(f.to_string()),
        (V::F(f), _) => Value::U64(f as u64),
        (V::S(s), _) => Value::String(s),
    }
}

fn sysconf(name: libc::c_int, default: u64) -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as u64
    } else {
        default
    }
}

impl LinuxPmda {
    /// Builds the agent for `config.root`. Fails if the root is not a
    /// directory or the metric table is inconsistent.
    pub fn new(config: LinuxConfig) -> Result<LinuxPmda, LinuxError> {
        let root = config.root;
        if !root.is_dir() {
            return Err(LinuxError::Root(root));
        }
        let mut table = MetricTable::from_rows(DOMAIN, metrics::METRICS)?;
        for (serial, one, help) in indom::INDOM_HELP {
            table.set_indom_text(InDom::from_parts(DOMAIN, *serial), one, help);
        }
        let mut keyed: [Keyed; NSRC] = std::array::from_fn(|_| Keyed::default());
        let mut groups = Vec::new();
        let mut kinds = HashMap::new();
        for row in metrics::METRICS {
            let k = kind::resolve(row.name, row.cluster, &mut keyed, &mut groups)
                .ok_or_else(|| LinuxError::Unmapped(row.name.to_string()))?;
            kinds.insert(Pmid::from_parts(DOMAIN, row.cluster, row.item), k);
        }
        let meminfo = &mut keyed[Src::Meminfo as usize];
        for key in kind::MEMINFO_KEYS {
            meminfo.slot(key);
        }
        let live = fs::is_live(&root);
        let maps = Maps {
            disk: InstMap::seeded(&root, indom::DISK),
            part: InstMap::seeded(&root, indom::PARTITIONS),
            dm: InstMap::seeded(&root, indom::DM),
            md: InstMap::seeded(&root, indom::MD),
            zram: InstMap::seeded(&root, indom::ZRAM),
            net: InstMap::seeded(&root, indom::NET_DEV),
            fs: InstMap::new(),
            irq: InstMap::seeded(&root, indom::INTERRUPTS),
            irq_cpu: InstMap::seeded(&root, indom::INTERRUPT_CPU),
            softirq: InstMap::seeded(&root, indom::SOFTIRQS),
            softirq_cpu: InstMap::seeded(&root, indom::SOFTIRQ_CPU),
            net_addr: InstMap::seeded(&root, indom::NET_ADDR),
            buddy: InstMap::seeded(&root, indom::BUDDYINFO),
            tty: InstMap::new(),
            zone: InstMap::seeded(&root, indom::ZONEINFO),
            zone_prot: InstMap::new(),
            slab: InstMap::seeded(&root, indom::SLAB),
            swapdev: InstMap::new(),
            tmpfs: InstMap::new(),
            shm: InstMap::seeded(&root, indom::IPC_SHM),
            msg: InstMap::seeded(&root, indom::IPC_MSG),
            sem: InstMap::seeded(&root, indom::IPC_SEM),
            tape: InstMap::seeded(&root, indom::TAPE),
            fchost: InstMap::seeded(&root, indom::FCHOST),
            scsi: InstMap::seeded(&root, indom::SCSI),
            wwid: InstMap::seeded(&root, indom::WWID),
        };
        Ok(LinuxPmda {
            table,
            kinds,
            live,
            hz: sysconf(libc::_SC_CLK_TCK, 100),
            pagesize: sysconf(libc::_SC_PAGESIZE, 4096),
            keyed,
            groups,
            d: Data::default(),
            status: [None; NSRC],
            maps,
            errors: Vec::new(),
            tcp_diag: if live {
                TcpDiag::Untried
            } else {
                TcpDiag::Unavailable
            },
            kept: read::KeptFiles::new(live),
            distro: None,
            not_counted: net::not_counted_pattern(
                std::fs::read_to_string(root.join(net::INTERFACES_CONF))
                    .ok()
                    .as_deref(),
            ),
            root,
        })
    }

    /// The root the agent reads under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Format errors met by the most recent fetch (files that did not
    /// parse). Missing files are not errors here: their metrics report
    /// `-errno`.
    pub fn source_errors(&self) -> &[LinuxError] {
        &self.errors
    }

    /// The metric table.
    pub fn table(&self) -> &MetricTable {
        &self.table
    }

    fn format_error(&mut self, src: &str, detail: String) -> PmError {
        let path = self.root.join(src);
        let e = LinuxError::Format { path, detail };
        eprintln!("pmda-linux: {e}");
        self.errors.push(e);
        PmError::VALUE
    }

    fn begin(&mut self) {
        self.status = [None; NSRC];
        self.errors.clear();
        self.d.attrs_have = AttrNeed::default();
        self.d.statfs.clear();
        self.d.statfs_file = None;
        self.d.tmpfs_statfs.clear();
        self.d.zram_files.clear();
        self.d.wwids = None;
        self.d.ipc_missing = [None; 3];
        self.d.owners.clear();
        self.d.sys_files.clear();
        self.d.uts = None;
    }

    /// Makes sure `src` has been read in this fetch; its status.
    fn ensure(&mut self, src: Src) -> Result<(), PmError> {
        if let Some(st) = self.status[src as usize] {
            return st;
        }
        let st = self.load(src);
        self.status[src as usize] = Some(st);
        st
    }

    fn load(&mut self, src: Src) -> Result<(), PmError> {
        let root = self.root.clone();
        let path = src.path();
        if src == Src::Nodes {
            self.load_nodes();
            return Ok(());
        }
        if src == Src::NumaMem {
            self.load_numa();
            return Ok(());
        }
        if src == Src::Tape {
            tapefc::scan_tapes(&root, &mut self.d.tapes);
            let names = self.d.tapes.iter().map(|(n, _)| n);
            self.maps.tape.assign(names, &mut self.d.tape_ids);
            return Ok(());
        }
        if src == Src::Scsi {
            // A device is listed once its block device is known; once
            // listed it stays, as in pmdalinux's cache.
            if let Ok(text) = std::fs::read_to_string(root.join(src.path())) {
                for dev in tapefc::parse_scsi(&text) {
                    if self.d.scsi.iter().any(|(_, n, _)| *n == dev.name) {
                        continue;
                    }
                    if let Some(block) = tapefc::scsi_block(&root, &dev.addr) {
                        let id = self.maps.scsi.id(&dev.name);
                        self.d.scsi.push((id, dev.name, block));
                    }
                }
            }
            return Ok(());
        }
        if src == Src::FcHost {
            tapefc::scan_fchosts(&root, &mut self.d.fchosts);
            let names = self.d.fchosts.iter().map(|(n, _)| n);
            self.maps.fchost.assign(names, &mut self.d.fchost_ids);
            return Ok(());
        }
        if src == Src::NetAddr {
            netaddr::gather(&root, self.live, &mut self.d.scratch, &mut self.d.addrs);
            let names = self.d.addrs.iter().map(|a| &a.name);
            self.maps.net_addr.assign(names, &mut self.d.addr_ids);
            return Ok(());
        }
        if src == Src::Utmp {
            // No utmp file (a container, a host without logins) counts
            // nobody, as pmdalinux's getutent loop does.
            let mut buf = std::mem::take(&mut self.d.buf);
            self.d.logins = match read::read_into(&root, path, &mut buf) {
                Ok(bytes) => misc::count_logins(bytes),
                Err(_) => [0; 3],
            };
            self.d.buf = buf;
            return Ok(());
        }
        if matches!(src, Src::Tcp | Src::Tcp6) && self.load_tcp_diag() {
            return Ok(());
        }
        if matches!(
            src,
            Src::RpcNfs | Src::RpcNfsd | Src::NfsdThreads | Src::Tty
        ) {
            self.load_rpc_tty(src);
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.d.buf);
        let res = match self.kept.read(&root, path, &mut buf) {
            // A kernel without pressure stall information (or without
            // irq pressure) has no values, as pmdalinux reports it.
            Err(e) if src >= Src::PressureCpu && e == PmError::from_errno(libc::ENOENT) => {
                self.d.pressure[src as usize - Src::PressureCpu as usize] = Pressure::default();
                Ok(())
            }
            // No swap support: no swap areas, as pmdalinux reports it.
            Err(e) if src == Src::Swaps && e == PmError::from_errno(libc::ENOENT) => {
                self.d.swaps.clear();
                self.d.swap_ids.clear();
                Ok(())
            }
            // No SysV IPC in this kernel: no objects of that kind.
            Err(e)
                if matches!(src, Src::SysvShm | Src::SysvMsg | Src::SysvSem)
                    && e == PmError::from_errno(libc::ENOENT) =>
            {
                let i = src as usize - Src::SysvShm as usize;
                self.d.ipc_missing[i] = Some(e);
                match src {
                    Src::SysvShm => {
                        self.d.ipc.shm.clear();
                        self.d.shm_ids.clear();
                    }
                    Src::SysvMsg => {
                        self.d.ipc.msg.clear();
                        self.d.msg_ids.clear();
                    }
                    _ => {
                        self.d.ipc.sem.clear();
                        self.d.sem_ids.clear();
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
            Ok(bytes) => self.parse(src, bytes),
        };
        self.d.buf = buf;
        res
    }

    /// Counts the live system's TCP sockets (both families) over netlink;
    /// false when that is unavailable (then the files are read).
    fn load_tcp_diag(&mut self) -> bool {
        if matches!(self.tcp_diag, TcpDiag::Untried) {
            self.tcp_diag = match sockdiag::SockDiag::open() {
                Ok(s) => TcpDiag::Open(s),
                Err(e) => {
                    eprintln!(
                        "pmda-linux: sock_diag netlink unavailable ({e}); reading /proc/net/tcp"
                    );
                    TcpDiag::Unavailable
                }
            };
        }
        let TcpDiag::Open(diag) = &mut self.tcp_diag else {
            return false;
        };
        match diag.tcp_states() {
            Ok([v4, v6]) => {
                self.d.conns[conn_index(Src::Tcp)] = v4;
                self.d.conns[conn_index(Src::Tcp6)] = v6;
                self.status[Src::Tcp as usize] = Some(Ok(()));
                self.status[Src::Tcp6 as usize] = Some(Ok(()));
                true
            }
            Err(e) => {
                eprintln!(
                    "pmda-linux: sock_diag dump failed ({e}); reading /proc/net/tcp from now on"
                );
                self.tcp_diag = TcpDiag::Unavailable;
                false
            }
        }
    }

    fn parse(&mut self, src: Src, bytes: &[u8]) -> Result<(), PmError> {
        let path = src.path();
        let fail = |me: &mut LinuxPmda, detail: String| Err(me.format_error(path, detail));
        match src {
            Src::Stat => {
                if let Err(e) = self.d.stat.parse(bytes) {
                    return fail(self, e.0);
                }
            }
            Src::Meminfo => {
                if let Err(e) = self.keyed[src as usize].parse_colon(bytes) {
                    return fail(self, e.0);
                }
            }
            Src::Vmstat | Src::Snmp6 => {
                if let Err(e) = self.keyed[src as usize].parse_space(bytes) {
                    return fail(self, e.0);
                }
            }
            Src::Snmp | Src::Netstat => {
                if let Err(e) = self.keyed[src as usize].parse_header_pairs(bytes, true) {
                    return fail(self, e.0);
                }
                if src == Src::Snmp {
                    self.d.icmpmsg_err = misc::parse_icmpmsg(bytes, &mut self.d.icmpmsg)
                        .err()
                        .map(|e| e.0);
                }
            }
            Src::Sockstat | Src::Sockstat6 => {
                if let Err(e) = self.keyed[src as usize].parse_sockstat(bytes, true) {
                    return fail(self, e.0);
                }
            }
            Src::Loadavg => match LoadAverage::from_read(bytes) {
                Ok(l) => self.d.load = Some(l),
                Err(e) => return fail(self, e.to_string()),
            },
            Src::Uptime => match Uptime::from_read(bytes) {
                Ok(u) => self.d.uptime = Some((u.uptime, u.idle)),
                Err(e) => return fail(self, e.to_string()),
            },
            Src::Diskstats => {
                let mut scratch = std::mem::take(&mut self.d.scratch);
                let r = disk::parse_diskstats(&self.root, bytes, &mut self.d.devs, &mut scratch);
                self.d.scratch = scratch;
                if let Err(e) = r {
                    return fail(self, e.0);
                }
                self.d.dev_ids.clear();
                for dev in &self.d.devs {
                    let id = self.maps.for_kind(dev.kind).id(&dev.name);
                    self.d.dev_ids.push(id);
                }
            }
            Src::Partitions => disk::parse_partitions(bytes, &mut self.d.caps),
            Src::NetDev => {
                if let Err(e) = net::parse_net_dev(bytes, &mut self.d.netifs) {
                    return fail(self, e.0);
                }
                let names = self.d.netifs.iter().map(|n| &n.name);
                self.maps.net.assign(names, &mut self.d.net_ids);
            }
            Src::Mounts => {
                if let Err(e) = fs::parse_mounts(bytes, self.live, &mut self.d.mounts) {
                    return fail(self, e);
                }
                let names = self.d.mounts.iter().map(|m| &m.device);
                self.maps.fs.assign(names, &mut self.d.fs_ids);
                fs::parse_tmpfs(bytes, self.live, &mut self.d.tmpfs);
                let names = self.d.tmpfs.iter().map(|m| &m.device);
                self.maps.tmpfs.assign(names, &mut self.d.tmpfs_ids);
            }
            Src::Cpuinfo => {
                self.d.cpuinfo.parse(bytes);
            }
            Src::PressureCpu | Src::PressureMem | Src::PressureIo | Src::PressureIrq => {
                let i = src as usize - Src::PressureCpu as usize;
                match parse_pressure(bytes) {
                    Some(p) => self.d.pressure[i] = p,
                    None => {
                        return fail(self, "not some/full avg10/avg60/avg300/total lines".into())
                    }
                }
            }
            Src::Interrupts | Src::Softirqs => {
                let soft = src == Src::Softirqs;
                let (table, map, cpu_map, ids, cpu_ids) = if soft {
                    (
                        &mut self.d.softirqs,
                        &mut self.maps.softirq,
                        &mut self.maps.softirq_cpu,
                        &mut self.d.soft_ids,
                        &mut self.d.soft_cpu_ids,
                    )
                } else {
                    (
                        &mut self.d.interrupts,
                        &mut self.maps.irq,
                        &mut self.maps.irq_cpu,
                        &mut self.d.irq_ids,
                        &mut self.d.irq_cpu_ids,
                    )
                };
                if let Err(e) = table.parse(bytes) {
                    return fail(self, e.0);
                }
                ids.clear();
                cpu_ids.clear();
                let key = &mut self.d.key;
                for row in &table.rows {
                    ids.push(map.id(&row.name));
                    for cpu in &table.cpus {
                        key.clear();
                        use std::fmt::Write as _;
                        let _ = write!(key, "{}::cpu{cpu}", row.name);
                        cpu_ids.push(cpu_map.id(key));
                    }
                }
            }
            Src::Softnet => match misc::parse_softnet(bytes, &mut self.d.softnet) {
                Ok(n) => self.d.softnet_cols = n,
                Err(e) => return fail(self, e.0),
            },
            Src::Locks => match misc::parse_locks(bytes) {
                Ok(c) => self.d.locks = c,
                Err(e) => return fail(self, e.0),
            },
            Src::Tcp | Src::Tcp6 | Src::Udp | Src::Udp6 => match misc::parse_sockets(bytes) {
                Ok(c) => self.d.conns[conn_index(src)] = c,
                Err(e) => return fail(self, e.0),
            },
            Src::Buddyinfo => {
                if let Err(e) = misc::parse_buddyinfo(bytes, &mut self.d.buddy) {
                    return fail(self, e.0);
                }
                self.d.buddy_ids.clear();
                let key = &mut self.d.key;
                for r in &self.d.buddy {
                    for order in 0..r.free.len() {
                        key.clear();
                        use std::fmt::Write as _;
                        let _ = write!(key, "{}::order{order}::node{}", r.zone, r.node);
                        self.d.buddy_ids.push(self.maps.buddy.id(key));
                    }
                }
            }
            Src::Zoneinfo => {
                if let Err(e) = self.d.zoneinfo.parse(bytes) {
                    return fail(self, e.0);
                }
                let names = self.d.zoneinfo.rows.iter().map(|r| &r.name);
                self.maps.zone.assign(names, &mut self.d.zone_ids);
                let names = self.d.zoneinfo.prot.iter().map(|r| &r.name);
                self.maps.zone_prot.assign(names, &mut self.d.prot_ids);
            }
            Src::Slabinfo => {
                if let Err(e) = slabinfo::parse(bytes, &mut self.d.slabs) {
                    return fail(self, e.0);
                }
                let names = self.d.slabs.iter().map(|c| &c.name);
                self.maps.slab.assign(names, &mut self.d.slab_ids);
            }
            Src::Swaps => {
                if let Err(e) = misc::parse_swaps(bytes, &mut self.d.swaps) {
                    return fail(self, e.0);
                }
                let names = self.d.swaps.iter().map(|a| &a.path);
                self.maps.swapdev.assign(names, &mut self.d.swap_ids);
            }
            Src::SysvShm => {
                if let Err(e) = ipc::parse_shm(bytes, &mut self.d.ipc.shm) {
                    return fail(self, e.0);
                }
                let names = self.d.ipc.shm.iter().map(|o| o.c.id.to_string());
                self.maps.shm.assign(names, &mut self.d.shm_ids);
            }
            Src::SysvMsg => {
                if let Err(e) = ipc::parse_msg(bytes, &mut self.d.ipc.msg) {
                    return fail(self, e.0);
                }
                let names = self.d.ipc.msg.iter().map(|o| o.c.id.to_string());
                self.maps.msg.assign(names, &mut self.d.msg_ids);
            }
            Src::SysvSem => {
                if let Err(e) = ipc::parse_sem(bytes, &mut self.d.ipc.sem) {
                    return fail(self, e.0);
                }
                let names = self.d.ipc.sem.iter().map(|o| o.c.id.to_string());
                self.maps.sem.assign(names, &mut self.d.sem_ids);
            }
            Src::NetUnix => self.d.unix = misc::count_unix(bytes),
            Src::Raw => self.d.raw[0] = misc::count_raw(bytes),
            Src::Raw6 => self.d.raw[1] = misc::count_raw(bytes),
            Src::Nodes
            | Src::NumaMem
            | Src::Tape
            | Src::FcHost
            | Src::Scsi
            | Src::NetAddr
            | Src::RpcNfs
            | Src::RpcNfsd
            | Src::NfsdThreads
            | Src::Tty
            | Src::Utmp => {}
        }
        Ok(())
    }

    /// The NFS, RPC and serial sources. None of them fails: pmdalinux
    /// reports a missing file (no NFS, no nfsd, no serial driver) as "no
    /// values", and parses whatever numbers it finds.
    fn load_rpc_tty(&mut self, src: Src) {
        let root = self.root.clone();
        let mut buf = std::mem::take(&mut self.d.buf);
        match src {
            Src::RpcNfs | Src::RpcNfsd => {
                let i = (src == Src::RpcNfsd) as usize;
                let ok = match read::read_into(&root, src.path(), &mut buf) {
                    Ok(bytes) => {
                        if i == 0 {
                            rpc::parse_client(bytes, &mut self.d.rpc[0]);
                        } else {
                            rpc::parse_server(bytes, &mut self.d.rpc[1]);
                        }
                        true
                    }
                    Err(_) => {
                        // The read-ahead figures read as zero without a
                        // server, as pmdalinux's zeroed structure gives them.
                        if i == 1 {
                            rpc::parse_server(b"", &mut self.d.rpc[1]);
                        }
                        false
                    }
                };
                self.d.rpc_ok[i] = ok;
            }
            Src::NfsdThreads => {
                self.d.nfsd = match read::read_into(&root, src.path(), &mut buf)
                    .ok()
                    .and_then(rpc::parse_pool_threads)
                {
                    None => None,
                    Some(n) => {
                        let mut t = rpc::NfsdThreads {
                            threads: n as u64,
                            ..Default::default()
                        };
                        // Pool figures exist only while nfsd runs.
                        if n > 0 {
                            match read::read_into(&root, "proc/fs/nfsd/pool_stats", &mut buf) {
                                Ok(bytes) => rpc::parse_pool_stats(bytes, &mut t),
                                Err(_) => t.pools = 0,
                            }
                        }
                        (n <= 0 || t.pools > 0).then_some(t)
                    }
                };
            }
            _ => {
                self.d.tty_ids.clear();
                if let Ok(bytes) = read::read_into(&root, src.path(), &mut buf) {
                    let text = String::from_utf8_lossy(bytes);
                    for line in text.lines() {
                        let mut counts = rpc::TtyCounts::default();
                        let Some(port) = line.split_once(':').map(|(p, _)| p) else {
                            continue;
                        };
                        let known = self.maps.tty.peek(port);
                        if let Some(id) = known {
                            if let Some((_, c)) = self.d.tty_counts.get(&id) {
                                counts = *c;
                            }
                        }
                        let Some(name) = rpc::parse_tty_line(line, &mut counts) else {
                            continue;
                        };
                        let id = self.maps.tty.id(&name);
                        self.d.tty_counts.insert(id, (name, counts));
                        if !self.d.tty_ids.contains(&id) {
                            self.d.tty_ids.push(id);
                        }
                    }
                }
            }
        }
        self.d.buf = buf;
    }

    fn load_nodes(&mut self) {
        self.d.nodes.clear();
        let dir = self.root.join(Src::Nodes.path());
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(n) = name
                    .strip_prefix("node")
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let list = read::read_attr(&e.path().join("cpulist"), &mut self.d.scratch)
                    .unwrap_or_default();
                self.d.nodes.push((n, indom::parse_cpulist(&list)));
            }
        }
        self.d.nodes.sort_by_key(|(n, _)| *n);
        if self.d.nodes.is_empty() {
            // No NUMA information: pmdalinux reports one node with every CPU.
            let cpus = self.d.stat.cpus.iter().map(|(n, _)| *n).collect();
            self.d.nodes.push((0, cpus));
        }
    }

    /// Reads each node's meminfo and numastat. A node whose files are
    /// missing has no values for them, as pmdalinux reports it.
    fn load_numa(&mut self) {
        let mut out = std::mem::take(&mut self.d.numa);
        out.clear();
        let mut buf = std::mem::take(&mut self.d.buf);
        for (node, _) in &self.d.nodes {
            let mut n = numa::NodeMem {
                node: *node,
                ..Default::default()
            };
            let dir = format!("{}/node{node}", Src::NumaMem.path());
            if let Ok(b) = read::read_into(&self.root, &format!("{dir}/meminfo"), &mut buf) {
                numa::scan(b, &numa::MEMINFO_KEYS, &mut n.meminfo);
            }
            if let Ok(b) = read::read_into(&self.root, &format!("{dir}/numastat"), &mut buf) {
                numa::scan(b, &numa::NUMASTAT_KEYS, &mut n.numastat);
            }
            out.push(n);
        }
        self.d.buf = buf;
        self.d.numa = out;
    }

    /// The online flag of a CPU or node: 1 unless its sysfs `online` file
    /// says otherwise (CPU 0 and single nodes usually have none).
    fn online(&mut self, node: bool, n: u32) -> u64 {
        let rel = if node {
            format!("sys/devices/system/node/node{n}/online")
        } else {
            format!("sys/devices/system/cpu/cpu{n}/online")
        };
        match read::read_into(&self.root, &rel, &mut self.d.scratch) {
            Ok(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
                .map_or(1, u64::from),
            Err(_) => 1,
        }
    }

    fn node_of(&self, cpu: u32) -> u32 {
        self.d
            .nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(&cpu))
            .map_or(0, |(n, _)| *n)
    }

    fn need_attrs(&mut self, f: NetF) {
        let mut want = self.d.attrs_have;
        match f {
            NetF::Mtu => want.mtu = true,
            NetF::Speed | NetF::Baudrate => want.speed = true,
            NetF::Duplex => want.duplex = true,
            NetF::Up | NetF::Running => want.flags = true,
            NetF::Type => want.ty = true,
            NetF::Wireless | NetF::Virtual => want.kind = true,
            NetF::Col(_) | NetF::Sum(..) => return,
        }
        let have = self.d.attrs_have;
        let missing = AttrNeed {
            mtu: want.mtu && !have.mtu,
            speed: want.speed && !have.speed,
            duplex: want.duplex && !have.duplex,
            flags: want.flags && !have.flags,
            ty: want.ty && !have.ty,
            kind: want.kind && !have.kind,
        };
        if !missing.any() {
            return;
        }
        self.d.attrs.resize(self.d.netifs.len(), IfAttrs::default());
        for (i, n) in self.d.netifs.iter().enumerate() {
            let a = net::read_attrs(&self.root, &n.name, missing, &mut self.d.scratch);
            let t = &mut self.d.attrs[i];
            if missing.mtu {
                t.mtu = a.mtu;
            }
            if missing.speed {
                t.speed = a.speed;
            }
            if missing.duplex {
                t.duplex = a.duplex;
            }
            if missing.flags {
                t.up = a.up;
                t.running = a.running;
            }
            if missing.ty {
                t.ty = a.ty;
            }
            if missing.kind {
                t.wireless = a.wireless;
                t.virt = a.virt;
            }
        }
        self.d.attrs_have = want;
    }

    fn statfs(&mut self, i: usize) -> Result<Statfs, PmError> {
        self.statfs_of(false, i)
    }

    /// statfs figures of mount `i` of the filesystems (or of the tmpfs
    /// mounts), once per fetch.
    fn statfs_of(&mut self, tmpfs: bool, i: usize) -> Result<Statfs, PmError> {
        let (mounts, cache) = if tmpfs {
            (&self.d.tmpfs, &mut self.d.tmpfs_statfs)
        } else {
            (&self.d.mounts, &mut self.d.statfs)
        };
        if cache.len() < mounts.len() {
            cache.resize(mounts.len(), None);
        }
        if let Some(r) = cache[i] {
            return r;
        }
        let dir = mounts[i].dir.clone();
        let r = if self.live {
            fs::statfs_live(&fs::unescaped(&dir))
        } else {
            if self.d.statfs_file.is_none() {
                let mut b = Vec::new();
                let r = read::read_into(&self.root, "statfs", &mut b).map(<[u8]>::to_vec);
                self.d.statfs_file = Some(r);
            }
            match &self.d.statfs_file {
                Some(Ok(b)) => fs::statfs_fixture(b, &dir),
                Some(Err(e)) => Err(*e),
                None => Err(PmError::VALUE),
            }
        };
        if tmpfs {
            self.d.tmpfs_statfs[i] = Some(r);
        } else {
            self.d.statfs[i] = Some(r);
        }
        r
    }

    fn cpu_ms(&self, t: &stat::CpuTicks, s: CpuState) -> u64 {
        use stat::*;
        let ticks = match s {
            CpuState::User => t[USER],
            CpuState::Nice => t[NICE],
            CpuState::Sys => t[SYSTEM],
            CpuState::Idle => t[IDLE],
            CpuState::Wait => t[IOWAIT],
            CpuState::Intr => t[IRQ] + t[SOFTIRQ],
            CpuState::Soft => t[SOFTIRQ],
            CpuState::Hard => t[IRQ],
            CpuState::Steal => t[STEAL],
            CpuState::Guest => t[GUEST],
            CpuState::GuestNice => t[GUEST_NICE],
            CpuState::VUser => t[USER].saturating_sub(t[GUEST]),
            CpuState::VNice => t[NICE].saturating_sub(t[GUEST_NICE]),
        };
        stat::ticks_to_ms(ticks, self.hz)
    }

    fn keyed_value(&self, src: Src, slot: usize, d: Derive) -> Option<u64> {
        let k = &self.keyed[src as usize];
        let sum = |slots: &[usize]| -> Option<u64> {
            let mut any = false;
            let mut total = 0u64;
            for &s in slots {
                if let Some(v) = k.get(s) {
                    any = true;
                    total = total.wrapping_add(v);
                }
            }
            any.then_some(total)
        };
        match d {
            Derive::None => k.get(slot),
            Derive::Fallback(other) => k.get(slot).or_else(|| k.get(other)),
            Derive::OrZero => Some(k.get(slot).unwrap_or(0)),
            Derive::SumIfMissing(a, b) => k.get(slot).or_else(|| sum(&[a, b])),
            Derive::Total(g) => Some(self.groups.get(g).and_then(|s| sum(s)).unwrap_or(0)),
        }
    }

    /// Computes one metric.
    /// One metric's answer; `root_client` says whether the asking client
    /// may see the root-only figures (others get them with no values, and
    /// their files are not read).
    fn value(&mut self, pmid: Pmid, root_client: bool) -> MetricResult {
        let Some(&kind) = self.kinds.get(&pmid) else {
            return Err(PmError::PMID);
        };
        if kind.needs_root() && !root_client {
            return Ok(Vec::new());
        }
        let ty = self.table.desc(pmid)?.ty;
        let mut srcs = [false; NSRC];
        kind.sources(&mut srcs);
        // Sources are ordered so that /proc/stat loads before the node
        // map, which falls back to it.
        for (i, needed) in srcs.iter().enumerate() {
            if *needed {
                self.ensure(SRC_ORDER[i])?;
            }
        }
        let one = |v: V| Ok(vec![(PM_IN_NULL, convert(v, ty))]);
        let opt = |v: Option<V>| {
            Ok(v.map(|v| vec![(PM_IN_NULL, convert(v, ty))])
                .unwrap_or_default())
        };
        let d = &self.d;
        match kind {
            Kind::Cpu(CpuScope::All, s) => one(V::U(self.cpu_ms(&d.stat.all, s))),
            Kind::Cpu(CpuScope::PerCpu, s) => Ok(d
                .stat
                .cpus
                .iter()
                .map(|(n, t)| (*n, convert(V::U(self.cpu_ms(t, s)), ty)))
                .collect()),
            // A CPU that no node lists counts in node 0, as
            // hinv.map.cpu_node reports it.
            Kind::Cpu(CpuScope::PerNode, s) => Ok(d
                .nodes
                .iter()
                .map(|(node, _)| {
                    let total = d
                        .stat
                        .cpus
                        .iter()
                        .filter(|(n, _)| self.node_of(*n) == *node)
                        .map(|(_, t)| self.cpu_ms(t, s))
                        .sum();
                    (*node, convert(V::U(total), ty))
                })
                .collect()),
            Kind::Intr => opt(d.stat.intr.map(V::U)),
            Kind::Pswitch => opt(d.stat.ctxt.map(V::U)),
            Kind::Sysfork => opt(d.stat.processes.map(V::U)),
            Kind::Running => opt(d.stat.running.map(V::U)),
            Kind::Blocked => opt(d.stat.blocked.map(V::U)),
            Kind::Boottime => opt(d.stat.btime.map(V::U)),
            Kind::Hz => one(V::U(self.hz)),
            Kind::Ncpu => one(V::U(d.stat.cpus.len() as u64)),
            Kind::Nnode => one(V::U(d.nodes.len() as u64)),
            Kind::Ndisk => one(V::U(
                d.devs.iter().filter(|x| x.kind == DevKind::Disk).count() as u64,
            )),
            Kind::OldKernel => Err(PmError::APPVERSION),
            Kind::Disk(DiskScope::Per(DevKind::Zram), DField::Capacity) => {
                Ok(self.zram_capacity(ty))
            }
            Kind::Disk(scope, f) => Ok(self.disk_values(scope, f, ty)),
            Kind::DevKname(k) => Ok(d
                .devs
                .iter()
                .zip(&d.dev_ids)
                .filter(|(x, _)| x.kind == k)
                .map(|(x, id)| (*id, Value::String(x.kname.clone())))
                .collect()),
            Kind::Scheduler | Kind::ScsiId => {
                let mut out = Vec::new();
                let mut scratch = std::mem::take(&mut self.d.scratch);
                for (x, id) in self.d.devs.iter().zip(&self.d.dev_ids) {
                    if x.kind != DevKind::Disk {
                        continue;
                    }
                    let s = if kind == Kind::Scheduler {
                        disk::scheduler(&self.root, &x.kname, &mut scratch)
                    } else {
                        disk::scsi_id(&self.root, &x.kname, &mut scratch)
                    };
                    out.push((*id, Value::String(s)));
                }
                self.d.scratch = scratch;
                Ok(out)
            }
            Kind::Mem(f) => opt(self.mem_value(f)),
            Kind::Load => {
                let l = d.load.as_ref().ok_or(PmError::VALUE)?;
                Ok(vec![
                    (1, convert(V::F(l.one as f64), ty)),
                    (5, convert(V::F(l.five as f64), ty)),
                    (15, convert(V::F(l.fifteen as f64), ty)),
                ])
            }
            Kind::LastPid => opt(d.load.as_ref().map(|l| V::U(l.latest_pid as u64))),
            Kind::Runnable => opt(d.load.as_ref().map(|l| V::U(l.cur as u64))),
            Kind::Nprocs => opt(d.load.as_ref().map(|l| V::U(l.max as u64))),
            Kind::Net(f) => {
                self.need_attrs(f);
                let d = &self.d;
                let mut out = Vec::with_capacity(d.netifs.len());
                for (i, (n, id)) in d.netifs.iter().zip(&d.net_ids).enumerate() {
                    let a = d.attrs.get(i);
                    if let Some(v) = net_value(f, n, a) {
                        out.push((*id, convert(v, ty)));
                    }
                }
                Ok(out)
            }
            Kind::NetAll(f) => {
                let mut total = 0u64;
                for n in &d.netifs {
                    if self.not_counted.is_match(&n.name) {
                        continue;
                    }
                    if let Some(V::U(v)) = net_value(f, n, None) {
                        total = total.wrapping_add(v);
                    }
                }
                one(V::U(total))
            }
            Kind::Ninterface => one(V::U(d.netifs.len() as u64)),
            Kind::Nfilesys => one(V::U(d.mounts.len() as u64)),
            Kind::Fs(f) => {
                let mut out = Vec::with_capacity(self.d.mounts.len());
                for i in 0..self.d.mounts.len() {
                    let id = self.d.fs_ids[i];
                    if f == FsF::MountDir {
                        out.push((id, Value::String(self.d.mounts[i].dir.clone())));
                        continue;
                    }
                    let s = match self.statfs(i) {
                        Ok(s) => s,
                        // One mount failing (stale NFS, fixture without
                        // figures) fails the metric only if it is the only
                        // one; otherwise that instance is left out.
                        Err(e) if self.d.mounts.len() == 1 => return Err(e),
                        Err(_) => continue,
                    };
                    let v = match f {
                        FsF::Capacity => V::U(s.capacity()),
                        FsF::Used => V::U(s.used()),
                        FsF::Free => V::U(s.free()),
                        FsF::Avail => V::U(s.avail()),
                        FsF::MaxFiles => V::U(s.files),
                        FsF::UsedFiles => V::U(s.files.saturating_sub(s.ffree)),
                        FsF::FreeFiles => V::U(s.ffree),
                        FsF::Full => V::F(s.full()),
                        FsF::BlockSize => V::U(s.bsize),
                        FsF::ReadOnly => V::U((s.flags & libc::ST_RDONLY != 0) as u64),
                        FsF::MountDir => continue,
                    };
                    out.push((id, convert(v, ty)));
                }
                Ok(out)
            }
            Kind::Tmpfs(f) => {
                let mut out = Vec::with_capacity(self.d.tmpfs.len());
                for i in 0..self.d.tmpfs.len() {
                    let id = self.d.tmpfs_ids[i];
                    let s = match self.statfs_of(true, i) {
                        Ok(s) => s,
                        // As for filesystems: one mount failing leaves
                        // that instance out.
                        Err(e) if self.d.tmpfs.len() == 1 => return Err(e),
                        Err(_) => continue,
                    };
                    let v = match f {
                        FsF::Capacity => V::U(s.capacity()),
                        FsF::Used => V::U(s.used()),
                        FsF::Free => V::U(s.free()),
                        FsF::MaxFiles => V::U(s.files),
                        FsF::UsedFiles => V::U(s.files.saturating_sub(s.ffree)),
                        FsF::FreeFiles => V::U(s.ffree),
                        FsF::Full => V::F(s.full()),
                        _ => continue,
                    };
                    out.push((id, convert(v, ty)));
                }
                Ok(out)
            }
            Kind::Swapdev(item) => Ok(d
                .swaps
                .iter()
                .zip(&d.swap_ids)
                .map(|(a, id)| {
                    let v = match item {
                        0 => V::U(a.size.wrapping_sub(a.used) as u64),
                        1 | 2 => V::U(a.size as u64),
                        3 => V::U(0),
                        _ => V::U(a.priority as i64 as u64),
                    };
                    (*id, convert(v, ty))
                })
                .collect()),
            Kind::Online(node) => {
                let ns: Vec<u32> = if node {
                    d.nodes.iter().map(|(n, _)| *n).collect()
                } else {
                    d.stat.cpus.iter().map(|(n, _)| *n).collect()
                };
                Ok(ns
                    .into_iter()
                    .map(|n| (n, convert(V::U(self.online(node, n)), ty)))
                    .collect())
            }
            Kind::Thermal(i) => {
                let file = [
                    "core_throttle_count",
                    "core_throttle_total_time_ms",
                    "package_throttle_count",
                    "package_throttle_total_time_ms",
                ][usize::from(i).min(3)];
                let cpus: Vec<u32> = d.stat.cpus.iter().map(|(n, _)| *n).collect();
                let mut out = Vec::with_capacity(cpus.len());
                for n in cpus {
                    // A CPU without thermal throttle reporting reads zero,
                    // as pmdalinux reports it.
                    let rel = format!("sys/devices/system/cpu/cpu{n}/thermal_throttle/{file}");
                    let v = read::read_into(&self.root, &rel, &mut self.d.scratch)
                        .ok()
                        .and_then(|b| read::parse_u64_wrapping(read::fields(b).next()?))
                        .unwrap_or(0);
                    out.push((n, convert(V::U(v), ty)));
                }
                Ok(out)
            }
            Kind::Freq(i) => {
                let cpus: Vec<u32> = d.stat.cpus.iter().map(|(n, _)| *n).collect();
                let mut out = Vec::with_capacity(cpus.len());
                for n in cpus {
                    let s = match self.d.freq.get(&n) {
                        Some(s) => *s,
                        None => {
                            let s = cpufreq::sample(&self.root, n);
                            self.d.freq.insert(n, s);
                            s
                        }
                    };
                    if let Some(v) = s.get(i) {
                        out.push((n, convert(V::U(v), ty)));
                    }
                }
                Ok(out)
            }
            Kind::Bandwidth => {
                // An administrator's file; none, no values.
                let Ok(text) = std::fs::read_to_string(self.root.join(numa::BANDWIDTH_CONF)) else {
                    return Ok(Vec::new());
                };
                let nodes: Vec<u32> = d.nodes.iter().map(|(n, _)| *n).collect();
                Ok(numa::parse_bandwidth(&text, &nodes)
                    .into_iter()
                    .map(|(n, v)| (n, convert(V::F(v), ty)))
                    .collect())
            }
            Kind::Extfrag => {
                // debugfs, usually mounted only by hand: no file, no values.
                let rel = "sys/kernel/debug/extfrag/unusable_index";
                let Ok(text) = std::fs::read_to_string(self.root.join(rel)) else {
                    return Ok(Vec::new());
                };
                let nodes: Vec<u32> = d.nodes.iter().map(|(n, _)| *n).collect();
                Ok(numa::extfrag_normal(&text)
                    .into_iter()
                    .filter(|(n, _)| nodes.contains(n))
                    .map(|(n, v)| (n, convert(V::F(v), ty)))
                    .collect())
            }
            Kind::PmdaVersion => one(V::S(PCP_VERSION.to_string())),
            Kind::Unix(i) => one(V::U(d.unix[i.min(3)])),
            Kind::RawCount(s) => one(V::U(d.raw[(s == Src::Raw6) as usize])),
            Kind::NoValues => Ok(Vec::new()),
            Kind::Const(v) => one(V::U(v)),
            Kind::NTape => one(V::U(d.tapes.len() as u64)),
            Kind::ScsiMap => Ok(d
                .scsi
                .iter()
                .map(|(id, _, dev)| (*id, Value::String(dev.clone())))
                .collect()),
            Kind::NFcHost => one(V::U(d.fchosts.len() as u64)),
            Kind::Tape(i) => Ok(d
                .tapes
                .iter()
                .zip(&d.tape_ids)
                .map(|((_, c), id)| (*id, convert(V::U(c[usize::from(i).min(9)]), ty)))
                .collect()),
            Kind::FcHost(i) => Ok(d
                .fchosts
                .iter()
                .zip(&d.fchost_ids)
                .map(|((_, c), id)| (*id, convert(V::U(c[usize::from(i).min(7)]), ty)))
                .collect()),
            Kind::Ipc(f) => {
                if matches!(f, IpcF::Shm(1) | IpcF::Msg(1) | IpcF::Sem(1)) {
                    self.lookup_owners(f);
                }
                self.ipc_values(f, ty)
            }
            Kind::ZramStat(file, col) => Ok(self.zram_values(file, col, ty)),
            Kind::Wwid(_) | Kind::WwidScheduler | Kind::WwidPaths => Ok(self.wwid_values(kind, ty)),
            Kind::MdStatus => Ok(self.md_status(ty)),
            Kind::Numa(f) => {
                let huge = match f {
                    NumaF::HugeBytes(_) => {
                        let k = &self.keyed[Src::Meminfo as usize];
                        let slot = kind::MEMINFO_KEYS.iter().position(|x| *x == "hugepagesize");
                        match slot.and_then(|s| k.get(s)) {
                            Some(kb) => kb.saturating_mul(1024),
                            None => return Ok(Vec::new()),
                        }
                    }
                    _ => 0,
                };
                Ok(d.numa
                    .iter()
                    .filter_map(|n| {
                        let v = match f {
                            NumaF::Mem(i) => (*n.meminfo.get(i)?)?,
                            NumaF::HugeBytes(i) => (*n.meminfo.get(i)?)?.wrapping_mul(huge),
                            NumaF::Stat(i) => (*n.numastat.get(i)?)?,
                        };
                        Some((n.node, convert(V::U(v), ty)))
                    })
                    .collect())
            }
            Kind::Key(src, slot, der) => opt(self.keyed_value(src, slot, der).map(V::U)),
            Kind::CpuInfo(f) => Ok(d
                .stat
                .cpus
                .iter()
                .filter_map(|(n, _)| {
                    let v = match d.cpuinfo.value(*n, f)? {
                        cpuinfo::CpuValue::Str(s) => V::S(s.to_string()),
                        cpuinfo::CpuValue::U32(x) => V::U(u64::from(x)),
                        cpuinfo::CpuValue::F32(x) => V::F(f64::from(x)),
                    };
                    Some((*n, convert(v, ty)))
                })
                .collect()),
            Kind::CpuNum => Ok(d
                .stat
                .cpus
                .iter()
                .map(|(n, _)| (*n, convert(V::U(u64::from(*n)), ty)))
                .collect()),
            Kind::CpuNode => Ok(d
                .stat
                .cpus
                .iter()
                .map(|(n, _)| (*n, convert(V::U(u64::from(self.node_of(*n))), ty)))
                .collect()),
            Kind::Machine => opt(self.machine().map(V::S)),
            Kind::Uptime => opt(d.uptime.map(|u| V::F(u.0))),
            Kind::IdleTime => opt(d.uptime.map(|u| V::F(u.1))),
            Kind::SysKernel(file) => one(V::S(self.uname_part(file)?)),
            Kind::Distro => {
                let name = self.distro.get_or_insert_with(|| distro(&self.root));
                one(V::S(name.clone()))
            }
            Kind::SysNumOpt(file) => match self.sys_file(file) {
                Err(e) if e == PmError::from_errno(libc::ENOENT) => Ok(Vec::new()),
                Err(e) => Err(e),
                Ok(s) => {
                    let field = s.split_whitespace().next().ok_or(PmError::VALUE)?;
                    let v = read::parse_u64_wrapping(field.as_bytes()).ok_or(PmError::VALUE)?;
                    one(V::U(v))
                }
            },
            Kind::SysNumOr(file, default) => {
                let v = self.sys_file(file).ok().and_then(|s| {
                    let field = s.split_whitespace().next()?;
                    read::parse_u64_wrapping(field.as_bytes())
                });
                one(V::U(v.unwrap_or(default)))
            }
            Kind::SysNum(file, idx) => {
                let s = self.sys_file(file)?;
                let field = s.split_whitespace().nth(idx).ok_or(PmError::VALUE)?;
                let v = read::parse_u64_wrapping(field.as_bytes()).ok_or(PmError::VALUE)?;
                one(V::U(v))
            }
            Kind::Irq(f) | Kind::Softirq(f) => {
                let (t, ids, cpu_ids) = if matches!(kind, Kind::Softirq(_)) {
                    (&d.softirqs, &d.soft_ids, &d.soft_cpu_ids)
                } else {
                    (&d.interrupts, &d.irq_ids, &d.irq_cpu_ids)
                };
                let single = |v: Option<u64>| {
                    v.map(|v| vec![(PM_IN_NULL, convert(V::U(v), ty))])
                        .unwrap_or_default()
                };
                Ok(match f {
                    // 0 without the rows (s390 has none), as pmdalinux says.
                    IrqF::Errors => single(Some(t.errors.unwrap_or(0))),
                    IrqF::Missed => single(Some(t.missed.unwrap_or(0))),
                    IrqF::Total => t
                        .rows
                        .iter()
                        .zip(ids)
                        .map(|(r, id)| (*id, convert(V::U(r.total()), ty)))
                        .collect(),
                    IrqF::PerCpu => per_cpu_values(t, cpu_ids, ty),
                    IrqF::CpuSum => t
                        .cpus
                        .iter()
                        .enumerate()
                        .map(|(c, cpu)| {
                            let sum = t.rows.iter().fold(0u64, |a, r| {
                                a.wrapping_add(r.counts.get(c).copied().unwrap_or(0))
                            });
                            (*cpu, convert(V::U(sum), ty))
                        })
                        .collect(),
                })
            }
            Kind::Softnet(col, percpu) => {
                if d.softnet_cols < misc::SOFTNET_NEEDS[col] {
                    return Err(PmError::APPVERSION);
                }
                if percpu {
                    Ok(d.softnet
                        .iter()
                        .map(|(cpu, v)| (*cpu, convert(V::U(v[col]), ty)))
                        .collect())
                } else {
                    let total = d
                        .softnet
                        .iter()
                        .fold(0u64, |a, (_, v)| a.wrapping_add(v[col]));
                    one(V::U(total))
                }
            }
            Kind::Locks(class, mode) => one(V::U(d.locks[class][mode])),
            Kind::Conn(src, st) => one(V::U(d.conns[conn_index(src)][st])),
            Kind::NetAddr(which) => Ok(d
                .addrs
                .iter()
                .zip(&d.addr_ids)
                .filter_map(|(a, id)| {
                    let v = match which {
                        0 => a.inet.as_ref(),
                        1 => a.ipv6.as_ref(),
                        2 => a.scope.as_ref(),
                        _ => a.hw.as_ref(),
                    }?;
                    Some((*id, Value::String(v.clone())))
                })
                .collect()),
            Kind::Buddy(kbytes) => {
                let mut out = Vec::with_capacity(d.buddy_ids.len());
                let mut ids = d.buddy_ids.iter();
                for r in &d.buddy {
                    for (order, free) in r.free.iter().enumerate() {
                        let Some(id) = ids.next() else { break };
                        let v = if kbytes {
                            // Blocks of 2^order pages, in Kbytes.
                            free.saturating_mul(self.pagesize << order.min(40)) / 1024
                        } else {
                            *free
                        };
                        out.push((*id, convert(V::U(v), ty)));
                    }
                }
                Ok(out)
            }
            Kind::Rpc(f) => Ok(self.rpc_values(f, ty)),
            Kind::Login(i) => one(V::U(d.logins[i.min(2)])),
            Kind::Zone(item) => {
                let kb = |pages: u64| pages.wrapping_mul(self.pagesize) / 1024;
                Ok(d.zoneinfo
                    .rows
                    .iter()
                    .zip(&d.zone_ids)
                    .filter(|(r, _)| !r.hidden)
                    .filter_map(|(r, id)| {
                        let v = (*r.values.get(item)?)?;
                        Some((*id, convert(V::U(kb(v)), ty)))
                    })
                    .collect())
            }
            Kind::Slab(item) => Ok(d
                .slabs
                .iter()
                .zip(&d.slab_ids)
                .filter_map(|(c, id)| {
                    let v = match item {
                        0 => c.active_objs,
                        1 => c.total_objs,
                        2 => c.object_size as u64,
                        3 => c.active_slabs as u64,
                        4 => c.total_slabs as u64,
                        5 => c.pages_per_slab as u64,
                        6 => c.objects_per_slab as u64,
                        _ => c.total_size(self.pagesize)?,
                    };
                    Some((*id, convert(V::U(v), ty)))
                })
                .collect()),
            Kind::ZoneProt => Ok(d
                .zoneinfo
                .prot
                .iter()
                .zip(&d.prot_ids)
                .map(|(r, id)| {
                    let kb = r.pages.wrapping_mul(self.pagesize) / 1024;
                    (*id, convert(V::U(kb), ty))
                })
                .collect()),
            Kind::IcmpMsg(dir) => {
                if let Some(e) = d.icmpmsg_err.clone() {
                    return Err(self.format_error(Src::Snmp.path(), e));
                }
                Ok(d.icmpmsg
                    .types
                    .iter()
                    .enumerate()
                    .filter_map(|(n, c)| Some((n as u32, convert(V::U(c[dir.min(1)]?), ty))))
                    .collect())
            }
            Kind::Tty(i) => Ok(d
                .tty_ids
                .iter()
                .filter_map(|id| {
                    let (_, c) = d.tty_counts.get(id)?;
                    Some((*id, convert(V::U(c[i]), ty)))
                })
                .collect()),
            Kind::PmdaUname => {
                let mut out = String::new();
                for file in ["ostype", "hostname", "osrelease", "version"] {
                    out.push_str(&self.uname_part(file)?);
                    out.push(' ');
                }
                out.push_str(&self.machine().ok_or(PmError::VALUE)?);
                one(V::S(out))
            }
            Kind::Pressure(r, full, total) => {
                let p = &d.pressure[r.min(3)];
                let Some((avg, tot)) = (if full { p.full } else { p.some }) else {
                    return Ok(vec![]);
                };
                if total {
                    one(V::U(tot))
                } else {
                    Ok(indom::PRESSURE_INSTANCES
                        .iter()
                        .zip(avg)
                        .map(|((id, _), a)| (*id, convert(V::F(a as f64), ty)))
                        .collect())
                }
            }
        }
    }

    /// A small file of this fetch, trimmed, read once however many
    /// metrics share it.
    fn sys_file(&mut self, file: &'static str) -> Result<&str, PmError> {
        if !self.d.sys_files.contains_key(file) {
            let r = match self.kept.read(&self.root, file, &mut self.d.scratch) {
                Ok(bytes) => std::str::from_utf8(bytes).ok().map(read::trim_attr),
                Err(_) => None,
            }
            .ok_or_else(|| read_errno(&self.root.join(file)));
            self.d.sys_files.insert(file, r);
        }
        match self.d.sys_files.get(file) {
            Some(Ok(s)) => Ok(s.as_str()),
            Some(Err(e)) => Err(*e),
            None => Err(PmError::VALUE),
        }
    }

    /// uname(2) once per fetch on the live system (the same strings as
    /// /proc/sys/kernel/{ostype,hostname,osrelease,version} and the
    /// machine), `None` elsewhere.
    fn uts(&mut self) -> Option<&[String; 5]> {
        if !self.live {
            return None;
        }
        if self.d.uts.is_none() {
            // SAFETY: uname fills a zeroed utsname; fields are NUL-terminated.
            let mut u: libc::utsname = unsafe { std::mem::zeroed() };
            if unsafe { libc::uname(&mut u) } != 0 {
                return None;
            }
            let f = |c: &[libc::c_char]| {
                let b: Vec<u8> = c
                    .iter()
                    .take_while(|&&c| c != 0)
                    .map(|&c| c as u8)
                    .collect();
                String::from_utf8_lossy(&b).into_owned()
            };
            self.d.uts = Some([
                f(&u.sysname),
                f(&u.nodename),
                f(&u.release),
                f(&u.version),
                f(&u.machine),
            ]);
        }
        self.d.uts.as_ref()
    }

    /// One of the uname strings by its /proc/sys/kernel file name.
    fn uname_part(&mut self, file: &'static str) -> Result<String, PmError> {
        let i = match file {
            "ostype" => 0,
            "hostname" => 1,
            "osrelease" => 2,
            "version" => 3,
            _ => 4,
        };
        if let Some(u) = self.uts() {
            return Ok(u[i].clone());
        }
        let rel = match i {
            0 => "proc/sys/kernel/ostype",
            1 => "proc/sys/kernel/hostname",
            2 => "proc/sys/kernel/osrelease",
            3 => "proc/sys/kernel/version",
            _ => "proc/sys/kernel/arch",
        };
        self.sys_file(rel).map(str::to_string)
    }

    fn machine(&mut self) -> Option<String> {
        if let Some(u) = self.uts() {
            return Some(u[4].clone());
        }
        self.sys_file("proc/sys/kernel/arch")
            .ok()
            .map(str::to_string)
    }

    fn mem_value(&self, f: MemF) -> Option<V> {
        let k = &self.keyed[Src::Meminfo as usize];
        let slot = |key: &str| {
            kind::MEMINFO_KEYS
                .iter()
                .position(|x| *x == key)
                .and_then(|s| k.get(s))
        };
        Some(V::U(match f {
            MemF::Field(s) => k.get(s)?,
            MemF::FieldBytes(s) => k.get(s)?.saturating_mul(1024),
            MemF::Used => slot("memtotal")?.saturating_sub(slot("memfree")?),
            MemF::Other => {
                let used = slot("memtotal")?.saturating_sub(slot("memfree")?);
                used.saturating_sub(slot("cached")?)
                    .saturating_sub(slot("buffers")?)
            }
            MemF::CacheClean => slot("cached")?
                .saturating_sub(slot("dirty").unwrap_or(0))
                .saturating_sub(slot("writeback").unwrap_or(0)),
            MemF::SwapUsed => slot("swaptotal")?
                .saturating_sub(slot("swapfree")?)
                .saturating_mul(1024),
            MemF::PhysMb => slot("memtotal")? >> 10,
            MemF::PageSize => self.pagesize,
            MemF::HugePageSize => slot("hugepagesize")?.saturating_mul(1024),
            MemF::HugeBytes(s) => k
                .get(s)?
                .saturating_mul(slot("hugepagesize")?.saturating_mul(1024)),
            MemF::Available => match slot("memavailable") {
                Some(v) => v,
                None => self.estimated_available(
                    slot("memfree")?,
                    slot("active(file)")?,
                    slot("inactive(file)")?,
                    slot("sreclaimable")?,
                    slot("memtotal").is_some(),
                )?,
            },
        }))
    }

    /// MemAvailable of a kernel before 3.14, estimated as pmdalinux does
    /// (after the kernel's own formula, commit 34e431b0ae): free memory
    /// above the zones' low watermarks, plus the page cache and the
    /// reclaimable slab less half of each (at most the watermark), at
    /// least 0; in Kbytes. The watermarks are the `low` pages of
    /// /proc/zoneinfo (0 without it). pmdalinux subtracts the watermark
    /// in bytes from figures in Kbytes; here it is in Kbytes.
    fn estimated_available(
        &self,
        free: u64,
        active_file: u64,
        inactive_file: u64,
        slab_reclaimable: u64,
        have_total: bool,
    ) -> Option<u64> {
        if !have_total {
            return None;
        }
        let low_pages: i64 = std::fs::read_to_string(self.root.join(Src::Zoneinfo.path()))
            .map(|t| zoneinfo::low_watermarks(&t))
            .unwrap_or(0);
        let wmark = low_pages.saturating_mul(self.pagesize as i64) / 1024;
        let mut avail = free as i64 - wmark;
        let pagecache = (active_file + inactive_file) as i64;
        avail += pagecache - (pagecache / 2).min(wmark);
        let slab = slab_reclaimable as i64;
        avail += slab - (slab / 2).min(wmark);
        Some(avail.max(0) as u64)
    }

    /// The disks grouped by WWID (hinv.map.scsi_id), once per fetch;
    /// disks without one are left out.
    fn wwid_groups(&mut self) {
        if self.d.wwids.is_some() {
            return;
        }
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut scratch = std::mem::take(&mut self.d.scratch);
        for (i, x) in self.d.devs.iter().enumerate() {
            if x.kind != DevKind::Disk {
                continue;
            }
            let id = disk::scsi_id(&self.root, &x.kname, &mut scratch);
            if id == "unknown" {
                continue;
            }
            match groups.iter_mut().find(|(w, _)| *w == id) {
                Some((_, paths)) => paths.push(i),
                None => groups.push((id, vec![i])),
            }
        }
        self.d.scratch = scratch;
        self.d.wwid_ids = groups.iter().map(|(w, _)| self.maps.wwid.id(w)).collect();
        self.d.wwids = Some(groups);
    }

    /// disk.wwid values: per WWID, a disk figure summed over its paths
    /// (left out when no path has it), the path names separated by spaces,
    /// or, as pmdalinux 6.0.3 reports them (each path overwriting the
    /// previous one's), the last path's scheduler and discard Kbytes.
    fn wwid_values(&mut self, kind: Kind, ty: Type) -> Vec<(u32, Value)> {
        self.wwid_groups();
        let mut scratch = std::mem::take(&mut self.d.scratch);
        let d = &self.d;
        let mut out = Vec::new();
        for ((_, paths), id) in d.wwids.iter().flatten().zip(&d.wwid_ids) {
            let v = match kind {
                Kind::WwidPaths => V::S(
                    paths
                        .iter()
                        .map(|&i| d.devs[i].kname.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                Kind::WwidScheduler => {
                    let Some(&last) = paths.last() else {
                        continue;
                    };
                    V::S(disk::scheduler(
                        &self.root,
                        &d.devs[last].kname,
                        &mut scratch,
                    ))
                }
                Kind::Wwid(f) => {
                    let from = if f == DField::DiscardBytes {
                        paths.len().saturating_sub(1)
                    } else {
                        0
                    };
                    let vals: Vec<u64> = paths[from..]
                        .iter()
                        .filter_map(|&i| disk_field(&d.devs[i], f, &d.caps))
                        .collect();
                    if vals.is_empty() {
                        continue;
                    }
                    let mut total = vals.iter().fold(0u64, |a, v| a.wrapping_add(*v));
                    if ty == Type::U32 {
                        total &= u32::MAX as u64;
                    }
                    V::U(total)
                }
                _ => continue,
            };
            out.push((*id, convert(v, ty)));
        }
        self.d.scratch = scratch;
        out
    }

    /// disk.md.status: the wait status of `mdadm --detail --test` for
    /// each md device, as pmdalinux reports it (the exit code times 256:
    /// 0 healthy, 256 degraded, 512 unusable, 1024 error). mdadm is
    /// `/sbin/mdadm` on the live system and `ROOT/sbin/mdadm` on another
    /// root; without it there are no values.
    fn md_status(&self, ty: Type) -> Vec<(u32, Value)> {
        let mdadm = self.root.join("sbin/mdadm");
        let have_mdadm = mdadm.is_file();
        let mut out = Vec::new();
        for (x, id) in self.d.devs.iter().zip(&self.d.dev_ids) {
            if x.kind != DevKind::Md {
                continue;
            }
            // Without mdadm pmdalinux says -1 for every md device.
            if !have_mdadm {
                out.push((*id, convert(V::U(-1i64 as u64), ty)));
                continue;
            }
            let mut cmd = std::process::Command::new(&mdadm);
            // /dev/ and the instance name (the persistent name when the
            // device has one), as pmdalinux builds the path.
            cmd.args(["--detail", "--test", &format!("/dev/{}", x.name)]);
            // A hung mdadm costs this device its value, not the fetch.
            if let Some(s) = run_bounded(&mut cmd, MDADM_TIMEOUT) {
                use std::os::unix::process::ExitStatusExt as _;
                out.push((*id, convert(V::U(s.into_raw() as u32 as u64), ty)));
            }
        }
        out
    }

    /// zram.capacity: each zram device's disksize attribute in Kbytes
    /// (zero for a device not sized yet, or without the attribute), as
    /// pmdalinux reports it.
    fn zram_capacity(&mut self, ty: Type) -> Vec<(u32, Value)> {
        let mut out = Vec::new();
        for i in 0..self.d.devs.len() {
            let x = &self.d.devs[i];
            if x.kind != DevKind::Zram {
                continue;
            }
            let id = self.d.dev_ids[i];
            let rel = format!("sys/block/{}/disksize", x.kname);
            let bytes = read::read_into(&self.root, &rel, &mut self.d.scratch)
                .ok()
                .and_then(|b| read::parse_u64_wrapping(read::fields(b).next()?))
                .unwrap_or(0);
            out.push((id, convert(V::U(bytes / 1024), ty)));
        }
        out
    }

    /// A column of one of the zram devices' sysfs statistics files
    /// (mm_stat, io_stat or bd_stat), each file read once per fetch. A
    /// device without the file (bd_stat needs writeback support) has no
    /// value. Byte figures are reported in Kbytes, page counts in Kbytes
    /// of pages.
    fn zram_values(&mut self, file: u8, col: u8, ty: Type) -> Vec<(u32, Value)> {
        let name = ["mm_stat", "io_stat", "bd_stat"][usize::from(file).min(2)];
        let page_kb = self.pagesize / 1024;
        let mut out = Vec::new();
        for i in 0..self.d.devs.len() {
            let x = &self.d.devs[i];
            if x.kind != DevKind::Zram {
                continue;
            }
            let id = self.d.dev_ids[i];
            let rel = format!("sys/block/{}/{name}", x.kname);
            if !self.d.zram_files.contains_key(&rel) {
                let nums = read::read_into(&self.root, &rel, &mut self.d.scratch)
                    .ok()
                    .map(|b| {
                        read::fields(b)
                            .map_while(read::parse_u64_wrapping)
                            .collect::<Vec<u64>>()
                    });
                self.d.zram_files.insert(rel.clone(), nums);
            }
            let Some(Some(nums)) = self.d.zram_files.get(&rel) else {
                continue;
            };
            let Some(&v) = nums.get(usize::from(col)) else {
                continue;
            };
            let v = match (file, col) {
                (0, 0..=4) => v / 1024,
                (0, _) | (2, _) => v.wrapping_mul(page_kb),
                _ => v,
            };
            out.push((id, convert(V::U(v), ty)));
        }
        out
    }

    /// System V IPC values. A kernel without a /proc/sysvipc table has
    /// no objects of that kind (no values, as pmdalinux reports them); its
    /// totals, which come from that table, fail with the read error.
    fn ipc_values(&self, f: IpcF, ty: Type) -> MetricResult {
        let missing = match f {
            IpcF::ShmInfo(_) => self.d.ipc_missing[0],
            IpcF::MsgInfo(_) => self.d.ipc_missing[1],
            IpcF::SemInfo(_) => self.d.ipc_missing[2],
            _ => None,
        };
        if let Some(e) = missing {
            return Err(e);
        }
        Ok(self.ipc_objects(f, ty))
    }

    /// Looks up the user names of the owners of one kind of IPC object,
    /// each user once per fetch.
    fn lookup_owners(&mut self, f: IpcF) {
        let t = &self.d.ipc;
        let uids: Vec<u32> = match f {
            IpcF::Shm(_) => t.shm.iter().map(|o| o.c.uid).collect(),
            IpcF::Msg(_) => t.msg.iter().map(|o| o.c.uid).collect(),
            _ => t.sem.iter().map(|o| o.c.uid).collect(),
        };
        for uid in uids {
            if !self.d.owners.contains_key(&uid) {
                let name = ipc::owner(&self.root, self.live, uid);
                self.d.owners.insert(uid, name);
            }
        }
    }

    fn ipc_objects(&self, f: IpcF, ty: Type) -> Vec<(u32, Value)> {
        let t = &self.d.ipc;
        let owner = |c: &ipc::Common| {
            V::S(
                self.d
                    .owners
                    .get(&c.uid)
                    .cloned()
                    .unwrap_or_else(|| c.uid.to_string()),
            )
        };
        let common = |c: &ipc::Common, item: u8| match item {
            0 => Some(V::S(c.key_text())),
            1 => Some(owner(c)),
            2 => Some(V::U(c.perms() as u64)),
            _ => None,
        };
        let single = |v: u64| vec![(PM_IN_NULL, convert(V::U(v), ty))];
        match f {
            IpcF::Shm(item) => t
                .shm
                .iter()
                .zip(&self.d.shm_ids)
                .map(|(o, id)| {
                    let v = common(&o.c, item).unwrap_or(match item {
                        3 => V::U(o.size),
                        4 => V::U(o.nattch as u64),
                        5 => V::S(o.status().to_string()),
                        6 => V::U(o.cpid as u64),
                        _ => V::U(o.lpid as u64),
                    });
                    (*id, convert(v, ty))
                })
                .collect(),
            IpcF::Msg(item) => t
                .msg
                .iter()
                .zip(&self.d.msg_ids)
                .map(|(o, id)| {
                    let v = common(&o.c, item).unwrap_or(match item {
                        3 => V::U(o.cbytes),
                        4 => V::U(o.qnum),
                        5 => V::U(o.lspid as u64),
                        _ => V::U(o.lrpid as u64),
                    });
                    (*id, convert(v, ty))
                })
                .collect(),
            IpcF::Sem(item) => t
                .sem
                .iter()
                .zip(&self.d.sem_ids)
                .map(|(o, id)| {
                    let v = common(&o.c, item).unwrap_or(V::U(o.nsems));
                    (*id, convert(v, ty))
                })
                .collect(),
            IpcF::ShmInfo(i) => {
                let [tot, rss, swp, n] = ipc::shm_totals(&t.shm, self.pagesize);
                single([tot, rss, swp, n, 0, 0][usize::from(i).min(5)])
            }
            IpcF::MsgInfo(i) => single(match i {
                0 => t.msg.len() as u64,
                1 => t.msg.iter().fold(0u64, |a, m| a.wrapping_add(m.qnum)),
                _ => t.msg.iter().fold(0u64, |a, m| a.wrapping_add(m.cbytes)),
            }),
            IpcF::SemInfo(i) => single(match i {
                0 => t.sem.len() as u64,
                _ => t.sem.iter().fold(0u64, |a, s| a.wrapping_add(s.nsems)),
            }),
        }
    }

    fn rpc_values(&self, f: RpcF, ty: Type) -> Vec<(u32, Value)> {
        let d = &self.d;
        let single = |v: u64| vec![(PM_IN_NULL, convert(V::U(v), ty))];
        // Each side's counts for one NFS version, and the first instance id.
        let version = |client: bool, ver: u8| -> Option<(&[u64], u32)> {
            let i = (!client) as usize;
            if !d.rpc_ok[i] {
                return None;
            }
            let side = &d.rpc[i];
            Some(match (ver, client) {
                (2, _) => (&side.v2[..], 0),
                (3, _) => (&side.v3[..], 0),
                (_, true) => (&side.v4[..], 0),
                // The server's operations are instances 1 up; slot 0 (the
                // NULL count) is neither an instance nor in the sum.
                (_, false) => (side.v4.get(1..).unwrap_or(&[]), 1),
            })
        };
        match f {
            RpcF::Client(i) if d.rpc_ok[0] => single(d.rpc[0].scalars.get(i).copied().unwrap_or(0)),
            RpcF::Client(_) => Vec::new(),
            RpcF::Server(i) => {
                let ra = rpc::SERVER_FIELDS
                    .get(i)
                    .is_some_and(|n| n.starts_with("ra_"));
                if d.rpc_ok[1] || ra {
                    single(d.rpc[1].scalars.get(i).copied().unwrap_or(0))
                } else {
                    Vec::new()
                }
            }
            RpcF::Calls(client, ver) => match version(client, ver) {
                // Summed as pmdalinux sums them, in 32 bits.
                Some((v, _)) => {
                    single(v.iter().fold(0u64, |a, x| a.wrapping_add(*x)) & 0xffff_ffff)
                }
                None => Vec::new(),
            },
            RpcF::Reqs(client, ver) => match version(client, ver) {
                Some((v, first)) => v
                    .iter()
                    .enumerate()
                    .map(|(k, x)| (first + k as u32, convert(V::U(*x), ty)))
                    .collect(),
                None => Vec::new(),
            },
            RpcF::Threads(i) => match d.nfsd {
                Some(t) => single(t.get(i)),
                None => Vec::new(),
            },
        }
    }

    fn disk_values(&self, scope: DiskScope, f: DField, ty: Type) -> Vec<(u32, Value)> {
        let d = &self.d;
        match scope {
            DiskScope::Per(kind) => d
                .devs
                .iter()
                .zip(&d.dev_ids)
                .filter(|(x, _)| x.kind == kind)
                .filter_map(|(x, id)| {
                    let v = disk_field(x, f, &d.caps)?;
                    Some((*id, convert(V::U(v), ty)))
                })
                .collect(),
            DiskScope::All => {
                let mut total = 0u64;
                for x in d.devs.iter().filter(|x| x.kind == DevKind::Disk) {
                    total = total.wrapping_add(disk_field(x, f, &d.caps).unwrap_or(0));
                }
                if ty == Type::U32 {
                    total &= u32::MAX as u64;
                }
                vec![(PM_IN_NULL, convert(V::U(total), ty))]
            }
        }
    }

    /// The slab caches or serial lines as last read (for a root client),
    /// without reading again.
    fn root_only_instances_as_read(&self, serial: u32) -> Vec<Instance> {
        let mut v: Vec<Instance> = if serial == indom::SLAB {
            self.d
                .slabs
                .iter()
                .zip(&self.d.slab_ids)
                .map(|(c, id)| Instance::new(*id, c.name.clone()))
                .collect()
        } else {
            self.d
                .tty_ids
                .iter()
                .filter_map(|id| {
                    let (name, _) = self.d.tty_counts.get(id)?;
                    Some(Instance::new(*id, name.clone()))
                })
                .collect()
        };
        // Slab caches in id order, as pmdalinux's cache lists them: a cache
        // created after start-up gets the next id wherever the kernel
        // prints it.
        if serial == indom::SLAB {
            v.sort_by_key(|i| i.id);
        }
        v
    }

    /// The current instances of a served instance domain.
    fn instance_list(&mut self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        if indom.domain() != DOMAIN {
            return Err(PmError::INDOM);
        }
        self.begin();
        let serial = indom.serial();
        Ok(match serial {
            indom::CPU => {
                self.ensure(Src::Stat)?;
                self.d
                    .stat
                    .cpus
                    .iter()
                    .map(|(n, _)| Instance::new(*n, format!("cpu{n}")))
                    .collect()
            }
            indom::NODE => {
                let _ = self.ensure(Src::Stat);
                self.ensure(Src::Nodes)?;
                self.d
                    .nodes
                    .iter()
                    .map(|(n, _)| Instance::new(*n, format!("node{n}")))
                    .collect()
            }
            indom::SLAB => {
                self.ensure(Src::Slabinfo)?;
                self.root_only_instances_as_read(serial)
            }
            indom::ZONEINFO => {
                self.ensure(Src::Zoneinfo)?;
                self.d
                    .zoneinfo
                    .rows
                    .iter()
                    .zip(&self.d.zone_ids)
                    .filter(|(r, _)| !r.hidden)
                    .map(|(r, id)| Instance::new(*id, r.name.clone()))
                    .collect()
            }
            indom::ZONEINFO_PROTECTION => {
                self.ensure(Src::Zoneinfo)?;
                self.d
                    .zoneinfo
                    .prot
                    .iter()
                    .zip(&self.d.prot_ids)
                    .map(|(r, id)| Instance::new(*id, r.name.clone()))
                    .collect()
            }
            indom::ICMPMSG => (0..misc::ICMPMSG_TYPES as u32)
                .map(|n| Instance::new(n, format!("Type{n}")))
                .collect(),
            indom::LOADAVG => indom::LOADAVG_INSTANCES
                .iter()
                .map(|(i, n)| Instance::new(*i, *n))
                .collect(),
            indom::PRESSURE => indom::PRESSURE_INSTANCES
                .iter()
                .map(|(i, n)| Instance::new(*i, *n))
                .collect(),
            indom::DISK | indom::PARTITIONS | indom::DM | indom::MD | indom::ZRAM => {
                self.ensure(Src::Diskstats)?;
                let want = match serial {
                    indom::DISK => DevKind::Disk,
                    indom::PARTITIONS => DevKind::Partition,
                    indom::DM => DevKind::Dm,
                    indom::MD => DevKind::Md,
                    _ => DevKind::Zram,
                };
                self.d
                    .devs
                    .iter()
                    .zip(&self.d.dev_ids)
                    .filter(|(x, _)| x.kind == want)
                    .map(|(x, id)| Instance::new(*id, x.name.clone()))
                    .collect()
            }
            indom::NET_DEV => {
                self.ensure(Src::NetDev)?;
                self.d
                    .netifs
                    .iter()
                    .zip(&self.d.net_ids)
                    .map(|(n, id)| Instance::new(*id, n.name.clone()))
                    .collect()
            }
            indom::IPC_SHM | indom::IPC_MSG | indom::IPC_SEM => {
                let (objs, ids): (Vec<u32>, &Vec<u32>) = match serial {
                    indom::IPC_SHM => {
                        self.ensure(Src::SysvShm)?;
                        let o = self.d.ipc.shm.iter().map(|o| o.c.id).collect();
                        (o, &self.d.shm_ids)
                    }
                    indom::IPC_MSG => {
                        self.ensure(Src::SysvMsg)?;
                        let o = self.d.ipc.msg.iter().map(|o| o.c.id).collect();
                        (o, &self.d.msg_ids)
                    }
                    _ => {
                        self.ensure(Src::SysvSem)?;
                        let o = self.d.ipc.sem.iter().map(|o| o.c.id).collect();
                        (o, &self.d.sem_ids)
                    }
                };
                objs.iter()
                    .zip(ids)
                    .map(|(o, id)| Instance::new(*id, o.to_string()))
                    .collect()
            }
            indom::WWID => {
                self.ensure(Src::Diskstats)?;
                self.wwid_groups();
                self.d
                    .wwids
                    .iter()
                    .flatten()
                    .zip(&self.d.wwid_ids)
                    .map(|((w, _), id)| Instance::new(*id, w.clone()))
                    .collect()
            }
            indom::SCSI => {
                self.ensure(Src::Scsi)?;
                self.d
                    .scsi
                    .iter()
                    .map(|(id, n, _)| Instance::new(*id, n.clone()))
                    .collect()
            }
            indom::TAPE => {
                self.ensure(Src::Tape)?;
                self.d
                    .tapes
                    .iter()
                    .zip(&self.d.tape_ids)
                    .map(|((n, _), id)| Instance::new(*id, n.clone()))
                    .collect()
            }
            indom::FCHOST => {
                self.ensure(Src::FcHost)?;
                self.d
                    .fchosts
                    .iter()
                    .zip(&self.d.fchost_ids)
                    .map(|((n, _), id)| Instance::new(*id, n.clone()))
                    .collect()
            }
            indom::SWAPDEV => {
                self.ensure(Src::Swaps)?;
                self.d
                    .swaps
                    .iter()
                    .zip(&self.d.swap_ids)
                    .map(|(a, id)| Instance::new(*id, a.path.clone()))
                    .collect()
            }
            indom::TMPFS => {
                self.ensure(Src::Mounts)?;
                self.d
                    .tmpfs
                    .iter()
                    .zip(&self.d.tmpfs_ids)
                    .map(|(m, id)| Instance::new(*id, m.device.clone()))
                    .collect()
            }
            indom::FILESYS => {
                self.ensure(Src::Mounts)?;
                self.d
                    .mounts
                    .iter()
                    .zip(&self.d.fs_ids)
                    .map(|(m, id)| Instance::new(*id, m.device.clone()))
                    .collect()
            }
            indom::NFS | indom::NFS3 | indom::NFS4_CLIENT | indom::NFS4_SERVER => {
                let (first, names) = indom::nfs_instances(serial).unwrap_or((0, &[]));
                names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| Instance::new(first + k as u32, *n))
                    .collect()
            }
            indom::TTY => {
                self.ensure(Src::Tty)?;
                self.root_only_instances_as_read(serial)
            }
            indom::BUDDYINFO => {
                self.ensure(Src::Buddyinfo)?;
                let mut out = Vec::with_capacity(self.d.buddy_ids.len());
                let mut ids = self.d.buddy_ids.iter();
                for r in &self.d.buddy {
                    for order in 0..r.free.len() {
                        let Some(id) = ids.next() else { break };
                        out.push(Instance::new(
                            *id,
                            format!("{}::order{order}::node{}", r.zone, r.node),
                        ));
                    }
                }
                out
            }
            indom::NET_ADDR => {
                self.ensure(Src::NetAddr)?;
                self.d
                    .addrs
                    .iter()
                    .zip(&self.d.addr_ids)
                    .map(|(a, id)| Instance::new(*id, a.name.clone()))
                    .collect()
            }
            indom::INTERRUPTS | indom::SOFTIRQS => {
                let soft = serial == indom::SOFTIRQS;
                self.ensure(if soft { Src::Softirqs } else { Src::Interrupts })?;
                let (t, ids) = if soft {
                    (&self.d.softirqs, &self.d.soft_ids)
                } else {
                    (&self.d.interrupts, &self.d.irq_ids)
                };
                t.rows
                    .iter()
                    .zip(ids)
                    .map(|(r, id)| Instance::new(*id, r.name.clone()))
                    .collect()
            }
            indom::INTERRUPT_CPU | indom::SOFTIRQ_CPU => {
                let soft = serial == indom::SOFTIRQ_CPU;
                self.ensure(if soft { Src::Softirqs } else { Src::Interrupts })?;
                let (t, ids) = if soft {
                    (&self.d.softirqs, &self.d.soft_cpu_ids)
                } else {
                    (&self.d.interrupts, &self.d.irq_cpu_ids)
                };
                let mut out = Vec::with_capacity(ids.len());
                let mut i = 0;
                for r in &t.rows {
                    for cpu in &t.cpus {
                        if let Some(id) = ids.get(i) {
                            out.push(Instance::new(*id, format!("{}::cpu{cpu}", r.name)));
                        }
                        i += 1;
                    }
                }
                out
            }
            _ => return Err(PmError::INDOM),
        })
    }

    /// Instance labels built from fetched data: the interrupt and softirq
    /// indoms (the line's label and description, and CPU per CPU) and the
    /// buddy indom (node, zone, order).
    fn data_labels(&self, serial: u32) -> Vec<(u32, LabelSet)> {
        let mut out = Vec::new();
        match serial {
            indom::ZONEINFO => {
                for (r, id) in self.d.zoneinfo.rows.iter().zip(&self.d.zone_ids) {
                    if r.hidden {
                        continue;
                    }
                    let mut l = LabelSet::new().with("numa_node", r.node);
                    if let Some(z) = &r.zone {
                        l = l.with("zone", z.as_str());
                    }
                    out.push((*id, l));
                }
            }
            indom::ZONEINFO_PROTECTION => {
                for (r, id) in self.d.zoneinfo.prot.iter().zip(&self.d.prot_ids) {
                    let l = LabelSet::new()
                        .with("lowmem_reserved", r.lowmem)
                        .with("numa_node", r.node)
                        .with("zone", r.zone.as_str());
                    out.push((*id, l));
                }
            }
            indom::BUDDYINFO => {
                let mut ids = self.d.buddy_ids.iter();
                for r in &self.d.buddy {
                    for order in 0..r.free.len() {
                        let Some(id) = ids.next() else { break };
                        let l = LabelSet::new()
                            .with("numa_node", r.node)
                            .with("zone", r.zone.as_str())
                            .with("order", order as u64);
                        out.push((*id, l));
                    }
                }
            }
            indom::INTERRUPTS => {
                for (r, id) in self.d.interrupts.rows.iter().zip(&self.d.irq_ids) {
                    let l = LabelSet::new()
                        .with("irq", r.name.as_str())
                        .with("irqtext", r.text.as_str());
                    out.push((*id, l));
                }
            }
            indom::INTERRUPT_CPU | indom::SOFTIRQ_CPU => {
                let soft = serial == indom::SOFTIRQ_CPU;
                let (t, ids) = if soft {
                    (&self.d.softirqs, &self.d.soft_cpu_ids)
                } else {
                    (&self.d.interrupts, &self.d.irq_cpu_ids)
                };
                let mut i = 0;
                for r in &t.rows {
                    for cpu in &t.cpus {
                        let l = if soft {
                            LabelSet::new()
                                .with("cpu", *cpu)
                                .with("softirq", r.name.as_str())
                        } else {
                            LabelSet::new()
                                .with("cpu", *cpu)
                                .with("irq", r.name.as_str())
                                .with("irqtext", r.text.as_str())
                        };
                        if let Some(id) = ids.get(i) {
                            out.push((*id, l));
                        }
                        i += 1;
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// Per line and CPU values of an interrupt table, with their ids.
fn per_cpu_values(t: &IrqTable, ids: &[u32], ty: Type) -> Vec<(u32, Value)> {
    let mut out = Vec::with_capacity(ids.len());
    let mut i = 0;
    for r in &t.rows {
        for c in 0..t.cpus.len() {
            if let (Some(id), Some(v)) = (ids.get(i), r.counts.get(c)) {
                out.push((*id, convert(V::U(*v), ty)));
            }
            i += 1;
        }
    }
    out
}

/// Load order of sources (index = [`Src`] discriminant): identity, since
/// `Src::Stat` comes first and `Src::Nodes` after it.
const SRC_ORDER: [Src; NSRC] = [
    Src::Stat,
    Src::Meminfo,
    Src::Vmstat,
    Src::Loadavg,
    Src::Diskstats,
    Src::Partitions,
    Src::NetDev,
    Src::Mounts,
    Src::Sockstat,
    Src::Sockstat6,
    Src::Snmp,
    Src::Netstat,
    Src::Snmp6,
    Src::Cpuinfo,
    Src::Uptime,
    Src::Nodes,
    Src::Interrupts,
    Src::Softirqs,
    Src::Softnet,
    Src::Locks,
    Src::Tcp,
    Src::Tcp6,
    Src::Udp,
    Src::Udp6,
    Src::NetAddr,
    Src::Buddyinfo,
    Src::RpcNfs,
    Src::RpcNfsd,
    Src::NfsdThreads,
    Src::Tty,
    Src::Utmp,
    Src::Zoneinfo,
    Src::Slabinfo,
    Src::Swaps,
    Src::NetUnix,
    Src::Raw,
    Src::Raw6,
    Src::NumaMem,
    Src::SysvShm,
    Src::SysvMsg,
    Src::SysvSem,
    Src::Tape,
    Src::FcHost,
    Src::Scsi,
    Src::PressureCpu,
    Src::PressureMem,
    Src::PressureIo,
    Src::PressureIrq,
];

/// Index of a socket table source in `Data::conns`.
fn conn_index(src: Src) -> usize {
    match src {
        Src::Tcp6 => 1,
        Src::Udp => 2,
        Src::Udp6 => 3,
        _ => 0,
    }
}

fn read_errno(p: &Path) -> PmError {
    match std::fs::metadata(p) {
        Err(e) => read::io_err(&e),
        Ok(_) => PmError::from_errno(libc::EIO),
    }
}

fn disk_field(x: &Dev, f: DField, caps: &HashMap<String, u64>) -> Option<u64> {
    let s = &x.stat;
    Some(match f {
        DField::Read => s.reads,
        DField::Write => s.writes,
        DField::Total => s.reads.wrapping_add(s.writes),
        DField::BlkRead => s.sectors_read,
        DField::BlkWrite => s.sectors_written,
        DField::BlkTotal => s.sectors_read.wrapping_add(s.sectors_written),
        DField::ReadBytes => s.sectors_read / 2,
        DField::WriteBytes => s.sectors_written / 2,
        DField::TotalBytes => s.sectors_read.wrapping_add(s.sectors_written) / 2,
        DField::ReadMerge => s.merged,
        DField::WriteMerge => s.writes_merged,
        DField::Avactive => s.time_in_progress,
        DField::Aveq => s.weighted_time_in_progress,
        DField::ReadRaw => s.time_reading,
        DField::WriteRaw => s.time_writing,
        DField::TotalRaw => s.time_reading.wrapping_add(s.time_writing),
        // pmdalinux leaves out devices whose size is unknown or zero (zram
        // capacities come from sysfs instead, see `zram_capacity`).
        DField::Capacity => caps.get(&x.kname).copied().filter(|&c| c != 0)?,
        DField::Discard => s.discards.unwrap_or(0),
        DField::BlkDiscard => s.sectors_discarded.unwrap_or(0),
        DField::DiscardBytes => s.sectors_discarded.unwrap_or(0) / 2,
        DField::DiscardMerge => s.discards_merged.unwrap_or(0),
        DField::DiscardRaw => s.time_discarding.unwrap_or(0),
        DField::Flush => s.flushes.unwrap_or(0),
        DField::FlushRaw => s.time_flushing.unwrap_or(0),
        DField::Inflight => s.in_progress,
    })
}

fn net_value(f: NetF, n: &NetIf, a: Option<&IfAttrs>) -> Option<V> {
    Some(match f {
        NetF::Col(c) => V::U(n.c[c]),
        NetF::Sum(a, b) => V::U(n.c[a].wrapping_add(n.c[b])),
        NetF::Mtu => V::U(a?.mtu? as u64),
        // The kernel's "unknown" speed (-1) reads as 2^32-1 Mbit/s through
        // pmdalinux's ethtool path; keep that so values agree.
        NetF::Speed => V::F((a?.speed? as u32 as u64 * 1_000_000 / 8) as f64 / 1_048_576.0),
        NetF::Baudrate => V::U(a?.speed? as u32 as u64 * 1_000_000 / 8),
        NetF::Duplex => V::U(a?.duplex? as u64),
        NetF::Up => V::U(a?.up? as u64),
        NetF::Running => V::U(a?.running? as u64),
        NetF::Wireless => V::U(a?.wireless as u64),
        NetF::Type => V::U(a?.ty? as u64),
        NetF::Virtual => V::U(a?.virt as u64),
    })
}

/// Parses a /proc/pressure file: `some avg10=A avg60=B avg300=C total=T`
/// and a `full` line, either of which may be missing: the kernel writes
/// no `full` line for cpu before 5.13 and no `some` line for irq (6.1 on).
fn parse_pressure(buf: &[u8]) -> Option<Pressure> {
    let text = std::str::from_utf8(buf).ok()?;
    let mut p = Pressure::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let kind = it.next()?;
        let mut avg = [0f32; 3];
        let mut total = None;
        for kv in it {
            let (k, v) = kv.split_once('=')?;
            match k {
                "avg10" => avg[0] = v.parse().ok()?,
                "avg60" => avg[1] = v.parse().ok()?,
                "avg300" => avg[2] = v.parse().ok()?,
                "total" => total = Some(v.parse().ok()?),
                _ => {}
            }
        }
        let entry = Some((avg, total?));
        match kind {
            "some" => p.some = entry,
            "full" => p.full = entry,
            _ => return None,
        }
    }
    (p.some.is_some() || p.full.is_some()).then_some(p)
}

/// The distribution name as pmdalinux 6.0.3 builds it: the first line of
/// the first of its release files under `ROOT/etc` that opens (Debian's
/// version file gets a "Debian " prefix, lsb-release loses a leading
/// `DISTRIB_ID=`), "?" when none opens or the one that opens reads empty.
fn distro(root: &Path) -> String {
    let etc = root.join("etc");
    for (file, prefix) in [
        ("debian_version", "Debian "),
        ("oracle-release", ""),
        ("fedora-release", ""),
        ("redhat-release", ""),
        ("slackware-version", ""),
        ("SuSE-release", ""),
        ("lsb-release", ""),
    ] {
        let Ok(mut f) = std::fs::File::open(etc.join(file)) else {
            continue;
        };
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut f, &mut bytes).is_err() || bytes.is_empty() {
            return "?".to_string();
        }
        // A C string: it ends at a NUL.
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut text: &str = &text;
        if file == "lsb-release" {
            for id in ["DISTRIB_ID = ", "DISTRIB_ID="] {
                text = text.strip_prefix(id).unwrap_or(text);
            }
        }
        let first = text.split('\n').next().unwrap_or("");
        return format!("{prefix}{first}");
    }
    "?".to_string()
}

impl Pmda for LinuxPmda {
    fn name(&self) -> &str {
        "linux"
    }

    fn domain(&self) -> u32 {
        DOMAIN
    }

    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }

    /// The slab-cache and serial-line lists come from root-only files: they
    /// are re-read for a root client only; anyone else gets them as last
    /// read for root (none before that), as pmdalinux answers.
    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let root_only =
            indom.domain() == DOMAIN && matches!(indom.serial(), indom::SLAB | indom::TTY);
        if root_only && client.user_id != Some(0) {
            return Ok(self.root_only_instances_as_read(indom.serial()));
        }
        self.instance_list(indom)
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.table.text(target, kind)
    }

    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => LabelSet::new().with("agent", "linux"),
            LabelTarget::InDom(indom) if indom.domain() == DOMAIN => {
                indom::indom_labels(indom.serial())
            }
            LabelTarget::Item(pmid) => {
                item_labels(self.table.get(pmid).map(|m| m.name.as_str()).unwrap_or(""))
            }
            _ => LabelSet::new(),
        })
    }

    /// Labels of the instances `client` may see: the root-only lists are
    /// not refreshed for anyone else (the same rule as [`Pmda::instances`]).
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let insts = self.instances(indom, client)?;
        if matches!(
            indom.serial(),
            indom::INTERRUPTS
                | indom::INTERRUPT_CPU
                | indom::SOFTIRQ_CPU
                | indom::BUDDYINFO
                | indom::ZONEINFO
                | indom::ZONEINFO_PROTECTION
        ) {
            return Ok(self.data_labels(indom.serial()));
        }
        Ok(insts
            .iter()
            .filter_map(|i| Some((i.id, indom::instance_labels(indom.serial(), i)?)))
            .collect())
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.begin();
        // A /proc/cpuinfo refresh makes pmdalinux sample the CPU frequency
        // figures afresh.
        if req.pmids.iter().any(|p| p.cluster() == CLUSTER_CPUINFO) {
            self.d.freq.clear();
        }
        let root_client = req.client.user_id == Some(0);
        req.pmids
            .iter()
            .map(|&p| self.value(p, root_client))
            .collect()
    }
}

/// How long `mdadm --detail --test` may take for one md device.
const MDADM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `cmd` with no input or output and waits at most `limit` for it:
/// its exit status, or `None` when it could not start or ran too long (it
/// is then killed and reaped).
fn run_bounded(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + limit;
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Item labels as pmdalinux gives them: the CPU time totals say what
/// kind of device they sum over (per-device metrics get theirs from their
/// instance domain, see [`indom::indom_labels`]).
fn item_labels(name: &str) -> LabelSet {
    if name.starts_with("kernel.all.cpu.") {
        LabelSet::new().with("device_type", "cpu")
    } else if name.starts_with("kernel.pernode.cpu.") {
        LabelSet::new().with("device_type", vec!["numa_node", "cpu"])
    } else {
        LabelSet::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{distro, parse_pressure, run_bounded};
    use std::process::Command;
    use std::time::{Duration, Instant};

    #[test]
    fn pressure_files_of_every_resource_parse() {
        // cpu before 5.13: no full line.
        let cpu = parse_pressure(b"some avg10=1.50 avg60=0.25 avg300=0.00 total=42\n").unwrap();
        assert_eq!(cpu.some, Some(([1.5, 0.25, 0.0], 42)));
        assert_eq!(cpu.full, None);
        // irq (6.1 on, CONFIG_IRQ_TIME_ACCOUNTING): a full line only.
        let irq =
            parse_pressure(b"full avg10=0.00 avg60=0.01 avg300=0.00 total=100648410\n").unwrap();
        assert_eq!(irq.some, None);
        assert_eq!(irq.full, Some(([0.0, 0.01, 0.0], 100648410)));
        assert!(parse_pressure(b"").is_none());
        assert!(parse_pressure(b"odd avg10=1 total=2\n").is_none());
        assert!(parse_pressure(b"full avg10=x total=2\n").is_none());
    }

    #[test]
    fn distro_names_as_pmdalinux_builds_them() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        assert_eq!(distro(dir.path()), "?");
        std::fs::write(etc.join("os-release"), "PRETTY_NAME=\"X\"\n").unwrap();
        assert_eq!(
            distro(dir.path()),
            "?",
            "pmdalinux 6.0.3 reads no os-release"
        );
        std::fs::write(
            etc.join("lsb-release"),
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n",
        )
        .unwrap();
        assert_eq!(distro(dir.path()), "Ubuntu");
        std::fs::write(
            etc.join("redhat-release"),
            "Red Hat Enterprise Linux release 9.3 (Plow)\n",
        )
        .unwrap();
        assert_eq!(
            distro(dir.path()),
            "Red Hat Enterprise Linux release 9.3 (Plow)"
        );
        std::fs::write(etc.join("debian_version"), "").unwrap();
        assert_eq!(distro(dir.path()), "?", "the first file that opens decides");
        std::fs::write(etc.join("debian_version"), "bookworm/sid\n").unwrap();
        assert_eq!(distro(dir.path()), "Debian bookworm/sid");
    }

    #[test]
    fn bounded_runs_give_the_status_or_nothing_past_the_limit() {
        let ok = run_bounded(&mut Command::new("true"), Duration::from_secs(5));
        assert_eq!(ok.map(|s| s.code()), Some(Some(0)));
        let failed = run_bounded(
            Command::new("sh").args(["-c", "exit 2"]),
            Duration::from_secs(5),
        );
        assert_eq!(failed.map(|s| s.code()), Some(Some(2)));
        assert!(run_bounded(
            &mut Command::new("/no/such/program"),
            Duration::from_secs(1)
        )
        .is_none());
        // A program that hangs is killed at the limit.
        let t0 = Instant::now();
        let hung = run_bounded(Command::new("sleep").arg("30"), Duration::from_millis(300));
        assert!(hung.is_none());
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }
}
