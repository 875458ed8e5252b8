//! What a load run measures, shared by every client task without locks: a latency
//! histogram, per-client and per-room counters, and the body statistics of sampled deltas.
//!
//! Everything is a relaxed atomic: the runtime is one thread, so they cost about what
//! plain integers do, and the tasks need no locks to share them.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Sub-buckets per power of two: values are kept within 1/64 (~1.6 %) of their size.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values up to 2^40 µs (~12 days) have a bucket; anything larger lands in the last one.
const MAX_EXP: usize = 40;
const BUCKETS: usize = SUB + (MAX_EXP - SUB_BITS as usize + 1) * SUB;

/// A log-linear histogram of microsecond values (HDR-style), safe to share.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB as u64 {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros() as usize;
        if exp > MAX_EXP {
            return BUCKETS - 1;
        }
        let sub = (v >> (exp - SUB_BITS as usize)) as usize - SUB;
        SUB + (exp - SUB_BITS as usize) * SUB + sub
    }

    /// The largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let exp = (i - SUB) / SUB + SUB_BITS as usize;
        let sub = ((i - SUB) % SUB + SUB) as u64;
        ((sub + 1) << (exp - SUB_BITS as usize)) - 1
    }

    pub fn record(&self, v: u64) {
        self.buckets[Self::index(v)].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value at quantile `q` (0..=1), as the upper bound of its bucket.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return Self::upper(i).min(self.max());
            }
        }
        self.max()
    }

    /// Non-empty buckets as `[upper bound µs, count]`, so runs of several processes can
    /// be merged exactly.
    pub fn buckets(&self) -> Vec<[u64; 2]> {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let n = b.load(Relaxed);
                (n > 0).then(|| [Self::upper(i), n])
            })
            .collect()
    }
}

/// One client's counters. Ticks count only updates computed inside the measurement
/// window (by their `server_time_us`); bytes count what arrived inside it.
#[derive(Default)]
pub struct ClientStats {
    pub connected: AtomicBool,
    pub received: AtomicU64,
    pub gaps: AtomicU64,
    pub bytes: AtomicU64,
    pub keyframes: AtomicU64,
    pub inputs: AtomicU64,
    /// Close code from the server, 1006 for an abrupt end, 0 while open.
    pub closed: AtomicU32,
    /// Index of its room in [`Shared::rooms`] (set when it starts, or when matchmaking
    /// placed it).
    pub room: AtomicUsize,
    /// Index of its node in [`Placements`] ([`NO_NODE`] unless matchmaking placed it).
    pub node: AtomicUsize,
}

/// [`ClientStats::node`] of a client that matchmaking did not place.
pub const NO_NODE: usize = usize::MAX;

/// A node clients were placed on, named by the `node` field of the matchmaking answers.
pub struct NodeStats {
    pub name: String,
    /// Tick→client latency of the updates its clients received in the window.
    pub latency: Histogram,
}

/// What `--matchmake` learns and counts: nodes, rooms chosen by the servers, errors by
/// HTTP status, 4421 redirects. Behind plain mutexes: touched once or twice per client.
pub struct Placements {
    nodes: Mutex<Vec<Arc<NodeStats>>>,
    /// `ws://host:port` → node, learned from the answers: names where a 4421 sent a client.
    bases: Mutex<HashMap<String, String>>,
    /// Room name → (index in [`Shared::rooms`], has a sampler).
    rooms: Mutex<HashMap<String, (usize, bool)>>,
    /// Failed matchmaking requests by HTTP status (`invalid`: a 200 with an unusable
    /// body; `io`: no answer).
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Matchmaking requests answered 503 and asked again (as a client does), by status.
    pub retried: Mutex<BTreeMap<String, u64>>,
    /// Matchmade clients that got an answer but could not join the node it named: refused
    /// upgrades (`http <status>`), closes before the first message (`close <code>`), ...
    pub join_errors: Mutex<BTreeMap<String, u64>>,
    /// 4421 closes followed to the owner's URL.
    pub redirects: AtomicU64,
    /// Clients closed with 4421 again after following one (not followed twice).
    pub redirect_loops: AtomicU64,
    /// Time from sending `GET /api/matchmake` to its parsed answer.
    pub latency: Histogram,
}

impl Placements {
    fn new() -> Self {
        Placements {
            nodes: Mutex::new(Vec::new()),
            bases: Mutex::new(HashMap::new()),
            rooms: Mutex::new(HashMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            retried: Mutex::new(BTreeMap::new()),
            join_errors: Mutex::new(BTreeMap::new()),
            redirects: AtomicU64::new(0),
            redirect_loops: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }

    /// Counts one event under `key` in `map`.
    pub fn count(map: &Mutex<BTreeMap<String, u64>>, key: String) {
        *map.lock().entry(key).or_insert(0) += 1;
    }

    /// Remembers that `base` (`ws://host:port`) is `node`.
    pub fn learn(&self, base: String, node: &str) {
        self.bases.lock().entry(base).or_insert_with(|| node.to_string());
    }

    /// The node at `base`, if an answer named it; else the base itself.
    pub fn node_at(&self, base: &str) -> String {
        self.bases.lock().get(base).cloned().unwrap_or_else(|| base.to_string())
    }

    /// The index and counters of `name`, added on first sight.
    pub fn node(&self, name: &str) -> (usize, Arc<NodeStats>) {
        let mut nodes = self.nodes.lock();
        if let Some(i) = nodes.iter().position(|n| n.name == name) {
            return (i, nodes[i].clone());
        }
        let n = Arc::new(NodeStats { name: name.to_string(), latency: Histogram::new() });
        nodes.push(n.clone());
        (nodes.len() - 1, n)
    }

    pub fn nodes(&self) -> Vec<Arc<NodeStats>> {
        self.nodes.lock().clone()
    }

    /// The index of room `name` among `capacity` slots, added on first sight, and whether
    /// the caller is its first client (its sampler). `None` when the slots are used up.
    pub fn room(&self, name: &str, capacity: usize) -> Option<(usize, bool)> {
        let mut rooms = self.rooms.lock();
        if let Some((i, sampled)) = rooms.get_mut(name) {
            return Some((*i, !std::mem::replace(sampled, true)));
        }
        let i = rooms.len();
        if i >= capacity {
            return None;
        }
        rooms.insert(name.to_string(), (i, true));
        Some((i, true))
    }

    pub fn room_count(&self) -> usize {
        self.rooms.lock().len()
    }
}

/// The first and last tick of a room seen inside the window by any of its clients:
/// the ticks every one of its clients should have received.
pub struct RoomSpan {
    pub first: AtomicU64,
    pub last: AtomicU64,
}

impl RoomSpan {
    fn new() -> Self {
        RoomSpan { first: AtomicU64::new(u64::MAX), last: AtomicU64::new(0) }
    }

    pub fn see(&self, tick: u64) {
        self.first.fetch_min(tick, Relaxed);
        self.last.fetch_max(tick, Relaxed);
    }

    pub fn expected(&self) -> u64 {
        let (first, last) = (self.first.load(Relaxed), self.last.load(Relaxed));
        if first > last {
            0
        } else {
            last - first + 1
        }
    }
}

/// Sums over the deltas the sampling clients (one per room) decoded.
#[derive(Default)]
pub struct BodyStats {
    pub deltas: AtomicU64,
    /// Entities sent as field changes (moving players, respawned orbs).
    pub changed: AtomicU64,
    /// Bytes of the changed-entities section (its count, ids, masks and values).
    pub changed_bytes: AtomicU64,
    /// Bytes of the whole state part (created, changed, removed), events excluded.
    pub state_bytes: AtomicU64,
    /// Wire bytes of those frames: WebSocket header, update header, body.
    pub frame_bytes: AtomicU64,
}

/// Everything the clients share.
pub struct Shared {
    /// Measurement window in server wall-clock µs; 0 / u64::MAX while not set.
    pub window_start_us: AtomicU64,
    pub window_end_us: AtomicU64,
    pub latency: Histogram,
    pub clients: Vec<ClientStats>,
    pub rooms: Vec<RoomSpan>,
    pub body: BodyStats,
    pub connected: AtomicUsize,
    pub connect_failed: AtomicUsize,
    pub disconnected: AtomicUsize,
    pub updates: AtomicU64,
    pub bytes: AtomicU64,
    /// From the first Welcome.
    pub tick_rate_hz: AtomicU32,
    pub first_error: parking_lot::Mutex<Option<String>>,
    /// `--matchmake` bookkeeping (empty otherwise).
    pub placements: Placements,
}

impl Shared {
    pub fn new(clients: usize, rooms: usize) -> Self {
        Shared {
            window_start_us: AtomicU64::new(0),
            window_end_us: AtomicU64::new(u64::MAX),
            latency: Histogram::new(),
            clients: (0..clients)
                .map(|_| ClientStats { node: AtomicUsize::new(NO_NODE), ..ClientStats::default() })
                .collect(),
            rooms: (0..rooms).map(|_| RoomSpan::new()).collect(),
            body: BodyStats::default(),
            connected: AtomicUsize::new(0),
            connect_failed: AtomicUsize::new(0),
            disconnected: AtomicUsize::new(0),
            updates: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tick_rate_hz: AtomicU32::new(0),
            first_error: parking_lot::Mutex::new(None),
            placements: Placements::new(),
        }
    }

    /// True when `server_time_us` falls inside the measurement window.
    pub fn in_window(&self, server_time_us: u64) -> bool {
        server_time_us >= self.window_start_us.load(Relaxed)
            && server_time_us <= self.window_end_us.load(Relaxed)
            && self.window_start_us.load(Relaxed) != 0
    }

    pub fn error(&self, why: String) {
        let mut e = self.first_error.lock();
        if e.is_none() {
            *e = Some(why);
        }
    }
}

/// Process CPU seconds (user + system) of this process, from `getrusage`.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Another process's CPU seconds (utime + stime) from `/proc/<pid>/stat`.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime) are 11 and 12 after the state field.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ticks as f64 / hz)
}

/// Another process's resident set in KiB, from `VmRSS` in `/proc/<pid>/status`.
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Per-core (busy, total) jiffies from `/proc/stat`; busy counts everything but idle and
/// iowait, steal included (time the hypervisor gave to someone else).
pub fn core_jiffies() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return Vec::new() };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let total: u64 = v.iter().take(8).sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Busy fraction of each core between two [`core_jiffies`] samples.
pub fn core_busy(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| {
            let total = a.1.saturating_sub(b.1).max(1) as f64;
            (a.0.saturating_sub(b.0) as f64 / total * 1000.0).round() / 1000.0
        })
        .collect()
}

/// The figures of one run, printed as a table and written as JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub clients: usize,
    pub rooms: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub disconnected: usize,
    pub tick_rate_hz: u32,
    pub window_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_p999_ms: f64,
    pub latency_max_ms: f64,
    pub updates_received: u64,
    pub updates_expected: u64,
    pub delivery_ratio: f64,
    pub missing_ticks: u64,
    /// Ticks skipped between two consecutive updates of a client (the server's frame skips).
    pub gap_ticks: u64,
    pub clients_with_gaps: usize,
    pub keyframes: u64,
    pub bytes_per_client_per_s: f64,
    pub updates_per_client_per_s: f64,
    pub deltas_sampled: u64,
    pub moving_entities_per_delta: f64,
    /// Changed-entity section bytes per changed entity: what one moving entity costs.
    pub changed_bytes_per_moving_entity: f64,
    /// The whole state part of the body per moving entity.
    pub state_bytes_per_moving_entity: f64,
    /// Wire bytes of the frame (WebSocket and update headers, events included) per moving entity.
    pub frame_bytes_per_moving_entity: f64,
    pub loadgen_cpu_s: f64,
    /// Load-generator CPU time over wall time, in cores.
    pub loadgen_cpu_cores: f64,
    pub loadgen_saturated: bool,
    pub loadgen_loop_lag_p99_ms: f64,
    pub server_pid: Option<u32>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_cores: Option<f64>,
    /// Server CPU µs per update delivered (one client, one tick).
    pub server_cpu_us_per_client_tick: Option<f64>,
    pub server_rss_idle_kib: Option<u64>,
    pub server_rss_kib: Option<u64>,
    pub server_rss_per_client_kib: Option<f64>,
    /// Busy fraction of each core of the host over the window (who else used the machine).
    pub host_core_busy: Vec<f64>,
    /// The server's own fan-out latency over the window (tick computed → a room's last
    /// socket write for it returned, one sample per room tick), from the difference of two
    /// scrapes of its `tickcast_fanout_seconds` histogram (summed over the `--url`s in
    /// cluster mode). It counts every room of the server, not only this run's. p50 and p99
    /// are bucket estimates (linear within a bucket), the mean is sum ÷ count. `None`
    /// against the floor, or when `/metrics` did not answer or recorded nothing.
    pub fanout_p50_ms: Option<f64>,
    pub fanout_p99_ms: Option<f64>,
    pub fanout_mean_ms: Option<f64>,
    /// Room ticks fanned out in the window (the histogram's samples).
    pub fanout_samples: Option<u64>,
    pub first_error: Option<String>,
    /// Each `--server-pid` in the order given; the `server_*` fields above are their sums.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerReport>,
    /// What matchmaking did (`--matchmake` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matchmake: Option<MatchReport>,
    pub latency_histogram_us: Vec<[u64; 2]>,
}

/// One server process sampled over the window.
#[derive(Debug, Serialize)]
pub struct ServerReport {
    pub pid: u32,
    pub cpu_s: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub rss_idle_kib: Option<u64>,
    pub rss_kib: Option<u64>,
}

/// Where matchmaking put the clients, and what went wrong.
#[derive(Debug, Serialize)]
pub struct MatchReport {
    /// The servers asked, round-robin.
    pub targets: Vec<String>,
    /// `GET /api/matchmake` without `?room=` (the servers chose the rooms).
    pub any_room: bool,
    /// Per node (the answers' `node`), in order of first placement.
    pub nodes: Vec<NodeReport>,
    pub redirects_4421: u64,
    /// Clients closed with 4421 a second time, after following one.
    pub redirect_loops: u64,
    /// Failed `GET /api/matchmake` by HTTP status (`invalid`: unusable 200, `io`: no answer).
    pub errors: BTreeMap<String, u64>,
    /// Requests answered 503 (Redis slow or away, a room moving) and asked again.
    pub retried: BTreeMap<String, u64>,
    /// Answered but not joined: `http <status>` (upgrade refused), `close <code>` (closed
    /// before the first message), `timeout`, `io`.
    pub join_errors: BTreeMap<String, u64>,
    pub request_p50_ms: f64,
    pub request_p99_ms: f64,
}

/// The clients one node took.
#[derive(Debug, Serialize)]
pub struct NodeReport {
    pub node: String,
    /// Clients that joined a room there.
    pub placed: usize,
    /// Of those, still connected at the end.
    pub connected_at_end: usize,
    pub rooms: usize,
    pub delivery_ratio: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub bytes_per_client_per_s: f64,
}

impl Report {
    /// A human-readable summary.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("label", self.label.clone()),
            ("clients connected", format!("{} of {} in {} rooms", self.connected, self.clients, self.rooms)),
            ("connect failures / disconnects", format!("{} / {}", self.connect_failed, self.disconnected)),
            ("tick rate", format!("{} Hz, window {:.1} s", self.tick_rate_hz, self.window_s)),
            (
                "tick→client latency",
                format!(
                    "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
                    self.latency_p50_ms, self.latency_p99_ms, self.latency_p999_ms, self.latency_max_ms
                ),
            ),
            (
                "delivery",
                format!(
                    "{:.4} % ({} of {} updates; {} ticks missing, {} clients with gaps)",
                    self.delivery_ratio * 100.0,
                    self.updates_received,
                    self.updates_expected,
                    self.missing_ticks,
                    self.clients_with_gaps
                ),
            ),
            (
                "per client",
                format!("{:.0} B/s, {:.1} updates/s", self.bytes_per_client_per_s, self.updates_per_client_per_s),
            ),
            (
                "bytes per moving entity",
                format!(
                    "{:.2} (changed section), {:.2} (state), {:.2} (whole frame); {:.1} moving per delta",
                    self.changed_bytes_per_moving_entity,
                    self.state_bytes_per_moving_entity,
                    self.frame_bytes_per_moving_entity,
                    self.moving_entities_per_delta
                ),
            ),
            (
                "load generator",
                format!(
                    "{:.2} of its core, loop lag p99 {:.2} ms{}",
                    self.loadgen_cpu_cores,
                    self.loadgen_loop_lag_p99_ms,
                    if self.loadgen_saturated { "  SATURATED: figures are bound by the load generator" } else { "" }
                ),
            ),
        ];
        if let (Some(cpu), Some(cores)) = (self.server_cpu_s, self.server_cpu_cores) {
            rows.push((
                "server CPU",
                format!(
                    "{cpu:.2} s = {cores:.2} cores; {:.2} µs per client per tick",
                    self.server_cpu_us_per_client_tick.unwrap_or(0.0)
                ),
            ));
        }
        if let (Some(p50), Some(p99), Some(n)) = (self.fanout_p50_ms, self.fanout_p99_ms, self.fanout_samples) {
            rows.push((
                "server fan-out",
                format!(
                    "p50 {p50:.2} ms  p99 {p99:.2} ms  mean {:.2} ms  (tick computed → last write, {n} room ticks; \
                     bucket estimate)",
                    self.fanout_mean_ms.unwrap_or(f64::NAN)
                ),
            ));
        }
        if let (Some(idle), Some(rss)) = (self.server_rss_idle_kib, self.server_rss_kib) {
            rows.push((
                "server RSS",
                format!(
                    "{idle} KiB idle, {rss} KiB loaded: {:.2} KiB per client",
                    self.server_rss_per_client_kib.unwrap_or(0.0)
                ),
            ));
        }
        if !self.host_core_busy.is_empty() {
            let cores: Vec<String> = self.host_core_busy.iter().map(|b| format!("{:.0} %", b * 100.0)).collect();
            rows.push(("host cores busy", cores.join(", ")));
        }
        if self.servers.len() > 1 {
            let each: Vec<String> = self
                .servers
                .iter()
                .map(|s| format!("{}: {:.2} cores", s.pid, s.cpu_cores.unwrap_or(f64::NAN)))
                .collect();
            rows.push(("server CPU each", each.join(", ")));
        }
        if let Some(m) = &self.matchmake {
            rows.push((
                "matchmaking",
                format!(
                    "{} ({}), request p50 {:.2} ms p99 {:.2} ms",
                    m.targets.join(" "),
                    if m.any_room { "join-or-create" } else { "named rooms" },
                    m.request_p50_ms,
                    m.request_p99_ms
                ),
            ));
            for n in &m.nodes {
                rows.push((
                    "  node",
                    format!(
                        "{}: {} placed ({} at end) in {} rooms, delivery {:.4} %, p50 {:.2} ms p99 {:.2} ms, {:.0} B/s per client",
                        n.node,
                        n.placed,
                        n.connected_at_end,
                        n.rooms,
                        n.delivery_ratio * 100.0,
                        n.latency_p50_ms,
                        n.latency_p99_ms,
                        n.bytes_per_client_per_s
                    ),
                ));
            }
            let counts = |m: &BTreeMap<String, u64>| {
                if m.is_empty() {
                    "none".to_string()
                } else {
                    m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
                }
            };
            rows.push(("4421 redirects", format!("{} followed, {} closed again", m.redirects_4421, m.redirect_loops)));
            rows.push(("matchmaking errors", counts(&m.errors)));
            rows.push(("matchmaking retried", counts(&m.retried)));
            rows.push(("join errors", counts(&m.join_errors)));
        }
        if let Some(e) = &self.first_error {
            rows.push(("first error", e.clone()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_two_percent() {
        let h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 100_000);
        assert!(Histogram::upper(Histogram::index(12_345)) >= 12_345);
    }

    #[test]
    fn placements_number_rooms_and_nodes_as_they_come() {
        let p = Placements::new();
        assert_eq!(p.room("mm-3", 2), Some((0, true)), "the first client of a room samples it");
        assert_eq!(p.room("mm-3", 2), Some((0, false)));
        assert_eq!(p.room("mm-1", 2), Some((1, true)));
        assert_eq!(p.room("mm-9", 2), None, "no slot beyond the capacity");
        assert_eq!(p.room_count(), 2);
        assert_eq!(p.node("b").0, 0);
        assert_eq!(p.node("a").0, 1);
        assert_eq!(p.node("b").0, 0);
        p.learn("ws://127.0.0.1:2".into(), "b");
        assert_eq!(p.node_at("ws://127.0.0.1:2"), "b");
        assert_eq!(p.node_at("ws://127.0.0.1:3"), "ws://127.0.0.1:3", "an unknown node is named by its URL");
        Placements::count(&p.errors, "409".into());
        Placements::count(&p.errors, "409".into());
        assert_eq!(p.errors.lock().get("409"), Some(&2));
    }
}
