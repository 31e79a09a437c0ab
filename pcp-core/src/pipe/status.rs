//! A pipe agent's status word, as pmcd publishes it in `pmcd.agent.status`:
//! 0 while it answers, else one reason in bits 7..0 (not ready, could not
//! start, dropped), with its exit code in bits 15..8 or the signal that
//! ended it in bits 23..16. As under pmcd, an agent that dies while idle
//! is found by the next request to it, not before.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::pmda::Attachment;

use super::State;

/// Connected, not yet ready for requests.
pub(super) const NOT_READY: i32 = 1;
/// Could not be (re)started.
pub(super) const START_FAILED: i32 = 4;
/// Dropped after a protocol error, a missed deadline or its exit, found
/// by a request (pmcd's "protocol or timeout error", which is also what
/// pmcd reports for an agent it finds dead when it next sends to it).
const DROPPED: i32 = 8;

/// The word for an agent dropped by a request, with how it ended if it
/// has: its exit code in bits 15..8 or its signal in bits 23..16.
pub(super) fn dropped(ended: Option<ExitStatus>) -> i32 {
    let code = ended.and_then(|s| s.code()).unwrap_or(0) & 0xff;
    let signal = ended.and_then(|s| s.signal()).unwrap_or(0) & 0xff;
    DROPPED | (code << 8) | (signal << 16)
}

/// The status word, shared between the agent and whoever publishes it.
#[derive(Debug, Clone, Default)]
pub(super) struct StatusWord(Arc<AtomicI32>);

impl StatusWord {
    pub(super) fn set(&self, word: i32) {
        self.0.store(word, Ordering::Relaxed);
    }

    /// 0 when ready, [`NOT_READY`] otherwise.
    pub(super) fn set_ready(&self, ready: bool) {
        self.set(if ready { 0 } else { NOT_READY });
    }

    pub(super) fn get(&self) -> i32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The agent's [`Attachment`]: its status word, after taking a not-ready
/// agent's PM_ERR_PMDAREADY when it has come (as pmcd does at once),
/// never waiting for a busy agent.
pub(super) fn attachment(state: Weak<Mutex<State>>, status: StatusWord) -> Attachment {
    Attachment::pipe(move || {
        if let Some(state) = state.upgrade() {
            if let Some(mut st) = state.try_lock() {
                if let Some(link) = st.link.as_mut().filter(|l| !l.ready) {
                    link.check_ready();
                    status.set_ready(link.ready);
                }
            }
        }
        status.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_and_signal_sit_in_their_bytes() {
        assert_eq!(dropped(Some(ExitStatus::from_raw(3 << 8))), 8 | (3 << 8));
        assert_eq!(dropped(Some(ExitStatus::from_raw(9))), 8 | (9 << 16));
        assert_eq!(dropped(None), 8);
    }
}
