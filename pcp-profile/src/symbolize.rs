//! Turning addresses into frames: user addresses through the process's
//! `/proc/PID/maps` and its ELF files (symtab, dynsym, DWARF, debug links
//! and build-id debug files, by libbpf's `blazesym`), kernel addresses by
//! the names bpftrace printed from kallsyms.
//!
//! Caches, sized as pyroscope.ebpf sizes them ([`CacheSizes`]):
//! - per process (`pid_cache_size`): its executable mappings, re-read at
//!   most once per interval and only when an address falls outside them
//!   or the process is new (a reused pid is told apart by start time); a
//!   process that exited keeps its last mappings until evicted, so its
//!   last samples still resolve;
//! - ELF symbol tables by build id (`build_id_cache_size`), and by file
//!   identity (device, inode) for files without one
//!   (`same_file_cache_size`); each holds one blazesym symbolizer and the
//!   names it resolved (at most [`RESOLVED_PER_FILE`]).
//!
//! Memory is bounded by these counts: evicting an entry drops its parsed
//! tables. Frames without a symbol keep `module+0xOFFSET` (file offset),
//! so a stripped binary's profile still tells its hot spots apart.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use blazesym::symbolize::{self, Input, Symbolized};

use crate::config::{CacheSizes, Demangle};
use crate::demangle::demangle;
use crate::elf::{build_id_debug_file, ElfFacts};
use crate::lru::Lru;
use crate::model::{Frame, Function, MappingInfo};
use crate::parse::KernelFrame;
use crate::procinfo::{self, Backing, Mapping};

/// Names kept per ELF file before its name cache is cleared.
pub const RESOLVED_PER_FILE: usize = 16384;

/// Counters of one symbolizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SymbolizeCounts {
    /// User frames resolved to a symbol.
    pub hits: u64,
    /// User frames without a symbol (shown as `module+0xoffset`, or
    /// `[unknown]` outside any mapping).
    pub misses: u64,
    /// `/proc/PID/maps` reads.
    pub maps_reads: u64,
    /// ELF files opened (cache misses of the two ELF caches).
    pub elf_opens: u64,
}

/// Which cache an ELF's symbols live in.
///
/// A build id names a build, not a file's contents: `strip` keeps it, so
/// a stripped copy and the original share it but not their symbols. The
/// build-id cache is keyed by build id and file size, which tells those
/// apart and still shares one table among copies of the same binary
/// (containers, hard links).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ElfKey {
    BuildId(Vec<u8>, u64),
    File((i32, i32), u64),
}

struct ElfEntry {
    symbolizer: symbolize::Symbolizer,
    path: PathBuf,
    /// What its headers say (see [`crate::elf`]); `None` if unreadable.
    facts: Option<ElfFacts>,
    /// A stripped file's debug file found by build id.
    debug_file: Option<PathBuf>,
    resolved: HashMap<u64, Option<(Arc<Function>, i64)>>,
}

impl std::fmt::Debug for ElfEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElfEntry")
            .field("path", &self.path)
            .field("resolved", &self.resolved.len())
            .finish()
    }
}

#[derive(Debug)]
struct ProcEntry {
    start_time: u64,
    maps: Vec<Mapping>,
    /// Per mapping: its pprof mapping and ELF key, filled on first use.
    infos: Vec<Option<(Arc<MappingInfo>, Option<ElfKey>)>>,
    /// The interval its maps were last checked in.
    checked: u64,
}

/// Resolves stacks to frames with bounded caches. Not `Send` (blazesym's
/// symbolizer is not): it lives on the profiler's thread.
#[derive(Debug)]
pub struct Symbolizer {
    demangle: Demangle,
    procs: Lru<u32, ProcEntry>,
    by_build_id: Lru<(Vec<u8>, u64), ElfEntry>,
    by_file: Lru<((i32, i32), u64), ElfEntry>,
    kernel_mapping: Arc<MappingInfo>,
    unknown: Arc<Function>,
    interval: u64,
    counts: SymbolizeCounts,
    debug_dirs: Vec<PathBuf>,
}

impl Symbolizer {
    /// A symbolizer with empty caches of the given sizes.
    pub fn new(sizes: &CacheSizes, demangle: Demangle) -> Symbolizer {
        Symbolizer {
            demangle,
            procs: Lru::new(sizes.pid_cache_size),
            by_build_id: Lru::new(sizes.build_id_cache_size),
            by_file: Lru::new(sizes.same_file_cache_size),
            kernel_mapping: Arc::new(MappingInfo {
                start: 0xffff_8000_0000_0000,
                limit: u64::MAX,
                offset: 0,
                filename: "[kernel.kallsyms]".into(),
                build_id: String::new(),
            }),
            unknown: Arc::new(Function {
                name: "[unknown]".into(),
                system_name: "[unknown]".into(),
                filename: String::new(),
            }),
            interval: 1,
            counts: SymbolizeCounts::default(),
            debug_dirs: crate::ProfilerConfig::default_debug_dirs(),
        }
    }

    /// Looks for stripped files' debug files in `dirs` (by build id, and
    /// by debug link in the DWARF pass) instead of the defaults.
    pub fn with_debug_dirs(mut self, dirs: Vec<PathBuf>) -> Symbolizer {
        self.debug_dirs = dirs;
        self
    }

    /// Starts a new interval: mappings are checked again (once) when used.
    pub fn next_interval(&mut self) {
        self.interval += 1;
    }

    /// Counters so far.
    pub fn counts(&self) -> SymbolizeCounts {
        self.counts
    }

    /// Entries held in the (process, build id, same file) caches.
    pub fn cache_lens(&self) -> (usize, usize, usize) {
        (self.procs.len(), self.by_build_id.len(), self.by_file.len())
    }

    /// Kernel frames as bpftrace named them.
    pub fn kernel_frames(&mut self, frames: &[KernelFrame], out: &mut Vec<Frame>) {
        for k in frames {
            let name = if k.symbol.is_empty() {
                format!("[kernel.kallsyms]+0x{:x}", k.addr)
            } else {
                k.symbol.clone()
            };
            out.push(Frame {
                address: k.addr,
                function: Arc::new(Function {
                    system_name: name.clone(),
                    name,
                    filename: String::new(),
                }),
                line: 0,
                mapping: Some(self.kernel_mapping.clone()),
            });
        }
    }

    /// User frames of `pid`, `addrs` leaf first.
    pub fn user_frames(&mut self, pid: u32, addrs: &[u64], out: &mut Vec<Frame>) {
        self.ensure_proc(pid, addrs);
        for (i, &addr) in addrs.iter().enumerate() {
            // A caller's frame holds the return address: the call is the
            // instruction before it.
            let lookup = if i == 0 { addr } else { addr.saturating_sub(1) };
            let frame = self.user_frame(pid, addr, lookup);
            out.push(frame);
        }
    }

    /// Makes sure `pid`'s entry is current enough to hold `addrs`.
    fn ensure_proc(&mut self, pid: u32, addrs: &[u64]) {
        let interval = self.interval;
        let needs_read = match self.procs.get(&pid) {
            None => true,
            Some(e) if e.checked == interval => false,
            Some(e) => {
                e.checked = interval;
                let moved = match procinfo::start_time(pid) {
                    // Gone: keep what we knew.
                    None => false,
                    Some(t) => t != e.start_time,
                };
                moved
                    || addrs
                        .iter()
                        .any(|&a| procinfo::find_mapping(&e.maps, a).is_none() && a > 0x1000)
            }
        };
        if !needs_read {
            return;
        }
        self.counts.maps_reads += 1;
        let start_time = procinfo::start_time(pid);
        match (start_time, procinfo::read_maps(pid)) {
            (Some(start_time), Ok(maps)) => {
                let infos = vec![None; maps.len()];
                self.procs.insert(
                    pid,
                    ProcEntry {
                        start_time,
                        maps,
                        infos,
                        checked: interval,
                    },
                );
            }
            _ => {
                // Gone or unreadable: an entry with no mappings unless we
                // had one, which is kept as it was.
                if !self.procs.contains(&pid) {
                    self.procs.insert(
                        pid,
                        ProcEntry {
                            start_time: 0,
                            maps: Vec::new(),
                            infos: Vec::new(),
                            checked: interval,
                        },
                    );
                }
            }
        }
    }

    fn user_frame(&mut self, pid: u32, addr: u64, lookup: u64) -> Frame {
        let Some(entry) = self.procs.get(&pid) else {
            return self.unknown_frame(addr);
        };
        let Some(idx) = entry
            .maps
            .partition_point(|m| m.start <= lookup)
            .checked_sub(1)
            .filter(|&i| lookup < entry.maps[i].end)
        else {
            self.counts.misses += 1;
            return self.unknown_frame(addr);
        };
        let map = entry.maps[idx].clone();
        if entry.infos[idx].is_none() {
            let info = mapping_info(pid, &map);
            entry.infos[idx] = Some(info);
        }
        let (info, key) = entry.infos[idx].clone().expect("filled above");
        let offset = map.file_offset(lookup);
        let resolved = match (&key, &map.backing) {
            (Some(key), Backing::File { path, .. }) => self.resolve(key, pid, &map, path, offset),
            _ => None,
        };
        let (function, line) = match resolved {
            Some(r) => {
                self.counts.hits += 1;
                r
            }
            None => {
                self.counts.misses += 1;
                let name = format!("{}+0x{:x}", map.module_name(), offset);
                (
                    Arc::new(Function {
                        system_name: name.clone(),
                        name,
                        filename: String::new(),
                    }),
                    0,
                )
            }
        };
        Frame {
            address: addr,
            function,
            line,
            mapping: Some(info),
        }
    }

    /// The `[unknown]` frame at `addr`.
    pub fn unknown_frame(&self, addr: u64) -> Frame {
        Frame {
            address: addr,
            function: self.unknown.clone(),
            line: 0,
            mapping: None,
        }
    }

    /// The symbol at file `offset` of the ELF `key`, opening it if needed.
    fn resolve(
        &mut self,
        key: &ElfKey,
        pid: u32,
        map: &Mapping,
        path: &std::path::Path,
        offset: u64,
    ) -> Option<(Arc<Function>, i64)> {
        let demangle_mode = self.demangle;
        let present = match key {
            ElfKey::BuildId(b, n) => self.by_build_id.contains(&(b.clone(), *n)),
            ElfKey::File(d, i) => self.by_file.contains(&(*d, *i)),
        };
        if !present {
            let open = open_path(pid, map, path)?;
            self.counts.elf_opens += 1;
            let facts = ElfFacts::read(&open).ok();
            let debug_file = match (key, &facts) {
                (ElfKey::BuildId(b, _), Some(f)) if !f.has_symtab => {
                    let root = PathBuf::from(format!("/proc/{pid}/root"));
                    build_id_debug_file(&self.debug_dirs, Some(&root), b)
                }
                _ => None,
            };
            let entry = ElfEntry {
                symbolizer: symbolize::Symbolizer::builder()
                    .enable_demangling(false)
                    .enable_code_info(false)
                    .enable_inlined_fns(false)
                    .enable_auto_reload(false)
                    .set_debug_dirs(Some(&self.debug_dirs))
                    .build(),
                facts,
                debug_file,
                path: open,
                resolved: HashMap::new(),
            };
            match key {
                ElfKey::BuildId(b, n) => {
                    self.by_build_id.insert((b.clone(), *n), entry);
                }
                ElfKey::File(d, i) => {
                    self.by_file.insert((*d, *i), entry);
                }
            }
        }
        let entry = match key {
            ElfKey::BuildId(b, n) => self.by_build_id.get(&(b.clone(), *n))?,
            ElfKey::File(d, i) => self.by_file.get(&(*d, *i))?,
        };
        if let Some(r) = entry.resolved.get(&offset) {
            return r.clone();
        }
        // The file's symbol tables first. A stripped file (no .symtab):
        // its build-id debug file's symbol table, by virtual address; only
        // without one, blazesym's DWARF pass (debug links, .dwp), as
        // parsing DWARF costs far more memory than a symbol table. An
        // unreadable file gets the first pass only.
        let stripped = entry.facts.as_ref().is_some_and(|f| !f.has_symtab);
        let mut passes: Vec<(PathBuf, bool, Input<u64>)> =
            vec![(entry.path.clone(), false, Input::FileOffset(offset))];
        if stripped {
            match &entry.debug_file {
                Some(debug) => passes.extend(
                    entry
                        .facts
                        .as_ref()
                        .and_then(|f| f.virt_offset(offset))
                        .map(|v| (debug.clone(), false, Input::VirtOffset(v))),
                ),
                None => passes.push((entry.path.clone(), true, Input::FileOffset(offset))),
            }
        }
        let mut r = None;
        for (path, debug_syms, input) in passes {
            let mut elf = symbolize::source::Elf::new(path);
            elf.debug_syms = debug_syms;
            let src = symbolize::source::Source::Elf(elf);
            if let Ok(Symbolized::Sym(sym)) = entry.symbolizer.symbolize_single(&src, input) {
                let raw = sym.name.to_string();
                let name = demangle(&raw, demangle_mode).into_owned();
                r = Some((
                    Arc::new(Function {
                        name,
                        system_name: raw,
                        filename: String::new(),
                    }),
                    0,
                ));
                break;
            }
        }
        if entry.resolved.len() >= RESOLVED_PER_FILE {
            entry.resolved.clear();
        }
        entry.resolved.insert(offset, r.clone());
        r
    }
}

/// The pprof mapping of `map` in `pid` and the key of its ELF symbols.
fn mapping_info(pid: u32, map: &Mapping) -> (Arc<MappingInfo>, Option<ElfKey>) {
    let (filename, key, build_id) = match &map.backing {
        Backing::File { path, dev, inode } => {
            let opened = open_path(pid, map, path);
            let size = opened
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            let build_id = opened
                .and_then(|p| blazesym::helper::read_elf_build_id(&p).ok().flatten())
                .map(|b| b.to_vec());
            let key = match &build_id {
                Some(b) if !b.is_empty() => ElfKey::BuildId(b.clone(), size),
                _ => ElfKey::File(*dev, *inode),
            };
            let hex = build_id
                .as_deref()
                .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
                .unwrap_or_default();
            (path.display().to_string(), Some(key), hex)
        }
        other => (
            match other {
                Backing::Vdso => "[vdso]".to_string(),
                _ => map.module_name(),
            },
            None,
            String::new(),
        ),
    };
    (
        Arc::new(MappingInfo {
            start: map.start,
            limit: map.end,
            offset: map.offset,
            filename,
            build_id,
        }),
        key,
    )
}

/// A path that opens the file `pid` has mapped: through its root (so that
/// debug links next to it are found) when that is still the same file,
/// else through `/proc/PID/map_files` (deleted or replaced files).
fn open_path(pid: u32, map: &Mapping, path: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Backing::File { inode, .. } = &map.backing else {
        return None;
    };
    let rooted =
        PathBuf::from(format!("/proc/{pid}/root")).join(path.strip_prefix("/").unwrap_or(path));
    if std::fs::metadata(&rooted).is_ok_and(|m| m.ino() == *inode) {
        return Some(rooted);
    }
    let by_map = PathBuf::from(format!(
        "/proc/{pid}/map_files/{:x}-{:x}",
        map.start, map.end
    ));
    if std::fs::metadata(&by_map).is_ok() {
        return Some(by_map);
    }
    // The process is gone: the file as named, if it is still the same.
    std::fs::metadata(path)
        .is_ok_and(|m| m.ino() == *inode)
        .then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_function_of_this_test() -> u64 {
        a_function_of_this_test as *const () as usize as u64
    }

    #[test]
    fn resolves_own_functions_and_counts() {
        let mut s = Symbolizer::new(&CacheSizes::default(), Demangle::Simplified);
        let me = std::process::id();
        let addr = a_function_of_this_test() + 1;
        let mut out = Vec::new();
        s.user_frames(me, &[addr, 8], &mut out);
        assert_eq!(out.len(), 2);
        assert!(
            out[0].function.name.ends_with("a_function_of_this_test"),
            "{:?}",
            out[0].function
        );
        assert!(
            out[0].function.system_name.starts_with("_R")
                || out[0].function.system_name.starts_with("_ZN")
        );
        let m = out[0].mapping.as_ref().unwrap();
        assert!(
            !m.build_id.is_empty(),
            "cargo test binaries carry a build id"
        );
        assert_eq!(out[1].function.name, "[unknown]");
        let c = s.counts();
        assert_eq!((c.hits, c.misses, c.maps_reads, c.elf_opens), (1, 1, 1, 1));
        // The same interval reads nothing again.
        s.user_frames(me, &[addr], &mut Vec::new());
        assert_eq!(s.counts().maps_reads, 1);
        assert_eq!(s.counts().elf_opens, 1);
        assert_eq!(s.cache_lens(), (1, 1, 0));
    }

    #[test]
    fn kernel_frames_keep_bpftrace_names_or_an_offset() {
        let mut s = Symbolizer::new(&CacheSizes::default(), Demangle::None);
        let mut out = Vec::new();
        s.kernel_frames(
            &[
                KernelFrame {
                    addr: 0xffffffff81000130,
                    symbol: "entry_SYSCALL_64".into(),
                },
                KernelFrame {
                    addr: 0xffffffffc0001234,
                    symbol: String::new(),
                },
            ],
            &mut out,
        );
        assert_eq!(out[0].function.name, "entry_SYSCALL_64");
        assert_eq!(out[1].function.name, "[kernel.kallsyms]+0xffffffffc0001234");
        assert_eq!(
            out[0].mapping.as_ref().unwrap().filename,
            "[kernel.kallsyms]"
        );
    }
}
