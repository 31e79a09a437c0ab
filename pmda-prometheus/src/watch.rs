//! Noticing changes to the config directory cheaply: inotify watches on
//! the directory and every subdirectory (a non-blocking read per check),
//! or, where inotify is unavailable, a rescan at most once per second.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{Inotify, WatchMask};

/// Watches a config directory tree.
pub struct Watcher {
    dir: PathBuf,
    inotify: Option<Inotify>,
    last_poll_scan: Option<Instant>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("dir", &self.dir)
            .field("inotify", &self.inotify.is_some())
            .finish()
    }
}

/// How often the fallback rescans.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

impl Watcher {
    /// Starts watching `dir` (falls back to polling if inotify fails).
    pub fn new(dir: &Path) -> Watcher {
        let mut w = Watcher {
            dir: dir.to_path_buf(),
            inotify: Inotify::init().ok(),
            last_poll_scan: None,
            buf: vec![0u8; 16 * 1024],
        };
        w.rewatch();
        w
    }

    /// True when inotify is in use.
    pub fn uses_inotify(&self) -> bool {
        self.inotify.is_some()
    }

    /// (Re-)adds watches on the directory and every subdirectory; call
    /// after each rescan, since new directories need watches too.
    pub fn rewatch(&mut self) {
        let Some(ino) = self.inotify.as_mut() else {
            return;
        };
        let mut root_failed = false;
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            if ino.watches().add(&d, mask()).is_err() {
                // A vanished subdirectory is fine; without the root, poll.
                if d == self.dir {
                    root_failed = true;
                }
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
        }
        if root_failed {
            // Missing directory or out of watches: poll instead.
            self.inotify = None;
        }
    }

    /// True if something may have changed since the last call (always
    /// true on the first call).
    pub fn changed(&mut self) -> bool {
        match self.inotify.as_mut() {
            Some(ino) => {
                let mut any = false;
                while let Ok(events) = ino.read_events(&mut self.buf) {
                    if events.count() == 0 {
                        break;
                    }
                    any = true;
                }
                let first = self.last_poll_scan.is_none();
                self.last_poll_scan.get_or_insert_with(Instant::now);
                any || first
            }
            None => {
                let due = self
                    .last_poll_scan
                    .is_none_or(|t| t.elapsed() >= POLL_INTERVAL);
                if due {
                    self.last_poll_scan = Some(Instant::now());
                }
                due
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_creation_in_subdirectories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let mut w = Watcher::new(d.path());
        assert!(w.uses_inotify());
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::write(d.path().join("sub/x.url"), "file:///x\n").unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        std::fs::create_dir(d.path().join("new")).unwrap();
        assert!(w.changed());
        w.rewatch();
        std::fs::write(d.path().join("new/y.url"), "file:///y\n").unwrap();
        assert!(w.changed());
        std::fs::remove_file(d.path().join("sub/x.url")).unwrap();
        assert!(w.changed());
    }
}
