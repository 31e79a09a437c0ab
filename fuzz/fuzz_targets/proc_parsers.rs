//! Fuzzes pmda-proc's parsers: garbage in a process's files, a control
//! group's files, a hot-process predicate or an accounting file gives an
//! error, no value or odd values, never a panic; and the values served
//! from whatever parsed (unit conversions included) never panic either.
//!
//! Input: a selector byte (which parser, `data[0] % N`), then the file's
//! bytes. The seed script prefixes real files from this machine with their
//! selector (see README.md).
//!
//! `cargo +nightly fuzz run proc_parsers` (from this directory).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmda_proc::cgroups::{self, files};
use pmda_proc::hotproc::pred::{self, Vars};
use pmda_proc::names::TtyNames;
use pmda_proc::pidtab::{Entry, Files};
use pmda_proc::psvalues::{self, cluster, Lookups, Units};
use pcp_core::container;
use pmda_proc::{acct, load, small, stat, status};

/// Selector values; keep in step with `make-seeds.py`'s PROC table.
const PARSERS: u8 = 19;

/// Every value of `clusters` (items 0-49) for a process whose files are
/// `files`.
fn values(files: Files, clusters: &[u32]) {
    let e = Entry {
        pid: 1,
        name: "000001 fuzz --arg".into(),
        instname: "000001 fuzz".into(),
        tgid: 1,
        read: u32::MAX,
        files: Some(Box::new(files)),
        seen: 0,
    };
    let mut look = Lookups::default();
    for hertz in [100, 1] {
        let units = Units { hertz, page_kb: 4 };
        for &c in clusters {
            for item in 0..50 {
                let _ = psvalues::value(c, item, &e, &units, &mut look);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(buf);
    match sel % PARSERS {
        0 => {
            if let Ok(s) = stat::parse(buf) {
                values(
                    Files {
                        stat: Some(s),
                        ..Default::default()
                    },
                    &[cluster::STAT, cluster::STATM, cluster::RUNQ],
                );
            }
        }
        1 => {
            let s = status::parse(buf);
            values(
                Files {
                    status: Some(s),
                    ..Default::default()
                },
                &[cluster::STATUS, cluster::STATM],
            );
        }
        2 => values(
            Files {
                statm: Some(small::statm(buf)),
                ..Default::default()
            },
            &[cluster::STATM],
        ),
        3 => values(
            Files {
                io: Some(small::io(buf)),
                ..Default::default()
            },
            &[cluster::IO],
        ),
        4 => values(
            Files {
                schedstat: small::schedstat(buf),
                ..Default::default()
            },
            &[cluster::SCHEDSTAT],
        ),
        5 => values(
            Files {
                smaps: Some(Ok(Box::new(small::smaps(buf)))),
                ..Default::default()
            },
            &[cluster::SMAPS],
        ),
        6 => {
            let (groups, id) = load::cgroups_of(buf);
            let _ = load::container_id(&text);
            values(
                Files {
                    cgroup: Some((groups, id)),
                    ..Default::default()
                },
                &[cluster::CGROUP],
            );
        }
        7 => {
            let g = load::autogroup(buf);
            values(
                Files {
                    autogroup: g,
                    ..Default::default()
                },
                &[cluster::AUTOGROUP],
            );
        }
        8 => {
            let _ = files::line(buf);
            let _ = files::number(buf);
            let _ = files::signed(buf);
            let _ = files::keyed(buf);
        }
        9 => {
            let _ = files::per_cpu(buf);
        }
        10 => {
            let _ = files::blkio(buf);
        }
        11 => {
            let _ = files::io_stat(buf);
            for w in text.split_whitespace() {
                let _ = files::devt(w);
            }
        }
        12 => {
            let _ = files::pressure(buf);
        }
        13 => {
            // /proc/cgroups, NUL, /proc/self/mounts.
            let (a, b) = match buf.iter().position(|&c| c == 0) {
                Some(i) => (&buf[..i], &buf[i + 1..]),
                None => (buf, &b""[..]),
            };
            let subsys = cgroups::parse_subsys(a);
            for m in cgroups::parse_mounts(b) {
                let _ = cgroups::mount_subsys(&m, &subsys);
            }
        }
        14 => {
            let _ = cgroups::parse_diskstats(buf);
        }
        15 => {
            // A group name, NUL, a container's group.
            let (a, b) = text.split_once('\0').unwrap_or((&text, "/"));
            let _ = cgroups::unescape(a);
            let _ = container::in_group(a, b);
        }
        16 => {
            // A hotproc configuration, evaluated on a process made of the
            // same bytes.
            if let Ok(Some(p)) = pred::parse_config(&text) {
                let n = |i: usize| f64::from(buf.get(i).copied().unwrap_or(0));
                let v = Vars {
                    uid: n(0),
                    gid: n(1),
                    uname: text.chars().take(8).collect(),
                    gname: "root".into(),
                    fname: text.chars().rev().take(15).collect(),
                    psargs: text.to_string(),
                    cpuburn: n(2) / 255.0,
                    syscalls: 0.0,
                    ctxswitch: n(3),
                    virtualsize: n(4) * 1000.0,
                    residentsize: n(5) * 100.0,
                    iodemand: n(6),
                    iowait: n(7) / 255.0,
                    schedwait: n(8) / 255.0,
                };
                let _ = p.eval(&v);
                let _ = p.eval(&Vars::default());
            }
        }
        17 => {
            for rec in buf.chunks(acct::RECORD) {
                let _ = acct::parse(rec);
            }
            for pair in buf.chunks_exact(2) {
                let _ = acct::comp_t(u16::from_ne_bytes([pair[0], pair[1]]));
            }
        }
        18 => {
            let mut t = TtyNames::parse(&text);
            for quad in buf.chunks_exact(4) {
                let _ = t.name(u32::from_ne_bytes([quad[0], quad[1], quad[2], quad[3]]));
            }
        }
        _ => unreachable!(),
    }
});
