//! Limits on who may create rooms: `room.create_per_minute` per client IP and per token
//! identity, and `room.max_open_per_ip` rooms created from one IP and still open.
//!
//! Without them one client could open `room.max_rooms` rooms in a second (join a new
//! name, leave, repeat) and every new room would be refused for everyone until they
//! expired. Only creation counts: joining a room that exists, or join-or-create landing
//! in an open room, costs nothing. The directory that creates rooms decides, with the
//! [`Requester`] the HTTP layer carries down to it.

use crate::tokens::Identity;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Who asks for a placement: what a room it creates is counted against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requester {
    /// The client's IP (`handshake::client_ip`: `X-Forwarded-For` from trusted proxies);
    /// `None` when unknown, which no per-IP limit applies to.
    pub ip: Option<IpAddr>,
    /// The identity of the token it presented ([`creator_key`]), if any.
    pub key: Option<String>,
}

impl Requester {
    /// A requester from `ip`, with the token identity it presented if any.
    pub fn new(ip: Option<IpAddr>, identity: Option<&Identity>) -> Self {
        Requester { ip, key: identity.map(creator_key) }
    }
}

/// Why a requester may not create a room now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationRefused {
    /// Its IP created `room.max_open_per_ip` rooms that are still open.
    TooManyOpen,
    /// It created rooms faster than `room.create_per_minute`.
    TooFast,
}

/// The key room creation is rate-limited by for a token's identity: its subject, stable
/// for a game's own accounts and new for every guest token (so for guests the per-IP
/// limits are what bind, and nobody can spend another player's budget by taking its name).
pub fn creator_key(identity: &Identity) -> String {
    identity.subject.clone()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RateKey {
    Ip(IpAddr),
    Token(String),
}

/// The creation limits of one node. Checking ([`CreationLimits::check`]) and counting
/// ([`CreationLimits::created`]) are separate so a cluster node can refuse before it
/// claims a lease in Redis and count only once the room exists; its caller serializes
/// the two (the directory's lock, or the cluster's claims lock).
pub struct CreationLimits {
    /// One creation per `interval` sustained, `burst` at once (GCRA: the theoretical
    /// arrival time of each key). Hand-made rather than `governor`, which cannot look
    /// without taking.
    interval: Duration,
    burst: u32,
    max_open_per_ip: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per key: when its bucket is full again; absent (or past) means full.
    rate: HashMap<RateKey, Instant>,
    /// Past entries are pruned when the map has grown to this.
    prune_at: usize,
    /// Rooms created from each IP that run here and are still open.
    open: HashMap<IpAddr, usize>,
    /// Rooms opened for another node (pending leases), counted against their IP until
    /// the instant given: that node's disposal is not seen here.
    elsewhere: VecDeque<(Instant, IpAddr)>,
}

const MIN_PRUNE_AT: usize = 1024;

impl CreationLimits {
    /// `per_minute` creations per key (as a burst, refilled evenly over the minute) and
    /// `max_open_per_ip` open rooms per IP.
    pub fn new(per_minute: u32, max_open_per_ip: usize) -> Self {
        let per_minute = per_minute.max(1);
        CreationLimits {
            interval: Duration::from_secs(60) / per_minute,
            burst: per_minute,
            max_open_per_ip,
            state: Mutex::new(State { prune_at: MIN_PRUNE_AT, ..State::default() }),
        }
    }

    fn keys(who: &Requester) -> impl Iterator<Item = RateKey> + '_ {
        who.ip.map(RateKey::Ip).into_iter().chain(who.key.clone().map(RateKey::Token))
    }

    /// Whether `who` may create a room now; counts nothing.
    pub fn check(&self, who: &Requester) -> Result<(), CreationRefused> {
        let now = Instant::now();
        let mut state = self.state.lock();
        if let Some(ip) = who.ip {
            state.elsewhere.retain(|(until, _)| *until > now);
            let here = state.open.get(&ip).copied().unwrap_or(0);
            let elsewhere = state.elsewhere.iter().filter(|(_, i)| *i == ip).count();
            if here + elsewhere >= self.max_open_per_ip {
                return Err(CreationRefused::TooManyOpen);
            }
        }
        // Full at `full`: `burst` creations fit before it is `burst` intervals ahead.
        let tolerance = self.interval * (self.burst - 1);
        for key in Self::keys(who) {
            if state.rate.get(&key).is_some_and(|full| full.saturating_duration_since(now) > tolerance) {
                return Err(CreationRefused::TooFast);
            }
        }
        Ok(())
    }

    /// Counts a creation against `who`'s rate (not its open rooms).
    fn charge_rate(&self, state: &mut State, who: &Requester, now: Instant) {
        for key in Self::keys(who) {
            let full = state.rate.entry(key).or_insert(now);
            *full = (*full).max(now) + self.interval;
        }
        if state.rate.len() >= state.prune_at {
            // Amortized: a key whose bucket is full again is as good as absent.
            state.rate.retain(|_, full| *full > now);
            state.prune_at = (state.rate.len() * 2).max(MIN_PRUNE_AT);
        }
    }

    /// Counts a room created here for `who`: one creation against its rate, one open
    /// room against its IP until [`CreationLimits::closed`].
    pub fn created(&self, who: &Requester) {
        let mut state = self.state.lock();
        self.charge_rate(&mut state, who, Instant::now());
        if let Some(ip) = who.ip {
            *state.open.entry(ip).or_default() += 1;
        }
    }

    /// Counts a room opened for another node for `who`: a creation against its rate,
    /// and an open room against its IP until `until`.
    pub fn created_elsewhere(&self, who: &Requester, until: Instant) {
        let mut state = self.state.lock();
        self.charge_rate(&mut state, who, Instant::now());
        if let Some(ip) = who.ip {
            state.elsewhere.push_back((until, ip));
        }
    }

    /// A room created here from `ip` was disposed or stopped.
    pub fn closed(&self, ip: IpAddr) {
        let mut state = self.state.lock();
        if let Some(n) = state.open.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.open.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(ip: &str, key: Option<&str>) -> Requester {
        Requester { ip: Some(ip.parse().unwrap()), key: key.map(str::to_string) }
    }

    #[test]
    fn open_rooms_per_ip_are_capped_and_freed_on_close() {
        let limits = CreationLimits::new(1000, 2);
        let a = from("10.0.0.1", None);
        for _ in 0..2 {
            assert_eq!(limits.check(&a), Ok(()));
            limits.created(&a);
        }
        assert_eq!(limits.check(&a), Err(CreationRefused::TooManyOpen));
        assert_eq!(limits.check(&from("10.0.0.2", None)), Ok(()), "another IP is not affected");
        limits.closed(a.ip.unwrap());
        assert_eq!(limits.check(&a), Ok(()));
        // A room opened for another node counts until its deadline.
        limits.created_elsewhere(&a, Instant::now() + Duration::from_secs(600));
        assert_eq!(limits.check(&a), Err(CreationRefused::TooManyOpen));
        limits.created_elsewhere(&from("10.0.0.3", None), Instant::now());
        assert_eq!(limits.check(&from("10.0.0.3", None)), Ok(()), "an expired one does not");
    }

    #[test]
    fn the_rate_is_per_ip_and_per_token_key() {
        let limits = CreationLimits::new(3, 1000);
        let a = from("10.0.0.1", Some("ada"));
        for _ in 0..3 {
            assert_eq!(limits.check(&a), Ok(()));
            limits.created(&a);
        }
        assert_eq!(limits.check(&a), Err(CreationRefused::TooFast));
        // Ada from another address: her token's key is spent too.
        assert_eq!(limits.check(&from("10.0.0.2", Some("ada"))), Err(CreationRefused::TooFast));
        assert_eq!(limits.check(&from("10.0.0.1", Some("bob"))), Err(CreationRefused::TooFast));
        assert_eq!(limits.check(&from("10.0.0.2", Some("bob"))), Ok(()));
        assert_eq!(limits.check(&Requester::default()), Ok(()), "nobody known: nothing to limit");
    }
}
