//! What every collector reads through: the root directory, whether it is
//! the live system, the kernel's clock tick and page size, the kept-open
//! files and reused buffers, whose namespaces the namespaced sources are
//! read in ([`View`]), and the record of one fetch (which sources were
//! read, which failed, which files did not parse).

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use pcp_core::PmError;

use crate::binding::Need;
use crate::collectors::Id;
use crate::namespace::{self, Namespace, View};
use crate::parse::ParseError;
use crate::read::{self, KeptFiles};
use crate::LinuxError;

/// Why a source gave nothing: its file could not be read (`-errno`), or
/// it did not parse.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The read error (a missing file is `-ENOENT`, as pmdalinux says).
    Errno(PmError),
    /// What the parser found wrong.
    Format(ParseError),
}

impl From<ParseError> for Failure {
    fn from(e: ParseError) -> Failure {
        Failure::Format(e)
    }
}

impl From<PmError> for Failure {
    fn from(e: PmError) -> Failure {
        Failure::Errno(e)
    }
}

/// Distinct format errors printed at most (later ones are still counted
/// in [`System::errors`], not printed).
const MAX_REPORTED: usize = 256;

/// The environment collectors read in, and one fetch's record.
#[derive(Debug)]
pub(crate) struct System {
    root: PathBuf,
    live: bool,
    /// The kernel's USER_HZ.
    pub(crate) hz: u64,
    /// The page size in bytes.
    pub(crate) pagesize: u64,
    kept: KeptFiles,
    /// Whose namespaces this fetch's namespaced sources are read in.
    view: View,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Sources read in this fetch, per collector.
    loaded: [u32; Id::COUNT],
    /// Sources of this fetch that failed, with their error.
    failed: Vec<(Need, PmError)>,
    errors: Vec<LinuxError>,
    reported: HashSet<String>,
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

impl System {
    /// Reading under `root`; `live` when that is this machine's `/`.
    pub(crate) fn new(root: PathBuf, live: bool) -> System {
        System {
            root,
            live,
            hz: sysconf(libc::_SC_CLK_TCK, 100),
            pagesize: sysconf(libc::_SC_PAGESIZE, 4096),
            kept: KeptFiles::new(live),
            view: View::Host,
            buf: Vec::new(),
            scratch: Vec::new(),
            loaded: [0; Id::COUNT],
            failed: Vec::new(),
            errors: Vec::new(),
            reported: HashSet::new(),
        }
    }

    /// The root every path is under.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// True on the live system (not a fixture tree): system calls may
    /// stand in for files (uname, statfs, getifaddrs, sock_diag).
    pub(crate) fn live(&self) -> bool {
        self.live
    }

    /// Starts a fetch in `view`'s namespaces: nothing read yet.
    pub(crate) fn begin(&mut self, view: View) {
        self.view = view;
        self.loaded = [0; Id::COUNT];
        self.failed.clear();
        self.errors.clear();
    }

    /// The sources of `collector` among `want` not read yet in this fetch.
    pub(crate) fn unread(&self, collector: Id, want: u32) -> u32 {
        want & !self.loaded[collector as usize]
    }

    /// Whose namespaces this fetch's namespaced sources are read in.
    pub(crate) fn view(&self) -> View {
        self.view
    }

    /// The directory the view's mount namespace sees as `/`: the root,
    /// or `ROOT/proc/PID/root` for a container's process.
    pub(crate) fn view_root(&self) -> Cow<'_, Path> {
        match self.view {
            View::Host => Cow::Borrowed(&self.root),
            View::Process(_) => Cow::Owned(self.root.join(self.view.root_rel("").as_ref())),
        }
    }

    /// Runs `f` in namespace `ns` of the view: here on the host, in a
    /// helper thread that joined the container process's namespace
    /// otherwise ([`namespace::run_in`]).
    pub(crate) fn in_namespace<T: Send>(
        &self,
        ns: Namespace,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T, PmError> {
        match self.view {
            View::Host => Ok(f()),
            View::Process(pid) => namespace::run_in(&self.root, pid, ns, f),
        }
    }

    /// Records that `need` was read, with its outcome.
    pub(crate) fn done(&mut self, need: Need, outcome: Result<(), PmError>) {
        self.loaded[need.collector as usize] |= need.bit;
        if let Err(e) = outcome {
            self.failed.push((need, e));
        }
    }

    /// The outcome of reading `need` in this fetch (`Ok` when it was not
    /// needed).
    pub(crate) fn status(&self, need: Need) -> Result<(), PmError> {
        match self.failed.iter().find(|(n, _)| *n == need) {
            Some((_, e)) => Err(*e),
            None => Ok(()),
        }
    }

    /// Reads the fixed file `rel` (kept open on the live system, see
    /// [`KeptFiles`]), hands its bytes or read error to `parse`, and
    /// records the outcome for `need`. A format error is reported and
    /// fails the source with `PM_ERR_VALUE`.
    pub(crate) fn load(
        &mut self,
        need: Need,
        rel: &'static str,
        parse: impl FnOnce(Result<&[u8], PmError>) -> Result<(), Failure>,
    ) {
        let mut buf = std::mem::take(&mut self.buf);
        let r = parse(self.kept.read(&self.root, rel, &mut buf));
        self.buf = buf;
        let outcome = self.outcome(rel, r);
        self.done(need, outcome);
    }

    /// As [`System::parse`], for a per-process /proc file of the view
    /// (`proc/net/X`, `proc/self/mounts`): the host's file kept open, or a
    /// container process's (`proc/PID/net/X`) opened afresh, so that no
    /// kept descriptor answers for another namespace.
    pub(crate) fn parse_in_view(
        &mut self,
        need: Need,
        rel: &'static str,
        parse: impl FnOnce(&[u8]) -> Result<(), ParseError>,
    ) {
        if self.view == View::Host {
            return self.parse(need, rel, parse);
        }
        let rel = self.view.proc_rel(rel).into_owned();
        let mut buf = std::mem::take(&mut self.buf);
        let r = match read::read_into(&self.root, &rel, &mut buf) {
            Ok(b) => parse(b).map_err(Failure::from),
            Err(e) => Err(Failure::from(e)),
        };
        self.buf = buf;
        let outcome = self.outcome(&rel, r);
        self.done(need, outcome);
    }

    /// As [`System::load`], for a parser that needs the bytes: a read
    /// error fails the source with its errno.
    pub(crate) fn parse(
        &mut self,
        need: Need,
        rel: &'static str,
        parse: impl FnOnce(&[u8]) -> Result<(), ParseError>,
    ) {
        self.load(need, rel, |r| Ok(parse(r?)?));
    }

    /// The outcome of a source read from `rel`: a format error is
    /// reported (once while it lasts) and becomes `PM_ERR_VALUE`.
    pub(crate) fn outcome(&mut self, rel: &str, r: Result<(), Failure>) -> Result<(), PmError> {
        match r {
            Ok(()) => Ok(()),
            Err(Failure::Errno(e)) => Err(e),
            Err(Failure::Format(e)) => Err(self.format_error(rel, e)),
        }
    }

    /// Records that `rel` did not parse; `PM_ERR_VALUE` for its metrics.
    /// Each distinct error is printed once, not once per fetch.
    pub(crate) fn format_error(&mut self, rel: &str, e: ParseError) -> PmError {
        let err = LinuxError::Format {
            path: self.root.join(rel),
            detail: e.0,
        };
        let text = err.to_string();
        if self.reported.len() < MAX_REPORTED && self.reported.insert(text.clone()) {
            eprintln!("pmda-linux: {text}");
        }
        self.errors.push(err);
        PmError::VALUE
    }

    /// Format errors of this fetch.
    pub(crate) fn errors(&self) -> &[LinuxError] {
        &self.errors
    }

    /// Reads `root/rel` (opened afresh) into scratch space: the bytes, or
    /// the read error.
    pub(crate) fn read(&mut self, rel: &str) -> Result<&[u8], PmError> {
        read::read_into(&self.root, rel, &mut self.scratch)
    }

    /// A small attribute file `root/rel` without its trailing newline;
    /// `None` when it cannot be read.
    pub(crate) fn attr(&mut self, rel: &str) -> Option<String> {
        read::read_attr(&self.root.join(rel), &mut self.scratch)
    }

    /// The first number of the attribute file `root/rel`.
    pub(crate) fn attr_u64(&mut self, rel: &str) -> Option<u64> {
        self.read(rel).ok().and_then(crate::parse::first_u64)
    }

    /// Reads the fixed file `rel` kept open (as [`System::load`]) and
    /// returns its trimmed text. When that fails the error is the file's
    /// `stat` error (`-ENOENT` for a missing file), or `-EIO` for a file
    /// that exists but cannot be read or is not text.
    pub(crate) fn kept_text(&mut self, rel: &'static str) -> Result<String, PmError> {
        let text = match self.kept.read(&self.root, rel, &mut self.scratch) {
            Ok(bytes) => std::str::from_utf8(bytes).ok().map(crate::parse::trim_attr),
            Err(_) => None,
        };
        text.ok_or_else(|| match std::fs::metadata(self.root.join(rel)) {
            Err(e) => read::io_err(&e),
            Ok(_) => PmError::from_errno(libc::EIO),
        })
    }
}
