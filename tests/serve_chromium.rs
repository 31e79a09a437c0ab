//! Debian's Chromium, headless, loads the page at `/` of `pcp-agent serve`
//! and runs its script: the dumped DOM must list the namespace with live
//! values (numbers in the value cells, several samples taken), and a
//! screenshot is written (to docs/serve-screenshot.png when
//! `PCP_AGENT_UPDATE_SCREENSHOT=1`, else to a scratch directory).

mod serve_util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serve_util::*;

/// Runs chromium headless with `args` and the URL, killing it after
/// `timeout`. Returns stdout.
fn chromium(args: &[String], url: &str, timeout: Duration) -> String {
    let profile = tempfile::Builder::new()
        .prefix("pcp-agent-chromium")
        .tempdir()
        .expect("profile dir");
    let out_path = profile.path().join("stdout");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within {timeout:?}");
            }
        }
    }
    std::fs::read_to_string(out_path).unwrap_or_default()
}

/// The text of every `<td class="value">` in the rows of `metric`.
fn values_of(dom: &str, metric: &str) -> Vec<String> {
    let mut out = Vec::new();
    let marker = format!("<tr data-metric=\"{metric}\"");
    let mut rest = dom;
    while let Some(i) = rest.find(&marker) {
        let row = &rest[i..];
        let end = row.find("</tr>").unwrap_or(row.len());
        let row_text = &row[..end];
        if let Some(v) = row_text.find("<td class=\"value\">") {
            let cell = &row_text[v + "<td class=\"value\">".len()..];
            let cell_end = cell.find("</td>").unwrap_or(cell.len());
            out.push(cell[..cell_end].to_string());
        }
        rest = &row[end..];
    }
    out
}

fn is_number(s: &str) -> bool {
    let t = s.replace(',', "");
    !t.is_empty() && t.parse::<f64>().is_ok()
}

#[test]
fn headless_chromium_shows_live_values_and_sparklines() {
    if !pcp_core::testing::require(
        "chromium",
        pcp_core::testing::have_program("chromium"),
        "Debian's chromium is not installed (scripts/serve-setup.sh installs it)",
    ) {
        return;
    }
    let m = our_metrics();
    let (serve, addr) = start_serve(m.agents, &[]);
    let prefix = m.parent.split('.').next().unwrap_or("");
    let url = format!("http://{addr}/?interval=1&prefix={prefix}");

    // Virtual time lets the page's 1 s polling run several times quickly.
    let dom = chromium(
        &[
            "--virtual-time-budget=6000".to_string(),
            "--dump-dom".to_string(),
        ],
        &url,
        Duration::from_secs(90),
    );
    assert!(
        dom.contains("<tbody id=\"rows\">"),
        "no page: {dom}\n{}",
        serve.log()
    );
    let samples: u32 = dom
        .split("data-samples=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        samples >= 2,
        "the page did not refresh (samples {samples}):\n{dom}"
    );
    assert!(
        dom.contains(&format!("sample {samples}")),
        "status line missing"
    );
    assert!(
        !dom.contains("class=\"error\""),
        "the page shows an error:\n{dom}"
    );

    let gauge = values_of(&dom, m.indom_gauge);
    assert!(gauge.len() >= 3, "{}: {gauge:?}\n{dom}", m.indom_gauge);
    assert!(
        gauge.iter().all(|v| is_number(v)),
        "{}: {gauge:?}",
        m.indom_gauge
    );
    let single = values_of(&dom, m.singular);
    assert_eq!(single.len(), 1, "{}: {single:?}", m.singular);
    assert!(is_number(&single[0]), "{}: {single:?}", m.singular);
    // Counters show a rate once two samples are in.
    let counter = values_of(&dom, m.counter);
    assert!(
        counter.iter().all(|v| is_number(v)),
        "{}: {counter:?}",
        m.counter
    );
    // Sparklines are drawn from the history.
    assert!(dom.contains("<polyline points="), "no sparkline drawn");

    // A screenshot of the same page.
    let shot: PathBuf = if std::env::var("PCP_AGENT_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve-screenshot.png")
    } else {
        serve.dir.path().join("serve-screenshot.png")
    };
    chromium(
        &[
            "--virtual-time-budget=8000".to_string(),
            "--window-size=1100,560".to_string(),
            format!("--screenshot={}", shot.display()),
        ],
        &url,
        Duration::from_secs(90),
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
}

#[test]
fn page_is_self_contained() {
    let (_serve, addr) = start_serve("simple", &[]);
    let (status, body) = get(addr, "/").expect("GET /");
    assert_eq!(status, 200);
    for needle in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(http",
    ] {
        assert!(
            !body.contains(needle),
            "the page loads something from elsewhere: {needle}"
        );
    }
}
