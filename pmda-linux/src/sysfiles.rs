//! Small text files (one number, or a few) from `/proc/sys` and `/sys`
//! that several metrics share, each read once per fetch. On the live
//! system they stay open between fetches (see `read::KeptFiles`).

use pcp_core::PmError;

use crate::binding::Need;
use crate::parse::parse_u64_wrapping;
use crate::system::System;

/// A collector's small files: file `i` is its source `first + i`.
#[derive(Debug)]
pub(crate) struct SysFiles {
    paths: &'static [&'static str],
    first: u32,
    text: Vec<Result<String, PmError>>,
}

impl SysFiles {
    /// The files `paths` (relative to the root), numbered from source
    /// `first` of their collector.
    pub(crate) fn new(paths: &'static [&'static str], first: u32) -> SysFiles {
        SysFiles {
            paths,
            first,
            text: vec![Err(PmError::VALUE); paths.len()],
        }
    }

    /// Reads the files among `want` (a collector's source bits); their
    /// read errors are the metrics' (a file is not a source that fails).
    pub(crate) fn refresh(
        &mut self,
        sys: &mut System,
        collector: crate::collectors::Id,
        want: u32,
    ) {
        for (i, path) in self.paths.iter().enumerate() {
            let need = Need::new(collector, self.first + i as u32);
            if want & need.bit != 0 {
                self.text[i] = sys.kept_text(path);
                sys.done(need, Ok(()));
            }
        }
    }

    /// Field `field` (counting from 0, white space between) of file `i`:
    /// the file's read error, or `PM_ERR_VALUE` when it has no such
    /// number.
    pub(crate) fn number(&self, i: usize, field: usize) -> Result<u64, PmError> {
        let text = self
            .text
            .get(i)
            .ok_or(PmError::VALUE)?
            .as_ref()
            .map_err(|e| *e)?;
        let f = text.split_whitespace().nth(field).ok_or(PmError::VALUE)?;
        parse_u64_wrapping(f.as_bytes()).ok_or(PmError::VALUE)
    }

    /// The first number of file `i`, `None` when the file does not exist
    /// (some kernels lack it, and pmdalinux then has no value).
    pub(crate) fn optional(&self, i: usize) -> Result<Option<u64>, PmError> {
        match self.number(i, 0) {
            Err(e) if e == PmError::from_errno(libc::ENOENT) => Ok(None),
            r => r.map(Some),
        }
    }

    /// The first number of file `i`, or `default` when it cannot be read
    /// or holds none.
    pub(crate) fn number_or(&self, i: usize, default: u64) -> u64 {
        self.number(i, 0).unwrap_or(default)
    }
}
