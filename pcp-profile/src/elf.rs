//! What the symbolizer needs to know of an ELF file before asking
//! blazesym, from its headers alone: whether it still has its full symbol
//! table (`SHT_SYMTAB`), and its loadable segments (to turn a file offset
//! into the virtual address a separate debug file is indexed by); and
//! where a stripped file's debug file is by build id.
//!
//! A file with a symbol table has lost nothing to `strip`, so what it
//! misses is left as `module+0xOFFSET`. A stripped one is looked up in
//! its build-id debug file's symbol table (`.build-id/ab/cdef….debug`
//! under the debug directories, as distributions install them), and
//! only without one through blazesym's DWARF pass (debug links, `.dwp`),
//! whose parse of every compilation unit costs far more memory than a
//! symbol table (about 30 MiB for glibc's debug file).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `SHT_SYMTAB`, the section type of the full symbol table.
const SHT_SYMTAB: u64 = 2;

/// Most section headers looked at (real files have tens; a few thousand
/// with `-ffunction-sections` objects linked in).
const MAX_SECTIONS: u64 = 1 << 16;

/// `PT_LOAD`, a loadable segment.
const PT_LOAD: u64 = 1;

/// Most program headers looked at.
const MAX_SEGMENTS: u64 = 1 << 12;

/// One loadable segment: file bytes `offset..offset + file_size` are
/// loaded at virtual address `vaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Load {
    offset: u64,
    file_size: u64,
    vaddr: u64,
}

/// The facts the symbolizer uses about one ELF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfFacts {
    /// Whether it has a `SHT_SYMTAB` section (it is not stripped).
    pub has_symtab: bool,
    loads: Vec<Load>,
}

impl ElfFacts {
    /// Reads the headers of the ELF file at `path`. Files that are not
    /// ELF, or whose headers do not fit the file, are an `InvalidData`
    /// error.
    pub fn read(path: &Path) -> io::Result<ElfFacts> {
        read_facts(&File::open(path)?)
    }

    /// The virtual address (relative to the file's own base, as its
    /// symbols are) of file offset `offset`, if a segment loads it.
    pub fn virt_offset(&self, offset: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|l| offset >= l.offset && offset - l.offset < l.file_size)
            .map(|l| offset - l.offset + l.vaddr)
    }
}

/// Whether the ELF file at `path` has a `SHT_SYMTAB` section.
pub fn has_symbol_table(path: &Path) -> io::Result<bool> {
    ElfFacts::read(path).map(|f| f.has_symtab)
}

/// The debug file of build id `build_id` in the first of `debug_dirs`
/// holding one (`DIR/.build-id/ab/cdef….debug`), looked for first inside
/// `root` (a process's `/proc/PID/root`, for containers) and then as is.
pub fn build_id_debug_file(
    debug_dirs: &[std::path::PathBuf],
    root: Option<&Path>,
    build_id: &[u8],
) -> Option<std::path::PathBuf> {
    if build_id.len() < 2 {
        return None;
    }
    let hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
    let rel = format!(".build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    for dir in debug_dirs {
        let path = dir.join(&rel);
        let rooted = root.map(|r| r.join(path.strip_prefix("/").unwrap_or(&path)));
        for candidate in rooted.into_iter().chain([path]) {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads integers of the file's class and byte order.
struct Reader {
    wide: bool,
    big_endian: bool,
}

impl Reader {
    fn u16(&self, b: &[u8], at: usize) -> Option<u64> {
        let x: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        } as u64)
    }

    fn u32(&self, b: &[u8], at: usize) -> Option<u64> {
        let x: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        } as u64)
    }

    /// An address-sized field (`Elf32_Off`/`Elf64_Off`, `..._Xword`).
    fn word(&self, b: &[u8], at: usize) -> Option<u64> {
        if !self.wide {
            return self.u32(b, at);
        }
        let x: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(x)
        } else {
            u64::from_le_bytes(x)
        })
    }
}

fn read_facts(file: &File) -> io::Result<ElfFacts> {
    let mut head = [0u8; 64];
    let n = file.read_at(&mut head, 0)?;
    let head = &head[..n];
    if head.len() < 52 || &head[..4] != b"\x7fELF" {
        return Err(bad("not an ELF file"));
    }
    let r = Reader {
        wide: match head[4] {
            1 => false,
            2 => true,
            _ => return Err(bad("unknown ELF class")),
        },
        big_endian: match head[5] {
            1 => false,
            2 => true,
            _ => return Err(bad("unknown ELF byte order")),
        },
    };
    let short = || bad("truncated ELF header");
    let size = file.metadata()?.len();
    // The entries of a header table, each `entsize` bytes from `off`.
    let entry = |off: u64, entsize: u64, i: u64| -> io::Result<Vec<u8>> {
        let at = off
            .checked_add(i * entsize)
            .filter(|start| start.saturating_add(entsize) <= size)
            .ok_or_else(|| bad("header table beyond the end of the file"))?;
        let mut e = vec![0u8; entsize as usize];
        file.read_exact_at(&mut e, at)?;
        Ok(e)
    };
    // e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum by class.
    let (phoff_at, shoff_at, table_at) = if r.wide { (32, 40, 54) } else { (28, 32, 42) };
    let phoff = r.word(head, phoff_at).ok_or_else(short)?;
    let shoff = r.word(head, shoff_at).ok_or_else(short)?;
    let phentsize = r.u16(head, table_at).ok_or_else(short)?;
    let phnum = r.u16(head, table_at + 2).ok_or_else(short)?;
    let shentsize = r.u16(head, table_at + 4).ok_or_else(short)?;
    let mut shnum = r.u16(head, table_at + 6).ok_or_else(short)?;
    let mut facts = ElfFacts::default();

    let min_phentsize = if r.wide { 56 } else { 32 };
    if phoff != 0 && phnum > 0 {
        if phentsize < min_phentsize {
            return Err(bad("program header entries too small"));
        }
        // p_offset, p_vaddr, p_filesz by class.
        let (off_at, vaddr_at, filesz_at) = if r.wide { (8, 16, 32) } else { (4, 8, 16) };
        for i in 0..phnum.min(MAX_SEGMENTS) {
            let e = entry(phoff, phentsize, i)?;
            if r.u32(&e, 0) != Some(PT_LOAD) {
                continue;
            }
            let field = |at| r.word(&e, at).ok_or_else(short);
            facts.loads.push(Load {
                offset: field(off_at)?,
                vaddr: field(vaddr_at)?,
                file_size: field(filesz_at)?,
            });
        }
    }

    if shoff == 0 {
        return Ok(facts);
    }
    let min_shentsize = if r.wide { 64 } else { 40 };
    if shentsize < min_shentsize {
        return Err(bad("section header entries too small"));
    }
    if shnum == 0 {
        // More than 0xff00 sections: the count is section 0's sh_size.
        let size_at = if r.wide { 32 } else { 20 };
        shnum = r
            .word(&entry(shoff, shentsize, 0)?, size_at)
            .ok_or_else(short)?;
    }
    for i in 0..shnum.min(MAX_SECTIONS) {
        // sh_type follows sh_name in both classes.
        if r.u32(&entry(shoff, shentsize, i)?, 4) == Some(SHT_SYMTAB) {
            facts.has_symtab = true;
            break;
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 little-endian file with the given section types.
    fn elf64(types: &[u32]) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let shoff: u64 = if types.is_empty() { 0 } else { 64 };
        f[40..48].copy_from_slice(&shoff.to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for t in types {
            let mut e = vec![0u8; 64];
            e[4..8].copy_from_slice(&t.to_le_bytes());
            f.extend(e);
        }
        f
    }

    fn check(bytes: &[u8]) -> io::Result<bool> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, bytes).unwrap();
        has_symbol_table(&p)
    }

    #[test]
    fn finds_the_symbol_table_section() {
        assert!(check(&elf64(&[0, 1, 2, 3])).unwrap());
        assert!(!check(&elf64(&[0, 1, 11, 3])).unwrap(), "dynsym only");
        assert!(!check(&elf64(&[])).unwrap(), "no section headers");
        // Extended numbering: e_shnum 0, the count in section 0's sh_size.
        let mut f = elf64(&[0, 1, 2]);
        f[60..62].copy_from_slice(&0u16.to_le_bytes());
        f[64 + 32..64 + 40].copy_from_slice(&3u64.to_le_bytes());
        assert!(check(&f).unwrap());
        f[64 + 32..64 + 40].copy_from_slice(&2u64.to_le_bytes());
        assert!(!check(&f).unwrap());
    }

    #[test]
    fn this_test_binary_has_one_and_maps_its_own_code() {
        let me = std::env::current_exe().unwrap();
        let facts = ElfFacts::read(&me).unwrap();
        assert!(facts.has_symtab);
        // This function's file offset, from our own mappings, turns back
        // into its address relative to the load base.
        let addr = this_test_binary_has_one_and_maps_its_own_code as *const () as usize as u64;
        let maps = crate::procinfo::read_maps(std::process::id()).unwrap();
        let m = crate::procinfo::find_mapping(&maps, addr).unwrap();
        // The load base: where the file's offset 0 is mapped (a read-only
        // mapping, so taken from /proc/self/maps itself).
        let exe = me.to_string_lossy().into_owned();
        let base = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 6 && f[5] == exe && u64::from_str_radix(f[2], 16) == Ok(0))
                    .then(|| u64::from_str_radix(f[0].split('-').next().unwrap(), 16).unwrap())
            })
            .unwrap();
        assert_eq!(
            facts.virt_offset(m.file_offset(addr)),
            Some(addr - base),
            "{facts:?}"
        );
        assert_eq!(facts.virt_offset(u64::MAX), None);
    }

    #[test]
    fn debug_files_are_found_by_build_id() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(".build-id/ab");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("cdef.debug"), b"x").unwrap();
        let dirs = [dir.path().join("missing"), dir.path().to_path_buf()];
        assert_eq!(
            build_id_debug_file(&dirs, None, &[0xab, 0xcd, 0xef]),
            Some(sub.join("cdef.debug"))
        );
        assert_eq!(build_id_debug_file(&dirs, None, &[0xab, 0xcd]), None);
        assert_eq!(build_id_debug_file(&dirs, None, &[0xab]), None);
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        assert!(check(b"").is_err());
        assert!(check(b"#!/bin/sh\necho not elf\n").is_err());
        let mut f = elf64(&[2]);
        f.truncate(100);
        assert!(check(&f).is_err(), "headers past the end");
        let mut f = elf64(&[2]);
        f[58] = 8;
        assert!(check(&f).is_err(), "entries too small");
        let mut f = elf64(&[2]);
        f[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check(&f).is_err(), "offset overflows");
        for cut in 0..f.len() {
            let _ = check(&f[..cut]);
        }
    }
}
