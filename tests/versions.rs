//! Protocol versions over real sockets: the server answers with the newest version a
//! client offers, a client offering only `tickcast.v1` gets version 1 byte for byte, and
//! version 2 adds the game's constants to Welcome (docs/PROTOCOL.md, "Versions").

mod common;
use common::*;
use futures_util::StreamExt;
use tickcast::game::arena::{Arena, ArenaConfig};
use tickcast::game::Game;
use tickcast::protocol::{EntityKind, FieldDef, GameConstant, InputField, PlayerInfo, Schema, ServerMessage, Welcome};
use tickcast_client::message::Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Opens `/ws?room=ROOM` offering `versions` (and a fresh token); returns the version
/// the server answered with and the raw bytes of its first message.
async fn first_message(server: &TestServer, room: &str, versions: &str) -> (String, Vec<u8>) {
    let token = server.token("v").await;
    let mut req = server.ws_url(Some(room)).into_client_request().unwrap();
    let offered = format!("{versions}, tickcast.token.{token}");
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&offered).unwrap());
    let (mut ws, res) =
        tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(req)).await.unwrap().expect("upgrade");
    let chosen = res.headers().get("sec-websocket-protocol").unwrap().to_str().unwrap().to_string();
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.unwrap().expect("a message").expect("no error") {
            Message::Binary(bytes) => return (chosen, bytes.to_vec()),
            _ => continue,
        }
    }
}

/// The first message decoded by tickcast-client: the Welcome it must be, with no
/// trailing bytes.
fn welcome_of(bytes: &[u8]) -> tickcast_client::Welcome {
    match Frame::parse(bytes).expect("the Welcome decodes, with no trailing bytes") {
        Frame::Welcome(w) => *w,
        other => panic!("expected Welcome first, got {other:?}"),
    }
}

/// What tickcast-client decoded, as the server's Welcome (to encode it again).
fn server_welcome(w: &tickcast_client::Welcome) -> Welcome {
    let s = &w.schema;
    Welcome {
        protocol: w.protocol,
        player_id: w.player_id,
        room: w.room.clone(),
        tick_rate_hz: w.tick_rate_hz,
        tick: w.tick,
        resume_token: w.resume_token.clone(),
        players: w.players.iter().map(|(id, name)| PlayerInfo { id: *id, name: name.clone() }).collect(),
        schema: Schema {
            game: s.game.clone(),
            entity_kinds: s
                .entity_kinds
                .iter()
                .map(|k| EntityKind {
                    name: k.name.clone(),
                    fields: k
                        .fields
                        .iter()
                        .map(|(name, scale)| FieldDef { name: name.clone(), scale: *scale })
                        .collect(),
                })
                .collect(),
            input: s.input.iter().map(|f| InputField { name: f.name.clone(), min: f.min, max: f.max }).collect(),
            event_kinds: s.event_kinds.clone(),
        },
        constants: w.constants.iter().map(|(name, value)| GameConstant { name: name.clone(), value: *value }).collect(),
    }
}

/// The arena's default constants as tickcast-client holds them: name and value.
fn arena_constants() -> Vec<(String, i64)> {
    Arena::new(ArenaConfig::default(), 1).constants().into_iter().map(|c| (c.name, c.value)).collect()
}

#[tokio::test]
async fn a_client_offering_only_v1_gets_version_1_byte_for_byte() {
    let server = start(settings());
    let (chosen, bytes) = first_message(&server, "old", "tickcast.v1").await;
    assert_eq!(chosen, "tickcast.v1");
    let w = welcome_of(&bytes);
    assert_eq!(w.protocol, 1);
    assert!(w.constants.is_empty());
    // Re-encoded as version 1 it is the same bytes: nothing was appended (and
    // tickcast-client decoded every field).
    assert_eq!(ServerMessage::Welcome(server_welcome(&w)).encode(), bytes);
}

#[tokio::test]
async fn the_newest_offered_version_is_chosen_wherever_it_is_in_the_list() {
    let server = start(settings());
    let arena = arena_constants();
    for offered in ["tickcast.v1, tickcast.v2", "tickcast.v2, tickcast.v1", "tickcast.v2", "tickcast.v9, tickcast.v2"] {
        let (chosen, bytes) = first_message(&server, "new", offered).await;
        assert_eq!(chosen, "tickcast.v2", "offered {offered}");
        let w = welcome_of(&bytes);
        assert_eq!(w.protocol, 2, "offered {offered}");
        assert_eq!(w.constants, arena, "offered {offered}");
    }
    let speed = arena.iter().find(|(name, _)| name == "speed").map(|(_, value)| *value);
    assert_eq!(speed, Some(200), "the arena's default speed: {arena:?}");
}

#[tokio::test]
async fn a_player_joined_over_v2_resumes_over_v1_and_gets_a_version_1_welcome() {
    let server = start(settings());
    let (_, bytes) = first_message(&server, "mixed", "tickcast.v2").await;
    let joined = welcome_of(&bytes);
    let mut req = server.ws_url(None).into_client_request().unwrap();
    let offered = format!("tickcast.v1, tickcast.resume.{}", joined.resume_token);
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&offered).unwrap());
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
    assert_eq!(res.headers().get("sec-websocket-protocol").unwrap(), "tickcast.v1");
    let bytes = loop {
        if let Message::Binary(b) = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap().unwrap().unwrap() {
            break b.to_vec();
        }
    };
    let resumed = welcome_of(&bytes);
    assert_eq!((resumed.player_id, resumed.protocol), (joined.player_id, 1));
    assert_eq!(resumed.constants, Vec::<(String, i64)>::new());
}

#[tokio::test]
async fn offering_no_version_the_server_speaks_is_refused_before_the_upgrade() {
    let server = start(settings());
    let token = server.token("v").await;
    let mut req = server.ws_url(Some("none")).into_client_request().unwrap();
    let offered = format!("tickcast.v9, tickcast.token.{token}");
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&offered).unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            let body = r.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().to_string();
            assert_eq!(r.status().as_u16(), 400, "{body}");
            assert!(body.contains("tickcast.v1, tickcast.v2 or tickcast.v3 must be offered"), "{body}");
        }
        other => panic!("expected a 400 before the upgrade, got {:?}", other.map(|_| ())),
    }
}
