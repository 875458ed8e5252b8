//! The delivery state of one member, read and written by its room on the tick: the
//! member's connection (written directly from the room's thread, see
//! `net::ws::writer`), its baseline, and what the kernel says of its socket.
//!
//! Why atomics: the room decides in one pass over its members, on the tick, whether
//! each can take a frame and from which baseline, without waiting on anybody; the
//! session and the admin API read the same counters from other threads. A member whose
//! socket is stalled still has an up-to-date link, so the room sees the stall and evicts
//! it even though no write will ever complete.

use crate::net::ws::{Outbound, Sent};
use crate::net::SocketHandle;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use crate::net::ws::now_ms;

/// Server wall clock in µs since the Unix epoch (pings carry it; pongs give the RTT).
pub fn now_us() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Shared delivery state of one member.
#[derive(Default)]
pub struct MemberLink {
    baseline: AtomicU64,
    skipped_ticks: AtomicU64,
    rtt_us: AtomicU64,
    /// When the session last heard from its peer, and when the room last pinged it
    /// ([`now_ms`] milliseconds): the heartbeat runs on the room's tick, not on a timer
    /// per session.
    last_heard_ms: AtomicU64,
    last_probe_ms: AtomicU64,
    /// The connection frames go out on (none for a member restored between sessions).
    out: Option<Arc<dyn Outbound>>,
    /// The connection's socket, to ask the kernel whether the peer still takes bytes.
    socket: Option<SocketHandle>,
    kernel: KernelProgress,
}

impl std::fmt::Debug for MemberLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberLink").field("stats", &self.stats()).finish()
    }
}

/// What the kernel last said about the peer taking bytes (see [`MemberLink::stalled`]).
#[derive(Debug, Default)]
struct KernelProgress {
    last_probe_ms: AtomicU64,
    acked_bytes: AtomicU64,
    last_ack_ms: AtomicU64,
    outstanding: AtomicBool,
}

/// How often the room asks the kernel about one member: `TCP_INFO` is a system call,
/// and a stall timeout is seconds long.
const KERNEL_PROBE_MS: u64 = 1000;

/// A point-in-time view of a link, for the admin API and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Last tick handed to the socket (0: none).
    pub baseline: u64,
    /// Bytes handed to the socket layer and not yet taken by the connection.
    pub pending_bytes: u64,
    /// Ticks skipped because the session could not take them.
    pub skipped_ticks: u64,
    /// Last measured round-trip time in microseconds (0: unknown).
    pub rtt_us: u64,
}

impl MemberLink {
    /// A link with no connection: the member takes no frames until it has one.
    pub fn new() -> Self {
        MemberLink::default()
    }

    /// A link writing to `out`, whose `socket` the kernel is asked about for stalls.
    pub fn over(out: Arc<dyn Outbound>, socket: Option<SocketHandle>) -> Self {
        let link = MemberLink { out: Some(out), socket, ..MemberLink::default() };
        let now = now_ms();
        link.kernel.last_ack_ms.store(now, Ordering::Relaxed);
        link.last_heard_ms.store(now, Ordering::Relaxed);
        link.last_probe_ms.store(now, Ordering::Relaxed);
        link
    }

    /// The room's question on each tick: may this member take a frame now? True when it
    /// has a connection and fewer than `max_pending` bytes (`limits.max_pending_bytes`)
    /// wait in its outbox.
    pub fn can_take(&self, max_pending: u64) -> bool {
        self.out.as_ref().is_some_and(|out| (out.pending_bytes() as u64) < max_pending)
    }

    /// Sends the frame of `tick` made of `parts`; on success `tick` is the member's new
    /// baseline (the connection delivers what it accepted, in order). False when the
    /// connection is gone.
    pub fn send_tick(&self, tick: u64, parts: &[&[u8]]) -> bool {
        let Some(out) = &self.out else { return false };
        match out.send_message(parts) {
            Sent::Written | Sent::Queued => {
                self.baseline.store(tick, Ordering::Release);
                true
            }
            Sent::Closed => false,
        }
    }

    /// Sends one message that is not a tick frame (the Welcome); false when there is no
    /// connection or it is gone.
    pub fn send_message(&self, parts: &[&[u8]]) -> bool {
        self.out.as_ref().is_some_and(|out| out.send_message(parts) != Sent::Closed)
    }

    /// Bytes accepted for the member and not yet taken by its socket.
    pub fn pending_bytes(&self) -> u64 {
        self.out.as_ref().map_or(0, |out| out.pending_bytes() as u64)
    }

    /// The last tick handed to the socket (0: none).
    pub fn baseline(&self) -> u64 {
        self.baseline.load(Ordering::Acquire)
    }

    /// True when the peer has taken nothing for `timeout_ms` while bytes wait for it:
    /// either bytes in the member's outbox, or bytes in the kernel's send queue that
    /// the peer has not acknowledged (its receive window is shut). The kernel's view
    /// starts the clock as soon as the peer stops reading, not only once every buffer
    /// between us has filled (which at a few KB/s of updates takes longer than the
    /// timeout itself).
    pub fn stalled(&self, now_ms: u64, timeout_ms: u64) -> bool {
        if let Some(out) = &self.out {
            if out.pending_bytes() > 0 && now_ms.saturating_sub(out.last_progress_ms()) > timeout_ms {
                return true;
            }
        }
        self.kernel_stalled(now_ms, timeout_ms)
    }

    fn kernel_stalled(&self, now_ms: u64, timeout_ms: u64) -> bool {
        let Some(socket) = &self.socket else { return false };
        let k = &self.kernel;
        if now_ms.saturating_sub(k.last_probe_ms.load(Ordering::Relaxed)) >= KERNEL_PROBE_MS {
            k.last_probe_ms.store(now_ms, Ordering::Relaxed);
            if let Some((acked, outstanding)) = socket.send_progress() {
                let before = k.acked_bytes.swap(acked, Ordering::Relaxed);
                if acked != before || !outstanding {
                    k.last_ack_ms.store(now_ms, Ordering::Relaxed);
                }
                k.outstanding.store(outstanding, Ordering::Relaxed);
            }
        }
        k.outstanding.load(Ordering::Relaxed)
            && now_ms.saturating_sub(k.last_ack_ms.load(Ordering::Relaxed)) > timeout_ms
    }

    /// The session heard from its peer (any frame counts as a sign of life).
    pub fn heard(&self) {
        self.last_heard_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The room's heartbeat, on its tick: true when the peer has been silent for more
    /// than `timeout_ms` (the room then closes the session). Otherwise, every
    /// `interval_ms` it sends a probe carrying the server time (dropped, like any of the
    /// session's own messages, while `max_pending` bytes wait).
    pub fn heartbeat(&self, now_ms: u64, interval_ms: u64, timeout_ms: u64, max_pending: u64) -> bool {
        let Some(out) = &self.out else { return false };
        if now_ms.saturating_sub(self.last_heard_ms.load(Ordering::Relaxed)) > timeout_ms {
            return true;
        }
        if now_ms.saturating_sub(self.last_probe_ms.load(Ordering::Relaxed)) >= interval_ms {
            self.last_probe_ms.store(now_ms, Ordering::Relaxed);
            if (out.pending_bytes() as u64) < max_pending {
                out.send_probe(&now_us().to_le_bytes());
            }
        }
        false
    }

    /// Counts a tick the member could not take.
    pub fn skip(&self) {
        self.skipped_ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a round-trip time measurement.
    pub fn set_rtt_us(&self, rtt: u64) {
        self.rtt_us.store(rtt, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            baseline: self.baseline(),
            pending_bytes: self.pending_bytes(),
            skipped_ticks: self.skipped_ticks.load(Ordering::Relaxed),
            rtt_us: self.rtt_us.load(Ordering::Relaxed),
        }
    }
}

/// Size on the wire of an unmasked server frame with `payload` bytes (RFC 6455 §5.2).
pub fn ws_frame_len(payload: usize) -> u64 {
    crate::net::ws::frame::server_frame_len(payload) as u64
}
