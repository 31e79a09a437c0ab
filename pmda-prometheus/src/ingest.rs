//! Reading one document into a source as its bytes arrive: pieces are cut
//! into whole lines ([`LineSplitter`]) and parsed straight into the
//! source's metrics, with the source locked only while a piece is parsed,
//! so fetches answer (from the last complete document) in between and the
//! body is never held whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fetch::FetchFailure;
use crate::source::{Ctx, Document, IngestReport, Source};
use crate::stream::LineSplitter;

/// What one successful scrape brought.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// HTTP status code (0 for files and scripts).
    pub status_code: i32,
    /// Bytes of document read.
    pub bytes: u64,
    /// True when the document was cut at the body-size limit.
    pub truncated: bool,
    /// Time spent getting the document (waiting on the network or the
    /// script), parsing excluded.
    pub fetch_time: Duration,
    /// Time spent parsing.
    pub parse_time: Duration,
    /// What the parse saw.
    pub report: IngestReport,
}

/// One document being read into a source.
#[derive(Debug)]
pub struct Ingest {
    src: Arc<Source>,
    ctx: Ctx,
    splitter: LineSplitter,
    doc: Document,
    started: Instant,
    bytes: u64,
    truncated: bool,
    parse_time: Duration,
}

impl Ingest {
    /// Starts a new document for `src`.
    pub fn new(src: Arc<Source>, ctx: Ctx) -> Ingest {
        let doc = src.state.lock().begin();
        Ingest {
            src,
            splitter: LineSplitter::new(ctx.limits.max_line),
            ctx,
            doc,
            started: Instant::now(),
            bytes: 0,
            truncated: false,
            parse_time: Duration::ZERO,
        }
    }

    /// Bytes taken so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Parses the next piece of the document. Returns false once nothing
    /// more is wanted: the body-size limit is reached, or the document
    /// ended (`# EOF`, the sample limit).
    pub fn push(&mut self, data: &[u8]) -> bool {
        if !self.wants_more() {
            return false;
        }
        let room = self.ctx.limits.max_body.saturating_sub(self.bytes as usize);
        let take = data.len().min(room);
        if take < data.len() {
            self.truncated = true;
        }
        self.bytes += take as u64;
        let t = Instant::now();
        let (src, ctx, doc) = (&*self.src, &self.ctx, &mut self.doc);
        self.splitter
            .push(&data[..take], &mut |run| feed(src, ctx, doc, run));
        self.parse_time += t.elapsed();
        self.wants_more()
    }

    fn wants_more(&self) -> bool {
        !self.truncated && !self.doc.ended()
    }

    /// Ends the document as complete: its values become the source's, and
    /// the scrape is recorded as a success (counters, status, log).
    pub fn finish(mut self, status_code: i32) -> Outcome {
        let t = Instant::now();
        let (src, ctx, doc) = (&*self.src, &self.ctx, &mut self.doc);
        self.splitter
            .finish(self.truncated, &mut |run| feed(src, ctx, doc, run));
        self.parse_time += t.elapsed();
        let long = self.splitter.long_lines();
        let mut st = self.src.state.lock();
        let mut report = st.finish(self.doc, &self.ctx);
        report.long_lines += long;
        report.errors += long;
        let outcome = Outcome {
            status_code,
            bytes: self.bytes,
            truncated: self.truncated,
            fetch_time: self.started.elapsed().saturating_sub(self.parse_time),
            parse_time: self.parse_time,
            report,
        };
        st.record_success(&outcome, &self.src.name, &self.ctx);
        outcome
    }

    /// Ends the document as failed (what was read of it is dropped) and
    /// records the failure.
    pub fn fail(self, what: &str, failure: &FetchFailure) {
        let mut st = self.src.state.lock();
        st.abandon(self.doc);
        st.record_failure(what, failure, &self.ctx.root, &self.src.name);
    }
}

fn feed(src: &Source, ctx: &Ctx, doc: &mut Document, run: &[u8]) {
    let text = String::from_utf8_lossy(run);
    src.state.lock().feed(doc, &text, src, ctx);
}
