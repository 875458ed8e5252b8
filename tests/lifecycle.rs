//! The binary's life: configuration errors at start, and graceful shutdown on SIGTERM.

mod common;
use common::*;
use std::process::{Command, Stdio};
use tickcast::protocol::close_code;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn invalid_config_fails_at_start_naming_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_tickcast"))
        .env("TICKCAST__TICK__RATE_HZ", "500")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tick.rate_hz") && err.contains("1..=128"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_tickcast")).args(["--config", "/nonexistent.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn sigterm_closes_every_session_with_1001_and_exits_zero() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickcast"))
        .env("TICKCAST__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("TICKCAST__SECURITY__REQUIRE_TOKEN", "false")
        .env("TICKCAST__LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let url = format!("ws://127.0.0.1:{port}/ws?room=bye");
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut client = loop {
        match Client::connect(&url, &[]).await {
            Ok(c) => break c,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("server never came up: {e}"),
        }
    };
    client.expect_welcome().await;
    client.next_update().await;
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, close_code::GOING_AWAY);
    assert_eq!(reason, "server shutting down");
    drop(client);
    let deadline = std::time::Instant::now() + PATIENCE;
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "server did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test]
async fn health_metrics_and_demo_are_served() {
    let server = start(settings());
    let (status, body) = http(server.addr, "GET", "/healthz", &[], "").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let mut c = server.join("m", Some("met")).await;
    c.next_update().await;
    c.next_update().await;
    let (status, metrics) = http(server.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    for name in [
        "tickcast_tick_duration_seconds_bucket",
        "tickcast_tick_lateness_seconds_bucket",
        "tickcast_connections",
        "tickcast_rooms",
        "tickcast_players",
        "tickcast_frames_sent_total",
        "tickcast_bytes_sent_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let (status, page) = http(server.addr, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"), "demo page served");
}

#[tokio::test]
async fn events_arrive_in_order_joined_chat_left() {
    let server = start(settings());
    let mut a = server.join("ada", Some("ev")).await;
    let mut b = server.join("bob", Some("ev")).await;
    let idb = b.player_id();
    b.send(&tickcast_client::ClientMessage::Chat { text: "hello".into() }).await;
    b.send(&tickcast_client::ClientMessage::Leave).await;
    use tickcast_client::Event;
    // Wait for the Left event itself: "bob's entity is absent" also holds before a's
    // state has seen bob spawn at all.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !a.events.iter().any(|e| matches!(e, Event::Left { player } if *player == idb)) {
        assert!(tokio::time::Instant::now() < deadline, "bob's Left event never arrived");
        a.next_update().await;
    }
    let mine: Vec<&Event> = a
        .events
        .iter()
        .filter(|e| matches!(e, Event::Joined { player, .. } | Event::Chat { player, .. } | Event::Left { player } if *player == idb))
        .collect();
    assert_eq!(
        mine,
        vec![
            &Event::Joined { player: idb, name: "bob".into() },
            &Event::Chat { player: idb, text: "hello".into() },
            &Event::Left { player: idb }
        ]
    );
}
