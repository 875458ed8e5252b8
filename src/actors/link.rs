//! The write state of one session, shared without locks by its room (which decides what
//! to send each tick), its session actor (which hands frames to the socket) and the HTTP
//! body that drains them into the connection.
//!
//! Why atomics and not messages: the room must decide in one pass over its members, on
//! the tick, whether each can take a frame and from which baseline, without waiting on
//! anybody. A session whose socket is stalled still has an up-to-date link, so the room
//! can see the stall and evict it even though no write will ever complete.

use crate::net::SocketHandle;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the process's first call: a cheap monotonic clock for links.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Shared write state of one session.
#[derive(Debug, Default)]
pub struct MemberLink {
    in_flight: AtomicBool,
    baseline: AtomicU64,
    queued_bytes: AtomicU64,
    drained_bytes: AtomicU64,
    last_progress_ms: AtomicU64,
    skipped_ticks: AtomicU64,
    rtt_us: AtomicU64,
    /// The connection's socket, to ask the kernel whether the peer still takes bytes.
    socket: Option<SocketHandle>,
    kernel: KernelProgress,
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
    /// A fresh link: no baseline, nothing pending.
    pub fn new() -> Self {
        Self::with_socket(None)
    }

    /// A fresh link over `socket`, whose kernel queue then counts in stall detection.
    pub fn with_socket(socket: Option<SocketHandle>) -> Self {
        let link = MemberLink { socket, ..MemberLink::default() };
        link.last_progress_ms.store(now_ms(), Ordering::Relaxed);
        link.kernel.last_ack_ms.store(now_ms(), Ordering::Relaxed);
        link
    }

    /// The room's question on each tick: may this member take a frame now? True when no
    /// tick frame is in flight and the bytes not yet taken by the connection are below
    /// `max_pending` (`limits.max_pending_bytes`).
    pub fn can_take(&self, max_pending: u64) -> bool {
        !self.in_flight.load(Ordering::Acquire) && self.pending_bytes() < max_pending
    }

    /// The room hands a frame to the session: nothing more until the session reports.
    pub fn start_frame(&self) {
        self.in_flight.store(true, Ordering::Release);
    }

    /// The frame could not be delivered to the session (mailbox full or gone).
    pub fn abandon_frame(&self) {
        self.in_flight.store(false, Ordering::Release);
    }

    /// The session handed `wire_bytes` to the socket; `tick` is its new baseline if the
    /// bytes were a tick frame.
    pub fn handed(&self, wire_bytes: u64, tick: Option<u64>) {
        if self.pending_bytes() == 0 {
            self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
        }
        self.queued_bytes.fetch_add(wire_bytes, Ordering::AcqRel);
        if let Some(tick) = tick {
            self.baseline.store(tick, Ordering::Release);
            self.in_flight.store(false, Ordering::Release);
        }
    }

    /// The connection took `n` bytes from the body (called by the metered HTTP body).
    pub fn drained(&self, n: u64) {
        self.drained_bytes.fetch_add(n, Ordering::AcqRel);
        self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Bytes handed over but not yet taken by the connection.
    pub fn pending_bytes(&self) -> u64 {
        let queued = self.queued_bytes.load(Ordering::Acquire);
        queued.saturating_sub(self.drained_bytes.load(Ordering::Acquire))
    }

    /// The last tick handed to the socket (0: none).
    pub fn baseline(&self) -> u64 {
        self.baseline.load(Ordering::Acquire)
    }

    /// True when the peer has taken nothing for `timeout_ms` while bytes wait for it:
    /// either bytes handed over and not taken by the connection, or bytes in the
    /// kernel's send queue that the peer has not acknowledged (its receive window is
    /// shut). The kernel's view starts the clock as soon as the peer stops reading,
    /// not only once every buffer between us has filled (which at a few KB/s of
    /// updates takes longer than the timeout itself).
    pub fn stalled(&self, now_ms: u64, timeout_ms: u64) -> bool {
        let waiting = self.pending_bytes() > 0;
        if waiting && now_ms.saturating_sub(self.last_progress_ms.load(Ordering::Relaxed)) > timeout_ms {
            return true;
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
    let header = if payload <= 125 {
        2
    } else if payload <= 65_535 {
        4
    } else {
        10
    };
    (header + payload) as u64
}
