//! The handshake is strict: every fault an honest client cannot fix is an HTTP status with
//! a one-line reason; every refusal a client must act on is a 4xxx close with a reason.
//! In every case an honest member of the same room keeps receiving ticks.

mod common;
use common::*;
use tickcast::protocol::close_code;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends a raw upgrade request with the given headers; returns (status, full response).
async fn raw_upgrade(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", server.addr);
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, s.read(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

fn good_headers<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Protocol", "tickcast.v1"),
    ]
}

fn with<'a>(mut headers: Vec<(&'a str, &'a str)>, name: &str, value: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    if let Some(v) = value {
        let key = good_headers().into_iter().map(|(k, _)| k).find(|k| k.eq_ignore_ascii_case(name));
        headers.push((key.unwrap_or("Origin"), v));
    }
    headers
}

#[tokio::test]
async fn http_level_rejections_have_status_and_reason() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("hs")).await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (with(good_headers(), "Sec-WebSocket-Version", Some("8")), 426, "Sec-WebSocket-Version"),
        (with(good_headers(), "Sec-WebSocket-Version", None), 426, "Sec-WebSocket-Version"),
        (with(good_headers(), "Sec-WebSocket-Key", Some("x")), 400, "invalid Sec-WebSocket-Key header"),
        (
            with(good_headers(), "Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ")),
            400,
            "invalid Sec-WebSocket-Key header",
        ),
        (with(good_headers(), "Upgrade", None), 400, "not a WebSocket upgrade"),
        (with(good_headers(), "Connection", Some("keep-alive")), 400, "not a WebSocket upgrade"),
        (
            with(good_headers(), "Sec-WebSocket-Protocol", None),
            400,
            "tickcast.v1, tickcast.v2 or tickcast.v3 must be offered",
        ),
        (
            with(good_headers(), "Sec-WebSocket-Protocol", Some("chat, superchat")),
            400,
            "tickcast.v1, tickcast.v2 or tickcast.v3 must be offered",
        ),
        (with(good_headers(), "Origin", Some("https://evil.example")), 403, "origin not allowed"),
    ];
    for (headers, status, reason) in cases {
        let (got, text) = raw_upgrade(&server, "/ws?room=hs", &headers).await;
        assert_eq!(got, status, "{headers:?}: {text}");
        assert!(text.contains(reason), "{headers:?}: expected {reason:?} in {text}");
        if status == 426 {
            assert!(text.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{text}");
        }
    }
    let (got, text) = raw_upgrade(&server, "/ws?room=bad%20name!", &good_headers()).await;
    assert_eq!(got, 400, "{text}");
    assert!(text.contains("invalid room name"));
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn own_origin_and_allow_listed_origins_are_accepted() {
    let mut s = settings();
    s.security.require_token = false;
    s.security.allowed_origins = vec!["https://game.example".into()];
    let server = start(s);
    let own = format!("http://{}", server.addr);
    for origin in [own.as_str(), "https://game.example"] {
        let (status, text) = raw_upgrade(&server, "/ws?room=o", &with(good_headers(), "Origin", Some(origin))).await;
        assert_eq!(status, 101, "{origin}: {text}");
        assert!(text.contains("tickcast.v1"), "answers the subprotocol");
    }
}

#[tokio::test]
async fn require_origin_refuses_a_missing_origin() {
    let mut s = settings();
    s.security.require_origin = true;
    let server = start(s);
    let (status, _) = raw_upgrade(&server, "/ws", &good_headers()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_close_with_4401() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("tok")).await;
    let expired = tickcast::tokens::TokenKeys::new("test-secret").mint_guest("old", 1000, 10);
    let forged = tickcast::tokens::TokenKeys::new("another-secret").mint_guest("eve", tickcast::tokens::unix_now(), 60);
    let cases = [
        (vec![], "token required"),
        (vec![format!("tickcast.token.{forged}")], "invalid token signature"),
        (vec![format!("tickcast.token.{expired}")], "token expired"),
        (vec!["tickcast.token.garbage".to_string()], "malformed token"),
    ];
    for (extra, reason) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut c = Client::connect(&server.ws_url(Some("tok")), &extra).await.expect("upgrade completes");
        match c.recv().await {
            Received::Notice { code, reason: r } => {
                assert_eq!(code, close_code::UNAUTHORIZED);
                assert!(r.contains(reason), "{r}");
            }
            other => panic!("expected Notice, got {other:?}"),
        }
        let (code, r) = c.expect_close().await;
        assert_eq!(code, close_code::UNAUTHORIZED);
        assert!(r.contains(reason), "{r}");
    }
    honest.assert_keeps_ticking().await;
}

#[tokio::test]
async fn session_api_validates_names_and_rate_limits_per_ip() {
    let mut s = settings();
    s.security.mint_per_minute = 4;
    let server = start(s);
    let json = [("Content-Type", "application/json")];
    for bad in [r#"{"name":""}"#, r#"{"name":"<script>"}"#, r#"{"nom":"x"}"#, "not json"] {
        let (status, body) = http(server.addr, "POST", "/api/session", &json, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The four bad requests above spent the per-IP budget of 4.
    let (status, body) = http(server.addr, "POST", "/api/session", &json, r#"{"name":"ok"}"#).await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn session_api_answers_cors_for_allowed_origins_only() {
    let mut s = settings();
    s.security.allowed_origins = vec!["https://game.example".into()];
    let server = start(s);
    let json = [("Content-Type", "application/json"), ("Origin", "https://game.example")];
    let (status, body) = http(server.addr, "POST", "/api/session", &json, r#"{"name":"ok"}"#).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = v["token"].as_str().unwrap();
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "subprotocol-safe token");
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    let evil = [("Content-Type", "application/json"), ("Origin", "https://evil.example")];
    let (status, _) = http(server.addr, "POST", "/api/session", &evil, r#"{"name":"ok"}"#).await;
    assert_eq!(status, 403);
}
