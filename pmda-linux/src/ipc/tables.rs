//! The System V IPC tables of `/proc/sysvipc/{shm,msg,sem}`, the totals
//! the kernel keeps over them, and their owners' names.

use crate::parse::{fields, lines, ParseError};

fn bad(what: &str, line: &[u8]) -> ParseError {
    ParseError::line(what, line)
}

/// Fields every table row starts with: key, id, permission bits (with
/// the segment status bits) and owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Common {
    /// The IPC key (as the kernel prints it, signed).
    pub key: i32,
    /// The object's id (the instance name, in decimal).
    pub id: u32,
    /// The mode bits, from the octal perms column.
    pub mode: u32,
    /// The owner's user id.
    pub uid: u32,
}

impl Common {
    /// The key as pmdalinux shows it: `0x` and eight hex digits.
    pub fn key_text(&self) -> String {
        format!("0x{:08x}", self.key as u32)
    }

    /// The access bits as pmdalinux shows them: the octal digits read as a
    /// decimal number (mode 0640 is 640).
    pub fn perms(&self) -> u32 {
        format!("{:o}", self.mode & 0o777).parse().unwrap_or(0)
    }
}

/// One shared memory segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shm {
    /// Key, id, mode and owner.
    pub c: Common,
    /// Size in bytes.
    pub size: u64,
    /// Creator's process id.
    pub cpid: u32,
    /// Process id of the last attach or detach.
    pub lpid: u32,
    /// Current attaches.
    pub nattch: u32,
    /// Resident bytes (0 when the kernel does not print it).
    pub rss: u64,
    /// Swapped-out bytes (0 when the kernel does not print it).
    pub swap: u64,
}

impl Shm {
    /// The segment's state as pmdalinux words it.
    pub fn status(&self) -> &'static str {
        match (self.c.mode & 0o1000 != 0, self.c.mode & 0o2000 != 0) {
            (true, true) => "dest locked",
            (false, true) => "locked",
            (true, false) => "dest",
            (false, false) => "",
        }
    }
}

/// One message queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Msg {
    /// Key, id, mode and owner.
    pub c: Common,
    /// Bytes queued.
    pub cbytes: u64,
    /// Messages queued.
    pub qnum: u64,
    /// Process id of the last send.
    pub lspid: u32,
    /// Process id of the last receive.
    pub lrpid: u32,
}

/// One semaphore array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sem {
    /// Key, id, mode and owner.
    pub c: Common,
    /// Semaphores in the array.
    pub nsems: u64,
}

/// The numbers of one table row, after the header; `min` of them at least.
fn row<'a>(what: &str, line: &'a [u8], min: usize) -> Result<Vec<&'a [u8]>, ParseError> {
    let f: Vec<&[u8]> = fields(line).collect();
    if f.len() < min {
        return Err(bad(what, line));
    }
    Ok(f)
}

fn num<T: std::str::FromStr>(what: &str, line: &[u8], f: &[u8]) -> Result<T, ParseError> {
    std::str::from_utf8(f)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(what, line))
}

fn common(what: &str, line: &[u8], f: &[&[u8]], uid: usize) -> Result<Common, ParseError> {
    let key: i64 = num(what, line, f[0])?;
    let mode = std::str::from_utf8(f[2])
        .ok()
        .and_then(|s| u32::from_str_radix(s, 8).ok())
        .ok_or_else(|| bad(what, line))?;
    Ok(Common {
        key: key as i32,
        id: num(what, line, f[1])?,
        mode,
        uid: num(what, line, f[uid])?,
    })
}

/// Parses /proc/sysvipc/shm: `key shmid perms size cpid lpid nattch uid
/// ...` with `rss swap` at the end on kernels that print them.
pub fn parse_shm(buf: &[u8]) -> Result<Vec<Shm>, ParseError> {
    let mut out = Vec::new();
    for line in lines(buf).skip(1) {
        let w = "sysvipc/shm";
        let f = row(w, line, 8)?;
        out.push(Shm {
            c: common(w, line, &f, 7)?,
            size: num(w, line, f[3])?,
            cpid: num(w, line, f[4])?,
            lpid: num(w, line, f[5])?,
            nattch: num(w, line, f[6])?,
            rss: f.get(14).map_or(Ok(0), |x| num(w, line, x))?,
            swap: f.get(15).map_or(Ok(0), |x| num(w, line, x))?,
        });
    }
    Ok(out)
}

/// Parses /proc/sysvipc/msg: `key msqid perms cbytes qnum lspid lrpid uid
/// ...`.
pub fn parse_msg(buf: &[u8]) -> Result<Vec<Msg>, ParseError> {
    let mut out = Vec::new();
    for line in lines(buf).skip(1) {
        let w = "sysvipc/msg";
        let f = row(w, line, 8)?;
        out.push(Msg {
            c: common(w, line, &f, 7)?,
            cbytes: num(w, line, f[3])?,
            qnum: num(w, line, f[4])?,
            lspid: num(w, line, f[5])?,
            lrpid: num(w, line, f[6])?,
        });
    }
    Ok(out)
}

/// Parses /proc/sysvipc/sem: `key semid perms nsems uid ...`.
pub fn parse_sem(buf: &[u8]) -> Result<Vec<Sem>, ParseError> {
    let mut out = Vec::new();
    for line in lines(buf).skip(1) {
        let w = "sysvipc/sem";
        let f = row(w, line, 5)?;
        out.push(Sem {
            c: common(w, line, &f, 4)?,
            nsems: num(w, line, f[3])?,
        });
    }
    Ok(out)
}

/// The kernel's shared memory totals (`SHM_INFO`) from the segments: the
/// pages they span, times the page size (bytes), resident bytes, swapped
/// bytes, and the number of segments.
pub fn shm_totals(shm: &[Shm], pagesize: u64) -> [u64; 4] {
    let mut t = [0u64, 0, 0, shm.len() as u64];
    for s in shm {
        let pages = s.size.div_ceil(pagesize.max(1));
        t[0] = t[0].wrapping_add(pages.wrapping_mul(pagesize));
        t[1] = t[1].wrapping_add(s.rss);
        t[2] = t[2].wrapping_add(s.swap);
    }
    t
}

/// The user name of `uid` as pmdalinux shows owners: from the password
/// database (`getpwuid` on the live system, `ROOT/etc/passwd` on another
/// root), else the number.
pub fn owner(root: &std::path::Path, live: bool, uid: u32) -> String {
    if live {
        if let Some(n) = getpwuid(uid) {
            return n;
        }
    } else if let Ok(text) = std::fs::read_to_string(root.join("etc/passwd")) {
        for l in text.lines() {
            let mut f = l.split(':');
            let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if id.parse() == Ok(uid) {
                return name.to_string();
            }
        }
    }
    uid.to_string()
}

fn getpwuid(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r fills `pw` with pointers into `buf`, which
    // outlives their use here; `res` is null when there is no entry.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut res: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res) };
    if rc != 0 || res.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points at a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        let shm = parse_shm(
            b"       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
         0          2  1600                  4096  1234  1235      0     0     0     0     0          0          0 1795450441                  4096                     0\n\
1375744001          3   640                 10000   100   100      1  1000  1000  1000  1000          0          0 1795450441                     0                  8192\n",
        )
        .unwrap();
        assert_eq!(shm.len(), 2);
        assert_eq!(shm[0].status(), "dest");
        assert_eq!(shm[0].c.perms(), 600);
        assert_eq!(shm[1].c.key_text(), "0x52003001");
        assert_eq!(shm[1].c.perms(), 640);
        assert_eq!(shm[1].status(), "");
        assert_eq!(shm_totals(&shm, 4096), [4096 + 12288, 4096, 8192, 2]);
        let msg = parse_msg(
            b"       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
        -1          0   666          12          3    10    11     0     0     0     0          0          0 1795450441\n",
        )
        .unwrap();
        assert_eq!(msg[0].c.key_text(), "0xffffffff");
        assert_eq!((msg[0].cbytes, msg[0].qnum, msg[0].lrpid), (12, 3, 11));
        let sem = parse_sem(
            b"       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
         0          1   600          3     0     0     0     0          0 1795450441\n",
        )
        .unwrap();
        assert_eq!((sem[0].c.id, sem[0].nsems), (1, 3));
        assert!(parse_sem(b"header\n 0 1 9z9 3 0\n").is_err());
        assert!(parse_msg(b"header\n 0 1 600\n").is_err());
    }
}
