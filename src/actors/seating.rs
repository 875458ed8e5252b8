//! A room's identity and the seat counters it shares with the directory and with seat
//! reservations: plain data, below both the room actor and the directory, so neither
//! has to import the other for them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A room's id, unique for the process's lifetime (names can be reused after disposal).
pub type RoomId = u64;

/// A room's id across the cluster and across restores on other nodes; resume tokens
/// name it. On a single node it equals the [`RoomId`].
pub type RoomUid = u64;

/// Counters of one room shared by the directory, the room and seat reservations.
#[derive(Debug, Default)]
pub struct RoomShared {
    /// Seats taken: members, players in their grace window, and pending reservations.
    pub seats: AtomicUsize,
    /// Members with a live session.
    pub connected: AtomicUsize,
    /// The room's last tick.
    pub tick: AtomicU64,
}

/// A reserved seat. Dropped without [`SeatGuard::commit`], it frees the seat again.
#[derive(Debug)]
pub struct SeatGuard {
    shared: Arc<RoomShared>,
    committed: bool,
}

impl SeatGuard {
    /// Guards a seat just taken in `shared` (its `seats` count already includes it).
    pub fn taken(shared: Arc<RoomShared>) -> Self {
        SeatGuard { shared, committed: false }
    }

    /// The seat now belongs to a room member; the room frees it when the player goes.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for SeatGuard {
    fn drop(&mut self) {
        if !self.committed {
            self.shared.seats.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A fresh random seat nonce (never 0).
pub fn seat_nonce() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b).max(1)
}
