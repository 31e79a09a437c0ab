//! The `ipc` collector: System V IPC. The shared memory segments, message
//! queues and semaphore arrays of `/proc/sysvipc/{shm,msg,sem}` (one
//! instance domain each, named by the object's id), the totals over them,
//! and the limits the kernel applies to them.
//!
//! pmdalinux asks the kernel with `shmctl`/`msgctl`/`semctl` (`IPC_INFO`,
//! `SHM_INFO`, `MSG_INFO`, `SEM_INFO`) for the limits and totals, and reads
//! the `/proc/sysvipc` tables for the objects. This agent reads files only,
//! so it also works on a fixture root: the totals are summed from the same
//! tables the kernel keeps them for, the tunable limits come from
//! `/proc/sys/kernel/{shmmax,shmall,shmmni,msgmax,msgmnb,msgmni,sem}`, and
//! the limits the kernel reports as fixed constants are those constants.

pub mod tables;

use std::collections::HashMap;
use std::fmt::Write as _;

use pcp_core::agent::Sink;
use pcp_core::{PmError, Value};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::descs;
use crate::rows::Rows;
use crate::sysfiles::SysFiles;
use crate::system::{Failure, System};
use crate::value::Put;
use tables::{Common, Msg, Sem, Shm};

/// The tables, in shm, msg, sem order.
const TABLES: [Need; 3] = [
    Need::new(Id::Ipc, 0),
    Need::new(Id::Ipc, 1),
    Need::new(Id::Ipc, 2),
];
const SHM: Need = TABLES[0];
const MSG: Need = TABLES[1];
const SEM: Need = TABLES[2];
/// The user names of each table's owners (looked up once per fetch).
const OWNERS: [Need; 3] = [
    Need::new(Id::Ipc, 3),
    Need::new(Id::Ipc, 4),
    Need::new(Id::Ipc, 5),
];
/// The limit files, sources 6 on.
const LIMITS: [&str; 7] = [
    "proc/sys/kernel/shmmax",
    "proc/sys/kernel/shmall",
    "proc/sys/kernel/shmmni",
    "proc/sys/kernel/msgmax",
    "proc/sys/kernel/msgmnb",
    "proc/sys/kernel/msgmni",
    "proc/sys/kernel/sem",
];
const fn limit(i: u32) -> Need {
    Need::new(Id::Ipc, 6 + i)
}

/// The collector's state.
#[derive(Debug)]
pub struct Ipc {
    pagesize: u64,
    shm: Rows<Shm>,
    msg: Rows<Msg>,
    sem: Rows<Sem>,
    /// The read error of each table file this kernel lacks (its objects
    /// are then none and its totals fail with it).
    missing: [Option<PmError>; 3],
    /// Owners' user names looked up in this fetch, by user id.
    owners: HashMap<u32, String>,
    limits: SysFiles,
}

impl Ipc {
    pub(crate) fn new(sys: &System) -> Ipc {
        let root = sys.root();
        Ipc {
            pagesize: sys.pagesize,
            shm: Rows::seeded(root, descs::IPC_SHM.serial),
            msg: Rows::seeded(root, descs::IPC_MSG.serial),
            sem: Rows::seeded(root, descs::IPC_SEM.serial),
            missing: [None; 3],
            owners: HashMap::new(),
            limits: SysFiles::new(&LIMITS, 6),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        self.owners.clear();
        let files = ["proc/sysvipc/shm", "proc/sysvipc/msg", "proc/sysvipc/sem"];
        for (i, need) in TABLES.iter().enumerate() {
            if want & need.bit == 0 {
                continue;
            }
            self.missing[i] = None;
            let (shm, msg, sem) = (&mut self.shm, &mut self.msg, &mut self.sem);
            let missing = &mut self.missing[i];
            sys.load(*need, files[i], |r| {
                let b = match r {
                    // No SysV IPC in this kernel: no objects of that kind.
                    Err(e) if e == PmError::from_errno(libc::ENOENT) => {
                        *missing = Some(e);
                        match i {
                            0 => shm.clear(),
                            1 => msg.clear(),
                            _ => sem.clear(),
                        }
                        return Ok(());
                    }
                    Err(e) => return Err(Failure::Errno(e)),
                    Ok(b) => b,
                };
                match i {
                    0 => shm.set_named(tables::parse_shm(b)?, |o, k| write!(k, "{}", o.c.id)),
                    1 => msg.set_named(tables::parse_msg(b)?, |o, k| write!(k, "{}", o.c.id)),
                    _ => sem.set_named(tables::parse_sem(b)?, |o, k| write!(k, "{}", o.c.id)),
                }
                Ok(())
            });
        }
        for (i, need) in OWNERS.iter().enumerate() {
            if want & need.bit == 0 {
                continue;
            }
            let uids: Vec<u32> = match i {
                0 => self.shm.items().map(|o| o.c.uid).collect(),
                1 => self.msg.items().map(|o| o.c.uid).collect(),
                _ => self.sem.items().map(|o| o.c.uid).collect(),
            };
            for uid in uids {
                self.owners
                    .entry(uid)
                    .or_insert_with(|| tables::owner(sys.root(), sys.live(), uid));
            }
            sys.done(*need, Ok(()));
        }
        self.limits.refresh(sys, Id::Ipc, want);
    }

    fn owner(&self, c: &Common) -> String {
        self.owners
            .get(&c.uid)
            .cloned()
            .unwrap_or_else(|| c.uid.to_string())
    }

    /// The totals of table `i`: its read error when the kernel lacks it.
    fn totals(&self, i: usize) -> Result<(), PmError> {
        self.missing[i].map_or(Ok(()), Err)
    }
}

/// A figure common to every table row: key (0), owner (1), perms (2).
fn common(ipc: &Ipc, c: &Common, item: u8) -> Value {
    match item {
        0 => Value::String(c.key_text()),
        1 => Value::String(ipc.owner(c)),
        _ => Value::U32(c.perms()),
    }
}

fn put(out: &mut Sink<'_>, id: u32, v: Value) {
    match v {
        Value::U32(n) => out.put_u64(id, u64::from(n)),
        Value::U64(n) => out.put_u64(id, n),
        v => out.put(id, v),
    }
}

/// The limits the kernel's `IPC_INFO` answers with compile-time constants
/// of its user-space API headers (unchanged since Linux 2.6).
macro_rules! constant {
    ($name:literal, $v:expr, $one:literal, $help:literal) => {
        Binding::new($name, &[], |_, _, out| {
            out.set_u64($v);
            Ok(())
        })
        .help($one, $help)
    };
}

/// A tunable limit: field `field` of limit file `i`.
macro_rules! tunable {
    ($name:literal, $i:literal, $field:literal, $one:literal, $help:literal) => {
        Binding::new($name, &[limit($i)], |c, _, out| {
            out.set_u64(c.ipc.limits.number($i, $field)?);
            Ok(())
        })
        .help($one, $help)
    };
}

/// A total over table `t`.
macro_rules! total {
    ($name:literal, $t:literal, $f:expr, $one:literal, $help:literal) => {
        Binding::new($name, &[TABLES[$t]], |c, _, out| {
            c.ipc.totals($t)?;
            out.set_u64($f(&c.ipc));
            Ok(())
        })
        .help($one, $help)
    };
}

fn shm_totals(ipc: &Ipc) -> [u64; 4] {
    let segs: Vec<Shm> = ipc.shm.items().copied().collect();
    tables::shm_totals(&segs, ipc.pagesize)
}

mod objects;

/// The ipc collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[
    &[
        constant!("ipc.sem.max_semmap", 1_024_000_000, "semaphore map entries", "Entries in the kernel's semaphore map (SEMMAP), a fixed kernel constant."),
        constant!("ipc.sem.num_undo", 1_024_000_000, "undo structures", "Undo structures the system allows (SEMMNU), a fixed kernel constant."),
        constant!("ipc.sem.max_undoent", 500, "undo entries per process", "The most undo entries a process may have (SEMUME), a fixed kernel constant."),
        constant!("ipc.sem.sz_semundo", 20, "size of an undo structure", "Size of the kernel's semaphore undo structure (SEMUSZ), a fixed kernel constant."),
        constant!("ipc.sem.max_semval", 32767, "largest semaphore value", "The largest value a semaphore may hold (SEMVMX), a fixed kernel constant."),
        constant!("ipc.sem.max_exit", 32767, "largest adjust-on-exit value", "The largest adjustment recorded for undo on process exit (SEMAEM), a fixed kernel constant."),
        constant!("ipc.msg.sz_pool", 512_000, "message pool size", "Size of the message pool in Kbytes (MSGPOOL), a fixed kernel constant."),
        constant!("ipc.msg.mapent", 16384, "message map entries", "Entries in the message map (MSGMAP), a fixed kernel constant."),
        constant!("ipc.msg.max_msgseg", 16, "message segment size", "Size of a message segment (MSGSSZ), a fixed kernel constant."),
        constant!("ipc.msg.num_smsghdr", 16384, "message headers", "Number of system message headers (MSGTQL), a fixed kernel constant."),
        constant!("ipc.msg.max_seg", 65535, "most message segments", "The most message segments (MSGSEG), a fixed kernel constant."),
        constant!("ipc.shm.min_segsz", 1, "smallest shared memory segment", "The smallest shared memory segment in bytes (SHMMIN), a fixed kernel constant."),
        tunable!("ipc.shm.max_segsz", 0, 0, "largest shared memory segment", "The largest shared memory segment in bytes (SHMMAX, /proc/sys/kernel/shmmax), reported in 32 bits: larger values keep their low 32 bits, as pmdalinux reports them."),
        tunable!("ipc.shm.max_shmsys", 1, 0, "shared memory pages allowed", "The most shared memory pages the system allows (SHMALL, /proc/sys/kernel/shmall), reported in 32 bits as pmdalinux reports it."),
        tunable!("ipc.shm.max_seg", 2, 0, "most shared memory segments", "The most shared memory segments the system allows (SHMMNI, /proc/sys/kernel/shmmni)."),
        tunable!("ipc.shm.max_segproc", 2, 0, "most shared memory segments per process", "The most segments one process may attach; Linux applies the system-wide limit (SHMMNI, /proc/sys/kernel/shmmni)."),
        tunable!("ipc.msg.max_msgsz", 3, 0, "largest message", "The largest message in bytes a process may send (MSGMAX, /proc/sys/kernel/msgmax)."),
        tunable!("ipc.msg.max_defmsgq", 4, 0, "default largest queue", "The default most bytes a message queue may hold (MSGMNB, /proc/sys/kernel/msgmnb)."),
        tunable!("ipc.msg.max_msgqid", 5, 0, "most message queues", "The most message queues the system allows (MSGMNI, /proc/sys/kernel/msgmni)."),
        // /proc/sys/kernel/sem: SEMMSL SEMMNS SEMOPM SEMMNI.
        tunable!("ipc.sem.max_perid", 6, 0, "most semaphores per array", "The most semaphores one array may hold (SEMMSL, the first field of /proc/sys/kernel/sem)."),
        tunable!("ipc.sem.max_sem", 6, 1, "most semaphores", "The most semaphores the system allows in all arrays together (SEMMNS, the second field of /proc/sys/kernel/sem)."),
        tunable!("ipc.sem.max_ops", 6, 2, "most operations per semop call", "The most operations one semop call may carry (SEMOPM, the third field of /proc/sys/kernel/sem)."),
        tunable!("ipc.sem.max_semid", 6, 3, "most semaphore arrays", "The most semaphore arrays the system allows (SEMMNI, the fourth field of /proc/sys/kernel/sem)."),
        total!("ipc.shm.tot", 0, |i| shm_totals(i)[0], "shared memory allocated", "Bytes of shared memory allocated to all segments: the pages each segment spans, summed, times the page size."),
        total!("ipc.shm.rss", 0, |i| shm_totals(i)[1], "shared memory resident", "Bytes of shared memory resident in RAM, summed over the segments of /proc/sysvipc/shm."),
        total!("ipc.shm.swp", 0, |i| shm_totals(i)[2], "shared memory swapped out", "Bytes of shared memory swapped out, summed over the segments of /proc/sysvipc/shm."),
        total!("ipc.shm.used_ids", 0, |i: &Ipc| i.shm.len() as u64, "shared memory segments", "Number of shared memory segments that exist, the rows of /proc/sysvipc/shm."),
        total!("ipc.shm.swap_attempts", 0, |_| 0, "shared memory swap attempts (always zero)", "Swap attempts of shared memory pages; the kernel no longer counts them, so the value is zero."),
        total!("ipc.shm.swap_successes", 0, |_| 0, "shared memory swap successes (always zero)", "Successful swaps of shared memory pages; the kernel no longer counts them, so the value is zero."),
        total!("ipc.msg.used_queues", 1, |i: &Ipc| i.msg.len() as u64, "message queues", "Number of message queues that exist, the rows of /proc/sysvipc/msg."),
        total!("ipc.msg.tot_msg", 1, |i: &Ipc| i.msg.items().fold(0u64, |a, m| a.wrapping_add(m.qnum)), "messages queued", "Messages waiting in all queues together, summed from /proc/sysvipc/msg."),
        total!("ipc.msg.tot_bytes", 1, |i: &Ipc| i.msg.items().fold(0u64, |a, m| a.wrapping_add(m.cbytes)), "bytes queued", "Bytes of messages waiting in all queues together, summed from /proc/sysvipc/msg."),
        total!("ipc.sem.used_sem", 2, |i: &Ipc| i.sem.len() as u64, "semaphore arrays", "Number of semaphore arrays that exist, the rows of /proc/sysvipc/sem."),
        total!("ipc.sem.tot_sem", 2, |i: &Ipc| i.sem.items().fold(0u64, |a, s| a.wrapping_add(s.nsems)), "semaphores", "Number of semaphores in all arrays together, summed from /proc/sysvipc/sem."),
    ],
    objects::BINDINGS,
];

/// The instances of one table, named by their ids in decimal.
fn ids<T>(rows: &Rows<T>, id: fn(&T) -> u32) -> Vec<pcp_core::Instance> {
    rows.instances(|o| id(o).to_string())
}

/// The segment, queue and array instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::IPC_SHM.serial, &[SHM], |c| {
        ids(&c.ipc.shm, |o| o.c.id)
    })
    .help(
        "set of System V shared memory segments",
        "One instance per segment in /proc/sysvipc/shm, named by its shmid in decimal.",
    ),
    IndomBinding::new(descs::IPC_MSG.serial, &[MSG], |c| {
        ids(&c.ipc.msg, |o| o.c.id)
    })
    .help(
        "set of System V message queues",
        "One instance per queue in /proc/sysvipc/msg, named by its msqid in decimal.",
    ),
    IndomBinding::new(descs::IPC_SEM.serial, &[SEM], |c| {
        ids(&c.ipc.sem, |o| o.c.id)
    })
    .help(
        "set of System V semaphore arrays",
        "One instance per array in /proc/sysvipc/sem, named by its semid in decimal.",
    ),
];
