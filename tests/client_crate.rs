//! The Rust client crate (`tickcast-client`) against the real server, over real sockets:
//! a guest token, a join speaking the newest protocol version (3) (with the game's constants), the
//! world kept from Snapshot and Deltas, an input acknowledged and seen to move the
//! player, a ping's RTT, a close without Leave then a resume as the same player, and a
//! Leave.

mod common;
use common::*;
use tickcast_client::connection::{guest_token, ConnectError, Connection};

#[tokio::test]
async fn the_client_crate_plays_a_session_end_to_end() {
    let server = start(settings());
    let http = format!("http://{}", server.addr);
    let url = server.ws_url(Some("crate"));
    let token = guest_token(&http, "bot").await.expect("a guest token");
    let mut game = Connection::join(&url, &token).await.expect("joined");
    let me = game.welcome.player_id;
    assert_eq!(game.welcome.protocol, 3, "every version offered: the newest is spoken");
    assert_eq!(game.welcome.constant("speed"), Some(200));
    assert_eq!(game.welcome.room, "crate");
    let player = game.welcome.schema.kind("player").expect("the arena's player kind");

    // The first update is a Snapshot holding our own entity.
    game.next_update().await.expect("an update");
    assert_eq!(game.world.entities.get(&me).map(|(k, _)| *k), Some(player));
    let start_x = game.world.get(me).unwrap()[0];

    // Walk right (dx = 1, unless at the wall: then left); the ack reaches the input and
    // the player moves.
    let dx = if start_x < 5000 { 1 } else { -1 };
    let seq = game.send_input(&[dx, 0, 0]).await.unwrap();
    game.ping().await.unwrap();
    while game.acked < seq || game.rtt.is_none() {
        game.next_update().await.expect("updates keep coming");
    }
    for _ in 0..3 {
        game.next_update().await.unwrap();
    }
    let x = game.world.get(me).unwrap()[0];
    assert!((x - start_x) * dx > 0, "moved from {start_x} to {x} with dx {dx}");
    assert!(game.clock_offset_us.is_some());

    // A close without Leave keeps the player: the newest resume token takes it back.
    let resume = game.welcome.resume_token.clone();
    game.close().await;
    let mut again = Connection::resume(&server.ws_url(None), &resume).await.expect("resumed");
    assert_eq!(again.welcome.player_id, me);
    again.next_update().await.unwrap();
    assert!(again.world.get(me).is_some());

    // Leave is final: the old token is refused with 4401 afterwards. Updates wait unread
    // in the socket first, as over a real network: leave() reads past them to the close.
    let last = again.welcome.resume_token.clone();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    again.leave().await.expect("left with 1000, past the updates still on their way");
    match Connection::resume(&server.ws_url(None), &last).await {
        Err(e @ ConnectError::Closed { code: 4401, .. }) => assert!(!e.resumable()),
        Err(e) => panic!("expected 4401, got {e}"),
        Ok(_) => panic!("a resume after Leave must be refused"),
    }
}

#[tokio::test]
async fn refusals_reach_the_client_crate_as_statuses_and_close_codes() {
    let server = start(settings());
    let http = format!("http://{}", server.addr);
    // A bad room name is refused before the upgrade.
    let token = guest_token(&http, "bot").await.unwrap();
    match Connection::join(&server.ws_url(Some("no.dots")), &token).await {
        Err(ConnectError::Refused { status: 400, reason }) => assert!(reason.contains("room"), "{reason}"),
        other => panic!("expected 400, got {:?}", other.err()),
    }
    // A forged token completes the upgrade and closes with 4401 and a reason.
    match Connection::join(&server.ws_url(Some("ok")), "forged").await {
        Err(ConnectError::Closed { code: 4401, reason }) => assert!(!reason.is_empty()),
        other => panic!("expected 4401, got {:?}", other.err()),
    }
}

/// A `Player` resumes on its own: an admin disconnect (1012, the player keeps its seat)
/// is followed by a resume with the newest token, the same player id, and updates again.
/// An admin kick (4403) says not to come back, and the player stops with it.
#[tokio::test]
async fn the_client_crates_player_resumes_after_a_drop_and_stops_on_a_kick() {
    use std::time::Duration;
    use tickcast_client::{Player, PlayerOptions};
    let server = start(settings());
    let mut options = PlayerOptions::new(&format!("http://{}", server.addr), "resilient");
    options.room = Some("again".into());
    options.backoff_base = Duration::from_millis(20);
    let mut player = Player::start(options).await.expect("joined");
    let me = player.connection().welcome.player_id;
    player.next_update().await.unwrap();

    let body = format!(r#"{{"room":"again","player":{me}}}"#);
    assert_eq!(server.admin_post("disconnect", &body).await, 200);
    // Reading on goes through the 1012 and the resume.
    while player.resumes == 0 {
        player.next_update().await.expect("resumed and reading again");
    }
    assert_eq!(player.connection().welcome.player_id, me, "the same player after the resume");
    assert_eq!(player.rejoins, 0);
    player.next_update().await.unwrap();
    assert!(player.connection().world.get(me).is_some());

    assert_eq!(server.admin_post("kick", &body).await, 200);
    let end = loop {
        match player.next_update().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(end, ConnectError::Closed { code: 4403, .. }), "{end}");
    assert_eq!(player.resumes, 1, "a kick is not resumed");
}
