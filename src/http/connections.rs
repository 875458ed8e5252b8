//! Connection limits: `limits.max_connections` in all and `limits.max_connections_per_ip`
//! per client address. A slot is taken before the upgrade and given back when the
//! session ends (the guard is dropped with the session actor).

use super::handshake::HandshakeError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

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
    pub fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<ConnectionSlot, HandshakeError> {
        let mut counts = self.counts.lock();
        if counts.total >= self.max_total {
            return Err(HandshakeError::TooManyConnections);
        }
        if let Some(ip) = ip {
            let n = counts.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(HandshakeError::TooManyFromIp);
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
