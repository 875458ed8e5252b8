//! The protocol's messages (docs/PROTOCOL.md, "Client → server messages" and "Server →
//! client messages"), decoded and encoded with this crate's own reader and writer.

use crate::body::{read_events, read_state};
pub use crate::body::{Body, Change, Entity, EntityKind, Event, InputField, Schema};
use crate::cells::{read_cells, CellSection, Cells};
use crate::wire::{Reader, WireError, Writer};

/// The protocol versions this client speaks, newest first, as offered in the handshake.
pub const SUBPROTOCOLS: [&str; 3] = ["tickcast.v3", "tickcast.v2", "tickcast.v1"];

/// The newest protocol version this client speaks; a Welcome naming a newer one is refused.
pub const PROTOCOL_VERSION: u16 = 3;

/// The first message of every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The protocol version the connection speaks.
    pub protocol: u16,
    /// Your player id.
    pub player_id: u32,
    /// The room's name.
    pub room: String,
    /// Ticks per second.
    pub tick_rate_hz: u16,
    /// The room's last completed tick.
    pub tick: u64,
    /// The token that resumes this player (the newest one only).
    pub resume_token: String,
    /// The room's players: id and name.
    pub players: Vec<(u32, String)>,
    /// The game's schema.
    pub schema: Schema,
    /// Version 2 on: the game's constants (empty in version 1).
    pub constants: Vec<(String, i64)>,
}

impl Welcome {
    /// The game constant named `name`, if the server sent it.
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.constants.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// A Snapshot, a Delta or (protocol version 3) a Cell update.
///
/// One shape for every kind of room, so a caller handles them alike: `body` is the
/// room's state (in a Cell update, the room-wide part), `events` every event of the
/// update in the order to handle them, and `cells` what only a Cell update has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The tick it describes.
    pub tick: u64,
    /// The last input of yours the server applied (0: none).
    pub ack_input: u32,
    /// The server's clock when the tick was computed, µs since the Unix epoch.
    pub server_time_us: u64,
    /// The state: the whole room in a Snapshot or Delta, the room-wide part in a Cell
    /// update (a Snapshot body when its `base_tick` is 0).
    pub body: Body,
    /// The events since your previous update: in a Cell update the room part's first,
    /// then each section's in section order (PROTOCOL.md, "Cell update").
    pub events: Vec<Event>,
    /// A Cell update's sections and dropped cells; `None` for a Snapshot or Delta.
    pub cells: Option<Cells>,
}

impl Update {
    /// The room part's events: all of them, except in a Cell update.
    pub fn room_events(&self) -> &[Event] {
        let n = self.cells.as_ref().map_or(self.events.len(), |c| c.room_events);
        self.events.get(..n).unwrap_or(&[])
    }

    /// The events of one of this update's sections (empty for a section of another
    /// update).
    pub fn section_events(&self, section: &CellSection) -> &[Event] {
        self.events.get(section.events.clone()).unwrap_or(&[])
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// The first message.
    Welcome(Box<Welcome>),
    /// A Snapshot, Delta or Cell update.
    Update(Update),
    /// The answer to a Ping.
    Pong {
        /// The Ping's value, echoed.
        client_time: u64,
        /// The server's clock, µs since the Unix epoch.
        server_time_us: u64,
    },
    /// A notice (a close with the same code usually follows).
    Notice {
        /// Its code.
        code: u16,
        /// Its reason.
        reason: String,
    },
}

impl ServerMessage {
    /// Decodes one server message. Updates need the schema of the session's Welcome.
    pub fn decode(bytes: &[u8], schema: Option<&Schema>) -> Result<Self, WireError> {
        Ok(match Frame::parse(bytes)? {
            Frame::Welcome(w) => ServerMessage::Welcome(w),
            Frame::Update { header, body } => {
                let schema = schema.ok_or_else(|| WireError::Invalid("an update before Welcome".into()))?;
                ServerMessage::Update(header.decode_body(body, schema)?)
            }
            Frame::Pong { client_time, server_time_us } => ServerMessage::Pong { client_time, server_time_us },
            Frame::Notice { code, reason } => ServerMessage::Notice { code, reason },
        })
    }
}

/// The per-recipient header of a Snapshot, Delta or Cell update: what a client needs of
/// every update without decoding its body (latency, gaps, acknowledgement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateHeader {
    /// The tick it describes.
    pub tick: u64,
    /// A Delta's base tick; `None` for a Snapshot. In a Cell update, the room part's
    /// base, `None` when it is 0 (the room part arrives whole).
    pub base_tick: Option<u64>,
    /// The last input of yours the server applied (0: none).
    pub ack_input: u32,
    /// The server's clock when the tick was computed, µs since the Unix epoch.
    pub server_time_us: u64,
    /// A Cell update (tag 5, protocol version 3): the body is the room part, then the
    /// cell sections and the dropped cells.
    pub cells: bool,
}

impl UpdateHeader {
    /// Decodes the update's body (the bytes after the header) with the session's schema.
    pub fn decode_body(&self, body: &[u8], schema: &Schema) -> Result<Update, WireError> {
        let mut r = Reader::new(body);
        let update = read_body(&mut r, self, schema)?;
        r.finish()?;
        Ok(update)
    }
}

/// A server message parsed only as far as its kind needs: an update's body stays raw
/// (see [`UpdateHeader::decode_body`]), so a client that only watches ticks pays for
/// the header alone. A Cell update is an `Update` too (its header says `cells`): its
/// sections are checked when the body is decoded, since their bodies, like the room
/// part before them, can only be walked with the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The first message.
    Welcome(Box<Welcome>),
    /// A Snapshot, Delta or Cell update.
    Update {
        /// Its header.
        header: UpdateHeader,
        /// The body, undecoded.
        body: &'a [u8],
    },
    /// The answer to a Ping.
    Pong {
        /// The Ping's value, echoed.
        client_time: u64,
        /// The server's clock, µs since the Unix epoch.
        server_time_us: u64,
    },
    /// A notice.
    Notice {
        /// Its code.
        code: u16,
        /// Its reason.
        reason: String,
    },
}

impl<'a> Frame<'a> {
    /// Parses one server message (an update's body is only sliced off).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let frame = match r.u32()? {
            0 => Frame::Welcome(Box::new(read_welcome(&mut r)?)),
            tag @ (1 | 2 | 5) => {
                let tick = r.u64()?;
                let base_tick = match tag {
                    1 => None,
                    2 => Some(r.u64()?),
                    // A Cell update's room part: base 0 means it arrives whole.
                    _ => Some(r.u64()?).filter(|b| *b != 0),
                };
                let (ack_input, server_time_us) = (r.u32()?, r.u64()?);
                let header = UpdateHeader { tick, base_tick, ack_input, server_time_us, cells: tag == 5 };
                return Ok(Frame::Update { header, body: r.rest() });
            }
            3 => Frame::Pong { client_time: r.u64()?, server_time_us: r.u64()? },
            4 => Frame::Notice { code: r.u16()?, reason: r.string()? },
            other => return Err(WireError::Invalid(format!("unknown server message tag {other}"))),
        };
        r.finish()?;
        Ok(frame)
    }
}

fn read_welcome(r: &mut Reader<'_>) -> Result<Welcome, WireError> {
    let protocol = r.u16()?;
    if !(1..=PROTOCOL_VERSION).contains(&protocol) {
        return Err(WireError::Invalid(format!("protocol version {protocol} is not one this client speaks")));
    }
    let player_id = r.u32()?;
    let room = r.string()?;
    let tick_rate_hz = r.u16()?;
    let tick = r.u64()?;
    let resume_token = r.string()?;
    let players = (0..r.count()?).map(|_| Ok((r.u32()?, r.string()?))).collect::<Result<_, WireError>>()?;
    let schema = read_schema(r)?;
    // Version 2 on (version 3 adds a message, not Welcome fields).
    let constants = if protocol >= 2 {
        (0..r.count()?).map(|_| Ok((r.string()?, r.i64()?))).collect::<Result<_, WireError>>()?
    } else {
        Vec::new()
    };
    Ok(Welcome { protocol, player_id, room, tick_rate_hz, tick, resume_token, players, schema, constants })
}

fn read_schema(r: &mut Reader<'_>) -> Result<Schema, WireError> {
    let game = r.string()?;
    let entity_kinds = (0..r.count()?)
        .map(|_| {
            let name = r.string()?;
            let fields = (0..r.count()?).map(|_| Ok((r.string()?, r.u32()?))).collect::<Result<_, WireError>>()?;
            Ok(EntityKind { name, fields })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    let input = (0..r.count()?)
        .map(|_| Ok(InputField { name: r.string()?, min: r.i32()?, max: r.i32()? }))
        .collect::<Result<_, WireError>>()?;
    let event_kinds = (0..r.count()?).map(|_| r.string()).collect::<Result<_, WireError>>()?;
    if entity_kinds.iter().any(|k: &EntityKind| k.fields.len() > 32) {
        return Err(WireError::Invalid("an entity kind with more than 32 fields".into()));
    }
    Ok(Schema { game, entity_kinds, input, event_kinds })
}

fn read_body(r: &mut Reader<'_>, header: &UpdateHeader, schema: &Schema) -> Result<Update, WireError> {
    let body = read_state(r, header.base_tick, schema)?;
    let mut events = read_events(r)?;
    let cells = if header.cells { Some(read_cells(r, header.tick, schema, &mut events)?) } else { None };
    Ok(Update {
        tick: header.tick,
        ack_input: header.ack_input,
        server_time_us: header.server_time_us,
        body,
        events,
        cells,
    })
}

/// A message to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// One input, numbered (increasing, from 1).
    Input {
        /// Its sequence number.
        seq: u32,
        /// The schema's input fields, in order.
        values: Vec<i32>,
    },
    /// Asks for a Pong echoing `client_time`.
    Ping {
        /// Any clock value of the client's.
        client_time: u64,
    },
    /// Leave for good.
    Leave,
    /// A chat line.
    Chat {
        /// The line.
        text: String,
    },
}

impl ClientMessage {
    /// The message's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        match self {
            ClientMessage::Input { seq, values } => {
                w.u64(0);
                w.u64(u64::from(*seq));
                w.u64(values.len() as u64);
                for v in values {
                    w.i64(i64::from(*v));
                }
            }
            ClientMessage::Ping { client_time } => {
                w.u64(1);
                w.u64(*client_time);
            }
            ClientMessage::Leave => w.u64(2),
            ClientMessage::Chat { text } => {
                w.u64(3);
                w.string(text);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Welcome of `protocol` with an empty schema and, from version 2, one constant.
    fn welcome(protocol: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer(&mut out);
        for v in [0, u64::from(protocol), 3] {
            w.u64(v); // tag, protocol, player_id
        }
        w.string("big");
        w.u64(20); // tick_rate_hz
        w.u64(120); // tick
        w.string("tok");
        w.u64(0); // players
        w.string("g");
        for _ in 0..3 {
            w.u64(0); // entity kinds, input, event kinds
        }
        if protocol >= 2 {
            w.u64(1);
            w.string("size");
            w.i64(1000);
        }
        out
    }

    #[test]
    fn a_version_3_welcome_is_read_like_version_2() {
        let Ok(Frame::Welcome(w)) = Frame::parse(&welcome(3)) else { panic!("decodes") };
        assert_eq!((w.protocol, w.constant("size")), (3, Some(1000)));
        assert!(Frame::parse(&welcome(4)).is_err(), "a version this client does not speak");
        assert_eq!(SUBPROTOCOLS[0], "tickcast.v3", "the newest is offered first");
    }
}
