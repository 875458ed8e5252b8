//! Which resume tokens take a player back, over real sockets: only the newest one the
//! room issued, and none once the player has left.

mod common;
use common::*;
use tickcast::protocol::close_code;
use tickcast_client::{ClientMessage, Event};

/// A Leave is final the moment the client has its close 1000 "left": a resume at once
/// with the Welcome's token is refused every time (it used to win a race with the room
/// and take the player back), and each player is gone for the others with its seat.
#[tokio::test]
async fn no_resume_token_works_after_leave_even_at_once() {
    let server = start(settings());
    let mut watcher = server.join("watcher", Some("bye")).await;
    const TRIES: usize = 10;
    let mut refused = 0;
    let mut left = Vec::new();
    for i in 0..TRIES {
        let mut p = server.join(&format!("p{i}"), Some("bye")).await;
        let resume = p.welcome.as_ref().unwrap().resume_token.clone();
        left.push(p.player_id());
        p.send(&ClientMessage::Leave).await;
        assert_eq!(p.expect_close().await, (close_code::NORMAL, "left".to_string()));
        let mut again = server.connect_resume(&resume).await;
        let (code, reason) = again.expect_refused().await;
        assert_eq!(code, close_code::UNAUTHORIZED, "{reason}");
        assert!(reason.starts_with("resume refused"), "{reason}");
        refused += 1;
    }
    assert_eq!(refused, TRIES, "every resume after Leave is refused");
    for id in left {
        watcher.until_event(|e| *e == Event::Left { player: id }).await;
    }
    assert_eq!(server.seats("bye").await, 1, "only the watcher holds a seat");
    let rows = server.admin_sessions().await;
    let members: Vec<_> = rows.iter().filter(|r| r["room"] == "bye").collect();
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["connected"], true);
    watcher.still_playing(3).await;
}

/// Join (R1), resume with R1 (R2): R1 is dead from then on and cannot take the player
/// from R2's holder; R2 resumes once, and is then dead in turn.
#[tokio::test]
async fn only_the_newest_resume_token_resumes() {
    let server = start(settings());
    let mut first = server.join("ada", Some("newest")).await;
    let id = first.player_id();
    let r1 = first.welcome.as_ref().unwrap().resume_token.clone();

    let mut second = server.connect_resume(&r1).await;
    let r2 = second.expect_welcome().await.resume_token;
    assert_eq!(second.player_id(), id);
    assert_eq!(first.expect_close().await.0, close_code::REPLACED);

    for _ in 0..3 {
        let mut stale = server.connect_resume(&r1).await;
        let (code, reason) = stale.expect_refused().await;
        assert_eq!(code, close_code::UNAUTHORIZED, "{reason}");
        assert_eq!(reason, "resume refused: token replaced by a newer one");
    }
    second.still_playing(3).await;
    assert_eq!(server.member("newest", id).await.unwrap()["connected"], true);

    let mut third = server.connect_resume(&r2).await;
    assert_eq!(third.expect_welcome().await.player_id, id);
    assert_eq!(second.expect_close().await.0, close_code::REPLACED);
    for stale in [&r1, &r2] {
        let (code, _) = server.connect_resume(stale).await.expect_refused().await;
        assert_eq!(code, close_code::UNAUTHORIZED);
    }
    third.still_playing(3).await;
    assert_eq!(server.seats("newest").await, 1, "one player throughout");
}

/// A close frame without Leave ends only the connection: the server answers 1000 "bye",
/// keeps the player through its grace window, and the Welcome's token takes the same
/// player back (what a page reload does). Leave is what gives a seat up.
#[tokio::test]
async fn a_close_without_leave_keeps_the_player_for_a_resume() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;
    let server = start(settings());
    let mut p = server.join("ada", Some("reload")).await;
    let id = p.player_id();
    let resume = p.welcome.as_ref().unwrap().resume_token.clone();
    p.send_raw(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
    assert_eq!(p.expect_close().await, (close_code::NORMAL, "bye".to_string()));
    let member = server.member_until("reload", id, |m| m["connected"] == false).await;
    assert_eq!(member["connected"], false, "kept in its grace window: {member}");
    assert_eq!(server.seats("reload").await, 1, "its seat is still held");

    let mut again = server.connect_resume(&resume).await;
    assert_eq!(again.expect_welcome().await.player_id, id, "the same player comes back");
    again.still_playing(3).await;
    assert_eq!(server.seats("reload").await, 1);
}
