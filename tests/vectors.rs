//! Golden wire-format vectors: the exact bytes of every message kind, kept in
//! `tests/vectors/` as `NAME.bin` with its meaning in `NAME.json`, and shared with the
//! JavaScript client's tests. The JSON layout is a contract described in
//! `docs/PROTOCOL.md` ("Golden vectors").
//!
//! Each vector is built here from Rust values and encoded with the crate; the test fails
//! if one byte differs from the `.bin`. The `.bin` is then read back by [`Listing`], a
//! second decoder written from `docs/PROTOCOL.md` alone, whose result must equal both the
//! meaning stated here and the `.json`; updates, decoded by the `tickcast-client` crate,
//! are applied to its [`RoomState`] holding `state_before` and must give `state_after`
//! (a Cell update's states hold cells too). The annotated byte listings in
//! `docs/PROTOCOL.md` are that decoder's output and are checked too, so the document
//! cannot drift from the bytes.
//!
//! After an intended wire change, regenerate the files and the listings with
//! `TICKCAST_WRITE_VECTORS=1 cargo test --test vectors`, and review the diff.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tickcast::game::arena::{Arena, ArenaConfig, EVENT_SCORED, KIND_ORB, KIND_PLAYER, ORB_ID_BASE};
use tickcast::game::Game;
use tickcast::protocol::codec::encode_into;
use tickcast::protocol::{
    ClientMessage, EntityKind, Event, FieldDef, InputField, Notice, PlayerInfo, ProtocolVersion, Schema, ServerMessage,
    UpdateHeader, Welcome,
};
use tickcast::sync::{
    encode_delta, encode_events, encode_snapshot, CellFanOut, CellHistory, CellRules, CellTick, EntityState, FrameJob,
    FrameSink, Grid, Interest, SectionCounts, View, Viewer,
};
use tickcast_client::world::ApplyError;
use tickcast_client::{CellCopy, RoomState, World};

/// Set to `1` to rewrite `tests/vectors/` and the listings in `docs/PROTOCOL.md`.
const WRITE_ENV: &str = "TICKCAST_WRITE_VECTORS";

/// 2026-01-01T00:00:00Z in µs: a realistic `server_time_us`, still below 2^53 so a
/// JavaScript number holds it exactly.
const JAN_2026_US: u64 = 1_767_225_600_000_000;

/// One entity as the vectors state it: id, kind, fields.
type Spec<'a> = (u32, u16, &'a [i32]);

/// One golden vector: the bytes, and what they mean.
struct Vector {
    name: &'static str,
    description: &'static str,
    server_to_client: bool,
    bytes: Vec<u8>,
    /// The decoded meaning, stated by hand rather than derived from the encoder.
    message: Value,
    schema: Option<Schema>,
    state_before: Option<RoomState>,
    state_after: Option<RoomState>,
}

impl Vector {
    /// A Cell update (protocol version 3): its states hold cells.
    fn has_cells(&self) -> bool {
        self.message["type"] == "CellUpdate"
    }

    fn json(&self) -> Value {
        let mut m = Map::new();
        let direction = if self.server_to_client { "server_to_client" } else { "client_to_server" };
        m.insert("direction".into(), json!(direction));
        m.insert("description".into(), json!(self.description));
        if let Some(schema) = &self.schema {
            m.insert("schema".into(), serde_json::to_value(schema).expect("schema serializes"));
        }
        if let Some(s) = &self.state_before {
            m.insert("state_before".into(), state_json(s, self.has_cells()));
        }
        m.insert("message".into(), self.message.clone());
        if let Some(s) = &self.state_after {
            m.insert("state_after".into(), state_json(s, self.has_cells()));
        }
        Value::Object(m)
    }
}

fn arena_schema() -> Schema {
    Arena::new(ArenaConfig::default(), 1).schema()
}

fn entity_state(list: &[Spec<'_>]) -> EntityState {
    let mut s = EntityState::new();
    for (id, kind, fields) in list {
        s.push(*id, *kind, fields);
    }
    s.finish();
    s
}

fn world(tick: u64, list: &[Spec<'_>]) -> World {
    World { tick, entities: list.iter().map(|(id, kind, f)| (*id, (*kind, f.to_vec()))).collect() }
}

/// The state of a room without cells.
fn client_state(tick: u64, list: &[Spec<'_>]) -> RoomState {
    RoomState::new(world(tick, list), [])
}

/// The state of a big room: the room part and the copy of each cell held (as of `tick`).
fn cell_state(tick: u64, room: &[Spec<'_>], cells: &[((i32, i32), &[Spec<'_>])]) -> RoomState {
    let copies = cells.iter().map(|(cell, list)| (*cell, CellCopy { tick, entities: world(tick, list).entities }));
    RoomState::new(world(tick, room), copies)
}

fn entities_json(list: &[Spec<'_>]) -> Value {
    list.iter().map(|(id, kind, fields)| json!({"id": id, "kind": kind, "fields": fields})).collect()
}

type Entities = BTreeMap<u32, (u16, Vec<i32>)>;

fn held_json(entities: &Entities) -> Value {
    entities.iter().map(|(id, (kind, fields))| json!({"id": id, "kind": kind, "fields": fields})).collect()
}

/// A state as the vectors state it: the room part's tick and entities, and with
/// `cells` every cell held, `{"cell": [x, y], "entities"}`, sorted by cell.
fn state_json(s: &RoomState, cells: bool) -> Value {
    let mut v = json!({"tick": s.room().tick, "entities": held_json(&s.room().entities)});
    if cells {
        v["cells"] =
            s.cells().iter().map(|((x, y), c)| json!({"cell": [x, y], "entities": held_json(&c.entities)})).collect();
    }
    v
}

fn entities_from_json(v: &Value) -> Entities {
    v.as_array()
        .expect("entities")
        .iter()
        .map(|e| {
            let fields = e["fields"].as_array().expect("fields").iter().map(as_i32).collect();
            (as_u64(&e["id"]) as u32, (as_u64(&e["kind"]) as u16, fields))
        })
        .collect()
}

/// A state of a vector's `.json`; each cell's copy is held as of the state's tick.
fn state_from_json(v: &Value) -> RoomState {
    let tick = as_u64(&v["tick"]);
    let cells = v.get("cells").and_then(Value::as_array).into_iter().flatten().map(|c| {
        let cell = (as_i32(&c["cell"][0]), as_i32(&c["cell"][1]));
        (cell, CellCopy { tick, entities: entities_from_json(&c["entities"]) })
    });
    RoomState::new(World { tick, entities: entities_from_json(&v["entities"]) }, cells)
}

/// The `schema` of a vector's `.json`, as a client holds it (tickcast-client's types).
fn client_schema_from_json(v: &Value) -> tickcast_client::Schema {
    use tickcast_client::message::{EntityKind, InputField};
    let text = |v: &Value| v.as_str().unwrap_or_else(|| panic!("{v} is not a string")).to_string();
    let list = |v: &Value| v.as_array().unwrap_or_else(|| panic!("{v} is not an array")).clone();
    tickcast_client::Schema {
        game: text(&v["game"]),
        entity_kinds: list(&v["entity_kinds"])
            .iter()
            .map(|k| EntityKind {
                name: text(&k["name"]),
                fields: list(&k["fields"]).iter().map(|f| (text(&f["name"]), as_u64(&f["scale"]) as u32)).collect(),
            })
            .collect(),
        input: list(&v["input"])
            .iter()
            .map(|f| InputField { name: text(&f["name"]), min: as_i32(&f["min"]), max: as_i32(&f["max"]) })
            .collect(),
        event_kinds: list(&v["event_kinds"]).iter().map(text).collect(),
    }
}

/// A vector's bytes decoded by tickcast-client as the update they must be.
fn client_update(name: &str, bin: &[u8], schema: &tickcast_client::Schema) -> tickcast_client::Update {
    match tickcast_client::ServerMessage::decode(bin, Some(schema)).unwrap_or_else(|e| panic!("{name}: {e}")) {
        tickcast_client::ServerMessage::Update(update) => update,
        other => panic!("{name}: a vector with a state_after decodes as {other:?}"),
    }
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

fn as_i32(v: &Value) -> i32 {
    v.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or_else(|| panic!("{v} is not an i32"))
}

/// An event as the vectors' JSON states it, from what tickcast-client decoded.
fn event_json(e: &tickcast_client::Event) -> Value {
    use tickcast_client::Event;
    match e {
        Event::Joined { player, name } => json!({"type": "Joined", "player": player, "name": name}),
        Event::Left { player } => json!({"type": "Left", "player": player}),
        Event::Chat { player, text } => json!({"type": "Chat", "player": player, "text": text}),
        Event::Game { kind, player, value } => json!({"type": "Game", "kind": kind, "player": player, "value": value}),
    }
}

/// The events section of an update body, the way the room builds it: each event
/// bincode-encoded on its own, then counted.
fn events_section(events: &[Event]) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            encode_into(e, &mut b);
            b
        })
        .collect();
    let mut out = Vec::new();
    encode_events(encoded.iter().map(Vec::as_slice), &mut out);
    out
}

fn client_vector(name: &'static str, description: &'static str, msg: ClientMessage, message: Value) -> Vector {
    Vector {
        name,
        description,
        server_to_client: false,
        bytes: msg.encode(),
        message,
        schema: None,
        state_before: None,
        state_after: None,
    }
}

fn plain_server_vector(
    name: &'static str,
    description: &'static str,
    msg: ServerMessage<'_>,
    message: Value,
) -> Vector {
    Vector {
        name,
        description,
        server_to_client: true,
        bytes: msg.encode(),
        message,
        schema: None,
        state_before: None,
        state_after: None,
    }
}

/// The Welcome of `version`: version 1 as it always was; version 2 adds the game's
/// constants at the end (the arena's defaults here).
fn welcome_vector(version: ProtocolVersion) -> Vector {
    let schema = arena_schema();
    let constants = match version {
        ProtocolVersion::V1 => Vec::new(),
        _ => Arena::new(ArenaConfig::default(), 1).constants(),
    };
    // Opaque to clients; shaped like a real resume token but signed by no key.
    let resume_token = "cnwxNzY3MzEyMDAwfDF8bG9iYnl8M3xBQUFBQUFBQQ.bm90LWEtcmVhbC1zaWduYXR1cmU";
    let welcome = Welcome {
        protocol: version.number(),
        player_id: 3,
        room: "lobby".into(),
        tick_rate_hz: 20,
        tick: 120,
        resume_token: resume_token.into(),
        players: vec![PlayerInfo { id: 1, name: "Ada".into() }, PlayerInfo { id: 2, name: "Bo".into() }],
        schema: schema.clone(),
        constants,
    };
    let mut message = json!({
        "type": "Welcome",
        "protocol": version.number(),
        "player_id": 3,
        "room": "lobby",
        "tick_rate_hz": 20,
        "tick": 120,
        "resume_token": resume_token,
        "players": [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bo"}],
        "schema": {
            "game": "arena",
            "entity_kinds": [
                {"name": "player", "fields": [
                    {"name": "x", "scale": 10}, {"name": "y", "scale": 10}, {"name": "score", "scale": 1}]},
                {"name": "orb", "fields": [{"name": "x", "scale": 10}, {"name": "y", "scale": 10}]}
            ],
            "input": [
                {"name": "dx", "min": -1, "max": 1},
                {"name": "dy", "min": -1, "max": 1},
                {"name": "buttons", "min": 0, "max": 255}
            ],
            "event_kinds": ["scored"]
        }
    });
    let (name, description) = match version {
        ProtocolVersion::V1 => (
            "welcome.bin",
            "Welcome of player 3 in room lobby at tick 120, with Ada and Bo already there, arena schema",
        ),
        _ => {
            // Stated by hand, not from the encoder: the arena's default configuration.
            message["constants"] = json!([
                {"name": "size", "value": 1000}, {"name": "speed", "value": 200},
                {"name": "player_radius", "value": 20}, {"name": "orb_radius", "value": 8}, {"name": "orbs", "value": 20}
            ]);
            ("welcome_v2.bin", "The same Welcome in protocol version 2: the arena's constants follow the schema")
        }
    };
    Vector {
        name,
        description,
        server_to_client: true,
        bytes: ServerMessage::Welcome(welcome).encode(),
        message,
        schema: Some(schema),
        state_before: None,
        state_after: None,
    }
}

fn snapshot_vector() -> Vector {
    let entities: &[Spec<'_>] = &[
        (1, KIND_PLAYER, &[5000, 2500, 3]),
        (2, KIND_PLAYER, &[200, 9800, 0]),
        (ORB_ID_BASE, KIND_ORB, &[1234, 8765]),
    ];
    let events = [Event::Joined { player: 2, name: "Bo".into() }];
    let header = UpdateHeader { tick: 120, base_tick: 0, ack_input: 37, server_time_us: JAN_2026_US };
    let mut body = Vec::new();
    encode_snapshot(&entity_state(entities), &events_section(&events), &mut body);
    Vector {
        name: "snapshot.bin",
        description: "Snapshot (keyframe) of tick 120: two players and one orb, one Joined event",
        server_to_client: true,
        bytes: ServerMessage::Snapshot { header, body: &body }.encode(),
        message: json!({
            "type": "Snapshot",
            "tick": 120,
            "ack_input": 37,
            "server_time_us": JAN_2026_US,
            "entities": entities_json(entities),
            "events": [{"type": "Joined", "player": 2, "name": "Bo"}]
        }),
        schema: Some(arena_schema()),
        state_before: None,
        state_after: Some(client_state(120, entities)),
    }
}

fn delta_vector() -> Vector {
    let before: &[Spec<'_>] = &[
        (1, KIND_PLAYER, &[5000, 2500, 3]),
        (2, KIND_PLAYER, &[200, 9800, 0]),
        (4, KIND_PLAYER, &[7500, 7500, 1]),
        (ORB_ID_BASE, KIND_ORB, &[1234, 8765]),
    ];
    let after: &[Spec<'_>] = &[
        (1, KIND_PLAYER, &[5300, 2500, 4]),
        (2, KIND_PLAYER, &[200, 9786, 0]),
        (3, KIND_PLAYER, &[3000, 7000, 0]),
        (ORB_ID_BASE, KIND_ORB, &[6600, 420]),
    ];
    let events = [
        Event::Joined { player: 3, name: "Cy".into() },
        Event::Left { player: 4 },
        Event::Chat { player: 1, text: "gg".into() },
        Event::Game { kind: EVENT_SCORED, player: 1, value: 4 },
    ];
    // The client missed ticks 121 and 122: the delta is from its baseline, tick 120.
    let header = UpdateHeader { tick: 123, base_tick: 120, ack_input: 40, server_time_us: JAN_2026_US + 150_000 };
    let mut body = Vec::new();
    encode_delta(
        &entity_state(before),
        &entity_state(after),
        &events_section(&events),
        &mut Default::default(),
        &mut body,
    );
    Vector {
        name: "delta.bin",
        description: "Delta from tick 120 to 123: player 3 created, players 1 and 2 and the orb changed, \
                      player 4 removed, one event of each kind",
        server_to_client: true,
        bytes: ServerMessage::Delta { header, body: &body }.encode(),
        message: json!({
            "type": "Delta",
            "tick": 123,
            "base_tick": 120,
            "ack_input": 40,
            "server_time_us": JAN_2026_US + 150_000,
            "created": [{"id": 3, "kind": 0, "fields": [3000, 7000, 0]}],
            "changed": [
                {"id": 1, "mask": 5, "changes": [300, 1]},
                {"id": 2, "mask": 2, "changes": [-14]},
                {"id": ORB_ID_BASE, "mask": 3, "changes": [5366, -8345]}
            ],
            "removed": [4],
            "events": [
                {"type": "Joined", "player": 3, "name": "Cy"},
                {"type": "Left", "player": 4},
                {"type": "Chat", "player": 1, "text": "gg"},
                {"type": "Game", "kind": 0, "player": 1, "value": 4}
            ]
        }),
        schema: Some(arena_schema()),
        state_before: Some(client_state(120, before)),
        state_after: Some(client_state(123, after)),
    }
}

fn delta_multibyte_ids_vector() -> Vector {
    const HIGH: u32 = 3_000_000_000;
    let before: &[Spec<'_>] = &[
        (7, KIND_PLAYER, &[100, 200, 0]),
        (ORB_ID_BASE, KIND_ORB, &[5000, 5000]),
        (ORB_ID_BASE + 3, KIND_ORB, &[800, 900]),
        (ORB_ID_BASE + 19, KIND_ORB, &[9000, 100]),
        (HIGH, KIND_ORB, &[1, 2]),
    ];
    let after: &[Spec<'_>] = &[
        (7, KIND_PLAYER, &[100, 200, 0]),
        (300, KIND_PLAYER, &[4000, 4000, 0]),
        (ORB_ID_BASE, KIND_ORB, &[5005, 4997]),
        (ORB_ID_BASE + 19, KIND_ORB, &[8000, 100]),
        (ORB_ID_BASE + 24, KIND_ORB, &[2500, 2500]),
    ];
    let header =
        UpdateHeader { tick: 70_000, base_tick: 69_990, ack_input: 300, server_time_us: JAN_2026_US + 3_500_000 };
    let mut body = Vec::new();
    encode_delta(&entity_state(before), &entity_state(after), &events_section(&[]), &mut Default::default(), &mut body);
    Vector {
        name: "delta_multibyte_ids.bin",
        description: "Delta from tick 69990 to 70000 with multi-byte ticks, ack and id gaps: orb ids from 2^24 \
                      and one id above 2^31, no events",
        server_to_client: true,
        bytes: ServerMessage::Delta { header, body: &body }.encode(),
        message: json!({
            "type": "Delta",
            "tick": 70_000,
            "base_tick": 69_990,
            "ack_input": 300,
            "server_time_us": JAN_2026_US + 3_500_000,
            "created": [
                {"id": 300, "kind": 0, "fields": [4000, 4000, 0]},
                {"id": ORB_ID_BASE + 24, "kind": 1, "fields": [2500, 2500]}
            ],
            "changed": [
                {"id": ORB_ID_BASE, "mask": 3, "changes": [5, -3]},
                {"id": ORB_ID_BASE + 19, "mask": 1, "changes": [-1000]}
            ],
            "removed": [ORB_ID_BASE + 3, HIGH],
            "events": []
        }),
        schema: Some(arena_schema()),
        state_before: Some(client_state(69_990, before)),
        state_after: Some(client_state(70_000, after)),
    }
}

/// The game of the Cell update vector, a small big world: walkers (players) score by
/// capturing flags; a room-wide clock. Positions in tenths of a unit, anywhere on the
/// plane (negative too).
fn capture_schema() -> Schema {
    Schema {
        game: "capture".into(),
        entity_kinds: vec![
            EntityKind {
                name: "walker".into(),
                fields: vec![FieldDef::new("x", 10), FieldDef::new("y", 10), FieldDef::new("score", 1)],
            },
            EntityKind { name: "flag".into(), fields: vec![FieldDef::new("x", 10), FieldDef::new("y", 10)] },
            EntityKind { name: "clock".into(), fields: vec![FieldDef::new("tick", 1)] },
        ],
        input: vec![InputField::new("dx", -1, 1), InputField::new("dy", -1, 1)],
        event_kinds: vec!["captured".into()],
    }
}

const KIND_WALKER: u16 = 0;
const KIND_FLAG: u16 = 1;
const KIND_CLOCK: u16 = 2;
/// Flags' ids start here; walkers' are their players' ids; the clock's is above both.
const FLAG: u32 = 1 << 20;
const CLOCK: u32 = 1 << 21;

/// An event, and where it happened (`None`: room-wide).
type PlacedEvent = (Event, Option<[i32; 2]>);

/// Tick `tick` (120 to 123) of the capture world: its entities, and its events with
/// where each happened (`None`: room-wide). Walker 7 (the member the vector is for)
/// walks east (x grows) and captures flag 2^20+1 at tick 122; walker 5 walks from cell
/// (0, -1) into cell (0, 0); walker 9 joins at tick 121; the clock counts ticks.
fn capture_tick(tick: u64) -> (EntityState, Vec<PlacedEvent>) {
    let t = (tick - 120) as i32;
    let mut entities: Vec<(u32, u16, Vec<i32>)> = vec![
        (3, KIND_WALKER, vec![300, -200, 2]),
        (5, KIND_WALKER, vec![800, -100 + 70 * t, 0]),
        (7, KIND_WALKER, vec![250 + 150 * t, 100, if t < 2 { 4 } else { 5 }]),
        (FLAG, KIND_FLAG, vec![500, 500]),
        (FLAG + 2, KIND_FLAG, vec![-500, 300]),
        (FLAG + 3, KIND_FLAG, vec![1500, 800]),
        (CLOCK, KIND_CLOCK, vec![tick as i32]),
    ];
    if t >= 1 {
        entities.push((9, KIND_WALKER, vec![1200, 300, 0]));
    }
    if t < 2 {
        entities.push((FLAG + 1, KIND_FLAG, vec![560, 130]));
    }
    entities.sort_by_key(|e| e.0);
    let mut state = EntityState::new();
    for (id, kind, fields) in &entities {
        state.push(*id, *kind, fields);
    }
    state.finish();
    let events = match t {
        1 => vec![(Event::Joined { player: 9, name: "Ida".into() }, None)],
        2 => vec![
            (Event::Chat { player: 3, text: "hi".into() }, None),
            (Event::Game { kind: 0, player: 7, value: 5 }, Some([550, 100])),
        ],
        _ => Vec::new(),
    };
    (state, events)
}

/// A sink keeping the frames the cell fan-out writes.
#[derive(Default)]
struct Frames(Mutex<Vec<Vec<u8>>>);

impl FrameSink for &Frames {
    fn send(&self, _: u64, frame: &[u8]) -> bool {
        self.0.lock().expect("frames").push(frame.to_vec());
        true
    }
}

/// The Cell update of tick 123 for the member playing walker 7, made by the server's
/// own big-room path (`CellTick::split`, `CellHistory`, `CellFanOut`, its `Viewer`):
/// the member got tick 120 (every cell whole), then its connection was slow and ticks
/// 121 and 122 were skipped for it, so its cell baselines and the room part's base are
/// all tick 120. Cells are 100 units (1000 wire units) wide, a view is the square of
/// 40 units around the walker, a cell lingers 2 ticks.
fn cell_update_vector() -> Vector {
    let schema = capture_schema();
    let interest = Interest { positions: vec![Some([0, 1]), Some([0, 1]), None] };
    let grid = Grid::from_interest(&interest, &schema, 100, 256).expect("the interest fits the schema");
    let rules = CellRules { linger_ticks: 2, max_baseline_age_ticks: 32, max_bytes_per_client_tick: 0 };
    let mut history = CellHistory::new(64);
    let mut fan = CellFanOut::new(rules);
    let mut viewer = Viewer::default();
    // Room-wide events not yet sent to the member, and the room part it holds.
    let mut pending: Vec<Bytes> = Vec::new();
    let mut held_room: Option<EntityState> = None;
    let mut frames = Vec::new();
    for tick in 120..=123 {
        let (state, events) = capture_tick(tick);
        let encoded: Vec<Bytes> = events
            .iter()
            .map(|(e, _)| {
                let mut b = Vec::new();
                encode_into(e, &mut b);
                Bytes::from(b)
            })
            .collect();
        let placed: Vec<(usize, [i32; 2])> =
            events.iter().enumerate().filter_map(|(i, (_, at))| at.map(|at| (i, at))).collect();
        let (split, wide) = CellTick::split(&state, &grid, &encoded, &placed, 8);
        assert_eq!(wide.refused, 0);
        pending.extend(wide.events);
        let room = split.room.clone();
        history.push(tick, Arc::new(split));
        let me = state.get(7).expect("walker 7");
        let view = View { x: me.fields[0], y: me.fields[1], radius: 400 };
        fan.prepare(&mut [(&mut viewer, Some(view))], &grid, tick, &history, None);
        if tick == 121 || tick == 122 {
            continue; // skipped for the slow member: its viewer still looks
        }
        let mut events = Vec::new();
        encode_events(pending.iter().map(|b| b.as_ref()), &mut events);
        pending.clear();
        let mut room_body = Vec::new();
        let base_tick = match &held_room {
            None => {
                encode_snapshot(&room, &events, &mut room_body);
                0
            }
            Some(base) => {
                encode_delta(base, &room, &events, &mut Default::default(), &mut room_body);
                120
            }
        };
        held_room = Some(room);
        let sink = Frames::default();
        let server_time_us = JAN_2026_US + (tick - 120) * 50_000;
        let mut jobs = [FrameJob {
            header: UpdateHeader { tick, base_tick, ack_input: 40, server_time_us },
            room_body: Bytes::from(room_body),
            viewer: std::mem::take(&mut viewer),
            sink: &sink,
            sent: None,
            counts: SectionCounts::default(),
        }];
        fan.write_frames(&mut jobs, tick, None);
        let [job] = jobs;
        assert!(job.sent.is_some(), "the frame of tick {tick} was sent");
        viewer = job.viewer;
        frames.extend(sink.0.into_inner().expect("frames"));
    }
    let [first, bytes] = <[Vec<u8>; 2]>::try_from(frames).expect("frames of ticks 120 and 123");

    let walker = |id: u32, fields: &'static [i32]| -> Spec<'static> { (id, KIND_WALKER, fields) };
    let flag = |id: u32, fields: &'static [i32]| -> Spec<'static> { (id, KIND_FLAG, fields) };
    let before = cell_state(
        120,
        &[(CLOCK, KIND_CLOCK, &[120])],
        &[
            ((-1, 0), &[flag(FLAG + 2, &[-500, 300])]),
            ((0, -1), &[walker(3, &[300, -200, 2]), walker(5, &[800, -100, 0])]),
            ((0, 0), &[walker(7, &[250, 100, 4]), flag(FLAG, &[500, 500]), flag(FLAG + 1, &[560, 130])]),
        ],
    );
    let after = cell_state(
        123,
        &[(CLOCK, KIND_CLOCK, &[123])],
        &[
            ((0, -1), &[walker(3, &[300, -200, 2])]),
            ((0, 0), &[walker(5, &[800, 110, 0]), walker(7, &[700, 100, 5]), flag(FLAG, &[500, 500])]),
            ((1, 0), &[walker(9, &[1200, 300, 0]), flag(FLAG + 3, &[1500, 800])]),
        ],
    );
    // `before` is what the member's client holds after the frame of tick 120.
    let client_schema = client_schema_from_json(&serde_json::to_value(&schema).expect("schema serializes"));
    let mut client = RoomState::default();
    client.apply(&client_update("cell_update.bin (tick 120)", &first, &client_schema)).expect("tick 120 applies");
    assert_eq!(state_json(&client, true), state_json(&before, true), "the client's state after tick 120");

    Vector {
        name: "cell_update.bin",
        description: "Cell update of tick 123 for walker 7, who last got tick 120: the room part a delta from 120 \
                      (the clock, a Joined and a Chat event); cells (0, -1) and (0, 0) cell deltas of age 3 (walker \
                      5 crosses from one to the other; walker 7 moves, scores and captures a flag); cell (1, 0) \
                      comes into view whole; cell (-1, 0) is dropped",
        server_to_client: true,
        bytes,
        message: json!({
            "type": "CellUpdate",
            "tick": 123,
            "base_tick": 120,
            "ack_input": 40,
            "server_time_us": JAN_2026_US + 150_000,
            "room": {
                "created": [],
                "changed": [{"id": CLOCK, "mask": 1, "changes": [3]}],
                "removed": [],
                "events": [{"type": "Joined", "player": 9, "name": "Ida"}, {"type": "Chat", "player": 3, "text": "hi"}]
            },
            "sections": [
                {"cell": [0, -1], "age": 3, "created": [], "changed": [], "removed": [1], "events": []},
                {
                    "cell": [0, 0],
                    "age": 3,
                    "created": [{"id": 5, "kind": KIND_WALKER, "fields": [800, 110, 0]}],
                    "changed": [{"index": 0, "mask": 0b101, "changes": [450, 1]}],
                    "removed": [2],
                    "events": [{"type": "Game", "kind": 0, "player": 7, "value": 5}]
                },
                {
                    "cell": [1, 0],
                    "age": 0,
                    "entities": [
                        {"id": 9, "kind": KIND_WALKER, "fields": [1200, 300, 0]},
                        {"id": FLAG + 3, "kind": KIND_FLAG, "fields": [1500, 800]}
                    ],
                    "events": []
                }
            ],
            "dropped": [[-1, 0]]
        }),
        schema: Some(schema),
        state_before: Some(before),
        state_after: Some(after),
    }
}

/// Every golden vector, in the order `docs/PROTOCOL.md` presents them.
fn vectors() -> Vec<Vector> {
    vec![
        client_vector(
            "input.bin",
            "Input #42 of the arena: dx=1, dy=-1, boost button held",
            ClientMessage::Input { seq: 42, values: vec![1, -1, 1] },
            json!({"type": "Input", "seq": 42, "values": [1, -1, 1]}),
        ),
        client_vector(
            "input_multibyte.bin",
            "Input #70000 (a u32 varint) with a negative value and buttons=255 (a u16 varint after zigzag)",
            ClientMessage::Input { seq: 70_000, values: vec![-1, 0, 255] },
            json!({"type": "Input", "seq": 70_000, "values": [-1, 0, 255]}),
        ),
        client_vector(
            "ping.bin",
            "Ping carrying a client clock value of 987654321",
            ClientMessage::Ping { client_time: 987_654_321 },
            json!({"type": "Ping", "client_time": 987_654_321}),
        ),
        client_vector("leave.bin", "Leave: the player goes for good", ClientMessage::Leave, json!({"type": "Leave"})),
        client_vector(
            "chat.bin",
            "Chat line with a 4-byte UTF-8 character: 7 bytes, 4 characters",
            ClientMessage::Chat { text: "gg \u{1F44B}".into() },
            json!({"type": "Chat", "text": "gg \u{1F44B}"}),
        ),
        welcome_vector(ProtocolVersion::V1),
        welcome_vector(ProtocolVersion::V2),
        snapshot_vector(),
        delta_vector(),
        delta_multibyte_ids_vector(),
        cell_update_vector(),
        plain_server_vector(
            "pong.bin",
            "Pong echoing client_time 987654321, with the server clock",
            ServerMessage::Pong { client_time: 987_654_321, server_time_us: JAN_2026_US + 123_456 },
            json!({"type": "Pong", "client_time": 987_654_321, "server_time_us": JAN_2026_US + 123_456}),
        ),
        plain_server_vector(
            "notice.bin",
            "Notice sent before close 4409 when the named room is full",
            ServerMessage::Notice(Notice { code: 4409, reason: "room is full".into() }),
            json!({"type": "Notice", "code": 4409, "reason": "room is full"}),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The second decoder: reads bytes by the rules of docs/PROTOCOL.md, builds the JSON
// meaning and an annotated listing of every byte.
// ---------------------------------------------------------------------------------------

/// Longest varint (marker + u64) fits one listing line.
const BYTES_PER_LINE: usize = 9;

/// A reader that records, for each value, its bytes and what they mean.
struct Listing<'a> {
    bytes: &'a [u8],
    pos: usize,
    lines: Vec<String>,
}

impl<'a> Listing<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Listing { bytes, pos: 0, lines: Vec::new() }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.pos + n <= self.bytes.len(), "truncated: needed {n} bytes at offset {}", self.pos);
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    fn note(&mut self, start: usize, label: String) {
        for (i, part) in self.bytes[start..self.pos].chunks(BYTES_PER_LINE).enumerate() {
            let hex = part.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            if i == 0 {
                self.lines.push(format!("{hex:<width$}  // {label}", width = BYTES_PER_LINE * 3 - 1));
            } else {
                self.lines.push(hex);
            }
        }
    }

    /// An unsigned varint, which must be in its shortest form.
    fn varint(&mut self) -> u64 {
        let at = self.pos;
        let (v, min) = match self.take(1)[0] {
            b @ 0..=250 => (b as u64, 0),
            251 => (u16::from_le_bytes(self.take(2).try_into().unwrap()) as u64, 251),
            252 => (u32::from_le_bytes(self.take(4).try_into().unwrap()) as u64, 1 << 16),
            253 => (u64::from_le_bytes(self.take(8).try_into().unwrap()), 1 << 32),
            other => panic!("bad varint marker {other} at offset {at}"),
        };
        assert!(v >= min, "varint at offset {at} is not in its shortest form");
        v
    }

    fn unsigned(&mut self, label: &str, max: u64) -> u64 {
        let start = self.pos;
        let v = self.varint();
        assert!(v <= max, "{label} = {v} exceeds {max}");
        self.note(start, format!("{label} = {v}"));
        v
    }

    fn u16(&mut self, label: &str) -> u16 {
        self.unsigned(label, u16::MAX as u64) as u16
    }

    fn u32(&mut self, label: &str) -> u32 {
        self.unsigned(label, u32::MAX as u64) as u32
    }

    fn u64(&mut self, label: &str) -> u64 {
        self.unsigned(label, u64::MAX)
    }

    fn i64(&mut self, label: &str) -> i64 {
        let start = self.pos;
        let z = self.varint();
        let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.note(start, format!("{label} = {v} (zigzag {z})"));
        v
    }

    fn i32(&mut self, label: &str) -> i32 {
        let start = self.pos;
        let z = self.varint();
        let v = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let v = i32::try_from(v).unwrap_or_else(|_| panic!("{label} = {v} does not fit in i32"));
        self.note(start, format!("{label} = {v} (zigzag {z})"));
        v
    }

    fn count(&mut self, label: &str) -> usize {
        let n = self.unsigned(&format!("{label}: count"), u64::MAX);
        assert!(n as usize <= self.bytes.len() - self.pos, "{label}: count {n} exceeds the bytes left");
        n as usize
    }

    fn string(&mut self, label: &str) -> String {
        let start = self.pos;
        let len = self.varint() as usize;
        let text = std::str::from_utf8(self.take(len)).unwrap_or_else(|e| panic!("{label}: {e}")).to_string();
        self.note(start, format!("{label} = {text:?} (length {len}, UTF-8)"));
        text
    }

    fn tag(&mut self, label: &str, names: &[&str]) -> usize {
        let start = self.pos;
        let v = self.varint() as usize;
        let name = names.get(v).unwrap_or_else(|| panic!("{label} {v} unknown"));
        self.note(start, format!("{label} = {v} ({name})"));
        v
    }

    fn finish(self) -> Vec<String> {
        assert_eq!(self.pos, self.bytes.len(), "trailing bytes after the message");
        self.lines
    }
}

fn decode_client(l: &mut Listing<'_>, schema: &Schema) -> Value {
    match l.tag("tag", &["Input", "Ping", "Leave", "Chat"]) {
        0 => {
            let seq = l.u32("seq");
            let n = l.count("values");
            let values: Vec<i32> = (0..n)
                .map(|i| {
                    let name = schema.input.get(i).map_or("?", |f| f.name.as_str());
                    l.i32(&format!("values[{i}] ({name})"))
                })
                .collect();
            json!({"type": "Input", "seq": seq, "values": values})
        }
        1 => json!({"type": "Ping", "client_time": l.u64("client_time")}),
        2 => json!({"type": "Leave"}),
        _ => json!({"type": "Chat", "text": l.string("text")}),
    }
}

fn decode_schema(l: &mut Listing<'_>) -> Value {
    let game = l.string("schema.game");
    let mut kinds = Vec::new();
    for k in 0..l.count("schema.entity_kinds") {
        let name = l.string(&format!("entity_kinds[{k}].name"));
        let mut fields = Vec::new();
        for f in 0..l.count(&format!("entity_kinds[{k}].fields")) {
            let p = format!("entity_kinds[{k}].fields[{f}]");
            let field_name = l.string(&format!("{p}.name"));
            let scale = l.u32(&format!("{p}.scale"));
            fields.push(json!({"name": field_name, "scale": scale}));
        }
        kinds.push(json!({"name": name, "fields": fields}));
    }
    let mut input = Vec::new();
    for i in 0..l.count("schema.input") {
        let name = l.string(&format!("input[{i}].name"));
        let min = l.i32(&format!("input[{i}].min"));
        let max = l.i32(&format!("input[{i}].max"));
        input.push(json!({"name": name, "min": min, "max": max}));
    }
    let event_kinds: Vec<String> =
        (0..l.count("schema.event_kinds")).map(|i| l.string(&format!("event_kinds[{i}]"))).collect();
    json!({"game": game, "entity_kinds": kinds, "input": input, "event_kinds": event_kinds})
}

fn decode_id(l: &mut Listing<'_>, label: &str, prev: &mut u32) -> u32 {
    let start = l.pos;
    let gap = l.varint();
    let id = u32::try_from(*prev as u64 + gap).expect("entity id fits u32");
    l.note(start, format!("{label}: gap {gap} -> id {id}"));
    *prev = id;
    id
}

/// Reads an entity list (a snapshot's, or a delta's `created`), remembering each kind.
fn decode_entities(l: &mut Listing<'_>, list: &str, schema: &Schema, kinds: &mut BTreeMap<u32, u16>) -> Value {
    let mut prev = 0;
    let mut out = Vec::new();
    for i in 0..l.count(list) {
        let p = format!("{list}[{i}]");
        let id = decode_id(l, &format!("{p}.id"), &mut prev);
        let names: Vec<&str> = schema.entity_kinds.iter().map(|k| k.name.as_str()).collect();
        let kind = l.tag(&format!("{p}.kind"), &names);
        let fields: Vec<i32> =
            schema.entity_kinds[kind].fields.iter().map(|f| l.i32(&format!("{p}.{}", f.name))).collect();
        kinds.insert(id, kind as u16);
        out.push(json!({"id": id, "kind": kind, "fields": fields}));
    }
    Value::Array(out)
}

/// Reads an events section, its lines labelled `list`.
fn decode_events(l: &mut Listing<'_>, list: &str) -> Value {
    let mut out = Vec::new();
    for i in 0..l.count(list) {
        let p = format!("{list}[{i}]");
        let event = match l.tag(&format!("{p} tag"), &["Joined", "Left", "Chat", "Game"]) {
            0 => {
                let player = l.u32(&format!("{p}.player"));
                json!({"type": "Joined", "player": player, "name": l.string(&format!("{p}.name"))})
            }
            1 => json!({"type": "Left", "player": l.u32(&format!("{p}.player"))}),
            2 => {
                let player = l.u32(&format!("{p}.player"));
                json!({"type": "Chat", "player": player, "text": l.string(&format!("{p}.text"))})
            }
            _ => {
                let kind = l.u16(&format!("{p}.kind"));
                let player = l.u32(&format!("{p}.player"));
                json!({"type": "Game", "kind": kind, "player": player, "value": l.i32(&format!("{p}.value"))})
            }
        };
        out.push(event);
    }
    Value::Array(out)
}

/// Reads a change's `mask` and its changes (`{p}.mask`, `{p}.<field> change`) for an
/// entity of `kind`.
fn decode_change(l: &mut Listing<'_>, p: &str, schema: &Schema, kind: u16) -> (u32, Vec<i32>) {
    let fields = &schema.entity_kinds[kind as usize].fields;
    let start = l.pos;
    let mask = u32::try_from(l.varint()).expect("mask fits u32");
    assert!(mask != 0 && u64::from(mask) >> fields.len() == 0, "{p}.mask {mask:#b}: not 0, no bit beyond the fields");
    let names: Vec<&str> =
        (0..fields.len()).filter(|b| mask & (1 << b) != 0).map(|b| fields[b].name.as_str()).collect();
    l.note(start, format!("{p}.mask = {mask:#b} ({})", names.join(", ")));
    let changes: Vec<i32> = names.iter().map(|n| l.i32(&format!("{p}.{n} change"))).collect();
    (mask, changes)
}

/// Reads a snapshot body (`base_tick` 0) or a delta body, its lines labelled from
/// `prefix`; `kinds` holds the kinds of the entities the delta applies to.
fn decode_body(
    l: &mut Listing<'_>,
    prefix: &str,
    base_tick: u64,
    schema: &Schema,
    kinds: &mut BTreeMap<u32, u16>,
) -> Map<String, Value> {
    let mut m = Map::new();
    if base_tick == 0 {
        m.insert("entities".into(), decode_entities(l, &format!("{prefix}entities"), schema, kinds));
    } else {
        m.insert("created".into(), decode_entities(l, &format!("{prefix}created"), schema, kinds));
        let mut changed = Vec::new();
        let mut prev = 0;
        for i in 0..l.count(&format!("{prefix}changed")) {
            let p = format!("{prefix}changed[{i}]");
            let id = decode_id(l, &format!("{p}.id"), &mut prev);
            let (mask, changes) = decode_change(l, &p, schema, kinds[&id]);
            changed.push(json!({"id": id, "mask": mask, "changes": changes}));
        }
        m.insert("changed".into(), Value::Array(changed));
        let mut prev = 0;
        let removed: Vec<u32> = (0..l.count(&format!("{prefix}removed")))
            .map(|i| decode_id(l, &format!("{prefix}removed[{i}]"), &mut prev))
            .collect();
        m.insert("removed".into(), json!(removed));
    }
    m.insert("events".into(), decode_events(l, &format!("{prefix}events")));
    m
}

/// Reads an index into a cell's copy (`copy`: its ids and kinds, sorted by id) as a gap
/// from the previous index of its list (`prev`, none for the first).
fn decode_index(l: &mut Listing<'_>, label: &str, prev: &mut Option<usize>, copy: &[(u32, u16)]) -> usize {
    let start = l.pos;
    let gap = usize::try_from(l.varint()).expect("index gap fits usize");
    let index = match *prev {
        None => gap,
        Some(p) => {
            assert!(gap > 0, "{label}: indexes of a list increase");
            p + gap
        }
    };
    *prev = Some(index);
    let (id, _) = copy.get(index).unwrap_or_else(|| panic!("{label}: index {index} beyond the copy"));
    l.note(start, format!("{label}: gap {gap} -> index {index} (id {id})"));
    index
}

/// Reads a cell delta body (`docs/PROTOCOL.md`, "Cell delta body") of the section
/// labelled `p`, over `copy`, the cell's entities the client holds (ids and kinds).
fn decode_cell_delta(l: &mut Listing<'_>, p: &str, schema: &Schema, copy: &[(u32, u16)]) -> Map<String, Value> {
    const PARTS: [&str; 4] = ["created", "changed", "removed", "events"];
    let start = l.pos;
    let flags = l.varint();
    assert!(flags < 1 << PARTS.len(), "{p}.flags {flags:#b} names unknown parts");
    let has = |part: usize| flags & (1 << part) != 0;
    let names: Vec<&str> = (0..PARTS.len()).filter(|b| has(*b)).map(|b| PARTS[b]).collect();
    l.note(start, format!("{p}.flags = {flags:#b} ({})", names.join(", ")));
    let mut m = Map::new();
    let created =
        if has(0) { decode_entities(l, &format!("{p}.created"), schema, &mut BTreeMap::new()) } else { json!([]) };
    m.insert("created".into(), created);
    let mut changed = Vec::new();
    if has(1) {
        let mut prev = None;
        for i in 0..l.count(&format!("{p}.changed")) {
            let q = format!("{p}.changed[{i}]");
            let index = decode_index(l, &format!("{q}.index"), &mut prev, copy);
            let (mask, changes) = decode_change(l, &q, schema, copy[index].1);
            changed.push(json!({"index": index, "mask": mask, "changes": changes}));
        }
    }
    m.insert("changed".into(), Value::Array(changed));
    let mut removed = Vec::new();
    if has(2) {
        let mut prev = None;
        for i in 0..l.count(&format!("{p}.removed")) {
            removed.push(decode_index(l, &format!("{p}.removed[{i}]"), &mut prev, copy));
        }
    }
    m.insert("removed".into(), json!(removed));
    let events = if has(3) { decode_events(l, &format!("{p}.events")) } else { json!([]) };
    m.insert("events".into(), events);
    m
}

/// Reads the cell sections and dropped cells of a Cell update of `tick`; a cell delta
/// applies to the copy of its cell in `before` (a cell not held is empty).
fn decode_cells(
    l: &mut Listing<'_>,
    tick: u64,
    schema: &Schema,
    before: Option<&RoomState>,
    m: &mut Map<String, Value>,
) {
    let mut sections: Vec<Value> = Vec::new();
    let mut cells = Vec::new();
    for i in 0..l.count("sections") {
        let p = format!("sections[{i}]");
        let cell = (l.i32(&format!("{p}.cell_x")), l.i32(&format!("{p}.cell_y")));
        assert!(cells.last().is_none_or(|c| *c < cell), "{p}: sections are sorted by cell, each cell once");
        cells.push(cell);
        let age = l.u64(&format!("{p}.cell_age"));
        assert!(age <= tick, "{p}: cell_age {age} is before tick 0");
        let len = l.u64(&format!("{p}.body_len"));
        assert!(len <= (l.bytes.len() - l.pos) as u64, "{p}: body_len {len} exceeds the bytes left");
        let start = l.pos;
        let mut section = if age == 0 {
            decode_body(l, &format!("{p}."), 0, schema, &mut BTreeMap::new())
        } else {
            let copy: Vec<(u32, u16)> = before
                .and_then(|s| s.cell(cell))
                .map(|c| c.entities.iter().map(|(id, (kind, _))| (*id, *kind)).collect())
                .unwrap_or_default();
            decode_cell_delta(l, &p, schema, &copy)
        };
        assert_eq!((l.pos - start) as u64, len, "{p}: the body decodes to exactly body_len bytes");
        section.insert("cell".into(), json!([cell.0, cell.1]));
        section.insert("age".into(), json!(age));
        sections.push(Value::Object(section));
    }
    m.insert("sections".into(), Value::Array(sections));
    let mut dropped = Vec::new();
    for i in 0..l.count("dropped") {
        let cell = (l.i32(&format!("dropped[{i}].cell_x")), l.i32(&format!("dropped[{i}].cell_y")));
        assert!(dropped.last().is_none_or(|c| *c < cell), "dropped[{i}]: dropped cells are sorted, each once");
        assert!(!cells.contains(&cell), "dropped[{i}]: a dropped cell has no section");
        dropped.push(cell);
    }
    m.insert("dropped".into(), dropped.iter().map(|(x, y)| json!([x, y])).collect());
}

/// Decodes a server message; updates need the schema, and a delta the state it applies
/// to (for the kinds of changed entities, and a cell delta's copies).
fn decode_server(l: &mut Listing<'_>, schema: Option<&Schema>, before: Option<&RoomState>) -> Value {
    let tag = l.tag("tag", &["Welcome", "Snapshot", "Delta", "Pong", "Notice", "CellUpdate"]);
    match tag {
        0 => {
            let protocol = l.u16("protocol");
            let player_id = l.u32("player_id");
            let room = l.string("room");
            let tick_rate_hz = l.u16("tick_rate_hz");
            let tick = l.u64("tick");
            let resume_token = l.string("resume_token");
            let mut players = Vec::new();
            for i in 0..l.count("players") {
                let id = l.u32(&format!("players[{i}].id"));
                players.push(json!({"id": id, "name": l.string(&format!("players[{i}].name"))}));
            }
            let schema = decode_schema(l);
            let mut welcome = json!({
                "type": "Welcome", "protocol": protocol, "player_id": player_id, "room": room,
                "tick_rate_hz": tick_rate_hz, "tick": tick, "resume_token": resume_token,
                "players": players, "schema": schema
            });
            // Version 2 on: the game's constants, after the schema.
            if protocol >= 2 {
                let mut constants = Vec::new();
                for i in 0..l.count("constants") {
                    let name = l.string(&format!("constants[{i}].name"));
                    constants.push(json!({"name": name, "value": l.i64(&format!("constants[{i}].value"))}));
                }
                welcome["constants"] = json!(constants);
            }
            welcome
        }
        1 | 2 | 5 => {
            let schema = schema.expect("updates need the schema");
            let mut m = Map::new();
            let name = match tag {
                1 => "Snapshot",
                2 => "Delta",
                _ => "CellUpdate",
            };
            m.insert("type".into(), json!(name));
            let tick = l.u64("tick");
            m.insert("tick".into(), json!(tick));
            // A Cell update always has its base: 0 when its room part is whole.
            let base_tick = if tag == 1 { 0 } else { l.u64("base_tick") };
            if tag != 1 {
                m.insert("base_tick".into(), json!(base_tick));
            }
            m.insert("ack_input".into(), json!(l.u32("ack_input")));
            m.insert("server_time_us".into(), json!(l.u64("server_time_us")));
            let mut kinds: BTreeMap<u32, u16> =
                before.map(|s| s.room().entities.iter().map(|(id, (k, _))| (*id, *k)).collect()).unwrap_or_default();
            if tag == 5 {
                let room = decode_body(l, "room.", base_tick, schema, &mut kinds);
                m.insert("room".into(), Value::Object(room));
                decode_cells(l, tick, schema, before, &mut m);
            } else {
                m.extend(decode_body(l, "", base_tick, schema, &mut kinds));
            }
            Value::Object(m)
        }
        3 => {
            let client_time = l.u64("client_time");
            json!({"type": "Pong", "client_time": client_time, "server_time_us": l.u64("server_time_us")})
        }
        _ => {
            let code = l.u16("code");
            json!({"type": "Notice", "code": code, "reason": l.string("reason")})
        }
    }
}

/// Decodes `bytes` as the vector's direction says, returning its meaning and listing.
fn decode(v: &Vector, bytes: &[u8]) -> (Value, Vec<String>) {
    let mut l = Listing::new(bytes);
    let message = if v.server_to_client {
        decode_server(&mut l, v.schema.as_ref(), v.state_before.as_ref())
    } else {
        decode_client(&mut l, &arena_schema())
    };
    (message, l.finish())
}

/// One line per example: a value and its bytes, encoded by the crate's codec.
fn encoding_examples() -> Vec<String> {
    fn line<T: serde::Serialize>(what: &str, value: T) -> String {
        let mut out = Vec::new();
        encode_into(&value, &mut out);
        let hex: Vec<String> = out.iter().map(|b| format!("{b:02x}")).collect();
        format!("{what:<32} {}", hex.join(" "))
    }
    vec![
        line("u32 0", 0u32),
        line("u32 250", 250u32),
        line("u32 251", 251u32),
        line("u32 300", 300u32),
        line("u16 4409", 4409u16),
        line("u32 65535", 65535u32),
        line("u32 65536", 65536u32),
        line("u32 4294967295", u32::MAX),
        line("u64 4294967296", 1u64 << 32),
        line("i32 0", 0i32),
        line("i32 -1", -1i32),
        line("i32 1", 1i32),
        line("i32 -2", -2i32),
        line("i32 125", 125i32),
        line("i32 -126", -126i32),
        line("i32 126", 126i32),
        line("i32 -14", -14i32),
        line("i32 -1000", -1000i32),
        line("i32 2147483647", i32::MAX),
        line("i32 -2147483648", i32::MIN),
        line("i64 -4294967296", -(1i64 << 32)),
        line("bool false", false),
        line("bool true", true),
        line("Option<u32> None", None::<u32>),
        line("Option<u32> Some(300)", Some(300u32)),
        line("String \"\"", ""),
        line("String \"hé\"", "hé"),
        line("Vec<i32> []", Vec::<i32>::new()),
        line("Vec<i32> [1, -1, 300]", vec![1i32, -1, 300]),
        line("Event::Left { player: 4 }", Event::Left { player: 4 }),
    ]
}

/// What a client does with the JSON of a client message: build it, then encode it.
fn client_message_from_json(v: &Value) -> ClientMessage {
    match v["type"].as_str().expect("type") {
        "Input" => ClientMessage::Input {
            seq: as_u64(&v["seq"]) as u32,
            values: v["values"].as_array().expect("values").iter().map(as_i32).collect(),
        },
        "Ping" => ClientMessage::Ping { client_time: as_u64(&v["client_time"]) },
        "Leave" => ClientMessage::Leave,
        "Chat" => ClientMessage::Chat { text: v["text"].as_str().expect("text").into() },
        other => panic!("unknown client message type {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// Files: the vectors folder and the listings in docs/PROTOCOL.md.
// ---------------------------------------------------------------------------------------

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn vectors_dir() -> PathBuf {
    root().join("tests/vectors")
}

fn doc_path() -> PathBuf {
    root().join("docs/PROTOCOL.md")
}

fn marker(name: &str) -> String {
    format!("<!-- vector: {name} -->")
}

/// Marker of the table of encoding examples in `docs/PROTOCOL.md`.
const EXAMPLES_MARKER: &str = "<!-- encoding examples -->";

/// The byte range of the lines inside the fenced block that follows `marker`.
fn listing_range(doc: &str, marker: &str) -> Option<std::ops::Range<usize>> {
    let at = doc.find(marker)?;
    let open = at + doc[at..].find("```text\n")? + "```text\n".len();
    let close = open + doc[open..].find("```")?;
    Some(open..close)
}

fn listing_text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Writes the vectors and the listings once per test run, when asked to.
fn write_if_asked() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var(WRITE_ENV).as_deref() != Ok("1") {
            return;
        }
        std::fs::create_dir_all(vectors_dir()).expect("create tests/vectors");
        let mut doc = std::fs::read_to_string(doc_path()).expect("read docs/PROTOCOL.md");
        for v in vectors() {
            std::fs::write(vectors_dir().join(v.name), &v.bytes).expect("write .bin");
            let json = render_json(&v.json(), 0) + "\n";
            std::fs::write(vectors_dir().join(v.name.replace(".bin", ".json")), json).expect("write .json");
            let (_, lines) = decode(&v, &v.bytes);
            let range = listing_range(&doc, &marker(v.name))
                .unwrap_or_else(|| panic!("docs/PROTOCOL.md needs `{}` followed by a ```text block", marker(v.name)));
            doc.replace_range(range, &listing_text(&lines));
        }
        let range = listing_range(&doc, EXAMPLES_MARKER).expect("docs/PROTOCOL.md has the encoding examples");
        doc.replace_range(range, &listing_text(&encoding_examples()));
        std::fs::write(doc_path(), doc).expect("write docs/PROTOCOL.md");
    });
}

/// Keys in the order a reader expects them (Rust field order); serde_json's map sorts.
#[rustfmt::skip]
const KEY_ORDER: &[&str] = &[
    "direction", "description", "state_before", "message", "state_after", "type", "protocol", "player_id", "room",
    "tick_rate_hz", "seq", "values", "client_time", "tick", "base_tick", "ack_input", "server_time_us",
    "resume_token", "players", "cell", "age", "entities", "created", "changed", "removed", "events", "sections",
    "dropped", "cells", "code", "reason", "schema", "game", "entity_kinds", "input", "event_kinds", "id", "index",
    "kind", "player", "name", "text", "mask", "changes", "fields", "scale", "min", "max", "value", "constants",
];

/// Lines of rendered JSON stay within this width when a value is put on one line.
const JSON_WIDTH: usize = 100;

/// Renders JSON for people: keys in [`KEY_ORDER`], small flat values on one line.
fn render_json(v: &Value, indent: usize) -> String {
    fn flat(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
            Value::Object(m) => m.values().all(|x| !x.is_object() && (!x.is_array() || flat(x))),
            _ => true,
        }
    }
    fn ordered(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
        let mut entries: Vec<_> = m.iter().collect();
        entries.sort_by_key(|(k, _)| (KEY_ORDER.iter().position(|o| o == k).unwrap_or(usize::MAX), k.as_str()));
        entries
    }
    fn one_line(v: &Value) -> String {
        match v {
            Value::Array(a) => format!("[{}]", a.iter().map(one_line).collect::<Vec<_>>().join(", ")),
            Value::Object(m) => {
                let items: Vec<String> =
                    ordered(m).iter().map(|(k, x)| format!("{}: {}", json!(k), one_line(x))).collect();
                format!("{{{}}}", items.join(", "))
            }
            scalar => scalar.to_string(),
        }
    }
    let line = one_line(v);
    if flat(v) && indent + line.len() <= JSON_WIDTH {
        return line;
    }
    let pad = "  ".repeat(indent / 2 + 1);
    let end = "  ".repeat(indent / 2);
    match v {
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| format!("{pad}{}", render_json(x, indent + 2))).collect();
            format!("[\n{}\n{end}]", items.join(",\n"))
        }
        Value::Object(m) => {
            let items: Vec<String> =
                ordered(m).iter().map(|(k, x)| format!("{pad}{}: {}", json!(k), render_json(x, indent + 2))).collect();
            format!("{{\n{}\n{end}}}", items.join(",\n"))
        }
        scalar => scalar.to_string(),
    }
}

fn golden(v: &Vector) -> (Vec<u8>, Value) {
    let bin = std::fs::read(vectors_dir().join(v.name))
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate with {WRITE_ENV}=1)", v.name));
    let json_name = v.name.replace(".bin", ".json");
    let text = std::fs::read_to_string(vectors_dir().join(&json_name)).unwrap_or_else(|e| panic!("{json_name}: {e}"));
    (bin, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{json_name}: {e}")))
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

#[test]
fn every_vector_encodes_to_its_golden_bytes() {
    write_if_asked();
    for v in vectors() {
        let (bin, _) = golden(&v);
        assert_eq!(v.bytes, bin, "{}: the crate's encoding differs from the golden bytes", v.name);
    }
}

#[test]
fn every_golden_file_decodes_to_its_stated_meaning() {
    write_if_asked();
    for v in vectors() {
        let (bin, json) = golden(&v);
        assert_eq!(json, v.json(), "{}: the .json differs from the meaning stated in this test", v.name);
        let (decoded, _) = decode(&v, &bin);
        assert_eq!(decoded, json["message"], "{}: the bytes do not decode to the .json message", v.name);
    }
}

#[test]
fn the_crate_decodes_every_golden_file_as_the_json_says() {
    write_if_asked();
    for v in vectors() {
        let (bin, json) = golden(&v);
        if !v.server_to_client {
            let msg = ClientMessage::decode(&bin, 1024).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(msg, client_message_from_json(&json["message"]), "{}", v.name);
            assert_eq!(client_message_from_json(&json["message"]).encode(), bin, "{}: JSON → bytes", v.name);
            continue;
        }
        if v.has_cells() {
            // The crate's ServerMessage has no Cell update (the server writes its frames in
            // `sync::CellFanOut` and never reads one back): tickcast-client decodes it.
            let schema = client_schema_from_json(&json["schema"]);
            let update = client_update(v.name, &bin, &schema);
            assert!(update.cells.is_some(), "{}: a Cell update has cells", v.name);
            continue;
        }
        let msg = ServerMessage::decode(&bin).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(msg.encode(), bin, "{}: decode then encode must give the same bytes", v.name);
        if let ServerMessage::Welcome(w) = &msg {
            assert_eq!(serde_json::to_value(w).unwrap()["schema"], json["schema"], "{}", v.name);
        }
    }
}

#[test]
fn updates_turn_state_before_into_state_after() {
    write_if_asked();
    let mut updates = 0;
    for v in vectors() {
        let (bin, json) = golden(&v);
        let Some(after) = json.get("state_after") else { continue };
        updates += 1;
        let schema = client_schema_from_json(&json["schema"]);
        let mut state = json.get("state_before").map(state_from_json).unwrap_or_default();
        let update = client_update(v.name, &bin, &schema);
        state.apply(&update).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(state_json(&state, v.has_cells()), *after, "{}: applied state differs from state_after", v.name);
        assert_eq!(state.room(), state_from_json(after).room(), "{}", v.name);
        let events: Vec<Value> = update.events.iter().map(event_json).collect();
        // A Cell update's events: the room part's first, then each section's in order.
        let message = &json["message"];
        let stated: Vec<Value> = if v.has_cells() {
            let sections = message["sections"].as_array().expect("sections");
            let lists = std::iter::once(&message["room"]["events"]).chain(sections.iter().map(|s| &s["events"]));
            lists.flat_map(|e| e.as_array().expect("events").clone()).collect()
        } else {
            message["events"].as_array().expect("events").clone()
        };
        assert_eq!(events, stated, "{}: events", v.name);
    }
    assert_eq!(updates, 4, "snapshot, delta, delta_multibyte_ids and cell_update carry states");
}

#[test]
fn a_delta_on_another_base_is_refused() {
    write_if_asked();
    let v = delta_vector();
    let (bin, json) = golden(&v);
    let schema = client_schema_from_json(&json["schema"]);
    let before = state_from_json(&json["state_before"]);
    let mut state = RoomState::new(World { tick: before.tick + 1, entities: before.entities.clone() }, []);
    let held = state.clone();
    let refused = state.apply(&client_update(v.name, &bin, &schema));
    assert_eq!(refused, Err(ApplyError::BaseMismatch { base_tick: 120, held: 121 }));
    assert_eq!(state, held, "a refused delta leaves the state as it was");
}

#[test]
fn every_file_in_the_folder_is_a_covered_vector() {
    write_if_asked();
    let known: BTreeSet<String> = vectors().iter().map(|v| v.name.to_string()).collect();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(vectors_dir()).expect("tests/vectors exists") {
        let name = entry.expect("dir entry").file_name().to_string_lossy().into_owned();
        let bin = if let Some(stem) = name.strip_suffix(".json") {
            format!("{stem}.bin")
        } else {
            assert!(name.ends_with(".bin"), "tests/vectors/{name}: only .bin and .json files belong here");
            name.clone()
        };
        assert!(known.contains(&bin), "tests/vectors/{name} is not covered by tests/vectors.rs");
        assert!(vectors_dir().join(&bin).exists(), "tests/vectors/{name} has no {bin}");
        assert!(vectors_dir().join(bin.replace(".bin", ".json")).exists(), "tests/vectors/{bin} has no .json");
        seen.insert(bin);
    }
    assert_eq!(seen, known, "every vector has its files");
}

#[test]
fn protocol_doc_listings_are_the_golden_bytes() {
    write_if_asked();
    let doc = std::fs::read_to_string(doc_path()).expect("read docs/PROTOCOL.md");
    for v in vectors() {
        let (bin, _) = golden(&v);
        let range =
            listing_range(&doc, &marker(v.name)).unwrap_or_else(|| panic!("docs/PROTOCOL.md lacks {}", marker(v.name)));
        let (_, lines) = decode(&v, &bin);
        assert_eq!(doc[range].to_string(), listing_text(&lines), "docs/PROTOCOL.md listing of {} is stale", v.name);
    }
    assert_eq!(doc.matches("<!-- vector: ").count(), vectors().len(), "one listing per vector, no strays");
}

#[test]
fn protocol_doc_encoding_examples_are_the_crate_s() {
    write_if_asked();
    let doc = std::fs::read_to_string(doc_path()).expect("read docs/PROTOCOL.md");
    let range = listing_range(&doc, EXAMPLES_MARKER).expect("docs/PROTOCOL.md has the encoding examples");
    assert_eq!(doc[range].to_string(), listing_text(&encoding_examples()), "encoding examples are stale");
}
