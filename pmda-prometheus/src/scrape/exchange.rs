//! How a scrape ends: [`complete`] wakes the fetches waiting for it and
//! raises the agent's flags; `HttpScrape` is a scrape on the non-blocking
//! client, its document read as it arrives.

use super::blocking::Job;
use super::{Flags, Shared};
use crate::error::PrometheusError;
use crate::fetch::FetchFailure;
use crate::http::Exchange;
use crate::ingest::Ingest;
use crate::source::{Ctx, Source};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// A scrape has ended: wake whoever waits, raise the agent's flags.
pub(super) fn complete(flags: &Flags, src: &Source, timed_out: bool) {
    {
        let mut st = src.state.lock();
        if st.names_added {
            st.names_added = false;
            flags.names_dirty.store(true, Ordering::Release);
        }
        if st.labels_changed {
            st.labels_changed = false;
            flags.labels_dirty.store(true, Ordering::Release);
        }
    }
    let waiters = {
        let mut t = src.scrape.lock();
        t.in_flight = false;
        t.finished = Some(Instant::now());
        t.suspect = timed_out;
        std::mem::take(&mut t.waiters)
    };
    for w in waiters {
        let _ = w.send(src.cluster);
    }
}

/// A scrape on the non-blocking client. It holds only a weak reference to
/// the agent: the agent may be dropped while an exchange is open (the
/// reactor thread must never be the one that drops it).
pub(super) struct HttpScrape {
    pub(super) shared: Weak<Shared>,
    pub(super) flags: Arc<Flags>,
    pub(super) src: Arc<Source>,
    pub(super) ctx: Ctx,
    pub(super) ingest: Option<Ingest>,
    pub(super) url: String,
    pub(super) suspect: bool,
}

impl Exchange for HttpScrape {
    fn waited(&mut self) {
        self.src.state.lock().stats.pool_waits += 1;
    }

    fn body(&mut self, data: &[u8]) -> bool {
        let (src, ctx) = (&self.src, &self.ctx);
        self.ingest
            .get_or_insert_with(|| Ingest::new(Arc::clone(src), ctx.clone()))
            .push(data)
    }

    fn finish(self: Box<Self>, result: Result<u16, FetchFailure>) {
        let this = *self;
        match result {
            Ok(code) => {
                let ingest = this
                    .ingest
                    .unwrap_or_else(|| Ingest::new(Arc::clone(&this.src), this.ctx.clone()));
                ingest.finish(code as i32);
                complete(&this.flags, &this.src, false);
            }
            Err((PrometheusError::Redirect(_), _)) if this.ingest.is_none() => {
                // The blocking client follows redirects.
                if let Some(sh) = this.shared.upgrade() {
                    let cfg = this.src.state.lock().url.clone();
                    if let Some(cfg) = cfg {
                        let sh2 = Arc::clone(&sh);
                        let src = Arc::clone(&this.src);
                        let suspect = this.suspect;
                        sh.pool.submit(
                            Box::new(move || sh2.run_blocking(&src, Job::Blocking(cfg), suspect)),
                            suspect,
                        );
                        return;
                    }
                }
                complete(&this.flags, &this.src, false);
            }
            Err(f) => {
                let timed_out = f.0.is_timeout();
                match this.ingest {
                    Some(i) => i.fail(&this.url, &f),
                    None => this.src.state.lock().record_failure(
                        &this.url,
                        &f,
                        &this.ctx.root,
                        &this.src.name,
                    ),
                }
                complete(&this.flags, &this.src, timed_out);
            }
        }
    }
}
