//! `/metrics` counts every connection and answer by its real reason: a peer that resets
//! or drops its connection is a drop (not a protocol error with close 1002), and 404s,
//! timed-out heads, oversized heads and idle connections are each counted.
//!
//! One test in its own binary: the metrics recorder is global to the process, so no
//! other test may add to the counts it reads.

mod common;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads `/metrics` until `name` reaches `at_least` (counters are updated when a
/// connection's last owner lets go of it, a moment after the client sees it end).
async fn counted(server: &TestServer, name: &str, at_least: f64) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, metrics) = http(server.addr, "GET", "/metrics", &[], "").await;
        if metric_value(&metrics, name).unwrap_or(0.0) >= at_least {
            return metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} never reached {at_least}:\n{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn read_to_end(mut s: TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await.expect("the server closes");
    String::from_utf8_lossy(&buf).to_string()
}

#[tokio::test]
async fn every_connection_and_answer_is_counted_by_its_real_reason() {
    let mut s = settings();
    // Above the 500 ms step of actix-http's cached clock, which its head timer uses.
    s.server.request_timeout_ms = 1000;
    let server = start(s);

    // Sessions that end without a close handshake: one reset, one plain FIN.
    let token = server.token("dropper").await;
    let reset = stalled_reader(&server, "acct", &token, 1 << 16).await;
    // SO_LINGER 0: closing sends RST (tokio deprecates it for blocking on drop, which
    // a zero linger never does).
    socket2::SockRef::from(&reset).set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(reset);
    let mut fin = stalled_reader(&server, "acct", &token, 1 << 16).await;
    fin.shutdown().await.unwrap();
    let metrics = counted(&server, "tickcast_sessions_dropped_total{reason=\"reset\"}", 1.0).await;
    let metrics2 = counted(&server, "tickcast_sessions_dropped_total{reason=\"eof\"}", 1.0).await;
    for m in [&metrics, &metrics2] {
        assert_eq!(metric_value(m, "tickcast_sessions_closed_total{code=\"1002\"}"), None, "not protocol errors:\n{m}");
    }

    // An unknown path.
    let (status, _) = http(server.addr, "GET", "/no-such-page", &[], "").await;
    assert_eq!(status, 404);
    counted(&server, "tickcast_http_responses_total{status=\"404\"}", 1.0).await;

    // A head that never completes: actix-http answers 408 itself; counted as a
    // connection whose request never arrived.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    assert!(read_to_end(slow).await.starts_with("HTTP/1.1 408"));
    counted(&server, "tickcast_http_connections_closed_total{outcome=\"incomplete_request\"}", 1.0).await;

    // A head over server.max_request_head_bytes.
    let big = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(20 << 10));
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(big.as_bytes()).await.unwrap();
    assert!(read_to_end(s).await.starts_with("HTTP/1.1 431"));
    counted(&server, "tickcast_http_responses_total{status=\"431\"}", 1.0).await;

    // A connection that says nothing and goes.
    drop(TcpStream::connect(server.addr).await.unwrap());
    counted(&server, "tickcast_http_connections_closed_total{outcome=\"idle\"}", 1.0).await;
    // And every /metrics request above was an ordinary served connection.
    counted(&server, "tickcast_http_connections_closed_total{outcome=\"served\"}", 1.0).await;
}
