//! `proc.runq.*`: processes counted by scheduling state from their `stat`
//! lines. Kernel threads (no address space: a virtual size of 0) are
//! counted as such; pmdaproc 6.0.3 counts them as "swapped" and never
//! fills its `kernel` count, which this agent fixes (listed in the live
//! comparison's known differences).

use crate::pidtab::Entry;

/// Counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runq {
    /// R.
    pub runnable: i32,
    /// D (and P).
    pub blocked: i32,
    /// S and I.
    pub sleeping: i32,
    /// T and t.
    pub stopped: i32,
    /// User processes with nothing resident.
    pub swapped: i32,
    /// Z.
    pub defunct: i32,
    /// Anything else, or no stat read.
    pub unknown: i32,
    /// Kernel threads.
    pub kernel: i32,
}

impl Runq {
    /// Counts `entries` (their `stat` read this fetch).
    pub fn count<'a>(entries: impl Iterator<Item = &'a Entry>) -> Runq {
        let mut r = Runq::default();
        for e in entries {
            let Some(s) = &e.files.stat else {
                r.unknown += 1;
                continue;
            };
            match s.state {
                b'Z' => r.defunct += 1,
                _ if s.vsize == 0 => r.kernel += 1,
                _ if s.rss == 0 => r.swapped += 1,
                b'R' => r.runnable += 1,
                b'S' | b'I' => r.sleeping += 1,
                b'T' | b't' => r.stopped += 1,
                b'D' | b'P' => r.blocked += 1,
                _ => r.unknown += 1,
            }
        }
        r
    }

    /// Item `item` of the runq cluster.
    pub fn get(&self, item: u32) -> Option<i32> {
        Some(match item {
            0 => self.runnable,
            1 => self.blocked,
            2 => self.sleeping,
            3 => self.stopped,
            4 => self.swapped,
            5 => self.defunct,
            6 => self.unknown,
            7 => self.kernel,
            _ => return None,
        })
    }
}
