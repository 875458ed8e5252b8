//! Connection limits: `limits.max_connections` in all and `limits.max_connections_per_ip`
//! per client address. A slot is taken before the upgrade and given back when the
//! session ends (the guard is dropped with the session actor).
//!
//! [`SubjectLimits`] bounds the players one token subject holds on the node
//! (`security.max_sessions_per_token`): its guard travels with the join into the room
//! and is dropped with the member, so a player in its reconnect grace window still
//! counts (its resume needs no new slot, and cannot be used to exceed the bound).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Why a session slot was refused (the HTTP layer answers each with its own status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRefused {
    /// `limits.max_connections` sessions on the node.
    Total,
    /// `limits.max_connections_per_ip` sessions from this address.
    PerIp,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts open WebSocket sessions.
#[derive(Debug)]
pub struct ConnectionLimits {
    counts: Mutex<Counts>,
    max_total: usize,
    max_per_ip: usize,
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: Option<IpAddr>,
}

impl ConnectionLimits {
    /// Limits of `max_total` sessions, `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits { counts: Mutex::default(), max_total, max_per_ip })
    }

    /// Takes a slot for a connection from `ip`.
    pub fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionSlot, SlotRefused> {
        let mut counts = self.counts.lock();
        if counts.total >= self.max_total {
            return Err(SlotRefused::Total);
        }
        if let Some(ip) = ip {
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(SlotRefused::PerIp);
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(ConnectionSlot { limits: self.clone(), ip })
    }

    /// Open sessions.
    pub fn total(&self) -> usize {
        self.counts.lock().total
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        counts.total -= 1;
        if let Some(ip) = self.ip {
            if let Some(n) = counts.per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&ip);
                }
            }
        }
    }
}

/// Players per token subject on this node (`security.max_sessions_per_token`).
#[derive(Debug)]
pub struct SubjectLimits {
    counts: Mutex<HashMap<String, usize>>,
    max: usize,
}

/// One player counted for a subject; dropping it (with the room's member) frees it.
#[derive(Debug)]
pub struct SubjectSlot {
    limits: Arc<SubjectLimits>,
    subject: String,
}

impl SubjectLimits {
    /// At most `max` players per subject.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(SubjectLimits { counts: Mutex::default(), max })
    }

    /// Counts one more player for `subject`; `None` when it holds `max` already.
    pub fn acquire(self: &Arc<Self>, subject: &str) -> Option<SubjectSlot> {
        let mut counts = self.counts.lock();
        // Only subjects holding a player have an entry: the map is bounded by the node's
        // sessions and grace windows, never by how many tokens were minted.
        let n = counts.entry(subject.to_string()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SubjectSlot { limits: self.clone(), subject: subject.to_string() })
    }

    /// Players counted for `subject`.
    pub fn count(&self, subject: &str) -> usize {
        self.counts.lock().get(subject).copied().unwrap_or(0)
    }
}

impl Drop for SubjectSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.counts.lock();
        if let Some(n) = counts.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_holds_at_most_max_players_and_slots_come_back() {
        let limits = SubjectLimits::new(2);
        let a = limits.acquire("s").unwrap();
        let _b = limits.acquire("s").unwrap();
        assert!(limits.acquire("s").is_none());
        assert!(limits.acquire("other").is_some(), "other subjects are not affected");
        drop(a);
        assert_eq!(limits.count("s"), 1);
        let _c = limits.acquire("s").unwrap();
        drop(_b);
        drop(_c);
        assert!(limits.counts.lock().is_empty(), "no entry left for a subject holding nothing");
    }
}
