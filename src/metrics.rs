//! Prometheus metrics, rendered at `GET /metrics`. Every name starts with `tickcast_`.
//!
//! The `metrics` crate's macros are cheap atomic updates, safe on the tick path; the
//! exporter only formats text when scraped.

use metrics::{counter, gauge, histogram, Counter};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder (once per process) and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];
            let sizes = [256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262_144.0, 1_048_576.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &sizes))
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|e| {
                    // Another recorder owns the process (a game embedding us): keep a
                    // private one so /metrics still answers.
                    tracing::warn!("metrics recorder not installed: {e}");
                    PrometheusBuilder::new().build_recorder().handle()
                })
        })
        .clone()
}

/// Prometheus text of every metric.
pub fn render() -> String {
    install().render()
}

/// One world tick's duration.
pub fn tick_duration(d: Duration) {
    histogram!("tickcast_tick_duration_seconds").record(d.as_secs_f64());
}
/// How late a tick started after its deadline.
pub fn tick_lateness(d: Duration) {
    histogram!("tickcast_tick_lateness_seconds").record(d.as_secs_f64());
}
/// A tick started more than one period late.
pub fn tick_overrun() {
    counter!("tickcast_tick_overruns_total").increment(1);
}
/// A room could not take a tick's state (mailbox full).
pub fn room_backlog() {
    counter!("tickcast_room_backlog_total").increment(1);
}
/// A room actor started.
pub fn room_opened() {
    gauge!("tickcast_rooms").increment(1.0);
}
/// A room actor stopped.
pub fn room_closed() {
    gauge!("tickcast_rooms").decrement(1.0);
}
/// A session actor started.
pub fn session_opened() {
    gauge!("tickcast_connections").increment(1.0);
    counter!("tickcast_connections_total").increment(1);
}
/// A session actor stopped.
pub fn session_ended() {
    gauge!("tickcast_connections").decrement(1.0);
}
/// A session was closed by the server (or answered a client close) with `code`.
pub fn session_closed(code: u16) {
    counter!("tickcast_sessions_closed_total", "code" => code.to_string()).increment(1);
}
// Handles of the counters touched per client per tick, resolved once: the macros look the
// metric up (and allocate its labels) on every call, which is too dear on the fan-out path.
// They are first touched after `install()` (server start), so they bind to the recorder.
static FRAMES_KEYFRAME: LazyLock<Counter> =
    LazyLock::new(|| counter!("tickcast_frames_sent_total", "kind" => "keyframe"));
static FRAMES_DELTA: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_frames_sent_total", "kind" => "delta"));
static BYTES_SENT: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_bytes_sent_total"));
static FRAMES_SKIPPED: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_frames_skipped_total"));
static INPUTS_APPLIED: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_inputs_applied_total"));

/// A tick frame was handed to a session.
pub fn frame_sent(keyframe: bool) {
    if keyframe { &FRAMES_KEYFRAME } else { &FRAMES_DELTA }.increment(1);
}
/// A tick's frames: `deltas` and `keyframes` written (a room reports once per tick).
pub fn frames_sent(deltas: usize, keyframes: usize) {
    FRAMES_DELTA.increment(deltas as u64);
    FRAMES_KEYFRAME.increment(keyframes as u64);
}
/// Members that could not take a tick, `n` of them in one room's tick.
pub fn frames_skipped(n: usize) {
    FRAMES_SKIPPED.increment(n as u64);
}
/// From a tick computed by the world to the last of a room's writes for it returning.
pub fn fan_out_latency(d: Duration) {
    static H: LazyLock<metrics::Histogram> = LazyLock::new(|| histogram!("tickcast_fanout_seconds"));
    H.record(d.as_secs_f64());
}
/// Wire bytes handed to a socket.
pub fn bytes_sent(n: u64) {
    BYTES_SENT.increment(n);
}
/// A member could not take a tick (slow reader).
pub fn frame_skipped() {
    FRAMES_SKIPPED.increment(1);
}
/// A round-trip time measured by the heartbeat.
pub fn rtt(seconds: f64) {
    histogram!("tickcast_rtt_seconds").record(seconds);
}
/// A keyframe body was encoded.
pub fn keyframe_encoded() {
    counter!("tickcast_keyframes_encoded_total").increment(1);
}
/// A member was evicted (stalled, or too far behind).
pub fn eviction() {
    counter!("tickcast_evictions_total").increment(1);
}
/// Inputs the world applied (counted once per room and tick).
pub fn inputs_applied(n: u64) {
    INPUTS_APPLIED.increment(n);
}
/// An input (or message) was dropped, by reason.
pub fn input_dropped(reason: &'static str) {
    counter!("tickcast_inputs_dropped_total", "reason" => reason).increment(1);
}
/// A control message (pong, ping) was dropped because the session's queue was full.
pub fn control_dropped() {
    counter!("tickcast_control_dropped_total").increment(1);
}
/// An event was refused because the tick's event budget was spent.
pub fn event_refused() {
    counter!("tickcast_events_refused_total").increment(1);
}
/// A session's connection ended without a close handshake (the peer reset or dropped
/// it), by what the socket said: not a protocol error, and no close code was sent.
pub fn session_dropped(reason: &'static str) {
    counter!("tickcast_sessions_dropped_total", "reason" => reason).increment(1);
}
/// An HTTP answer of the application, by status (404s of unknown paths included).
pub fn http_response(status: u16) {
    counter!("tickcast_http_responses_total", "status" => status.to_string()).increment(1);
}
/// A TCP connection ended, by outcome: `upgraded` (it was a session), `served` (it
/// carried requests), `idle` (it sent nothing), `incomplete_request` (its head never
/// completed: timed out, malformed or too large for actix-http), `refused_per_ip`
/// (over `limits.max_http_connections_per_ip`).
pub fn http_connection_closed(outcome: &'static str) {
    counter!("tickcast_http_connections_closed_total", "outcome" => outcome).increment(1);
}
/// A WebSocket handshake was refused, by reason.
pub fn handshake_rejected(reason: &'static str) {
    counter!("tickcast_handshake_rejections_total", "reason" => reason).increment(1);
}
/// A `GET /api/matchmake` placement was refused, by reason (`max_rooms`,
/// `max_open_per_ip`, `create_per_minute`, `room_full`, …).
pub fn matchmake_rejected(reason: &'static str) {
    counter!("tickcast_matchmake_rejections_total", "reason" => reason).increment(1);
}
/// Players currently seated, per the directory.
pub fn set_players(n: usize) {
    gauge!("tickcast_players").set(n as f64);
}

// --- cluster mode ---------------------------------------------------------------------

/// One Redis operation of the cluster directory: its kind, outcome and round trip.
pub fn cluster_op(op: &'static str, result: &'static str, rtt: Duration) {
    counter!("tickcast_cluster_ops_total", "op" => op, "result" => result).increment(1);
    histogram!("tickcast_cluster_redis_rtt_seconds", "op" => op).record(rtt.as_secs_f64());
}
/// Whether the last Redis call succeeded (1) or failed (0).
pub fn cluster_redis_up(up: bool) {
    gauge!("tickcast_cluster_redis_up").set(if up { 1.0 } else { 0.0 });
}
/// A room snapshot was written (or refused: `result` = ok, fenced, too_big, error).
pub fn cluster_snapshot(result: &'static str, bytes: usize) {
    counter!("tickcast_cluster_snapshots_total", "result" => result).increment(1);
    if result == "ok" {
        histogram!("tickcast_cluster_snapshot_bytes").record(bytes as f64);
    }
}
/// A room was restored from its snapshot (`result` = ok, or failed: started fresh).
pub fn cluster_restore(result: &'static str) {
    counter!("tickcast_cluster_restores_total", "result" => result).increment(1);
}
/// A room lease was lost, by reason (taken: another owner's fence; expiring: Redis
/// unreachable too long).
pub fn cluster_lease_lost(reason: &'static str) {
    counter!("tickcast_cluster_leases_lost_total", "reason" => reason).increment(1);
}
/// Room leases this node holds.
pub fn cluster_leases(n: usize) {
    gauge!("tickcast_cluster_leases").set(n as f64);
}
/// Live nodes in the registry, as last read.
pub fn cluster_nodes(n: usize) {
    gauge!("tickcast_cluster_nodes").set(n as f64);
}

/// Big rooms, one tick: cell bodies encoded (each shared by every member on its base).
pub fn cell_bodies_encoded(n: usize) {
    static C: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_cell_bodies_encoded_total"));
    C.increment(n as u64);
}
/// Big rooms, one tick: cell sections written into frames, and of them whole cells.
pub fn cell_sections_sent(sections: usize, whole: usize) {
    static SENT: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_cell_sections_sent_total"));
    static WHOLE: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_cell_sections_whole_total"));
    SENT.increment(sections as u64);
    WHOLE.increment(whole as u64);
}
/// Big rooms, one tick: cells with news that waited for a member's byte budget
/// (`sync.max_bytes_per_client_tick`).
pub fn cells_deferred(n: usize) {
    static C: LazyLock<Counter> = LazyLock::new(|| counter!("tickcast_cells_deferred_total"));
    C.increment(n as u64);
}
