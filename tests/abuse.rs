//! Abuse of tokens, bans and framing, over real sockets: one token's players are
//! bounded, a ban holds against a new name, and a message of endless empty
//! continuation frames is cut. Honest players nearby keep playing.

mod common;
use common::*;
use tickcast::protocol::close_code;
use tickcast_client::ClientMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// Settings where the test can speak from several client IPs (`X-Forwarded-For` from a
/// trusted loopback proxy).
fn proxied() -> tickcast::config::Settings {
    let mut s = settings();
    s.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    s
}

#[tokio::test]
async fn one_token_holds_at_most_max_sessions_per_token_players() {
    let mut s = settings();
    s.security.max_sessions_per_token = 2;
    let server = start(s);
    let token = server.token("multi").await;
    let mut one = server.connect_token(Some("t1"), &token).await;
    one.expect_welcome().await;
    let mut two = server.connect_token(Some("t2"), &token).await;
    two.expect_welcome().await;

    // A third with the same token, in either room or a new one: refused, no seat taken.
    for room in ["t1", "t2", "t3"] {
        let mut extra = server.connect_token(Some(room), &token).await;
        let (code, reason) = extra.expect_refused().await;
        assert_eq!((code, reason.as_str()), (close_code::TOO_MANY_SESSIONS, "too many sessions for this token"));
    }
    assert_eq!(server.seats("t1").await + server.seats("t2").await + server.seats("t3").await, 2);
    // Another token is not affected.
    let mut other = server.join("other", Some("t1")).await;

    // A dropped player keeps counting through its grace window (else drop, join, resume
    // would grow the count without bound) ...
    let resume = two.welcome.as_ref().unwrap().resume_token.clone();
    drop(two);
    let (code, _) = server.connect_token(Some("t2"), &token).await.expect_refused().await;
    assert_eq!(code, close_code::TOO_MANY_SESSIONS);
    // ... and takes itself back without a new slot.
    let mut back = server.connect_resume(&resume).await;
    back.expect_welcome().await;

    // Leaving frees the slot at once.
    one.send(&ClientMessage::Leave).await;
    assert_eq!(one.expect_close().await.0, close_code::NORMAL);
    let mut again = server.connect_token(Some("t1"), &token).await;
    again.expect_welcome().await;
    other.still_playing(2).await;
    back.still_playing(2).await;
}

#[tokio::test]
async fn a_ban_refuses_the_subject_and_its_ip_not_the_display_name() {
    let server = start(proxied());
    let url = server.ws_url(Some("ban"));
    const EVE_IP: &str = "10.0.0.66";
    let eve_token = server.token_from("eve", EVE_IP).await.unwrap();
    let spare = server.token_from("mallory", EVE_IP).await.unwrap();
    let mut eve = Client::connect_from(&url, &[&format!("tickcast.token.{eve_token}")], EVE_IP).await;
    eve.expect_welcome().await;
    // Someone else who picked the same name, elsewhere.
    let namesake = server.token_from("eve", "10.0.0.2").await.unwrap();

    let answer = server.admin_kick("ban", eve.player_id(), true).await;
    assert_eq!(eve.expect_close().await, (close_code::KICKED, "kicked by an admin".to_string()));

    // Eve's token, from any address: the subject is banned.
    let mut t = Client::connect_from(&url, &[&format!("tickcast.token.{eve_token}")], "10.0.0.3").await;
    assert_eq!(t.expect_refused().await, (close_code::KICKED, "banned by an admin".to_string()));
    // A token under another name, from Eve's address: the IP is banned.
    let mut t = Client::connect_from(&url, &[&format!("tickcast.token.{spare}")], EVE_IP).await;
    assert_eq!(t.expect_refused().await, (close_code::KICKED, "banned by an admin".to_string()));
    // Nor can that address mint a new subject.
    let (status, body) = server.token_from("eve2", EVE_IP).await.unwrap_err();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("banned"), "{body}");

    // The namesake plays: a display name is no ban key.
    let mut other = Client::connect_from(&url, &[&format!("tickcast.token.{namesake}")], "10.0.0.2").await;
    other.expect_welcome().await;
    other.still_playing(2).await;
    assert_eq!((answer["banned_subject"].as_bool(), answer["banned_ip"].as_bool()), (Some(true), Some(true)));
}

#[tokio::test]
async fn with_ban_ip_s_zero_a_ban_is_by_subject_only() {
    let mut s = proxied();
    s.security.ban_ip_s = 0;
    let server = start(s);
    let url = server.ws_url(Some("subj"));
    const IP: &str = "10.0.0.7";
    let token = server.token_from("eve", IP).await.unwrap();
    let mut eve = Client::connect_from(&url, &[&format!("tickcast.token.{token}")], IP).await;
    eve.expect_welcome().await;
    let answer = server.admin_kick("subj", eve.player_id(), true).await;
    eve.expect_close().await;
    let mut t = Client::connect_from(&url, &[&format!("tickcast.token.{token}")], IP).await;
    assert_eq!(t.expect_refused().await.0, close_code::KICKED);
    // A new subject from the same address is let in.
    let fresh = server.token_from("eve", IP).await.expect("the address is not banned");
    let mut t = Client::connect_from(&url, &[&format!("tickcast.token.{fresh}")], IP).await;
    t.expect_welcome().await;
    assert_eq!((answer["banned_subject"].as_bool(), answer["banned_ip"].as_bool()), (Some(true), Some(false)));
}

/// A masked client frame for tungstenite to send as is.
fn fragment(payload: &[u8], opcode: OpCode, fin: bool) -> Message {
    let mut f = Frame::message(payload.to_vec(), opcode, fin);
    f.header_mut().is_final = fin;
    Message::Frame(f)
}

#[tokio::test]
async fn endless_empty_continuation_frames_close_with_1009() {
    let mut s = settings();
    s.limits.max_fragments_per_message = 8;
    let server = start(s);
    let mut honest = server.join("honest", Some("frag")).await;

    // A Ping in exactly 8 frames is within the limit and answered.
    let mut ok = server.join("ok", Some("frag")).await;
    let ping = ClientMessage::Ping { client_time: 42 }.encode();
    ok.send_raw(fragment(&ping, OpCode::Data(Data::Binary), false)).await;
    for i in 0..7 {
        ok.send_raw(fragment(&[], OpCode::Data(Data::Continue), i == 6)).await;
    }
    loop {
        match ok.recv().await {
            Received::Pong { client_time } => break assert_eq!(client_time, 42),
            Received::Update { .. } => continue,
            other => panic!("expected the Pong, got {other:?}"),
        }
    }

    // One byte, then continuation frames carrying nothing, never a FIN.
    let mut bad = server.join("bad", Some("frag")).await;
    bad.send_raw(fragment(&ping[..1], OpCode::Data(Data::Binary), false)).await;
    for _ in 0..50 {
        bad.send_raw(fragment(&[], OpCode::Data(Data::Continue), false)).await;
    }
    assert_eq!(bad.expect_close().await, (close_code::TOO_BIG, "too many fragments".to_string()));
    honest.still_playing(3).await;
    ok.still_playing(1).await;
}
