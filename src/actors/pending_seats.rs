//! Seat reservations handed out by `GET /api/matchmake` for rooms on this node: the seat
//! is taken at once and held until the client connects with its seat token, or for
//! `cluster.seat_ttl_s`, so a matchmade client finds its seat even if the room fills in
//! between. The node's [`super::directory::LocalDirectory`] keeps them (a cluster node's
//! too: its rooms run there). A reservation for a room on another node is held in Redis
//! instead (see docs/CLUSTER.md); its token then names the room, and that node seats
//! the player.

use super::placement::Reservation;
use super::seating::seat_nonce;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Held reservations, bounded by `limits.max_connections`.
pub struct PendingSeats {
    held: Mutex<HashMap<u64, (Reservation, Instant)>>,
    ttl: Duration,
    max: usize,
}

impl PendingSeats {
    /// Holds reservations for `ttl`, at most `max` at once.
    pub fn new(ttl: Duration, max: usize) -> Self {
        PendingSeats { held: Mutex::new(HashMap::new()), ttl, max }
    }

    /// Holds `reservation` under a new nonce; `None` (the seat is freed) when `max`
    /// reservations are held already.
    pub fn hold(&self, reservation: Reservation) -> Option<u64> {
        let now = Instant::now();
        let mut held = self.held.lock();
        held.retain(|_, (_, until)| *until > now);
        if held.len() >= self.max {
            return None;
        }
        let nonce = seat_nonce();
        held.insert(nonce, (reservation, now + self.ttl));
        Some(nonce)
    }

    /// The reservation held under `nonce` for `room`, if it has not expired.
    pub fn take(&self, nonce: u64, room: &str) -> Option<Reservation> {
        let mut held = self.held.lock();
        let (r, until) = held.remove(&nonce)?;
        if &*r.room.name != room || until <= Instant::now() {
            return None; // dropped: the seat is freed
        }
        Some(r)
    }

    /// Frees expired reservations (their seats go back to the room).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.held.lock().retain(|_, (_, until)| *until > now);
    }

    /// Reservations held now.
    pub fn len(&self) -> usize {
        self.held.lock().len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
