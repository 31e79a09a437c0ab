//! Memory of one source stays within its limits, whatever it sends: a
//! counting allocator measures the bytes live while hostile documents are
//! read (streamed, as the agent reads them) and what a kept instance
//! really costs against the estimate the state budget uses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pmda_prometheus::config::{SourceFile, SourceKind};
use pmda_prometheus::ingest::Ingest;
use pmda_prometheus::source::{Ctx, IdSource, Limits, Source, INSTANCE_OVERHEAD, READ_CHUNK};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if n > l.size() {
            let now = LIVE.fetch_add(n - l.size(), Ordering::Relaxed) + n - l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - n, Ordering::Relaxed);
        }
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests measure a process-wide counter: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn source(limits: Limits) -> (Arc<Source>, Ctx) {
    let ctx = Ctx {
        root: "prometheus".into(),
        ids: IdSource::Memory,
        limits,
    };
    let src = Source::new(
        SourceFile {
            name: "hostile".into(),
            path: "/nonexistent/hostile.url".into(),
            kind: SourceKind::Url,
        },
        1,
        &ctx,
    );
    (Arc::new(src), ctx)
}

/// Feeds `lines` to the source in READ_CHUNK pieces, as a scrape does,
/// without ever building the document.
fn stream(src: &Arc<Source>, ctx: &Ctx, mut lines: impl FnMut(&mut Vec<u8>) -> bool) {
    let mut ingest = Ingest::new(Arc::clone(src), ctx.clone());
    let mut piece = Vec::with_capacity(READ_CHUNK);
    let mut more = true;
    while more {
        piece.clear();
        while piece.len() < READ_CHUNK && more {
            more = lines(&mut piece);
        }
        if !ingest.push(&piece) {
            break;
        }
    }
    ingest.finish(200);
}

#[test]
fn instance_cost_is_as_estimated() {
    let _g = SERIAL.lock().unwrap();
    let (src, ctx) = source(Limits::default());
    let n = 100_000usize;
    let mut i = 0;
    let mut name_bytes = 0usize;
    let before = LIVE.load(Ordering::Relaxed);
    stream(&src, &ctx, |out| {
        let line = format!("m{}{{a=\"{i}\",b=\"v-{}\"}} {i}\n", i % 10, i * 7);
        // The instance key "a:I b:v-J" and the packed labels, as the
        // budget counts them.
        name_bytes += format!("a:{i} b:v-{}", i * 7).len();
        name_bytes += format!(
            "1:a{}:{i}1:b{}:v-{}",
            i.to_string().len(),
            format!("v-{}", i * 7).len(),
            i * 7
        )
        .len();
        out.extend_from_slice(line.as_bytes());
        i += 1;
        i < n
    });
    let after = LIVE.load(Ordering::Relaxed);
    let real = (after - before) as f64 / n as f64;
    let estimate = (INSTANCE_OVERHEAD + name_bytes / n) as f64;
    eprintln!("per instance: {real:.0} bytes live, estimate {estimate:.0}");
    assert!(
        real <= estimate * 1.15 && real >= estimate * 0.6,
        "real {real:.0} bytes per instance, estimate {estimate:.0}"
    );
    drop(src);
}

#[test]
fn a_hostile_source_stays_within_its_limits() {
    let _g = SERIAL.lock().unwrap();
    let limits = Limits {
        max_state: 16 << 20,
        ..Limits::default()
    };
    let (src, ctx) = source(limits);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    // 2,000 metric names (past the 1,024 per source), a million distinct
    // instances, and a 50 MB label value in the middle.
    let mut i = 0usize;
    let huge_at = 300_000;
    let mut huge_left = 0usize;
    stream(&src, &ctx, |out| {
        if huge_left > 0 {
            // The 50 MB value goes out 64 KiB at a time, as it would
            // arrive.
            let n = huge_left.min(1 << 16);
            out.extend(std::iter::repeat_n(b'x', n));
            huge_left -= n;
            if huge_left == 0 {
                out.extend_from_slice(b"\"} 1\n");
            }
            return true;
        }
        if i == huge_at {
            out.extend_from_slice(b"huge{v=\"");
            huge_left = 50 << 20;
            i += 1;
            return true;
        }
        out.extend_from_slice(
            format!(
                "metric_{}{{a=\"{i}\",b=\"value-{}\"}} {i}\n",
                i % 2000,
                i * 7
            )
            .as_bytes(),
        );
        i += 1;
        i < 1_000_000
    });
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let bound = limits.max_state + 2 * READ_CHUNK + limits.max_line;
    let st = src.state.lock();
    eprintln!(
        "peak {} bytes over the start, bound {bound}; status {:?}",
        peak, st.stats.status
    );
    assert!(
        st.stats.status.contains("memory limit"),
        "{}",
        st.stats.status
    );
    assert!(
        st.stats.status.contains("976 names ignored"),
        "{}",
        st.stats.status
    );
    assert!(
        st.stats.status.contains("1 lines longer"),
        "{}",
        st.stats.status
    );
    // The test's own piece buffer (READ_CHUNK and a little) is in the peak.
    assert!(
        peak <= bound + 2 * READ_CHUNK + (1 << 20),
        "peak {peak} over bound {bound}"
    );
}
