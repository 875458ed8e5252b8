//! A TCP connection from accept until it becomes a WebSocket session or ends.
//!
//! Owns three things: the socket options every connection gets (`TCP_NOTSENT_LOWAT`,
//! `SO_SNDBUF`), the cap on connections one client IP may hold open that are not (yet)
//! sessions (`limits.max_http_connections_per_ip`, so a slowloris from one address
//! cannot pile up half-sent requests), and the count of how each connection ended
//! (`tickcast_http_connections_closed_total{outcome}`), so idle drops and requests
//! that never completed show up in `/metrics` by their real reason.
//!
//! Runs in `HttpServer::on_connect`, before the HTTP layer reads a byte: it never blocks
//! (a refusal is one small write into an empty send buffer).

use crate::metrics;
use crate::net::SocketHandle;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Why a connection over the per-IP cap is closed, as the body of its 429.
const REFUSAL: &str = "too many open connections from this address (limits.max_http_connections_per_ip)\n";

fn refusal() -> Vec<u8> {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{REFUSAL}",
        REFUSAL.len()
    )
    .into_bytes()
}

/// Counts open connections per client IP that are not WebSocket sessions.
#[derive(Debug)]
pub struct HttpConnections {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    /// Peers exempt from the cap: trusted proxies carry many clients on one address.
    exempt: Vec<IpAddr>,
}

/// The stages a connection goes through, for its outcome.
const NEW: u8 = 0;
const SERVED: u8 = 1;
const UPGRADED: u8 = 2;

/// One accepted connection; dropping it (when the HTTP layer drops the connection)
/// frees its slot and counts its outcome.
#[derive(Debug)]
pub struct AcceptedConnection {
    counts: Arc<HttpConnections>,
    /// The IP holding a slot; `None` for an exempt peer or once upgraded.
    slot: Mutex<Option<IpAddr>>,
    socket: SocketHandle,
    stage: AtomicU8,
}

impl HttpConnections {
    /// A cap of `max_per_ip` non-session connections per address; `exempt` peers are
    /// not counted.
    pub fn new(max_per_ip: usize, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(HttpConnections { per_ip: Mutex::default(), max_per_ip, exempt })
    }

    /// Admits a new connection, or refuses it (answering 429 and closing the socket)
    /// when its address holds the maximum already.
    pub fn admit(self: &Arc<Self>, socket: SocketHandle) -> Option<AcceptedConnection> {
        let ip = socket.peer_ip().filter(|ip| !self.exempt.contains(ip));
        if let Some(ip) = ip {
            let mut per_ip = self.per_ip.lock();
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                drop(per_ip);
                metrics::http_connection_closed("refused_per_ip");
                socket.refuse(&refusal());
                return None;
            }
            *n += 1;
        }
        Some(AcceptedConnection { counts: self.clone(), slot: Mutex::new(ip), socket, stage: AtomicU8::new(NEW) })
    }

    /// Non-session connections open from `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.per_ip.lock().get(&ip).copied().unwrap_or(0)
    }

    fn release(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock();
        if let Some(n) = per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
    }
}

impl AcceptedConnection {
    /// A complete request head reached the application.
    pub fn request_seen(&self) {
        let _ = self.stage.compare_exchange(NEW, SERVED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The connection became a WebSocket session: from now on it counts against the
    /// session limits (`limits.max_connections_per_ip`) instead.
    pub fn upgraded(&self) {
        self.stage.store(UPGRADED, Ordering::Release);
        if let Some(ip) = self.slot.lock().take() {
            self.counts.release(ip);
        }
    }
}

impl Drop for AcceptedConnection {
    fn drop(&mut self) {
        if let Some(ip) = self.slot.get_mut().take() {
            self.counts.release(ip);
        }
        let outcome = match self.stage.load(Ordering::Acquire) {
            UPGRADED => "upgraded",
            SERVED => "served",
            // No request reached the application: the peer sent nothing before it went
            // or the keep-alive timer closed it, or its head never completed (timed out
            // with 408, malformed: 400, or past actix-http's own 128 KiB: 431).
            // (The kernel counts the peer's FIN as one byte received.)
            _ if self.socket.bytes_received().unwrap_or(0) <= 1 => "idle",
            _ => "incomplete_request",
        };
        metrics::http_connection_closed(outcome);
    }
}
