//! The golden vectors of `tests/vectors/` (the repository's), decoded by this crate's own
//! decoder: every server message's bytes must mean what its `.json` says, every client
//! message encoded from its `.json` must give its `.bin`, and every update must turn
//! `state_before` into `state_after`. With the server's test encoding the same vectors,
//! this is the second, independent check of the wire format.

use serde_json::{json, Value};
use std::path::PathBuf;
use tickcast_client::message::{Body, ClientMessage, EntityKind, Event, InputField, Schema, ServerMessage};
use tickcast_client::World;

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
        ServerMessage::Update(u) => {
            let events: Vec<Value> = u.events.iter().map(event_json).collect();
            match &u.body {
                Body::Snapshot(entities) => json!({
                    "type": "Snapshot", "tick": u.tick, "ack_input": u.ack_input, "server_time_us": u.server_time_us,
                    "entities": entities_json(entities), "events": events,
                }),
                Body::Delta { base_tick, created, changed, removed } => json!({
                    "type": "Delta", "tick": u.tick, "base_tick": base_tick, "ack_input": u.ack_input,
                    "server_time_us": u.server_time_us, "created": entities_json(created),
                    "changed": changed.iter().map(|c| json!({"id": c.id, "mask": c.mask, "changes": c.changes})).collect::<Vec<_>>(),
                    "removed": removed, "events": events,
                }),
            }
        }
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

fn world_from(v: &Value) -> World {
    let mut w = World { tick: v["tick"].as_u64().unwrap(), ..Default::default() };
    for e in v["entities"].as_array().unwrap() {
        let fields = e["fields"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect();
        w.entities.insert(e["id"].as_u64().unwrap() as u32, (e["kind"].as_u64().unwrap() as u16, fields));
    }
    w
}

#[test]
fn every_vector_means_what_its_json_says() {
    for (name, bin, json) in vectors() {
        if json["direction"] == "client_to_server" {
            assert_eq!(client_message(&json["message"]).encode(), bin, "{name}: JSON -> bytes");
            continue;
        }
        let schema = json.get("schema").map(schema_from);
        let msg = ServerMessage::decode(&bin, schema.as_ref()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message_json(&msg), json["message"], "{name}: bytes -> meaning");
        if let Some(after) = json.get("state_after") {
            let mut world = json.get("state_before").map(world_from).unwrap_or_default();
            let ServerMessage::Update(update) = &msg else { panic!("{name}: a state_after without an update") };
            world.apply(update).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(world, world_from(after), "{name}: state_before + update -> state_after");
        }
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
