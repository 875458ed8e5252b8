//! A room's whole state at one tick, as bytes: the game's own saved state
//! ([`crate::game::Game::save`]) plus the room's players and counters. In cluster mode
//! an owner writes it to Redis every `cluster.snapshot_interval_s`, and another node
//! continues the room from it after its node dies.
//!
//! Layout (bincode-standard varints, see `protocol::codec`): format version, room uid,
//! tick, next player id, room name, player count, then `(id, name, epoch)` per player,
//! then the game's bytes to the end. Decoding bounds every count and length: a snapshot comes
//! back from the network.

use crate::protocol::codec::{self, DecodeError, Reader, Writer};
use crate::protocol::PlayerId;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u64 = 2;

/// Most players a snapshot may list (a room never holds more than `room.max_players`,
/// which is at most 10,000).
const MAX_PLAYERS: usize = 10_000;

/// One room's state at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSnapshot {
    /// The room's cluster-wide id (kept across restores; resume tokens name it).
    pub uid: u64,
    /// The room's name.
    pub name: String,
    /// The tick the state describes.
    pub tick: u64,
    /// The next player id the room hands out.
    pub next_player: PlayerId,
    /// Players in the game.
    pub players: Vec<SnapshotPlayer>,
    /// The game's own bytes.
    pub game: Vec<u8>,
}

/// One player of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPlayer {
    /// Player id.
    pub id: PlayerId,
    /// Display name.
    pub name: String,
    /// The room incarnation the player joined in (what its resume token names).
    pub epoch: u64,
}

impl RoomSnapshot {
    /// The snapshot's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.players.len() * 12 + self.game.len());
        {
            let mut w = Writer::new(&mut out);
            w.u64(SNAPSHOT_VERSION);
            w.u64(self.uid);
            w.u64(self.tick);
            w.u64(self.next_player as u64);
        }
        codec::encode_into(&self.name, &mut out);
        Writer::new(&mut out).u64(self.players.len() as u64);
        for p in &self.players {
            Writer::new(&mut out).u64(p.id as u64);
            codec::encode_into(&p.name, &mut out);
            Writer::new(&mut out).u64(p.epoch);
        }
        out.extend_from_slice(&self.game);
        out
    }

    /// Reads a snapshot; never panics on hostile bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u64()?;
        if version != SNAPSHOT_VERSION {
            return Err(DecodeError::Invalid(format!(
                "snapshot format {version}, this build reads {SNAPSHOT_VERSION}"
            )));
        }
        let uid = r.u64()?;
        let tick = r.u64()?;
        let next_player = r.u32()?;
        let name: String = r.value()?;
        let count = r.count(MAX_PLAYERS)?;
        let mut players = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            let id = r.u32()?;
            let player_name: String = r.value()?;
            let epoch = r.u64()?;
            if id >= next_player {
                return Err(DecodeError::Invalid(format!("player {id} is not below next_player {next_player}")));
            }
            players.push(SnapshotPlayer { id, name: player_name, epoch });
        }
        Ok(RoomSnapshot { uid, name, tick, next_player, players, game: r.rest().to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RoomSnapshot {
        RoomSnapshot {
            uid: 70_000,
            name: "arena-1".into(),
            tick: 123_456,
            next_player: 9,
            players: vec![
                SnapshotPlayer { id: 1, name: "Ada".into(), epoch: 3 },
                SnapshotPlayer { id: 8, name: "Łukasz".into(), epoch: 41 },
            ],
            game: vec![1, 2, 3, 250, 0],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(RoomSnapshot::decode(&s.encode()), Ok(s));
    }

    #[test]
    fn hostile_bytes_are_refused_not_panicked_on() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() - 5 {
            assert!(RoomSnapshot::decode(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 1;
        assert!(RoomSnapshot::decode(&wrong_version).is_err());
        // A huge player count.
        let mut huge = Vec::new();
        for v in [SNAPSHOT_VERSION, 1, 1, 5] {
            Writer::new(&mut huge).u64(v);
        }
        codec::encode_into(&"r".to_string(), &mut huge);
        Writer::new(&mut huge).u64(u64::MAX);
        assert!(RoomSnapshot::decode(&huge).is_err());
    }
}
