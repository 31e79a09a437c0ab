//! Fuzzes the Linux agent's /proc and /sys parsers (each collector's, see
//! pmda-linux's crate documentation): garbage in a proc file gives an
//! error or odd values, never a panic.
//!
//! Input: a selector byte (which parser, `data[0] % N`), then the file's
//! bytes. The seed script prefixes real files from this machine with their
//! selector (see README.md).
//!
//! `cargo +nightly fuzz run linux_procfs` (from this directory).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pmda_linux::cpu::cpuinfo::{CpuField, CpuInfo};
use pmda_linux::cpu::{cpufreq, stat::Stat};
use pmda_linux::interrupts::table::IrqTable;
use pmda_linux::keyed::Keyed;
use pmda_linux::nfs::rpc::{self, NfsdThreads};
use pmda_linux::tty::{self, TtyCounts};
use pmda_linux::zones::{buddyinfo, zoneinfo};
use pmda_linux::{
    disk, filesys, ipc, kernel, netdev, netproto, numa, parse, pressure, scsi, slab, sockets,
    softnet, swapdev, vfs,
};

/// Selector values; keep in step with `make-seeds.py`'s LINUX table.
const PARSERS: u8 = 32;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(buf);
    match sel % PARSERS {
        0 => {
            let mut k = Keyed::new();
            let s = k.slot("memtotal");
            let _ = k.parse_colon(buf);
            let _ = k.parse_colon(buf);
            let _ = k.get(s);
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
            let _ = Stat::parse(buf);
        }
        5 => {
            if let Ok(devs) = disk::diskstats::parse(buf) {
                let mut scratch = Vec::new();
                let _ = disk::diskstats::name_devices(Path::new("/nonexistent"), devs, &mut scratch);
            }
        }
        6 => {
            let _ = disk::diskstats::parse_partitions(buf);
        }
        7 => {
            let _ = zoneinfo::Zoneinfo::parse(buf);
            for line in buf.split(|&b| b == b'\n').take(64) {
                let _ = zoneinfo::zone_item(line);
            }
        }
        8 => {
            if let Ok(caches) = slab::parse(buf) {
                for c in &caches {
                    let _ = c.total_size(4096);
                }
            }
        }
        9 => {
            let _ = netdev::dev::parse_net_dev(buf);
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
            if let Ok(m) = filesys::mounts::parse_mounts(buf) {
                for m in filesys::mounts::unique(m, str::to_string) {
                    let _ = filesys::mounts::statfs_fixture(buf, &m.dir);
                    let _ = filesys::mounts::unescaped(&m.dir);
                }
            }
        }
        13 => {
            let _ = softnet::parse(buf);
        }
        14 => {
            let _ = vfs::parse_locks(buf);
        }
        15 => {
            let _ = sockets::tables::parse_sockets(buf);
        }
        16 => {
            let _ = buddyinfo::parse(buf);
        }
        17 => {
            let _ = kernel::utmp::count_logins(buf);
        }
        18 => {
            let _ = netproto::icmpmsg::parse(buf);
        }
        19 => {
            let _ = rpc::parse_client(buf);
            let _ = rpc::parse_server(buf);
        }
        20 => {
            let _ = rpc::parse_pool_threads(buf);
            let mut t = NfsdThreads::default();
            rpc::parse_pool_stats(buf, &mut t);
        }
        21 => {
            let mut counts = TtyCounts::default();
            for line in text.lines() {
                let _ = tty::parse_tty_line(line, &mut counts);
            }
        }
        22 => {
            let mut out = Vec::new();
            netdev::addrs::parse_if_inet6(&text, &mut out);
        }
        24 => {
            let _ = swapdev::parse(buf);
        }
        25 => {
            let _ = filesys::mounts::unique(filesys::mounts::parse_tmpfs(buf), str::to_string);
        }
        26 => {
            let _ = sockets::tables::count_unix(buf);
            let _ = sockets::tables::count_raw(buf);
        }
        27 => {
            if let Ok(shm) = ipc::tables::parse_shm(buf) {
                let _ = ipc::tables::shm_totals(&shm, 4096);
                for s in &shm {
                    let _ = (s.c.key_text(), s.c.perms(), s.status());
                }
            }
            let _ = ipc::tables::parse_msg(buf);
            let _ = ipc::tables::parse_sem(buf);
        }
        28 => {
            let mut out = [None; numa::parse::MEMINFO_KEYS.len()];
            numa::parse::scan(buf, &numa::parse::MEMINFO_KEYS, &mut out);
            let mut out = [None; numa::parse::NUMASTAT_KEYS.len()];
            numa::parse::scan(buf, &numa::parse::NUMASTAT_KEYS, &mut out);
            let _ = numa::parse::extfrag_normal(&text);
            let _ = numa::parse::parse_bandwidth(&text, &[0, 1, 2]);
        }
        29 => {
            let s = cpufreq::from_time_in_state(&text);
            for i in 0..8 {
                let _ = s.get(i);
            }
        }
        30 => {
            let _ = scsi::sysfs::parse_scsi(&text);
        }
        31 => {
            let _ = pressure::parse(buf);
        }
        _ => {
            let _ = parse::parse_cpulist(&text);
            for w in text.split_ascii_whitespace().take(32) {
                let _ = zoneinfo::metric_item(w);
                let _ = disk::diskstats::classify(w);
                let _ = disk::diskstats::is_partition(w);
            }
        }
    }
});
