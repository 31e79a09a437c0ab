//! The non-blocking HTTP client against servers as they are, not as a
//! test double would be kind enough to behave.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pmda_prometheus::fetch::FetchFailure;
use pmda_prometheus::http::{Client, Exchange, Request, Target};

struct Collect {
    body: Vec<u8>,
    done: mpsc::Sender<(Result<u16, String>, Vec<u8>)>,
}

impl Exchange for Collect {
    fn body(&mut self, data: &[u8]) -> bool {
        self.body.extend_from_slice(data);
        true
    }
    fn finish(self: Box<Self>, result: Result<u16, FetchFailure>) {
        let result = result.map_err(|f| format!("{f:?}"));
        let _ = self.done.send((result, self.body));
    }
}

/// A server that answers HTTP/1.0 with no Content-Length and closes at
/// once, as Python's http.server does (PCP's QA endpoint generator for
/// pmdaopenmetrics is one): the answer and the end of stream reach the
/// client together. Before the fix every exchange waited for its deadline
/// and ended "timed out", because the client read once, got less than a
/// buffer's worth, and waited for an event that never came.
#[test]
fn an_answer_that_arrives_with_the_close_ends_the_exchange() {
    const EXCHANGES: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = "# TYPE x gauge\nx 1\n".repeat(20);
    let served = body.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(EXCHANGES) {
            let mut conn = conn.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let answer = format!("HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6\r\n\r\n{served}");
            let _ = conn.write_all(answer.as_bytes());
            // Dropped here: the close follows the answer immediately.
        }
    });
    let client = Client::new(1, 64, "test").unwrap();
    let (tx, rx) = mpsc::channel();
    let timeout = Duration::from_secs(5);
    for i in 0..EXCHANGES {
        let url = format!("http://{addr}/metrics?n={i}");
        let req = Request {
            target: Target::parse(&url).unwrap(),
            addrs: vec![addr],
            headers: Vec::new(),
            deadline: Instant::now() + timeout,
            timeout,
            suspect: false,
            patience: timeout,
        };
        client.submit(
            req,
            Box::new(Collect {
                body: Vec::new(),
                done: tx.clone(),
            }),
        );
    }
    for _ in 0..EXCHANGES {
        let (result, got) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(
            result,
            Ok(200),
            "the exchange must end with the server's close"
        );
        assert_eq!(String::from_utf8(got).unwrap(), body);
    }
}
