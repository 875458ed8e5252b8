//! Sync survives slow clients: deltas from per-member baselines, keyframes, bounded
//! memory, eviction of a stalled reader, and reconnection that keeps the player.

mod common;
use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use tickcast::protocol::{close_code, ServerMessage, UpdateHeader};
use tickcast::sync::{
    encode_delta, encode_events, encode_snapshot, Decision, EntityState, EventLog, FanOut, FanOutRules, History,
    MemberView,
};
use tickcast_client::World;

fn slow_client_settings() -> tickcast::config::Settings {
    let mut s = settings();
    s.server.write_buffer_bytes = 1024;
    s.server.socket_send_buffer_bytes = 4096;
    s.limits.max_pending_bytes = 4096;
    s
}

#[tokio::test]
async fn stalled_reader_is_evicted_and_room_keeps_ticking() {
    let mut s = slow_client_settings();
    s.limits.stall_timeout_s = 0.5;
    s.room.reconnect_grace_s = 30.0;
    let max_pending = s.limits.max_pending_bytes as u64;
    let server = start_churn(s, 200);
    let mut honest = server.join("honest", Some("stall")).await;
    let token = server.token("stalled").await;
    let mut stalled = stalled_reader(&server, "stall", &token, 2048).await;

    // The honest member receives every tick, while the stalled one backs up and is evicted.
    let mut last = honest.next_update().await;
    let mut max_seen_pending = 0u64;
    let mut evicted = false;
    for _ in 0..400 {
        let h = honest.next_update().await;
        assert_in_order(&last, &h);
        last = h;
        if h.tick % 10 == 0 {
            let rows = server.admin_sessions().await;
            let row = rows.iter().find(|r| r["name"] == "stalled").expect("stalled member listed");
            max_seen_pending = max_seen_pending.max(row["pending_bytes"].as_u64().unwrap());
            if row["connected"] == false {
                evicted = true;
                break;
            }
        }
    }
    assert!(evicted, "stalled reader was not evicted");
    // Bounded: at most the limit plus one frame (a frame is written whole), the largest
    // being a keyframe of the room (the honest member's first update).
    let frame = honest.largest_frame as u64;
    assert!(
        max_seen_pending <= max_pending + frame,
        "pending grew to {max_seen_pending} (limit {max_pending}, frame {frame})"
    );
    let (status, metrics) = http(server.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 200);
    let evictions = metrics.lines().find(|l| l.starts_with("tickcast_evictions_total")).expect("evictions metric");
    assert!(!evictions.ends_with(" 0"), "{evictions}");
    // The connection is torn down: reading eventually hits the end or a reset.
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 65536];
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "stalled connection never closed");
    // Its player stays in the grace window.
    let row = server.admin_sessions().await.into_iter().find(|r| r["name"] == "stalled").unwrap();
    assert_eq!(row["connected"], false);
}

#[tokio::test]
async fn paused_reader_resumes_with_baseline_delta_or_keyframe_and_correct_state() {
    let mut s = slow_client_settings();
    s.limits.stall_timeout_s = 30.0;
    s.heartbeat.timeout_s = 30.0;
    let server = start_churn(s, 200);
    let mut honest = server.join("honest", Some("pause")).await;
    let token = server.token("pauser").await;
    let mut pauser =
        Client::connect_small_rcvbuf(&server.ws_url(Some("pause")), &[&format!("tickcast.token.{token}")], 2048).await;
    pauser.expect_welcome().await;
    pauser.next_update().await;

    // Record the honest member's state at every tick while the other one does not read.
    let mut truth: BTreeMap<u64, World> = BTreeMap::new();
    for _ in 0..60 {
        honest.next_update().await;
        truth.insert(honest.world.tick, honest.world.view().clone());
    }
    // Resume reading: updates must apply (the test client refuses a broken chain) and
    // at least one must jump (a baseline delta or a keyframe), proving ticks were skipped.
    let mut jumped = false;
    for _ in 0..40 {
        let h = pauser.next_update().await;
        // A keyframe (no base), or a delta from further back than the previous tick.
        if h.base_tick.map(|b| b + 1) != Some(h.tick) {
            jumped = true;
        }
    }
    assert!(jumped, "the paused client never skipped a tick");
    while honest.world.tick < pauser.world.tick {
        honest.next_update().await;
        truth.insert(honest.world.tick, honest.world.view().clone());
    }
    let expected = truth.get(&pauser.world.tick).expect("honest saw that tick");
    assert_eq!(pauser.world.entities, expected.entities, "same state at tick {}", pauser.world.tick);
}

#[tokio::test]
async fn resume_within_grace_keeps_the_player_and_others_see_it_persist() {
    let mut s = settings();
    s.room.reconnect_grace_s = 30.0;
    let server = start(s);
    let mut other = server.join("other", Some("res")).await;
    let mut a = server.join("ada", Some("res")).await;
    a.next_update().await;
    let id = a.player_id();
    let before = a.entity(id).cloned().unwrap();
    let resume = a.welcome.as_ref().unwrap().resume_token.clone();
    drop(a); // the connection drops without a Leave
    other.until(|s| s.entities.contains_key(&id)).await;
    for _ in 0..20 {
        other.next_update().await;
        assert!(other.entity(id).is_some(), "player persists during the grace window");
    }
    let mut back = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{resume}")]).await.unwrap();
    let w = back.expect_welcome().await;
    assert_eq!(w.player_id, id);
    assert_eq!(w.room, "res");
    assert_ne!(w.resume_token, resume, "a fresh resume token");
    assert_eq!(back.next_update().await.base_tick, None, "a resume starts with a keyframe");
    assert_eq!(back.entity(id), Some(&before), "same entity, same position and score");
    let rows = server.admin_sessions().await;
    assert_eq!(rows.iter().filter(|r| r["room"] == "res").count(), 2, "no extra seat taken");
}

#[tokio::test]
async fn resume_takes_over_a_half_open_connection() {
    let server = start(settings());
    let mut a = server.join("ada", Some("take")).await;
    a.next_update().await;
    let resume = a.welcome.as_ref().unwrap().resume_token.clone();
    let mut b = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{resume}")]).await.unwrap();
    assert_eq!(b.expect_welcome().await.player_id, a.player_id());
    let (code, _) = a.expect_close().await;
    assert_eq!(code, close_code::REPLACED);
    b.next_update().await;
}

#[tokio::test]
async fn resume_after_grace_or_with_a_forged_token_is_refused_with_4401() {
    let mut s = settings();
    s.room.reconnect_grace_s = 0.2;
    let server = start(s);
    let mut keeper = server.join("keeper", Some("late")).await;
    let mut a = server.join("ada", Some("late")).await;
    a.next_update().await;
    let id = a.player_id();
    let resume = a.welcome.as_ref().unwrap().resume_token.clone();
    drop(a);
    keeper.until(|s| s.entities.contains_key(&id)).await;
    keeper.until(|s| !s.entities.contains_key(&id)).await;
    let mut late = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{resume}")]).await.unwrap();
    let (code, reason) = late.expect_close().await;
    assert_eq!(code, close_code::UNAUTHORIZED);
    assert!(reason.contains("resume refused"), "{reason}");

    let (payload, _) = resume.split_once('.').unwrap();
    let forged = format!("{payload}.AAAA");
    let mut f = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{forged}")]).await.unwrap();
    let (code, _) = f.expect_close().await;
    assert_eq!(code, close_code::UNAUTHORIZED);
    // Nothing else changed for the member who stayed.
    let h0 = keeper.next_update().await;
    let h1 = keeper.next_update().await;
    assert_in_order(&h0, &h1);
}

#[tokio::test]
async fn admin_disconnect_keeps_the_player_for_resume_and_kick_removes_it() {
    let server = start(settings());
    let mut a = server.join("ada", Some("adm")).await;
    let spare = server.token("bob").await;
    a.next_update().await;
    let id = a.player_id();
    assert_eq!(server.admin_post("disconnect", &format!(r#"{{"room":"adm","player":{id}}}"#)).await, 200);
    let (code, _) = a.expect_close().await;
    assert_eq!(code, close_code::TRY_AGAIN);
    let resume = a.welcome.as_ref().unwrap().resume_token.clone();
    let mut b = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{resume}")]).await.unwrap();
    assert_eq!(b.expect_welcome().await.player_id, id);
    assert_eq!(server.admin_post("kick", &format!(r#"{{"room":"adm","player":{id},"ban":true}}"#)).await, 200);
    let (code, _) = b.expect_close().await;
    assert_eq!(code, close_code::KICKED);
    assert!(server.member("adm", id).await.is_none(), "kicked player removed");
    // The ban holds the kicked player's address too (security.ban_ip_s): a token minted
    // before it, under another name, is refused, and no new one is minted.
    let mut again = Client::connect(&server.ws_url(Some("adm")), &[&format!("tickcast.token.{spare}")]).await.unwrap();
    let (code, reason) = again.expect_close().await;
    assert_eq!((code, reason.as_str()), (close_code::KICKED, "banned by an admin"));
    let body = r#"{"name":"ada"}"#;
    let (status, _) = http(server.addr, "POST", "/api/session", &[("Content-Type", "application/json")], body).await;
    assert_eq!(status, 403, "a banned address mints no token");
    let (status, _) = http(server.admin.unwrap(), "GET", "/admin/sessions", &[], "").await;
    assert_eq!(status, 401, "admin API needs its token");
}

fn state_from(values: &[(u32, i32, i32)]) -> EntityState {
    let mut s = EntityState::new();
    for (id, a, b) in values {
        s.push(*id, 0, &[*a, *b]);
    }
    s.finish();
    s
}

/// The schema of `kinds` (each a list of field names, scale 1), as a client reads it
/// from Welcome.
fn schema(kinds: &[&[&str]]) -> tickcast_client::Schema {
    use tickcast_client::message::EntityKind;
    tickcast_client::Schema {
        game: "p".into(),
        entity_kinds: kinds
            .iter()
            .enumerate()
            .map(|(i, fields)| EntityKind {
                name: format!("k{i}"),
                fields: fields.iter().map(|f| (f.to_string(), 1)).collect(),
            })
            .collect(),
        input: vec![],
        event_kinds: vec![],
    }
}

/// The entities of a server state as a client's [`World`] holds them.
fn as_world_entities(state: &EntityState) -> BTreeMap<u32, (u16, Vec<i32>)> {
    state.iter().map(|e| (e.id, (e.kind, e.fields.to_vec()))).collect()
}

/// One update as the server sends it (`base_tick` 0: a Snapshot), decoded and applied
/// by tickcast-client, as a client does; the update's events.
fn apply(
    world: &mut World,
    schema: &tickcast_client::Schema,
    header: UpdateHeader,
    body: &[u8],
) -> Result<Vec<tickcast_client::Event>, String> {
    let msg = if header.base_tick == 0 {
        ServerMessage::Snapshot { header, body }
    } else {
        ServerMessage::Delta { header, body }
    };
    let bytes = msg.encode();
    let update = match tickcast_client::ServerMessage::decode(&bytes, Some(schema)).map_err(|e| e.to_string())? {
        tickcast_client::ServerMessage::Update(u) => u,
        other => return Err(format!("an update decoded as {other:?}")),
    };
    let expected_base = (header.base_tick != 0).then_some(header.base_tick);
    match &update.body {
        tickcast_client::message::Body::Snapshot(_) if expected_base.is_none() => {}
        tickcast_client::message::Body::Delta { base_tick, .. } if Some(*base_tick) == expected_base => {}
        other => return Err(format!("the header's base {expected_base:?} decoded as {other:?}")),
    }
    world.apply(&update).map_err(|e| e.to_string())?;
    Ok(update.events)
}

/// An encoded snapshot and delta from the server, decoded and applied by tickcast-client:
/// created (a new id, and an id whose kind changed), changed and removed entities.
#[test]
fn a_delta_creates_changes_and_removes_what_the_client_holds() {
    let schema = schema(&[&["x", "y"], &["v"]]);
    let mut a = EntityState::new();
    a.push(1, 0, &[10, 20]);
    a.push(5, 1, &[7]);
    a.push(9, 0, &[0, 0]);
    let mut b = EntityState::new();
    b.push(1, 0, &[12, 20]);
    b.push(7, 1, &[3]);
    b.push(9, 1, &[4]);
    let mut events = Vec::new();
    encode_events(std::iter::empty(), &mut events);
    let header = |tick, base_tick| UpdateHeader { tick, base_tick, ack_input: 0, server_time_us: 0 };

    let mut world = World::default();
    let mut body = Vec::new();
    encode_snapshot(&a, &events, &mut body);
    assert_eq!(apply(&mut world, &schema, header(1, 0), &body), Ok(vec![]));
    assert_eq!(world.entities, as_world_entities(&a));
    assert_eq!(world.tick, 1);

    let mut body = Vec::new();
    let stats = encode_delta(&a, &b, &events, &mut Default::default(), &mut body);
    assert_eq!((stats.created, stats.changed, stats.removed), (2, 1, 1));
    assert_eq!(apply(&mut world, &schema, header(2, 1), &body), Ok(vec![]));
    assert_eq!(world.entities, as_world_entities(&b));
    assert_eq!(world.tick, 2);
}

proptest! {
    /// Random state sequences and random skip patterns, through the room's own fan-out
    /// rules (`sync::FanOut`, as `RoomActor::fan_out` drives them): whatever a client
    /// receives applies, and its state equals the server's at every tick it was sent.
    #[test]
    fn client_state_equals_server_state_whatever_is_skipped(
        states in prop::collection::vec(
            prop::collection::btree_map(0u32..40, (any::<i32>(), -300i32..300), 0..12),
            1..60,
        ),
        skips in prop::collection::vec(any::<bool>(), 60),
        history in 2usize..8,
        max_age in 1u64..8,
    ) {
        let max_age = max_age.min(history as u64);
        let mut ring = History::new(history);
        let log = EventLog::default();
        let mut fanout = FanOut::new(FanOutRules { max_baseline_age_ticks: max_age, max_pending_events: 1024 });
        let schema = schema(&[&["a", "b"]]);
        let mut client = World::default();
        let mut baseline = 0u64;
        for (i, entities) in states.iter().enumerate() {
            let tick = i as u64 + 1;
            let state = Arc::new(state_from(&entities.iter().map(|(id, (a, b))| (*id, *a, *b)).collect::<Vec<_>>()));
            ring.push(tick, state.clone());
            fanout.begin_tick();
            // A skipped tick is a member that cannot take a frame: the rules must say so.
            let member = MemberView { baseline, joined_tick: 0, can_take: !skips[i], stalled: false };
            let (base_tick, body) = match fanout.decide(&member, tick, &state, &ring, &log) {
                Decision::Send { base_tick, body } => (base_tick, body),
                Decision::Skip => {
                    prop_assert!(skips[i]);
                    continue;
                }
                Decision::Evict(why) => panic!("a member that keeps reading is never evicted: {why:?}"),
            };
            prop_assert!(!skips[i]);
            let header = UpdateHeader { tick, base_tick, ack_input: 0, server_time_us: 0 };
            apply(&mut client, &schema, header, &body).unwrap();
            baseline = tick;
            prop_assert_eq!(client.tick, tick);
            prop_assert_eq!(&client.entities, &as_world_entities(&state));
        }
    }
}

#[tokio::test]
async fn after_a_resume_the_ack_restarts_and_a_dropped_player_stops_moving() {
    let server = start(settings());
    let mut watcher = server.join("watcher", Some("ack")).await;
    let mut a = server.join("ada", Some("ack")).await;
    let id = a.player_id();
    for seq in 1..=3 {
        a.input(seq, &[1, 0, 0]).await;
    }
    a.until(|_| true).await;
    loop {
        if a.next_update().await.ack_input == 3 {
            break;
        }
    }
    let resume = a.welcome.as_ref().unwrap().resume_token.clone();
    drop(a);
    // The dropped player stops: its x settles while it waits in its grace window.
    watcher.until(|s| s.entities.contains_key(&id)).await;
    let mut xs = Vec::new();
    for _ in 0..30 {
        watcher.next_update().await;
        xs.push(watcher.entity(id).unwrap()[0]);
    }
    assert_eq!(xs[xs.len() - 1], xs[xs.len() - 10], "a disconnected player does not keep sliding");
    let mut b = Client::connect(&server.ws_url(None), &[&format!("tickcast.resume.{resume}")]).await.unwrap();
    assert_eq!(b.expect_welcome().await.player_id, id);
    let h = b.next_update().await;
    assert_eq!(h.ack_input, 0, "the acknowledgement restarts with the new connection");
    b.input(1, &[0, 1, 0]).await;
    loop {
        if b.next_update().await.ack_input == 1 {
            break;
        }
    }
}

/// With the default socket settings, a client that stops reading (but keeps writing, so
/// its heartbeat stays alive) is evicted by the stall timer, and the kernel holds only a
/// bounded backlog for it meanwhile (the campaign saw 4 MiB per client when the kernel
/// autotuned the send buffer and kept accepting unread updates).
#[tokio::test]
async fn stalled_readers_with_default_socket_settings_cost_bounded_kernel_memory_and_are_evicted() {
    use tokio::io::AsyncWriteExt;
    const STALLED: usize = 12;
    const MAX_KERNEL_QUEUE: u64 = 256 << 10;
    let mut s = settings();
    s.limits.stall_timeout_s = 1.0;
    let server = start_churn(s, 200);
    let mut honest = server.join("honest", Some("deaf")).await;
    let mut readers = Vec::new();
    for i in 0..STALLED {
        // A token each: one subject holds at most security.max_sessions_per_token players.
        let token = server.token(&format!("deaf{i}")).await;
        let r = stalled_reader(&server, "deaf", &token, 4096).await;
        let port = r.local_addr().unwrap().port();
        readers.push((r, port));
    }
    let mut max_queue = 0u64;
    let mut gone = 0;
    for _ in 0..2000 {
        honest.next_update().await;
        for (r, _) in readers.iter_mut() {
            let _ = r.write_all(&RAW_PING).await;
        }
        gone = 0;
        for (_, port) in &readers {
            match server_send_queue(server.addr.port(), *port) {
                Some(q) => max_queue = max_queue.max(q),
                None => gone += 1,
            }
        }
        assert!(max_queue <= MAX_KERNEL_QUEUE, "the kernel queued {max_queue} bytes for one stalled reader");
        let evicted = server.admin_sessions().await.iter().filter(|r| r["connected"] == false).count();
        if evicted == STALLED && gone == STALLED {
            break;
        }
    }
    assert_eq!(gone, STALLED, "every stalled reader's connection was torn down");
    let (_, metrics) = http(server.addr, "GET", "/metrics", &[], "").await;
    let evictions: f64 = metric_value(&metrics, "tickcast_evictions_total").unwrap_or(0.0);
    // At least: the recorder is shared with this binary's other tests, which evict too.
    assert!(evictions as usize >= STALLED, "each was evicted by the stall timer: {evictions}");
    honest.next_update().await;
}

/// A member that fell so far behind that it is owed more events than the room keeps is
/// evicted when it can take a frame again, with a 1008 close frame it reads (its socket
/// is not reset: only a member that stopped reading is).
#[tokio::test]
async fn a_member_owed_too_many_events_gets_a_1008_close_frame_not_a_reset() {
    let mut s = slow_client_settings();
    s.sync.max_pending_events = 8;
    s.limits.stall_timeout_s = 30.0;
    s.heartbeat.timeout_s = 30.0;
    let server = start_churn(s, 200);
    let mut chatter = server.join("chatter", Some("owed")).await;
    let token = server.token("behind").await;
    let mut behind =
        Client::connect_small_rcvbuf(&server.ws_url(Some("owed")), &[&format!("tickcast.token.{token}")], 2048).await;
    behind.expect_welcome().await;
    behind.next_update().await;
    // The chatter keeps reading (so it is never behind itself) and, when told, says one
    // line a tick or so (a member in step is owed one event at a time) until the member
    // that stopped reading is owed more than the room keeps.
    let (talk, mut told) = tokio::sync::oneshot::channel::<()>();
    let (done, said) = tokio::sync::oneshot::channel::<()>();
    let mut done = Some(done);
    let chatting = tokio::spawn(async move {
        let mut talking = false;
        let mut lines = 0;
        let mut every = tokio::time::interval(std::time::Duration::from_millis(30));
        loop {
            tokio::select! {
                _ = &mut told, if !talking => talking = true,
                _ = every.tick(), if talking && lines < 12 => {
                    chatter.send(&tickcast_client::ClientMessage::Chat { text: format!("line {lines}") }).await;
                    lines += 1;
                    if lines == 12 {
                        done.take().map(|d| d.send(()));
                    }
                }
                received = chatter.recv() => {
                    if let Received::Closed { code, reason } = received {
                        panic!("the chatter, who keeps reading, was closed: {code} {reason}");
                    }
                }
            }
        }
    });
    // The other member stops reading until the room has to skip it...
    let player = behind.player_id();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.member("owed", player).await.expect("listed")["skipped_ticks"].as_u64().unwrap_or(0) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the member was never skipped");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // ... and the events it is owed pass what the room keeps.
    talk.send(()).expect("the chatter listens");
    said.await.expect("the chatter said its lines");
    // It reads again: what was queued; once it can take a frame the room finds it owed
    // more events than it keeps, and it gets the Notice and a close frame.
    let (code, reason) = behind.expect_close().await;
    assert_eq!(code, close_code::POLICY, "{reason}");
    assert!(reason.contains("too far behind"), "{reason}");
    assert!(!chatting.is_finished(), "the chatter kept playing");
    chatting.abort();
}
