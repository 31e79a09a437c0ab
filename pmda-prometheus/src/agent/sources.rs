//! The agent's sources: the config directory rescanned when it changes
//! (sources added, removed, `.url` files edited), sources with no names
//! yet retried now and then, and the background scraper.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::agent::{Background, Prometheus, NAMES_WAIT, PROBE_INTERVAL, SAFETY_RESCAN};
use crate::config::{scan, SourceFile, SourceKind};
use crate::log::{log, Level};
use crate::source::{FileStamp, Source};

impl Prometheus {
    /// What a names request does first: rescans the config directory when
    /// it changed (or a safety interval passed) and waits up to
    /// [`NAMES_WAIT`] for new or edited sources to answer, and now and then
    /// starts a scrape of the sources that have no names yet.
    pub(crate) fn reread_sources(&mut self) {
        let mut to_scrape = Vec::new();
        if self.watcher.changed() || self.last_scan.elapsed() >= SAFETY_RESCAN {
            to_scrape = self.rescan();
        }
        if self.last_probe.elapsed() >= PROBE_INTERVAL {
            // Sources never reached have no names: retry them now and then.
            self.last_probe = Instant::now();
            // Their names appear when they answer, without waiting here.
            let idle: Vec<Arc<Source>> = self
                .shared
                .sources
                .read()
                .values()
                .filter(|s| s.state.lock().metrics.is_empty())
                .cloned()
                .collect();
            self.shared.kick(&idle);
        }
        if !to_scrape.is_empty() {
            to_scrape.sort_by_key(|s| s.cluster);
            to_scrape.dedup_by_key(|s| s.cluster);
            self.shared
                .gather(&to_scrape, Instant::now() + NAMES_WAIT, false);
        }
    }

    /// Rescans the config directory; adds and removes sources. Returns the
    /// sources that need a scrape to learn their names (new ones, edited
    /// ones).
    pub(crate) fn rescan(&mut self) -> Vec<Arc<Source>> {
        self.last_scan = Instant::now();
        let found = scan(&self.config_dir, self.nosort);
        self.watcher.rewatch();
        let root = self.shared.settings.root.clone();
        let mut errors = HashSet::new();
        for e in found.errors {
            if !self.scan_errors.contains(&e) {
                log(Level::Error, &root, &e);
            }
            errors.insert(e);
        }
        self.scan_errors = errors;
        let wanted: BTreeMap<String, SourceFile> = found
            .sources
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect();
        let mut removed = false;
        let mut to_scrape = Vec::new();
        let mut sources = self.shared.sources.write();
        sources.retain(|_, s| {
            let keep = wanted.get(&s.name).is_some_and(|f| *f == s.file);
            if !keep {
                log(Level::Info, &root, &format!("source {} removed", s.name));
                removed = true;
            }
            keep
        });
        let present: BTreeSet<String> = sources.values().map(|s| s.name.clone()).collect();
        for (name, file) in wanted {
            if present.contains(&name) {
                continue;
            }
            let cluster = match self.clusters.assign(&name) {
                Ok(c) => c,
                Err(e) => {
                    log(Level::Error, &root, &format!("source {name} ignored: {e}"));
                    continue;
                }
            };
            log(
                Level::Info,
                &root,
                &format!(
                    "source {name} ({}) added as cluster {cluster}",
                    file.path.display()
                ),
            );
            let src = Arc::new(Source::new(file, cluster, &self.shared.ctx));
            to_scrape.push(Arc::clone(&src));
            sources.insert(cluster, src);
        }
        crate::source::save(&mut self.clusters, &root);
        // Edited .url files: scrape again so new names show up now.
        for s in sources.values() {
            if s.file.kind == SourceKind::Url {
                let edited = {
                    let st = s.state.lock();
                    st.url.is_some() && st.url_stamp() != FileStamp::of(&s.file.path)
                };
                if edited {
                    to_scrape.push(Arc::clone(s));
                }
            }
        }
        drop(sources);
        if removed {
            self.shared.flags.names_dirty.store(true, Ordering::Release);
            self.shared
                .flags
                .labels_dirty
                .store(true, Ordering::Release);
        }
        to_scrape
    }

    /// Scrapes every source each `interval` on a thread of its own, so
    /// fetches answer from the last scrape.
    pub(crate) fn start_background(&mut self, interval: Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let sh = Arc::clone(&self.shared);
        let st = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("{}-background", sh.settings.root))
            .spawn(move || {
                let mut next = Instant::now() + interval;
                while !st.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    next = now + interval;
                    let all: Vec<Arc<Source>> = sh.sources.read().values().cloned().collect();
                    sh.kick(&all);
                }
            })
            .ok();
        self.background = Some(Background { stop, handle });
    }
}
