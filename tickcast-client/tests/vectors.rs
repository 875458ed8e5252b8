//! The golden vectors of `tests/vectors/` (the repository's), decoded by this crate's own
//! decoder: every server message's bytes must mean what its `.json` says, every client
//! message encoded from its `.json` must give its `.bin`, and every update must turn
//! `state_before` into `state_after`. With the server's test encoding the same vectors,
//! this is the second, independent check of the wire format. A Cell update vector
//! (`"type": "CellUpdate"`, protocol version 3) states its room part, sections and
//! dropped cells, and its states carry `cells`: it is applied to a [`RoomState`].

use serde_json::{json, Value};
use std::path::PathBuf;
use tickcast_client::message::{Body, ClientMessage, EntityKind, Event, InputField, Schema, ServerMessage};
use tickcast_client::{CellCopy, CellSection, RoomState, SectionBody, World};

fn vectors() -> Vec<(String, Vec<u8>, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/vectors") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let bin = std::fs::read(path.with_extension("bin")).unwrap();
            out.push((path.file_name().unwrap().to_string_lossy().into_owned(), bin, json));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 12, "the vectors are there: {}", out.len());
    out
}

fn schema_from(v: &Value) -> Schema {
    let s = |v: &Value| v.as_str().unwrap().to_string();
    Schema {
        game: s(&v["game"]),
        entity_kinds: v["entity_kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| EntityKind {
                name: s(&k["name"]),
                fields: k["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| (s(&f["name"]), f["scale"].as_u64().unwrap() as u32))
                    .collect(),
            })
            .collect(),
        input: v["input"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| InputField {
                name: s(&f["name"]),
                min: f["min"].as_i64().unwrap() as i32,
                max: f["max"].as_i64().unwrap() as i32,
            })
            .collect(),
        event_kinds: v["event_kinds"].as_array().unwrap().iter().map(s).collect(),
    }
}

fn schema_json(s: &Schema) -> Value {
    json!({
        "game": s.game,
        "entity_kinds": s.entity_kinds.iter().map(|k| json!({
            "name": k.name,
            "fields": k.fields.iter().map(|(n, sc)| json!({"name": n, "scale": sc})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "input": s.input.iter().map(|f| json!({"name": f.name, "min": f.min, "max": f.max})).collect::<Vec<_>>(),
        "event_kinds": s.event_kinds,
    })
}

fn event_json(e: &Event) -> Value {
    match e {
        Event::Joined { player, name } => json!({"type": "Joined", "player": player, "name": name}),
        Event::Left { player } => json!({"type": "Left", "player": player}),
        Event::Chat { player, text } => json!({"type": "Chat", "player": player, "text": text}),
        Event::Game { kind, player, value } => json!({"type": "Game", "kind": kind, "player": player, "value": value}),
    }
}

fn entities_json(list: &[tickcast_client::message::Entity]) -> Value {
    list.iter().map(|e| json!({"id": e.id, "kind": e.kind, "fields": e.fields})).collect()
}

/// A body's fields as the vectors state them, without `base_tick`: a Delta and a Cell
/// update's sections state it next to them, a Cell update's room part in the header.
fn body_json(body: &Body, events: &[Event]) -> Value {
    let events: Vec<Value> = events.iter().map(event_json).collect();
    match body {
        Body::Snapshot(entities) => json!({"entities": entities_json(entities), "events": events}),
        Body::Delta { created, changed, removed, .. } => json!({
            "created": entities_json(created),
            "changed": changed.iter().map(|c| json!({"id": c.id, "mask": c.mask, "changes": c.changes})).collect::<Vec<_>>(),
            "removed": removed, "events": events,
        }),
    }
}

/// A cell section as the vectors state it: its cell and `age` (0: whole), then a
/// snapshot body's fields or a cell delta's (changed and removed entities by index).
fn section_json(tick: u64, s: &CellSection, events: &[Event]) -> Value {
    let events: Vec<Value> = events.iter().map(event_json).collect();
    let cell = json!([s.cell.0, s.cell.1]);
    match &s.body {
        SectionBody::Whole(entities) => {
            json!({"cell": cell, "age": 0, "entities": entities_json(entities), "events": events})
        }
        SectionBody::Delta { base_tick, created, changed, removed } => json!({
            "cell": cell, "age": tick - base_tick, "created": entities_json(created),
            "changed": changed.iter().map(|c| json!({"index": c.index, "mask": c.mask, "changes": c.changes})).collect::<Vec<_>>(),
            "removed": removed, "events": events,
        }),
    }
}

/// A body's base tick as the wire has it: 0 for a whole one.
fn base_of(body: &Body) -> u64 {
    match body {
        Body::Snapshot(_) => 0,
        Body::Delta { base_tick, .. } => *base_tick,
    }
}

/// The message as the vectors' JSON states it (Rust field names).
fn message_json(msg: &ServerMessage) -> Value {
    match msg {
        ServerMessage::Welcome(w) => {
            let mut v = json!({
                "type": "Welcome", "protocol": w.protocol, "player_id": w.player_id, "room": w.room,
                "tick_rate_hz": w.tick_rate_hz, "tick": w.tick, "resume_token": w.resume_token,
                "players": w.players.iter().map(|(id, name)| json!({"id": id, "name": name})).collect::<Vec<_>>(),
                "schema": schema_json(&w.schema),
            });
            if w.protocol >= 2 {
                v["constants"] = w.constants.iter().map(|(n, x)| json!({"name": n, "value": x})).collect();
            }
            v
        }
        ServerMessage::Update(u) => match &u.cells {
            None => {
                let mut v = body_json(&u.body, &u.events);
                match &u.body {
                    Body::Snapshot(_) => v["type"] = json!("Snapshot"),
                    Body::Delta { base_tick, .. } => {
                        v["type"] = json!("Delta");
                        v["base_tick"] = json!(base_tick);
                    }
                }
                v["tick"] = json!(u.tick);
                v["ack_input"] = json!(u.ack_input);
                v["server_time_us"] = json!(u.server_time_us);
                v
            }
            Some(cells) => json!({
                "type": "CellUpdate", "tick": u.tick, "base_tick": base_of(&u.body), "ack_input": u.ack_input,
                "server_time_us": u.server_time_us,
                "room": body_json(&u.body, u.room_events()),
                "sections": cells.sections.iter().map(|s| section_json(u.tick, s, u.section_events(s))).collect::<Vec<_>>(),
                "dropped": cells.dropped.iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>(),
            }),
        },
        ServerMessage::Pong { client_time, server_time_us } => {
            json!({"type": "Pong", "client_time": client_time, "server_time_us": server_time_us})
        }
        ServerMessage::Notice { code, reason } => json!({"type": "Notice", "code": code, "reason": reason}),
    }
}

fn client_message(v: &Value) -> ClientMessage {
    match v["type"].as_str().unwrap() {
        "Input" => ClientMessage::Input {
            seq: v["seq"].as_u64().unwrap() as u32,
            values: v["values"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect(),
        },
        "Ping" => ClientMessage::Ping { client_time: v["client_time"].as_u64().unwrap() },
        "Leave" => ClientMessage::Leave,
        "Chat" => ClientMessage::Chat { text: v["text"].as_str().unwrap().to_string() },
        other => panic!("unknown client message {other}"),
    }
}

fn entities_from(v: &Value) -> std::collections::BTreeMap<u32, (u16, Vec<i32>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let fields = e["fields"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect();
            (e["id"].as_u64().unwrap() as u32, (e["kind"].as_u64().unwrap() as u16, fields))
        })
        .collect()
}

/// A vector's state: the room part, and the cells of a Cell update vector (each held
/// as of the state's tick, which the vectors do not state per cell).
fn state_from(v: &Value) -> RoomState {
    let tick = v["tick"].as_u64().unwrap();
    let room = World { tick, entities: entities_from(&v["entities"]) };
    let cells = v.get("cells").and_then(Value::as_array).into_iter().flatten().map(|c| {
        let cell = (c["cell"][0].as_i64().unwrap() as i32, c["cell"][1].as_i64().unwrap() as i32);
        (cell, CellCopy { tick, entities: entities_from(&c["entities"]) })
    });
    RoomState::new(room, cells)
}

fn state_json(state: &RoomState, with_cells: bool) -> Value {
    let list = |m: &std::collections::BTreeMap<u32, (u16, Vec<i32>)>| {
        m.iter().map(|(id, (kind, fields))| json!({"id": id, "kind": kind, "fields": fields})).collect::<Vec<_>>()
    };
    let mut v = json!({"tick": state.room().tick, "entities": list(&state.room().entities)});
    if with_cells {
        v["cells"] =
            state.cells().iter().map(|((x, y), c)| json!({"cell": [x, y], "entities": list(&c.entities)})).collect();
    }
    v
}

/// Checks one vector: its bytes mean its `message`, and applied to `state_before`
/// they give `state_after`.
fn check(name: &str, bin: &[u8], json: &Value) {
    if json["direction"] == "client_to_server" {
        assert_eq!(client_message(&json["message"]).encode(), bin, "{name}: JSON -> bytes");
        return;
    }
    let schema = json.get("schema").map(schema_from);
    let msg = ServerMessage::decode(bin, schema.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(message_json(&msg), json["message"], "{name}: bytes -> meaning");
    if let Some(after) = json.get("state_after") {
        let mut state = json.get("state_before").map(state_from).unwrap_or_default();
        let ServerMessage::Update(update) = &msg else { panic!("{name}: a state_after without an update") };
        state.apply(update).unwrap_or_else(|e| panic!("{name}: {e}"));
        let with_cells = after.get("cells").is_some();
        assert_eq!(state_json(&state, with_cells), *after, "{name}: state_before + update -> state_after");
        if update.cells.is_none() {
            // A plain room's update gives the same on a World.
            let mut world = state_from(json.get("state_before").unwrap_or(&json!({"tick": 0, "entities": []})));
            let mut plain = world.room().clone();
            plain.apply(update).unwrap_or_else(|e| panic!("{name}: {e}"));
            world.apply(update).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&plain, world.room(), "{name}: a World and a RoomState agree");
        }
    }
}

#[test]
fn every_vector_means_what_its_json_says() {
    for (name, bin, json) in vectors() {
        check(&name, &bin, &json);
    }
}

/// Besides `tests/vectors/cell_update.bin` (checked above with every vector), the same
/// check on a Cell update built by hand from PROTOCOL.md in the vectors' JSON layout:
/// tick 51, the room part in step (base 50), cell (2, 3) moves player 7, cell (3, 3)
/// arrives whole with an orb and an event, cell (0, 1) is dropped.
#[test]
fn a_cell_update_vector_in_the_documented_layout() {
    let bin: Vec<u8> = [
        &[5, 51, 50, 40][..],                                    // tag, tick, base_tick, ack_input
        &[0xfd, 0xf0, 0x89, 0x22, 0x46, 0x48, 0x47, 0x06, 0x00], // server_time_us
        &[0, 0, 0, 0],                                           // room: nothing, no events
        &[2],                                                    // sections
        &[4, 6, 1, 6, 2, 1, 0, 3, 10, 5],                        // (2, 3), age 1: changed, index 0 by (5, -3)
        // (3, 3) whole: orb 2^24 at (1234, 8765), then a scored event of player 7.
        &[6, 6, 0, 18, 1, 0xfc, 0, 0, 0, 1, 1, 0xfb, 0xa4, 0x09, 0xfb, 0x7a, 0x44, 1, 3, 0, 7, 8],
        &[1, 0, 2], // dropped: (0, 1)
    ]
    .concat();
    let json = json!({
        "direction": "server_to_client",
        "schema": {"game": "arena",
            "entity_kinds": [
                {"name": "player", "fields": [{"name": "x", "scale": 10}, {"name": "y", "scale": 10}, {"name": "score", "scale": 1}]},
                {"name": "orb", "fields": [{"name": "x", "scale": 10}, {"name": "y", "scale": 10}]}],
            "input": [], "event_kinds": ["scored"]},
        "state_before": {"tick": 50, "entities": [], "cells": [
            {"cell": [0, 1], "entities": [{"id": 9, "kind": 1, "fields": [1, 1]}]},
            {"cell": [2, 3], "entities": [{"id": 7, "kind": 0, "fields": [100, 200, 3]}]}]},
        "message": {"type": "CellUpdate", "tick": 51, "base_tick": 50, "ack_input": 40,
            "server_time_us": 1_767_225_600_150_000_u64,
            "room": {"created": [], "changed": [], "removed": [], "events": []},
            "sections": [
                {"cell": [2, 3], "age": 1, "created": [], "changed": [{"index": 0, "mask": 3, "changes": [5, -3]}],
                 "removed": [], "events": []},
                {"cell": [3, 3], "age": 0, "entities": [{"id": 16_777_216, "kind": 1, "fields": [1234, 8765]}],
                 "events": [{"type": "Game", "kind": 0, "player": 7, "value": 4}]}],
            "dropped": [[0, 1]]},
        "state_after": {"tick": 51, "entities": [], "cells": [
            {"cell": [2, 3], "entities": [{"id": 7, "kind": 0, "fields": [105, 197, 3]}]},
            {"cell": [3, 3], "entities": [{"id": 16_777_216, "kind": 1, "fields": [1234, 8765]}]}]},
    });
    check("cell_update (by hand)", &bin, &json);
    let schema = schema_from(&json["schema"]);
    for end in 0..bin.len() {
        assert!(ServerMessage::decode(&bin[..end], Some(&schema)).is_err(), "cut at {end}");
    }
}

#[test]
fn cut_or_extended_vectors_are_errors_never_panics() {
    for (name, bin, json) in vectors() {
        if json["direction"] == "client_to_server" {
            continue;
        }
        let schema = json.get("schema").map(schema_from);
        for end in 0..bin.len() {
            assert!(ServerMessage::decode(&bin[..end], schema.as_ref()).is_err(), "{name} cut at {end}");
        }
        let mut longer = bin.clone();
        longer.push(0);
        assert!(ServerMessage::decode(&longer, schema.as_ref()).is_err(), "{name} with a trailing byte");
    }
}
