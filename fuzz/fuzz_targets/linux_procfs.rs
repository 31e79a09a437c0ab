//! Fuzzes the Linux agent's /proc and /sys parsers: garbage in a proc file
//! gives an error or odd values, never a panic.
//!
//! Input: a selector byte (which parser, `data[0] % N`), then the file's
//! bytes. The seed script prefixes real files from this machine with their
//! selector (see README.md).
//!
//! `cargo +nightly fuzz run linux_procfs` (from this directory).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pmda_linux::cpuinfo::{CpuField, CpuInfo};
use pmda_linux::irq::IrqTable;
use pmda_linux::keyed::Keyed;
use pmda_linux::misc::IcmpMsg;
use pmda_linux::rpc::{NfsdThreads, RpcSide, TtyCounts};
use pmda_linux::stat::Stat;
use pmda_linux::zoneinfo::Zoneinfo;
use pmda_linux::{
    cpufreq, disk, fs, indom, ipc, misc, net, netaddr, numa, rpc, slabinfo, tapefc, zoneinfo,
};

/// Selector values; keep in step with `make-seeds.py`'s LINUX table.
const PARSERS: u8 = 31;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(buf);
    match sel % PARSERS {
        0 => {
            let mut k = Keyed::new();
            let _ = k.parse_colon(buf);
            let _ = k.parse_colon(buf);
            if let Some(s) = k.existing_slot("MemTotal") {
                let _ = k.get(s);
            }
        }
        1 => {
            let _ = Keyed::new().parse_space(buf);
        }
        2 => {
            let mut k = Keyed::new();
            let _ = k.parse_header_pairs(buf, true);
            let _ = k.parse_header_pairs(buf, false);
        }
        3 => {
            let mut k = Keyed::new();
            let _ = k.parse_sockstat(buf, true);
            let _ = k.parse_sockstat(buf, false);
        }
        4 => {
            let mut s = Stat::default();
            let _ = s.parse(buf);
        }
        5 => {
            let mut out = Vec::new();
            let mut scratch = Vec::new();
            let _ = disk::parse_diskstats(Path::new("/nonexistent"), buf, &mut out, &mut scratch);
        }
        6 => {
            let mut out = Default::default();
            disk::parse_partitions(buf, &mut out);
        }
        7 => {
            let mut z = Zoneinfo::default();
            let _ = z.parse(buf);
            for line in buf.split(|&b| b == b'\n').take(64) {
                let _ = zoneinfo::zone_item(line);
            }
        }
        8 => {
            let mut out = Vec::new();
            let _ = slabinfo::parse(buf, &mut out);
            for c in &out {
                let _ = c.total_size(4096);
            }
        }
        9 => {
            let mut out = Vec::new();
            let _ = net::parse_net_dev(buf, &mut out);
        }
        10 => {
            let mut c = CpuInfo::default();
            c.parse(buf);
            for cpu in c.processors().chain([0]) {
                let _ = c.value(cpu, CpuField::ModelName);
                let _ = c.value(cpu, CpuField::Clock);
            }
        }
        11 => {
            let mut t = IrqTable::default();
            let _ = t.parse(buf);
            let _ = t.parse(buf);
        }
        12 => {
            let mut out = Vec::new();
            let _ = fs::parse_mounts(buf, false, &mut out);
            for m in &out {
                let _ = fs::statfs_fixture(buf, &m.dir);
            }
        }
        13 => {
            let mut out = Vec::new();
            let _ = misc::parse_softnet(buf, &mut out);
        }
        14 => {
            let _ = misc::parse_locks(buf);
        }
        15 => {
            let _ = misc::parse_sockets(buf);
        }
        16 => {
            let mut out = Vec::new();
            let _ = misc::parse_buddyinfo(buf, &mut out);
        }
        17 => {
            let _ = misc::count_logins(buf);
        }
        18 => {
            let mut m = IcmpMsg::default();
            let _ = misc::parse_icmpmsg(buf, &mut m);
        }
        19 => {
            let mut side = RpcSide::default();
            rpc::parse_client(buf, &mut side);
            rpc::parse_server(buf, &mut side);
        }
        20 => {
            let _ = rpc::parse_pool_threads(buf);
            let mut t = NfsdThreads::default();
            rpc::parse_pool_stats(buf, &mut t);
        }
        21 => {
            let mut counts = TtyCounts::default();
            for line in text.lines() {
                let _ = rpc::parse_tty_line(line, &mut counts);
            }
        }
        22 => {
            let mut out = Vec::new();
            netaddr::parse_if_inet6(&text, &mut out);
        }
        24 => {
            let mut out = Vec::new();
            let _ = misc::parse_swaps(buf, &mut out);
        }
        25 => {
            let mut out = Vec::new();
            fs::parse_tmpfs(buf, false, &mut out);
        }
        26 => {
            let _ = misc::count_unix(buf);
            let _ = misc::count_raw(buf);
        }
        27 => {
            let (mut shm, mut msg, mut sem) = (Vec::new(), Vec::new(), Vec::new());
            let _ = ipc::parse_shm(buf, &mut shm);
            let _ = ipc::parse_msg(buf, &mut msg);
            let _ = ipc::parse_sem(buf, &mut sem);
            let _ = ipc::shm_totals(&shm, 4096);
            for s in &shm {
                let _ = (s.c.key_text(), s.c.perms(), s.status());
            }
        }
        28 => {
            let mut out = [None; numa::MEMINFO_KEYS.len()];
            numa::scan(buf, &numa::MEMINFO_KEYS, &mut out);
            let mut out = [None; numa::NUMASTAT_KEYS.len()];
            numa::scan(buf, &numa::NUMASTAT_KEYS, &mut out);
            let _ = numa::extfrag_normal(&text);
            let _ = numa::parse_bandwidth(&text, &[0, 1, 2]);
        }
        29 => {
            let s = cpufreq::from_time_in_state(&text);
            for i in 0..8 {
                let _ = s.get(i);
            }
        }
        30 => {
            let _ = tapefc::parse_scsi(&text);
        }
        _ => {
            let _ = indom::parse_cpulist(&text);
            for w in text.split_ascii_whitespace().take(32) {
                let _ = zoneinfo::metric_item(w);
                let _ = disk::classify(w);
                let _ = disk::is_partition(w);
            }
        }
    }
});
