//! Debian's Chromium, headless, loads the page at `/` of `pcp-agent serve`
//! and runs its script: the dumped DOM must list the namespace with live
//! values (numbers in the value cells, several samples taken), and a
//! screenshot is written (to docs/serve-screenshot.png when
//! `PCP_AGENT_UPDATE_SCREENSHOT=1`, else to a scratch directory).

mod serve_util;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serve_util::*;

/// Runs chromium headless with `args` and the URL, killing it after
/// `timeout`. Returns stdout, or why it failed.
fn chromium(args: &[String], url: &str, timeout: Duration) -> Result<String, String> {
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
        .map_err(|e| format!("cannot start chromium: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("chromium did not finish within {timeout:?}"));
            }
        }
    }
    Ok(std::fs::read_to_string(out_path).unwrap_or_default())
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

/// Serves (on a loopback port of its own, until the test ends) a page
/// showing `url` in a full-window frame, plus a hidden image that takes
/// `hold` to arrive. Headless Chromium takes a screenshot at the load
/// event, so the page in the frame first runs for `hold` in real time:
/// under virtual time its samples would be milliseconds apart in real
/// time and its counter rates meaningless. Returns the wrapper's URL.
fn holding_wrapper(url: &str, hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind wrapper");
    let addr = listener.local_addr().expect("wrapper address");
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>pcp-agent</title></head>\
         <body style=\"margin:0\"><iframe src=\"{}\" style=\"border:0;width:100vw;\
         height:100vh;display:block\"></iframe><img src=\"/hold\" alt=\"\" \
         style=\"display:none\"></body></html>",
        url.replace('&', "&amp;").replace('"', "&quot;")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let page = page.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let (status, ctype, body) = if head.starts_with("GET / ") {
                    ("200 OK", "text/html; charset=utf-8", page)
                } else if head.starts_with("GET /hold ") {
                    std::thread::sleep(hold);
                    (
                        "200 OK",
                        "image/svg+xml",
                        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>".into(),
                    )
                } else {
                    ("404 Not Found", "text/plain", String::new())
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://{addr}/")
}

/// Checks a dumped DOM: the page refreshed at least twice without an
/// error and shows numbers for the gauge's instances, the singular metric
/// and the counter's rate, with sparklines. Returns the samples taken.
fn check_dom(dom: &str, m: &Metrics) -> Result<u32, String> {
    if !dom.contains("<tbody id=\"rows\">") {
        return Err("no page".into());
    }
    let samples: u32 = dom
        .split("data-samples=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if samples < 2 {
        return Err(format!("the page did not refresh (samples {samples})"));
    }
    if !dom.contains(&format!("sample {samples}")) {
        return Err("status line missing".into());
    }
    if dom.contains("class=\"error\"") {
        return Err("the page shows an error".into());
    }
    let gauge = values_of(dom, m.indom_gauge);
    if gauge.len() < 3 || !gauge.iter().all(|v| is_number(v)) {
        return Err(format!("{}: {gauge:?}", m.indom_gauge));
    }
    let single = values_of(dom, m.singular);
    if single.len() != 1 || !is_number(&single[0]) {
        return Err(format!("{}: {single:?}", m.singular));
    }
    // Counters show a rate once two samples are in.
    let counter = values_of(dom, m.counter);
    if counter.is_empty() || !counter.iter().all(|v| is_number(v)) {
        return Err(format!("{}: {counter:?}", m.counter));
    }
    if !dom.contains("<polyline points=") {
        return Err("no sparkline drawn".into());
    }
    Ok(samples)
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
    let Some(m) = our_metrics() else {
        return;
    };
    let (serve, addr) = start_serve(m.agents, &[]);
    let url = format!("http://{addr}/?interval=1&prefix={}", m.page);

    // Virtual time lets the page's 1 s polling run several times quickly
    // (it waits while requests are in flight, so a slow server only makes
    // the run longer). A loaded machine can still starve the renderer:
    // up to 3 tries, each with a generous wall-clock bound.
    let mut failures = Vec::new();
    for attempt in 1..=3 {
        let dom = match chromium(
            &[
                format!("--virtual-time-budget={}", 6000 * attempt),
                "--dump-dom".to_string(),
            ],
            &url,
            Duration::from_secs(180),
        ) {
            Ok(dom) => dom,
            Err(e) => {
                failures.push(format!("try {attempt}: {e}"));
                continue;
            }
        };
        match check_dom(&dom, &m) {
            Ok(samples) => {
                eprintln!("try {attempt}: the page took {samples} samples");
                failures.clear();
                break;
            }
            Err(e) => failures.push(format!("try {attempt}: {e}\n{dom}")),
        }
    }
    assert!(
        failures.is_empty(),
        "headless chromium did not show live values:\n{}\nserve log:\n{}",
        failures.join("\n"),
        serve.log()
    );

    // A screenshot of the same page, running in real time (see
    // `holding_wrapper`).
    let wrapper = holding_wrapper(&url, Duration::from_secs(8));
    let shot: PathBuf = if std::env::var("PCP_AGENT_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve-screenshot.png")
    } else {
        serve.dir.path().join("serve-screenshot.png")
    };
    let mut shot_failures = Vec::new();
    for attempt in 1..=3 {
        let _ = std::fs::remove_file(&shot);
        if let Err(e) = chromium(
            &[
                "--window-size=1100,1000".to_string(),
                format!("--screenshot={}", shot.display()),
            ],
            &wrapper,
            Duration::from_secs(180),
        ) {
            shot_failures.push(format!("try {attempt}: {e}"));
            continue;
        }
        match std::fs::read(&shot) {
            Ok(png) if png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000 => {
                shot_failures.clear();
                break;
            }
            Ok(png) => shot_failures.push(format!(
                "try {attempt}: not a plausible PNG ({} bytes)",
                png.len()
            )),
            Err(e) => shot_failures.push(format!("try {attempt}: no screenshot: {e}")),
        }
    }
    assert!(
        shot_failures.is_empty(),
        "screenshot failed:\n{}",
        shot_failures.join("\n")
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
