//! Message definitions and their encoding: what the client sends, what the server sends,
//! and the close codes that end a session.

use super::codec::{self, DecodeError, Reader, Writer};
use super::schema::{Schema, MAX_INPUT_FIELDS};
use super::PlayerId;
use serde::{Deserialize, Serialize};

/// Tag of Welcome.
pub const MESSAGE_WELCOME: u32 = 0;
/// Tag of a Snapshot (keyframe).
pub const MESSAGE_SNAPSHOT: u32 = 1;
/// Tag of a Delta.
pub const MESSAGE_DELTA: u32 = 2;
/// Tag of Pong.
pub const MESSAGE_PONG: u32 = 3;
/// Tag of Notice.
pub const MESSAGE_NOTICE: u32 = 4;
/// Tag of a Cell update (protocol version 3, rooms with interest management).
pub const MESSAGE_CELL_UPDATE: u32 = 5;

/// Client → server. bincode enum: the tag is the variant index (0 Input, 1 Ping, 2 Leave, 3 Chat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// One input of the player, numbered by the client (increasing, starting at 1).
    Input {
        /// The input's sequence number.
        seq: u32,
        /// The game's input fields, in schema order.
        values: Vec<i32>,
    },
    /// Asks for a Pong carrying `client_time` back.
    Ping {
        /// Any client clock value, echoed unchanged.
        client_time: u64,
    },
    /// The player leaves for good: no grace window, the seat is freed.
    Leave,
    /// A chat line for the room.
    Chat {
        /// The line (UTF-8, length limited by `limits.max_chat_bytes`).
        text: String,
    },
}

impl ClientMessage {
    /// Decodes one client message, checking the raw length against `max_len` first.
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Self, DecodeError> {
        if bytes.len() > max_len {
            return Err(DecodeError::TooLong { len: bytes.len(), max: max_len });
        }
        codec::decode_exact(bytes)
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        codec::encode_into(self, &mut out);
        out
    }

    /// The common case of [`ClientMessage::decode`], without allocating: `Some((seq, n))`
    /// with the values in `out[..n]` when `bytes` are exactly one Input of at most
    /// [`MAX_INPUT_FIELDS`] values, each integer in a form bincode accepts. `None` for
    /// anything else (another message, more values, a varint wider than its type,
    /// malformed bytes): [`ClientMessage::decode`] then decodes it or refuses it with its
    /// error, so both paths accept exactly the same inputs (a property test says so).
    pub fn decode_input(bytes: &[u8], out: &mut [i32; MAX_INPUT_FIELDS]) -> Option<(u32, usize)> {
        let mut r = Reader::new(bytes);
        // bincode refuses an 8-byte marker (253) for a u32 or i32; so does this path.
        let narrow = |r: &Reader<'_>| r.rest().first().is_some_and(|&b| b < 253);
        if !narrow(&r) || r.u32().ok()? != 0 {
            return None;
        }
        let seq = if narrow(&r) { r.u32().ok()? } else { return None };
        let n = r.count(MAX_INPUT_FIELDS).ok()?;
        for slot in &mut out[..n] {
            *slot = if narrow(&r) { r.i32().ok()? } else { return None };
        }
        (r.remaining() == 0).then_some((seq, n))
    }
}

/// First message of every session: who you are, where, and how to decode the game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version the connection speaks ([`super::ProtocolVersion::number`]):
    /// what the client offered and the server chose in the handshake.
    pub protocol: u16,
    /// The player's id in this room.
    pub player_id: PlayerId,
    /// The room's name.
    pub room: String,
    /// Ticks per second.
    pub tick_rate_hz: u16,
    /// The room's last completed tick.
    pub tick: u64,
    /// Token to resume this player after a dropped connection (`tickcast.resume.<token>`).
    pub resume_token: String,
    /// Players in the room when this Welcome was made (Joined/Left events follow).
    pub players: Vec<PlayerInfo>,
    /// The game's schema.
    pub schema: Schema,
    /// Version 2 on: the game's constants (its tunables: sizes, speeds, radii), so a
    /// client predicts against the server's configuration rather than a default. On the
    /// wire after `schema`, only when `protocol` ≥ 2; empty for version 1.
    #[serde(skip)]
    pub constants: Vec<GameConstant>,
}

/// One named constant of a game (see [`crate::game::Game::constants`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameConstant {
    /// The constant's name, e.g. `speed`.
    pub name: String,
    /// Its value, in the game's units (the schema's scales say how positions relate).
    pub value: i64,
}

/// A player of the room, as listed in Welcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// The player's id.
    pub id: PlayerId,
    /// Its display name.
    pub name: String,
}

/// The per-recipient part of a Snapshot or Delta, written in front of the shared body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateHeader {
    /// The tick this update describes.
    pub tick: u64,
    /// The tick the delta is relative to (Delta only; 0 in a Snapshot).
    pub base_tick: u64,
    /// The last input sequence the server applied for the recipient (0: none yet).
    pub ack_input: u32,
    /// Server wall clock when the tick was sent, in microseconds since the Unix epoch.
    pub server_time_us: u64,
}

/// A notice the server sends before it closes a session, or as information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// A close code from [`close_code`], or 0 for plain information.
    pub code: u16,
    /// Why, for people.
    pub reason: String,
}

/// One ordered event inside a tick's update. bincode enum: 0 Joined, 1 Left, 2 Chat, 3 Game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A player joined the room.
    Joined {
        /// The player.
        player: PlayerId,
        /// Its display name.
        name: String,
    },
    /// A player left the room (or its grace window ran out).
    Left {
        /// The player.
        player: PlayerId,
    },
    /// A chat line.
    Chat {
        /// Who said it.
        player: PlayerId,
        /// What was said.
        text: String,
    },
    /// A game-defined event; `kind` indexes the schema's `event_kinds`.
    Game {
        /// Index into `Schema::event_kinds`.
        kind: u16,
        /// The player concerned (0: none).
        player: PlayerId,
        /// A game-defined value (e.g. the new score).
        value: i32,
    },
}

/// A decoded server message. Update bodies stay raw: decoding them needs the schema
/// (the `tickcast-client` crate's `UpdateHeader::decode_body` does it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage<'a> {
    /// Tag 0.
    Welcome(Welcome),
    /// Tag 1: a full state; the client replaces what it holds.
    Snapshot {
        /// Tick and acknowledgement.
        header: UpdateHeader,
        /// Entity list then events.
        body: &'a [u8],
    },
    /// Tag 2: changes from `header.base_tick` to `header.tick`.
    Delta {
        /// Tick, base and acknowledgement.
        header: UpdateHeader,
        /// Created, changed, removed, then events.
        body: &'a [u8],
    },
    /// Tag 3: answer to Ping.
    Pong {
        /// The Ping's `client_time`, echoed.
        client_time: u64,
        /// Server wall clock in microseconds since the Unix epoch.
        server_time_us: u64,
    },
    /// Tag 4: a notice, usually followed by a close with the same code.
    Notice(Notice),
}

impl ServerMessage<'_> {
    /// Encodes the message (a Snapshot or Delta with its whole body).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ServerMessage::Welcome(w) => {
                Writer::new(&mut out).u64(MESSAGE_WELCOME as u64);
                codec::encode_into(w, &mut out);
                if w.protocol >= 2 {
                    codec::encode_into(&w.constants, &mut out);
                }
            }
            ServerMessage::Snapshot { header, body } => {
                write_update_header(&mut out, false, header);
                out.extend_from_slice(body);
            }
            ServerMessage::Delta { header, body } => {
                write_update_header(&mut out, true, header);
                out.extend_from_slice(body);
            }
            ServerMessage::Pong { client_time, server_time_us } => {
                let mut w = Writer::new(&mut out);
                w.u64(MESSAGE_PONG as u64);
                w.u64(*client_time);
                w.u64(*server_time_us);
            }
            ServerMessage::Notice(n) => {
                Writer::new(&mut out).u64(MESSAGE_NOTICE as u64);
                codec::encode_into(n, &mut out);
            }
        }
        out
    }
}

impl<'a> ServerMessage<'a> {
    /// Decodes a server message; update bodies are returned raw.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let tag = r.u32()?;
        let msg = match tag {
            MESSAGE_WELCOME => {
                let mut w: Welcome = r.value()?;
                if super::ProtocolVersion::from_number(w.protocol).is_none() {
                    return Err(DecodeError::Invalid(format!("unknown protocol version {}", w.protocol)));
                }
                if w.protocol >= 2 {
                    w.constants = r.value()?;
                }
                ServerMessage::Welcome(w)
            }
            MESSAGE_SNAPSHOT | MESSAGE_DELTA => {
                let delta = tag == MESSAGE_DELTA;
                let tick = r.u64()?;
                let base_tick = if delta { r.u64()? } else { 0 };
                let header = UpdateHeader { tick, base_tick, ack_input: r.u32()?, server_time_us: r.u64()? };
                let body = r.rest();
                return Ok(if delta {
                    ServerMessage::Delta { header, body }
                } else {
                    ServerMessage::Snapshot { header, body }
                });
            }
            MESSAGE_PONG => ServerMessage::Pong { client_time: r.u64()?, server_time_us: r.u64()? },
            MESSAGE_NOTICE => ServerMessage::Notice(r.value()?),
            other => return Err(DecodeError::Invalid(format!("unknown server message tag {other}"))),
        };
        if r.remaining() != 0 {
            return Err(DecodeError::TrailingBytes(r.remaining()));
        }
        Ok(msg)
    }
}

/// Writes the per-recipient header of an update: tag, tick, [base tick], ack, time.
/// This is the only per-member encoding on the tick path: the room writes it and the
/// shared body to the member's socket in one vectored write, never copying the body.
pub fn write_update_header(out: &mut Vec<u8>, delta: bool, h: &UpdateHeader) {
    let mut w = Writer::new(out);
    if delta {
        w.u64(MESSAGE_DELTA as u64);
        w.u64(h.tick);
        w.u64(h.base_tick);
    } else {
        w.u64(MESSAGE_SNAPSHOT as u64);
        w.u64(h.tick);
    }
    w.u64(h.ack_input as u64);
    w.u64(h.server_time_us);
}

/// Writes the per-recipient header of a Cell update (tag 5): like a Delta's, with
/// `base_tick` always present (0: the room part is whole). The room body, the cell
/// sections and the dropped cells follow (`sync::interest` writes them).
pub fn write_cell_update_header(out: &mut Vec<u8>, h: &UpdateHeader) {
    let mut w = Writer::new(out);
    w.u64(MESSAGE_CELL_UPDATE as u64);
    w.u64(h.tick);
    w.u64(h.base_tick);
    w.u64(h.ack_input as u64);
    w.u64(h.server_time_us);
}

/// One recipient's whole update: its header, then the shared body, copied into one
/// allocation (for tests and tools; the server never copies the body, see
/// [`write_update_header`]). A
/// `base_tick` of 0 makes it a Snapshot, anything else a Delta. The header is at most 37
/// bytes (tag, three u64 varints, one u32 varint).
pub fn update_frame(header: &UpdateHeader, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(40 + body.len());
    write_update_header(&mut frame, header.base_tick != 0, header);
    frame.extend_from_slice(body);
    frame
}

/// Every WebSocket close code tickcast uses, in one place. `docs/PROTOCOL.md` lists what a
/// client should do on each; reasons are at most 123 bytes (RFC 6455 control frame limit).
pub mod close_code {
    /// Normal closure (the client left).
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down: reconnect later.
    pub const GOING_AWAY: u16 = 1001;
    /// A WebSocket protocol violation (bad reserved bits, bad framing).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame: tickcast speaks binary only.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A binary message that does not decode as a client message, or invalid input values.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation (input flood, evicted for not reading).
    pub const POLICY: u16 = 1008;
    /// A frame or message larger than `limits.max_message_bytes`.
    pub const TOO_BIG: u16 = 1009;
    /// An internal error on the server.
    pub const INTERNAL: u16 = 1011;
    /// The room uses interest management and the connection speaks a protocol version
    /// before 3, which has no Cell update.
    pub const UPGRADE_REQUIRED: u16 = 4426;
    /// The room stopped (service restart): reconnect.
    pub const TRY_AGAIN: u16 = 1012;
    /// Missing, forged or expired token: get a new one, then retry.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Kicked or banned by an admin (a banned token subject or client IP): do not retry.
    pub const KICKED: u16 = 4403;
    /// The named room is full: do not retry that room.
    pub const ROOM_FULL: u16 = 4409;
    /// The same player connected elsewhere (resume took it over).
    pub const REPLACED: u16 = 4410;
    /// Cluster mode: another node owns the room; the reason is that node's WebSocket URL.
    pub const WRONG_NODE: u16 = 4421;
    /// The token's subject holds `security.max_sessions_per_token` players on the node
    /// already: leave one (or let its grace window pass) before joining again.
    pub const TOO_MANY_SESSIONS: u16 = 4429;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the fast path and bincode make of `bytes`.
    type Both = (Option<(u32, Vec<i32>)>, Result<ClientMessage, DecodeError>);

    fn decode_both(bytes: &[u8]) -> Both {
        let mut out = [0; MAX_INPUT_FIELDS];
        let fast = ClientMessage::decode_input(bytes, &mut out).map(|(seq, n)| (seq, out[..n].to_vec()));
        (fast, ClientMessage::decode(bytes, usize::MAX))
    }

    proptest! {
        /// The allocation-free path accepts an input only as bincode decodes it.
        #[test]
        fn the_fast_input_path_agrees_with_bincode_on_any_bytes(
            // Mostly tag 0 (Input), small counts and varint markers, so odd inputs are
            // what the bytes usually are, not other messages.
            bytes in proptest::collection::vec(prop_oneof![0u8..=4, 248u8..=255, any::<u8>()], 0..24)
                .prop_map(|mut v| { v.insert(0, 0); v }),
        ) {
            if let (Some((seq, values)), full) = decode_both(&bytes) {
                prop_assert_eq!(full, Ok(ClientMessage::Input { seq, values }));
            }
        }

        /// ... and takes every real input of up to MAX_INPUT_FIELDS values.
        #[test]
        fn the_fast_input_path_takes_every_encoded_input(
            seq in any::<u32>(),
            values in proptest::collection::vec(any::<i32>(), 0..=MAX_INPUT_FIELDS),
        ) {
            let bytes = ClientMessage::Input { seq, values: values.clone() }.encode();
            prop_assert_eq!(decode_both(&bytes).0, Some((seq, values)));
        }
    }

    #[test]
    fn the_fast_input_path_leaves_everything_else_to_bincode() {
        let mut out = [0; MAX_INPUT_FIELDS];
        let many = ClientMessage::Input { seq: 1, values: vec![0; MAX_INPUT_FIELDS + 1] }.encode();
        assert_eq!(ClientMessage::decode_input(&many, &mut out), None, "more values than a schema has");
        assert_eq!(ClientMessage::decode_input(&ClientMessage::Leave.encode(), &mut out), None);
        // seq 5 written with an 8-byte marker: bincode refuses it, so the fast path must.
        let wide = [0, 253, 5, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(ClientMessage::decode_input(&wide, &mut out), None);
        assert!(ClientMessage::decode(&wide, 1024).is_err());
    }
}
