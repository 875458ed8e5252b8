//! A player's session end to end over a real socket: join, ticks, input, leave.

mod common;
use common::*;
use tickcast::protocol::close_code;
use tickcast_client::Event;

#[tokio::test]
async fn join_receives_welcome_then_snapshot_then_deltas_in_order() {
    let server = start(settings());
    let mut c = server.join("ada", Some("lobby")).await;
    let w = c.welcome.clone().unwrap();
    assert_eq!(w.room, "lobby");
    assert_eq!(w.protocol, 1);
    assert_eq!(w.schema.game, "arena");
    assert!(!w.resume_token.is_empty());
    let first = c.next_update().await;
    assert_eq!(first.base_tick, None, "first update is a snapshot");
    assert!(c.entity(w.player_id).is_some(), "own entity in the snapshot");
    let mut last = first;
    for _ in 0..40 {
        let h = c.next_update().await;
        assert!(h.base_tick.is_some(), "a member that keeps up gets deltas");
        assert_in_order(&last, &h);
        last = h;
    }
}

#[tokio::test]
async fn input_moves_own_entity_and_is_acknowledged() {
    let server = start(settings());
    let mut c = server.join("ada", Some("move")).await;
    c.next_update().await;
    let me = c.player_id();
    let x0 = c.entity(me).unwrap()[0];
    for seq in 1..=5 {
        c.input(seq, &[1, 0, 0]).await;
    }
    c.until(|_| true).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let h = c.next_update().await;
        if h.ack_input == 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ack 5 never reported");
    }
    let x1 = c.entity(me).unwrap()[0];
    assert!(x1 > x0, "moved right: {x0} -> {x1}");
}

#[tokio::test]
async fn undecodable_input_closes_with_1007_while_others_keep_ticking() {
    let server = start(settings());
    let mut honest = server.join("honest", Some("r")).await;
    let mut bad = server.join("bad", Some("r")).await;
    bad.send_raw(tokio_tungstenite::tungstenite::Message::Binary(vec![0xff, 0xff, 0xff].into())).await;
    let (code, _) = bad.expect_close().await;
    assert_eq!(code, close_code::INVALID_PAYLOAD);
    let mut last = honest.next_update().await;
    for _ in 0..20 {
        let h = honest.next_update().await;
        assert_in_order(&last, &h);
        last = h;
    }
    assert!(honest.events.iter().any(|e| matches!(e, Event::Joined { .. })));
}
