//! Tests of the HTTP service: routing, limits and the exposition formats.

use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn serve(allow_store: bool) -> Serving {
    let mut host = Host::new();
    host.load(Box::new(crate::simple::simple_pmda()))
        .expect("simple loads");
    start(
        host,
        ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow_store,
            max_connections: 4,
            derived: Arc::new(pcp_core::derive::Registry::new()),
            request_timeout: Duration::from_secs(2),
            max_response_bytes: 1 << 20,
            ..ServeOptions::default()
        },
    )
    .expect("binds")
}

/// Sends raw bytes, returns (status, body).
fn raw(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: SocketAddr, target: &str) -> (u16, serde_json::Value) {
    let (status, body) = raw(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let json = serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[test]
fn fetch_metric_indom_children_in_pmproxy_shapes() {
    let s = serve(false);
    let a = s.addr();
    let (st, j) = get(a, "/pmapi/fetch?names=simple.color,simple.numfetch,no.such");
    assert_eq!(st, 200, "{j}");
    assert!(j["context"].as_u64().unwrap() > 0);
    assert!(j["timestamp"].as_f64().unwrap() > 1e9);
    let v = j["values"].as_array().unwrap();
    assert_eq!(v.len(), 2, "unknown names are left out: {j}");
    assert_eq!(v[0]["name"], "simple.color");
    assert_eq!(v[0]["pmid"], "253.0.1");
    assert_eq!(v[0]["instances"].as_array().unwrap().len(), 3);
    assert!(v[1]["instances"][0]["instance"].is_null());

    let (st, j) = get(a, "/pmapi/metric?names=simple.time.user");
    assert_eq!(st, 200);
    let m = &j["metrics"][0];
    assert_eq!(m["sem"], "counter");
    assert_eq!(m["units"], "sec");
    assert_eq!(m["type"], "double");
    assert!(
        m.get("indom").is_none(),
        "singular metrics have no indom key"
    );
    assert_eq!(m["series"].as_str().unwrap().len(), 40);
    assert_eq!(m["labels"]["agent"], "simple");
    assert!(m["labels"].get("userid").is_none());

    let (st, j) = get(a, "/pmapi/metric?names=no.such");
    assert_eq!(st, 400);
    assert_eq!(
        j["message"],
        "no.such traversal failed - Unknown metric name"
    );
    assert_eq!(j["success"], false);

    let (st, j) = get(a, "/pmapi/indom?name=simple.color&iname=r*&match=glob");
    assert_eq!(st, 200, "{j}");
    assert_eq!(j["indom"], "253.0");
    assert_eq!(j["instances"].as_array().unwrap().len(), 1);
    assert_eq!(j["instances"][0]["name"], "red");

    let (st, j) = get(a, "/pmapi/children?prefix=simple");
    assert_eq!(st, 200);
    assert_eq!(j["nonleaf"], serde_json::json!(["time"]));
    assert!(j["leaf"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("color")));
    s.stop();
}

#[test]
fn contexts_and_profiles() {
    let s = serve(false);
    let a = s.addr();
    let (_, j) = get(a, "/pmapi/context?polltimeout=30");
    let c = j["context"].as_u64().unwrap();
    assert_eq!(j["source"].as_str().unwrap().len(), 40);
    let (st, _) = get(
        a,
        &format!("/pmapi/profile?context={c}&expr=add&name=simple.color&iname=green"),
    );
    assert_eq!(st, 200);
    let (_, j) = get(a, &format!("/pmapi/{c}/fetch?names=simple.color"));
    assert_eq!(j["context"].as_u64(), Some(c));
    assert_eq!(j["values"][0]["instances"].as_array().unwrap().len(), 1);
    assert_eq!(j["values"][0]["instances"][0]["instance"], 1);
    let (st, j) = get(a, "/pmapi/fetch?names=simple.color&context=12345");
    assert_eq!(st, 400);
    assert_eq!(j["message"], "unknown context identifier: 12345");
    assert_eq!(j["context"], 12345);
    s.stop();
}

#[test]
fn store_needs_allow_store() {
    let s = serve(false);
    let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=0");
    assert_eq!(st, 403, "{j}");
    assert!(j["message"].as_str().unwrap().contains("--allow-store"));
    s.stop();
    let s = serve(true);
    let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=100");
    assert_eq!(st, 200, "{j}");
    assert_eq!(j["success"], true);
    let (_, j) = get(s.addr(), "/pmapi/fetch?names=simple.numfetch");
    assert!(j["values"][0]["instances"][0]["value"].as_u64().unwrap() >= 100);
    let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=abc");
    assert_eq!(st, 400);
    assert_eq!(
        j["message"],
        "failed to store value to metric simple.numfetch: Bad input to pmstore"
    );
    s.stop();
}

#[test]
fn metrics_text_and_bad_requests() {
    let s = serve(false);
    let a = s.addr();
    let (st, body) = raw(
        a,
        b"GET /metrics?names=simple.color HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert!(body.contains("# TYPE simple_color gauge"), "{body}");
    assert!(body.contains("instname=\"red\""));
    let (st, _) = get(a, "/metrics?names=no.such");
    assert_eq!(st, 400);
    let (st, body) = raw(
        a,
        b"GET /metrics?names=simple.color HTTP/1.1\r\nAccept: application/openmetrics-text\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert!(
        body.ends_with("# EOF\n") && !body.contains("# PCP5"),
        "{body}"
    );
    let (st, body) = raw(
        a,
        b"GET /metrics?names=simple.color&format=prometheus HTTP/1.1\r\nAccept: application/openmetrics-text\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(st, 200);
    assert!(body.contains("# PCP5") && !body.contains("# EOF"), "{body}");
    let (st, j) = get(a, "/metrics?format=json");
    assert_eq!(st, 400);
    assert!(j["message"].as_str().unwrap().contains("'format'"), "{j}");
    let (st, j) = get(a, "/pmapi/fetch?names=a%ZZ");
    assert_eq!(st, 400);
    assert!(j["message"].as_str().unwrap().contains("percent escape"));
    let many = vec!["simple.color"; MAX_NAMES + 1].join(",");
    let (st, j) = get(a, &format!("/pmapi/fetch?names={many}"));
    assert_eq!(st, 400);
    assert!(j["message"].as_str().unwrap().contains("too many"));
    let (st, _) = get(a, "/pmapi/nosuch");
    assert_eq!(st, 400);
    let (st, _) = get(a, "/nosuch");
    assert_eq!(st, 404);
    let (st, _) = raw(a, b"DELETE / HTTP/1.1\r\n\r\n");
    assert_eq!(st, 405);
    let (st, _) = raw(a, b"garbage\r\n\r\n");
    assert_eq!(st, 400);
    let huge = format!(
        "GET /pmapi/fetch?names={} HTTP/1.1\r\n\r\n",
        "a".repeat(MAX_HEAD_BYTES + 10)
    );
    let (st, _) = raw(a, huge.as_bytes());
    assert_eq!(st, 414);
    let (st, body) = raw(a, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(st, 200);
    assert!(body.contains("<!DOCTYPE html>"));
    s.stop();
}

#[test]
fn slow_clients_get_408_and_do_not_block_others() {
    let s = serve(false);
    let a = s.addr();
    // Trickle half a request and stall.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    let t0 = std::time::Instant::now();
    let (st, _) = get(a, "/pmapi/fetch?names=simple.numfetch");
    assert_eq!(st, 200);
    // Answered before the slow client's deadline (2 s) passed: the
    // slow one has not been told anything yet. (Not a wall-clock bound
    // on the answer, which a loaded machine can stretch.)
    slow.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 16];
    assert!(
        matches!(slow.read(&mut probe), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the fast request waited for the slow client's deadline ({:?})",
        t0.elapsed()
    );
    slow.set_nonblocking(false).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = slow.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    s.stop();
}

#[test]
fn response_cap_is_enforced() {
    let mut host = Host::new();
    host.load(Box::new(crate::simple::simple_pmda())).unwrap();
    let s = start(
        host,
        ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_response_bytes: 200,
            ..ServeOptions::default()
        },
    )
    .unwrap();
    let (st, j) = get(s.addr(), "/pmapi/metric");
    assert_eq!(st, 400);
    assert!(j["message"]
        .as_str()
        .unwrap()
        .contains("Result size exceeded"));
    s.stop();
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = serve(false);
    let mut c = TcpStream::connect(s.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(
        b"GET /pmapi/children HTTP/1.1\r\n\r\nGET /pmapi/children?prefix=simple HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    s.stop();
}
