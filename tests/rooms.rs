//! Rooms: membership, isolation, matchmaking, capacity and disposal over real sockets.

mod common;
use common::*;
use tickcast::protocol::close_code;
use tickcast_client::{ClientMessage, Event};

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
    let players_in_c = c.world.entities.values().filter(|(kind, _)| *kind == 0).count();
    assert_eq!(players_in_c, 1, "room two only holds its own player");
    assert!(c.entity(idc).is_some());
    assert!(b.welcome.as_ref().unwrap().players.iter().any(|(id, name)| *id == ida && name == "a"), "roster lists a");
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

/// Settings under which tests on loopback stand for several client IPs: 127.0.0.1 is a
/// trusted proxy, so each request's `X-Forwarded-For` is its client's address.
fn behind_proxy() -> tickcast::config::Settings {
    let mut s = settings();
    s.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    s.security.matchmake_per_minute = 10_000;
    s
}

const ADDR_A: Option<&str> = Some("10.0.0.1");
const ADDR_B: Option<&str> = Some("10.0.0.2");

#[tokio::test]
async fn one_ip_keeps_at_most_max_open_per_ip_rooms_it_created_and_still_joins_others() {
    let mut s = behind_proxy();
    s.room.max_open_per_ip = 3;
    s.room.empty_ttl_s = 0.2;
    s.room.reconnect_grace_s = 0.0;
    let server = start(s);
    // Address A creates rooms in a loop, staying in each: exactly three are let through.
    let mut owners = Vec::new();
    for i in 0..3 {
        owners.push(server.join_from(&format!("a{i}"), Some(&format!("own{i}")), ADDR_A).await);
    }
    for room in [Some("own3"), Some("own4"), None] {
        let (status, reason) = server.refused_upgrade("a", room, ADDR_A).await;
        assert_eq!(status, 429, "{room:?}: {reason}");
        assert!(reason.contains("room.max_open_per_ip"), "{reason}");
    }
    for query in ["?room=own3", ""] {
        let (status, body) = server.matchmake_from(query, ADDR_A).await;
        assert_eq!(status, 429, "{query}: {body}");
        assert!(body.contains("room.max_open_per_ip"), "{body}");
    }
    // Joining rooms that exist costs nothing, from A too, and B is not affected.
    let joined = server.join_from("a-joins", Some("own0"), ADDR_A).await;
    assert_eq!(joined.welcome.as_ref().unwrap().room, "own0");
    let (status, body) = server.matchmake_from("?room=own1", ADDR_A).await;
    assert_eq!(status, 200, "{body}");
    let _b = server.join_from("b", Some("theirs"), ADDR_B).await;
    let mut names = server.room_names().await;
    names.sort();
    assert_eq!(names, ["own0", "own1", "own2", "theirs"]);
    assert!(server.metric("tickcast_handshake_rejections_total{reason=\"max_open_per_ip\"}").await >= 3.0);
    assert!(server.metric("tickcast_matchmake_rejections_total{reason=\"max_open_per_ip\"}").await >= 2.0);
    // A's count drops when one of its rooms is disposed: it may create one again.
    let mut leaving = owners.pop().unwrap();
    leaving.send(&ClientMessage::Leave).await;
    leaving.expect_close().await;
    server.until_room_gone("own2").await;
    let again = server.join_from("a3", Some("own3"), ADDR_A).await;
    assert_eq!(again.welcome.as_ref().unwrap().room, "own3");
    let (status, reason) = server.refused_upgrade("a", Some("own4"), ADDR_A).await;
    assert_eq!((status, reason.contains("room.max_open_per_ip")), (429, true), "{reason}");
}

#[tokio::test]
async fn creating_rooms_faster_than_create_per_minute_is_refused_per_ip_and_per_token() {
    let mut s = behind_proxy();
    s.room.create_per_minute = 2;
    let server = start(s);
    // Ada at address A creates two rooms with one token, leaving each at once: the rate
    // counts creations, not rooms still open.
    let ada_token = server.token("ada").await;
    for room in ["fast0", "fast1"] {
        let mut c = server.join_with_token_from(&ada_token, Some(room), ADDR_A).await;
        c.send(&ClientMessage::Leave).await;
        c.expect_close().await;
    }
    // A third creation is refused: from A whoever asks, and with Ada's token (its
    // subject) from anywhere.
    let bob_token = server.token("bob").await;
    for (who, token, addr) in [("ada", &ada_token, ADDR_A), ("bob", &bob_token, ADDR_A), ("ada", &ada_token, ADDR_B)] {
        let (status, reason) = server.refused_upgrade_with_token(token, Some("fast2"), addr).await;
        assert_eq!(status, 429, "{who} {addr:?}: {reason}");
        assert!(reason.contains("room.create_per_minute"), "{reason}");
    }
    // A new token under Ada's name is a new subject: a name spends nobody's budget.
    let fresh = server.join_from("ada", Some("fast3"), Some("10.9.9.9")).await;
    assert_eq!(fresh.welcome.as_ref().unwrap().room, "fast3");
    let (status, body) = server.matchmake_from("?room=fast2", ADDR_A).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("room.create_per_minute"), "{body}");
    // Bob at B creates one; Ada at A joins it and matchmakes into it: joins cost nothing.
    let _bob = server.join_from("bob", Some("bobs"), ADDR_B).await;
    let ada = server.join_from("ada", Some("bobs"), ADDR_A).await;
    assert_eq!(ada.welcome.as_ref().unwrap().room, "bobs");
    let (status, body) = server.matchmake_from("?room=bobs", ADDR_A).await;
    assert_eq!(status, 200, "{body}");
    assert!(!server.room_names().await.contains(&"fast2".to_string()));
    assert!(server.metric("tickcast_handshake_rejections_total{reason=\"create_per_minute\"}").await >= 3.0);
    assert!(server.metric("tickcast_matchmake_rejections_total{reason=\"create_per_minute\"}").await >= 1.0);
}

#[tokio::test]
async fn at_max_rooms_a_new_room_gets_503_naming_room_max_rooms_not_the_connection_limit() {
    let mut s = settings();
    s.room.max_rooms = 2;
    let server = start(s);
    let _a = server.join("a", Some("one")).await;
    let _b = server.join("b", Some("two")).await;
    for room in [Some("three"), None] {
        let (status, reason) = server.refused_upgrade("c", room, None).await;
        assert_eq!(status, 503, "{reason}");
        assert!(reason.contains("room.max_rooms") && !reason.contains("connection limit"), "{reason}");
    }
    for query in ["?room=three", ""] {
        let (status, _, body) = matchmake(&server, query).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("room.max_rooms"), "{body}");
    }
    // The rooms that exist still take players.
    let c = server.join("c", Some("one")).await;
    assert_eq!(c.welcome.as_ref().unwrap().room, "one");
    assert!(server.metric("tickcast_handshake_rejections_total{reason=\"max_rooms\"}").await >= 2.0);
    assert!(server.metric("tickcast_matchmake_rejections_total{reason=\"max_rooms\"}").await >= 2.0);
}

#[tokio::test]
async fn a_room_nobody_stayed_in_is_disposed_after_abandoned_ttl_while_a_played_one_is_kept() {
    let mut s = settings();
    s.room.empty_ttl_s = 3600.0;
    s.room.abandoned_ttl_s = 2.0;
    s.room.reconnect_grace_s = 0.0;
    s.cluster.seat_ttl_s = 600;
    let server = start(s.clone());
    // A stays in "played" for abandoned_ttl_s worth of ticks, then leaves.
    let mut a = server.join("a", Some("played")).await;
    let stayed = a.welcome.as_ref().unwrap().tick + (s.room.abandoned_ttl_s * s.tick.rate_hz as f64) as u64 + 1;
    while a.next_update().await.tick < stayed {}
    a.send(&ClientMessage::Leave).await;
    a.expect_close().await;
    // B opens "abandoned" and leaves at once.
    let mut b = server.join("b", Some("abandoned")).await;
    b.send(&ClientMessage::Leave).await;
    b.expect_close().await;
    // A seat held by the matchmaker keeps "held" open although nobody came yet.
    let (status, held, body) = matchmake(&server, "?room=held").await;
    assert_eq!(status, 200, "{body}");
    server.until_room_gone("abandoned").await;
    let mut names = server.room_names().await;
    names.sort();
    assert_eq!(names, ["held", "played"], "the played room keeps room.empty_ttl_s");
    // The held seat still takes its player in.
    let token = server.token("c").await;
    let seat = format!("tickcast.seat.{}", held["seat"].as_str().unwrap());
    let mut c =
        Client::connect(held["url"].as_str().unwrap(), &[&format!("tickcast.token.{token}"), &seat]).await.unwrap();
    assert_eq!(c.expect_welcome().await.room, "held");
}

/// A request that names no host (HTTP/1.0 without `Host`) is sent to this node's bound
/// address, never to a default the server does not listen on.
#[tokio::test]
async fn matchmaking_without_a_host_header_answers_the_bound_address() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(settings());
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /api/matchmake HTTP/1.0\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await.expect("answer in time").unwrap();
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
    let url = answer["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("ws://{}/ws", server.addr)), "{url}");
}
