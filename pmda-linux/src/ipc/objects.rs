//! The per-object metrics of the `ipc` collector: each segment's, queue's
//! and array's figures (`ipc.shm.key`, `ipc.msg.messages`...).

use crate::binding::Binding;

use super::{common, put, Ipc, OWNERS, TABLES};
use pcp_core::Value;

/// Help of a per-object metric: the figure and the kind of object.
fn help(name: &str) -> (String, String) {
    let mut parts = name.split('.').skip(1);
    let (class, field) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (obj, src) = match class {
        "shm" => ("shared memory segment", "shm"),
        "msg" => ("message queue", "msg"),
        _ => ("semaphore array", "sem"),
    };
    let (one, long) = match field {
        "key" => ("key", "The IPC key the {obj} was created with, as 0x and eight hex digits"),
        "owner" => ("owner", "The user owning the {obj}: the user name, or the user id when it has no name"),
        "perms" => ("access permissions", "The {obj}'s access bits as their octal digits (0640 shows as 640)"),
        "segsz" => ("size in bytes", "The size of the {obj} in bytes"),
        "nattch" => ("attaches", "Processes attached to the {obj}"),
        "status" => ("status", "\"dest\" when the {obj} is marked for removal, \"locked\" when locked in memory, both, or empty"),
        "creator_pid" => ("creator process id", "The process that created the {obj}"),
        "last_access_pid" => ("last attaching process id", "The process that last attached or detached the {obj}"),
        "msgsz" => ("bytes queued", "Bytes of messages waiting in the {obj}"),
        "messages" => ("messages queued", "Messages waiting in the {obj}"),
        "last_send_pid" => ("last sender process id", "The process that last sent to the {obj}"),
        "last_recv_pid" => ("last receiver process id", "The process that last received from the {obj}"),
        _ => ("semaphores", "Semaphores in the {obj}"),
    };
    (
        format!("{obj} {one}"),
        format!(
            "{}, from /proc/sysvipc/{src}. One instance per {obj}, named by its id.",
            long.replace("{obj}", obj)
        ),
    )
}

/// A figure of each object of table `$t` (the key, owner and perms of
/// every table come from [`common`]; `$own` for the owner, whose names
/// are looked up).
macro_rules! object {
    ($name:literal, $t:literal, $rows:ident, $f:expr) => {
        Binding::new($name, &[TABLES[$t]], |c, _, out| {
            let ipc: &Ipc = &c.ipc;
            for (id, o) in ipc.$rows.iter() {
                put(out, id, $f(ipc, o));
            }
            Ok(())
        })
        .made_help(help)
    };
    ($name:literal, $t:literal, $rows:ident, $f:expr, owner) => {
        Binding::new($name, &[TABLES[$t], OWNERS[$t]], |c, _, out| {
            let ipc: &Ipc = &c.ipc;
            for (id, o) in ipc.$rows.iter() {
                put(out, id, $f(ipc, o));
            }
            Ok(())
        })
        .made_help(help)
    };
}

/// The per-object metrics.
pub(crate) const BINDINGS: &[Binding] = &[
    object!("ipc.shm.key", 0, shm, |i, o: &super::Shm| common(
        i, &o.c, 0
    )),
    object!(
        "ipc.shm.owner",
        0,
        shm,
        |i, o: &super::Shm| common(i, &o.c, 1),
        owner
    ),
    object!("ipc.shm.perms", 0, shm, |i, o: &super::Shm| common(
        i, &o.c, 2
    )),
    object!("ipc.shm.segsz", 0, shm, |_, o: &super::Shm| Value::U64(
        o.size
    )),
    object!("ipc.shm.nattch", 0, shm, |_, o: &super::Shm| Value::U64(
        u64::from(o.nattch)
    )),
    object!("ipc.shm.status", 0, shm, |_, o: &super::Shm| Value::String(
        o.status().to_string()
    )),
    object!("ipc.shm.creator_pid", 0, shm, |_, o: &super::Shm| {
        Value::U64(u64::from(o.cpid))
    }),
    object!("ipc.shm.last_access_pid", 0, shm, |_, o: &super::Shm| {
        Value::U64(u64::from(o.lpid))
    }),
    object!("ipc.msg.key", 1, msg, |i, o: &super::Msg| common(
        i, &o.c, 0
    )),
    object!(
        "ipc.msg.owner",
        1,
        msg,
        |i, o: &super::Msg| common(i, &o.c, 1),
        owner
    ),
    object!("ipc.msg.perms", 1, msg, |i, o: &super::Msg| common(
        i, &o.c, 2
    )),
    object!("ipc.msg.msgsz", 1, msg, |_, o: &super::Msg| Value::U64(
        o.cbytes
    )),
    object!("ipc.msg.messages", 1, msg, |_, o: &super::Msg| Value::U64(
        o.qnum
    )),
    object!("ipc.msg.last_send_pid", 1, msg, |_, o: &super::Msg| {
        Value::U64(u64::from(o.lspid))
    }),
    object!("ipc.msg.last_recv_pid", 1, msg, |_, o: &super::Msg| {
        Value::U64(u64::from(o.lrpid))
    }),
    object!("ipc.sem.key", 2, sem, |i, o: &super::Sem| common(
        i, &o.c, 0
    )),
    object!(
        "ipc.sem.owner",
        2,
        sem,
        |i, o: &super::Sem| common(i, &o.c, 1),
        owner
    ),
    object!("ipc.sem.perms", 2, sem, |i, o: &super::Sem| common(
        i, &o.c, 2
    )),
    object!("ipc.sem.nsems", 2, sem, |_, o: &super::Sem| Value::U64(
        o.nsems
    )),
];
