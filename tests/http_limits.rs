//! Every HTTP request is bounded before any route sees it: its head by size, its body by
//! a deadline, its connection by a per-IP cap on connections that are not sessions; an
//! upgrade must be a GET over HTTP/1.1; the server's own origin comes from its
//! configuration, never from `Host`. Each refusal is a status with a reason, and honest
//! players keep playing.

mod common;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Writes `request` on a fresh connection; returns (status, whole response) once the
/// server has answered and closed.
async fn exchange(server: &TestServer, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await.expect("answered and closed in time").unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    (text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), text)
}

fn upgrade(method: &str, version: &str, host: &str, extra: &str) -> String {
    format!(
        "{method} /ws?room=rfc {version}\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: tickcast.v1\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408_and_closed() {
    let mut s = settings();
    // Above the 500 ms step of actix-http's cached clock, which its own head timer uses.
    s.server.request_timeout_ms = 1000;
    let server = start(s);
    let mut honest = server.join("honest", Some("body")).await;
    // Head complete, 20 of 1000 body bytes, then silence.
    let request = format!(
        "POST /api/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n\
         {{\"name\": \"slowloris",
        server.addr
    );
    for _ in 0..2 {
        let (status, text) = exchange(&server, request.as_bytes()).await;
        assert_eq!(status, 408, "{text}");
        assert!(text.contains("server.request_timeout_ms"), "{text}");
    }
    // A whole body in time is served as before.
    let (status, body) = http(server.addr, "POST", "/api/session", &[], r#"{"name":"ok"}"#).await;
    assert_eq!(status, 200, "{body}");
    honest.next_update().await;
}

#[tokio::test]
async fn one_ip_holds_a_bounded_number_of_connections_that_are_not_sessions() {
    const CAP: usize = 6;
    let mut s = settings();
    s.limits.max_http_connections_per_ip = CAP;
    s.security.require_token = false;
    let server = start(s);
    // Sessions do not count against the cap: more of them than the cap is fine.
    let mut players = Vec::new();
    for i in 0..CAP + 2 {
        let mut c = Client::connect(&server.ws_url(Some("cap")), &[]).await.expect("a session upgrades");
        c.expect_welcome().await;
        players.push((i, c));
    }
    // Half-sent heads: the cap's worth is held open, every one past it refused with 429.
    let mut slow = Vec::new();
    for _ in 0..CAP {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        c.write_all(b"POST /api/session HTTP/1.1\r\nHost: x\r\nX-Pad: ").await.unwrap();
        slow.push(c);
    }
    let mut refused = 0;
    for _ in 0..5 {
        let (status, text) = exchange(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(status, 429, "{text}");
        assert!(text.contains("limits.max_http_connections_per_ip"), "{text}");
        refused += 1;
    }
    assert_eq!(refused, 5);
    // The held ones are still open (the server has written nothing to them).
    for c in &mut slow {
        let mut b = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_millis(20), c.read(&mut b)).await;
        assert!(read.is_err(), "a connection within the cap was answered or closed");
    }
    // Once they go, the address may connect again; the players played on throughout.
    drop(slow);
    let mut served = false;
    for _ in 0..200 {
        let (status, _) = exchange(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        if status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(served, "the address was never let in again");
    for (_, c) in &mut players {
        c.next_update().await;
    }
}

#[tokio::test]
async fn upgrades_must_be_get_over_http_1_1_with_a_bounded_head() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("rfc")).await;
    let host = server.addr.to_string();

    let (status, text) = exchange(&server, upgrade("GET", "HTTP/1.0", &host, "").as_bytes()).await;
    assert_eq!(status, 505, "HTTP/1.0 upgrade: {text}");
    assert!(text.contains("HTTP/1.1"), "{text}");

    let (status, text) = exchange(&server, upgrade("POST", "HTTP/1.1", &host, "").as_bytes()).await;
    assert_eq!(status, 400, "POST /ws: {text}");
    assert!(text.contains("method must be GET"), "{text}");

    // A head past server.max_request_head_bytes (16 KiB by default), well under
    // actix-http's own 128 KiB: refused with 431 naming the key.
    let pad = format!("X-Pad: {}\r\n", "a".repeat(20 << 10));
    let (status, text) = exchange(&server, upgrade("GET", "HTTP/1.1", &host, &pad).as_bytes()).await;
    assert_eq!(status, 431, "{}", &text[..text.len().min(200)]);
    assert!(text.contains("server.max_request_head_bytes"), "{text}");

    // The largest legitimate handshake, three tokens in the subprotocol list, fits.
    let token = server.token("longest-name-allowed-24b").await;
    let mut c = Client::connect(
        &server.ws_url(Some("rfc")),
        &[&format!("tickcast.token.{token}"), &format!("tickcast.seat.{token}"), "tickcast.resume.x"],
    )
    .await
    .expect("a handshake with every token fits the head limit");
    c.recv().await;
    honest.next_update().await;
}

#[tokio::test]
async fn the_own_origin_comes_from_configuration_not_from_host() {
    let mut s = settings();
    s.security.require_token = false;
    s.server.public_origins = vec!["https://play.example.com".into()];
    let server = start(s);
    let port = server.addr.port();
    // A DNS-rebinding page: its Host and Origin agree, and neither is ours.
    let rebinding = upgrade("GET", "HTTP/1.1", "evil.example", "Origin: http://evil.example\r\n");
    let (status, text) = exchange(&server, rebinding.as_bytes()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("origin not allowed"), "{text}");
    // So is the API's CORS.
    let (status, _) = http(server.addr, "GET", "/api/rooms", &[("Origin", "http://evil.example")], "").await;
    assert_eq!(status, 403);
    // Our own: the bound address, localhost for a loopback bind, and public_origins,
    // whatever the Host header says.
    for origin in
        [format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}"), "https://play.example.com".into()]
    {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let req = upgrade("GET", "HTTP/1.1", "elsewhere.example", &format!("Origin: {origin}\r\n"));
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf)).await.unwrap().unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{origin}: {head}");
    }
}
