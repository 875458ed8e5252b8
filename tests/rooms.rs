//! Rooms: membership, isolation, matchmaking, capacity and disposal over real sockets.

mod common;
use common::*;
use tickcast::protocol::{close_code, ClientMessage, Event};

async fn rooms(server: &TestServer) -> serde_json::Value {
    let (status, body) = http(server.addr, "GET", "/api/rooms", &[], "").await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn two_clients_in_one_room_see_each_other_and_other_rooms_do_not() {
    let server = start(settings());
    let mut a = server.join("a", Some("one")).await;
    let mut b = server.join("b", Some("one")).await;
    let mut c = server.join("c", Some("two")).await;
    let (ida, idb, idc) = (a.player_id(), b.player_id(), c.player_id());
    a.until(|s| s.entities.contains_key(&idb)).await;
    b.until(|s| s.entities.contains_key(&ida)).await;
    c.next_update().await;
    c.next_update().await;
    let players_in_c = c.state.entities.values().filter(|(kind, _)| *kind == 0).count();
    assert_eq!(players_in_c, 1, "room two only holds its own player");
    assert!(c.entity(idc).is_some());
    assert!(b.welcome.as_ref().unwrap().players.iter().any(|p| p.id == ida && p.name == "a"), "roster lists a");
}

#[tokio::test]
async fn leaving_removes_the_entity_for_the_others() {
    let server = start(settings());
    let mut a = server.join("a", Some("leave")).await;
    let mut b = server.join("b", Some("leave")).await;
    let idb = b.player_id();
    a.until(|s| s.entities.contains_key(&idb)).await;
    b.send(&ClientMessage::Leave).await;
    let (code, _) = b.expect_close().await;
    assert_eq!(code, close_code::NORMAL);
    a.until(|s| !s.entities.contains_key(&idb)).await;
    assert!(a.events.contains(&Event::Left { player: idb }));
    let list = rooms(&server).await;
    assert_eq!(list[0]["players"], 1, "seat freed at once on Leave");
}

#[tokio::test]
async fn matchmaking_fills_a_room_then_opens_another() {
    let mut s = settings();
    s.room.max_players = 3;
    let server = start(s);
    let mut clients = Vec::new();
    for i in 0..7 {
        clients.push(server.join(&format!("p{i}"), None).await);
    }
    let mut rooms_seen: Vec<String> = clients.iter().map(|c| c.welcome.as_ref().unwrap().room.clone()).collect();
    assert_eq!(rooms_seen[0], rooms_seen[1]);
    assert_eq!(rooms_seen[0], rooms_seen[2]);
    assert_ne!(rooms_seen[2], rooms_seen[3]);
    assert_eq!(rooms_seen[3], rooms_seen[5]);
    assert_ne!(rooms_seen[5], rooms_seen[6]);
    rooms_seen.dedup();
    assert_eq!(rooms_seen.len(), 3);
    let list = rooms(&server).await;
    let mut counts: Vec<u64> = list.as_array().unwrap().iter().map(|r| r["players"].as_u64().unwrap()).collect();
    counts.sort();
    assert_eq!(counts, vec![1, 3, 3]);
    assert!(list.as_array().unwrap().iter().all(|r| r["capacity"] == 3));
}

#[tokio::test]
async fn simultaneous_joins_never_overfill_a_room() {
    let mut s = settings();
    s.room.max_players = 5;
    let server = start(s);
    let mut tokens = Vec::new();
    for i in 0..23 {
        tokens.push(server.token(&format!("p{i}")).await);
    }
    let url = server.ws_url(None);
    let joins = tokens.into_iter().map(|t| {
        let url = url.clone();
        tokio::spawn(async move {
            let mut c = Client::connect(&url, &[&format!("tickcast.token.{t}")]).await.unwrap();
            let w = c.expect_welcome().await;
            (w.room, c)
        })
    });
    let results = futures_util::future::join_all(joins).await;
    let mut per_room = std::collections::BTreeMap::<String, usize>::new();
    for r in &results {
        *per_room.entry(r.as_ref().unwrap().0.clone()).or_default() += 1;
    }
    assert!(per_room.values().all(|n| *n <= 5), "{per_room:?}");
    assert_eq!(per_room.values().sum::<usize>(), 23);
    assert_eq!(per_room.len(), 5, "23 players at 5 per room fill exactly 5 rooms: {per_room:?}");
}

#[tokio::test]
async fn a_full_named_room_closes_with_4409() {
    let mut s = settings();
    s.room.max_players = 2;
    let server = start(s);
    let _a = server.join("a", Some("small")).await;
    let _b = server.join("b", Some("small")).await;
    let token = server.token("c").await;
    let mut c = Client::connect(&server.ws_url(Some("small")), &[&format!("tickcast.token.{token}")]).await.unwrap();
    match c.recv().await {
        Received::Notice { code, reason } => {
            assert_eq!((code, reason.as_str()), (close_code::ROOM_FULL, "room is full"))
        }
        other => panic!("expected a Notice, got {other:?}"),
    }
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, close_code::ROOM_FULL);
    assert_eq!(reason, "room is full");
}

#[tokio::test]
async fn an_empty_room_is_disposed_after_its_ttl() {
    let mut s = settings();
    s.room.empty_ttl_s = 0.2;
    s.room.reconnect_grace_s = 0.0;
    let server = start(s);
    let mut a = server.join("a", Some("brief")).await;
    a.next_update().await;
    assert_eq!(rooms(&server).await.as_array().unwrap().len(), 1);
    a.send(&ClientMessage::Leave).await;
    a.expect_close().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !rooms(&server).await.as_array().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "room never disposed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The name is free again: a new room of that name starts from tick 0.
    let b = server.join("b", Some("brief")).await;
    assert!(b.welcome.as_ref().unwrap().tick < 10);
}

async fn matchmake(server: &TestServer, query: &str) -> (u16, serde_json::Value, String) {
    let (status, body) = http(server.addr, "GET", &format!("/api/matchmake{query}"), &[], "").await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null), body)
}

#[tokio::test]
async fn matchmaking_api_holds_a_seat_that_its_token_takes() {
    let mut s = settings();
    s.room.max_players = 2;
    let server = start(s);
    let (status, first, body) = matchmake(&server, "?room=pair").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(first["url"], format!("ws://{}/ws?room=pair", server.addr));
    assert_eq!((first["room"].as_str(), first["node"].as_str()), (Some("pair"), Some("local")));
    assert!(first["expires_in"].as_u64().unwrap() > 0);
    let (status, second, _) = matchmake(&server, "?room=pair").await;
    assert_eq!(status, 200);
    // Both seats are held: a third request, and a join without a seat, find it full.
    let (status, _, body) = matchmake(&server, "?room=pair").await;
    assert_eq!((status, body.trim()), (409, "room is full"));
    let token = server.token("walk-in").await;
    let mut walk_in =
        Client::connect(&server.ws_url(Some("pair")), &[&format!("tickcast.token.{token}")]).await.unwrap();
    assert_eq!(walk_in.expect_close().await.0, close_code::ROOM_FULL);
    // The holders of the seats get in with their seat tokens.
    let mut players = Vec::new();
    for (answer, name) in [(&first, "p1"), (&second, "p2")] {
        let token = server.token(name).await;
        let seat = format!("tickcast.seat.{}", answer["seat"].as_str().unwrap());
        let mut c = Client::connect(answer["url"].as_str().unwrap(), &[&format!("tickcast.token.{token}"), &seat])
            .await
            .unwrap();
        assert_eq!(c.expect_welcome().await.room, "pair");
        players.push(c);
    }
    assert_eq!(rooms(&server).await[0]["players"], 2);
    // A resuming player only asks where its room is: no seat needed, so "full" is fine,
    // and a room that does not exist is gone (410).
    let (status, located, body) = matchmake(&server, "?room=pair&resume=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(located["url"], first["url"]);
    assert_eq!(rooms(&server).await[0]["players"], 2, "locating took no seat");
    let (status, _, _) = matchmake(&server, "?room=nowhere&resume=1").await;
    assert_eq!(status, 410);
    // A seat token is good once: reused, it asks for a new seat, and the room is full.
    let token = server.token("again").await;
    let seat = format!("tickcast.seat.{}", first["seat"].as_str().unwrap());
    let mut again = Client::connect(&server.ws_url(None), &[&format!("tickcast.token.{token}"), &seat]).await.unwrap();
    assert_eq!(again.expect_close().await.0, close_code::ROOM_FULL);
}

#[tokio::test]
async fn matchmaking_api_refuses_bad_names_and_forged_seats() {
    let server = start(settings());
    let (status, _, body) = matchmake(&server, "?room=no%20spaces").await;
    assert_eq!(status, 400, "{body}");
    let (status, answer, _) = matchmake(&server, "").await;
    assert_eq!(status, 200);
    assert!(answer["room"].as_str().unwrap().starts_with("mm-"));
    let token = server.token("mallory").await;
    let seat = answer["seat"].as_str().unwrap();
    let (payload, _) = seat.split_once('.').unwrap();
    let forged = format!("tickcast.seat.{payload}.AAAA");
    let mut c =
        Client::connect(answer["url"].as_str().unwrap(), &[&format!("tickcast.token.{token}"), &forged]).await.unwrap();
    let (code, reason) = c.expect_close().await;
    assert_eq!(code, close_code::UNAUTHORIZED);
    assert!(reason.starts_with("seat refused"), "{reason}");
}
