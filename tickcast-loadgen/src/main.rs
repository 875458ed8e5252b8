//! `tickcast-loadgen`: real WebSocket players against a tickcast server (or the floor
//! broadcaster, `tickcast-floor`), reporting what a game cares about: tick→client
//! latency, delivery ratio, gaps, bytes per client and per moving entity, disconnects.
//!
//! ```text
//! tickcast-loadgen --url ws://127.0.0.1:8080/ws --clients 1000 --rooms 20 --duration 15 --json run.json
//! ```
//!
//! How a run goes: tokens are minted in bulk (or `--no-token`), clients join `--rooms`
//! rooms evenly (`?room=load-<i>`) at `--ramp` joins per second, the run warms up, then
//! measures for `--duration` seconds. Every client answers each update with one input
//! whose direction turns every second, so every player moves on every tick.
//!
//! The measurement window is in server time: an update counts when the tick it carries
//! was computed inside the window (`server_time_us` in its header), even if it arrives
//! late; the ticks a client should have had are those its room produced in the window.
//! Latency is receive time minus `server_time_us`, on the same host clock.
//!
//! It must not be the bottleneck: one tokio runtime on one thread, no
//! per-client threads or timers, one read and one write per client per tick. It measures
//! its own CPU time against wall time and its event-loop lag, and says when it saturates.
//! Several processes can share a load (`--room-prefix` keeps their rooms apart; the JSON
//! carries the latency histogram so their results merge exactly).
//!
//! With `--server-pid`, it also samples the server's CPU time (`/proc/<pid>/stat`) over
//! the window and its resident memory (`VmRSS`) before the first client and at the end
//! (repeat it for several server processes: the report sums them and lists each).
//!
//! Against a tickcast server (not `--floor`) the `server fan-out` row is the server's own
//! time from a tick computed to a room's last socket write for it returning, per room tick
//! in the window: `GET /metrics` of every `--url`'s host is scraped right before and right
//! after the window, and p50/p99 are estimated from the difference of its
//! `tickcast_fanout_seconds` buckets (absent, never an error, when it does not answer).
//!
//! Cluster mode (`--matchmake`): every client first asks `GET /api/matchmake` (with
//! `?room=<prefix><i>`, or without a room under `--any-room`) on one of the `--url`s,
//! round-robin, connects to the URL answered with the seat reservation, follows one 4421
//! close to the owning node, and the report says how many clients each node took, how
//! many 4421 redirects were followed, and the matchmaking errors by HTTP status.

mod client;
mod matchmake;
mod server_metrics;
mod stats;
mod tokens;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use stats::{Histogram, Report, Shared};
use std::io::IsTerminal;
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Players in a room when `--rooms` is not given (the scenario's room size).
const DEFAULT_ROOM_SIZE: usize = 50;

#[derive(Parser, Debug, Clone)]
#[command(name = "tickcast-loadgen", about = "WebSocket load generator for tickcast: latency, delivery, bytes")]
struct Args {
    /// WebSocket endpoint. With --matchmake, several servers (repeat --url, or a comma
    /// list) share the matchmaking requests round-robin; tokens are minted on the first.
    #[arg(long, value_delimiter = ',', default_value = "ws://127.0.0.1:8080/ws")]
    url: Vec<String>,
    /// Number of clients.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Rooms to spread them over (default: one per 50 clients).
    #[arg(long)]
    rooms: Option<usize>,
    /// Measurement window in seconds.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    /// Input rate in Hz, on a timer per client; default: one input per update received
    /// (the tick rate, with no timers at all).
    #[arg(long)]
    rate: Option<f64>,
    /// Warm-up after the last client joined, in seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Joins per second while ramping up.
    #[arg(long, default_value_t = 1000.0)]
    ramp: f64,
    /// Do not mint tokens (server run with TICKCAST__SECURITY__REQUIRE_TOKEN=false, or the floor).
    #[arg(long)]
    no_token: bool,
    /// Target is the floor broadcaster (`tickcast-floor`): implies --no-token.
    #[arg(long)]
    floor: bool,
    /// Room names are this prefix and a number.
    #[arg(long, default_value = "load-")]
    room_prefix: String,
    /// Server process to sample CPU time and RSS from; repeat it (or a comma list) for
    /// several: the report sums them and lists each.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Cluster mode: each client asks `GET /api/matchmake?room=<room>` on one --url
    /// (round-robin over them) and joins the URL answered with its seat reservation
    /// (`tickcast.seat.<seat>`), following one 4421 close to the node in its reason. The
    /// report counts clients per node (the answers' `node`), 4421 redirects, and
    /// matchmaking errors by HTTP status. Nodes must share `security.token_secret`.
    #[arg(long)]
    matchmake: bool,
    /// With --matchmake: ask without `?room=` (join-or-create: the servers choose, create
    /// and name the rooms; --rooms does not apply).
    #[arg(long, requires = "matchmake", conflicts_with = "rooms")]
    any_room: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// A label carried into the report.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.clients == 0 || args.duration <= 0.0 || args.ramp <= 0.0 {
        eprintln!("--clients, --duration and --ramp must be positive");
        return ExitCode::from(2);
    }
    if args.url.len() > 1 && !args.matchmake {
        eprintln!("several --url need --matchmake (clients spread their matchmaking requests over them)");
        return ExitCode::from(2);
    }
    if args.matchmake && args.floor {
        eprintln!("--matchmake and --floor exclude each other: the floor has no /api/matchmake");
        return ExitCode::from(2);
    }
    raise_open_files(args.clients as u64 + 1024);
    // One thread: the cheapest runtime. More load than one core can generate is spread
    // over several processes, each with its own --room-prefix.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args.clone()));
    let code = match result {
        Ok(report) => {
            print!("{}", report.table());
            if let Some(path) = &args.json {
                let json = serde_json::to_string_pretty(&report).expect("report serializes");
                if let Err(e) = std::fs::write(path, json + "\n") {
                    eprintln!("cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if report.connected == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tickcast-loadgen: {e}");
            ExitCode::FAILURE
        }
    };
    // Thousands of sockets and tasks: exiting closes them all at once, faster than
    // dropping the runtime task by task.
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

/// Raises `RLIMIT_NOFILE` to at least `want` (the hard limit too when we may).
fn raise_open_files(want: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= want {
            return;
        }
        let raised = libc::rlimit { rlim_cur: want.max(lim.rlim_cur), rlim_max: want.max(lim.rlim_max) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let capped = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            libc::setrlimit(libc::RLIMIT_NOFILE, &capped);
            if lim.rlim_max < want {
                eprintln!("warning: open files limited to {} (< {want}): some clients may fail", lim.rlim_max);
            }
        }
    }
}

fn parse_url(url: &str) -> Result<client::Target, String> {
    let rest = url.strip_prefix("ws://").ok_or("--url must start with ws:// (TLS is not supported)")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    if !addr.ip().is_loopback() {
        eprintln!("warning: {addr} is not a loopback address");
    }
    Ok(client::Target { addr, host: host.to_string(), path: path.to_string() })
}

fn progress_bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Prints a phase line: above the progress bar on a terminal, plainly in a log.
fn say(pb: &ProgressBar, line: String) {
    if std::io::stderr().is_terminal() {
        pb.println(line);
    } else {
        eprintln!("{line}");
    }
}

async fn run(args: Args) -> Result<Report, String> {
    let no_token = args.no_token || args.floor;
    let targets = args.url.iter().map(|u| parse_url(u).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;
    let target = targets.first().ok_or("no --url")?.clone();
    let rooms = args.rooms.unwrap_or(args.clients.div_ceil(DEFAULT_ROOM_SIZE)).clamp(1, args.clients);
    // Matchmade clients land in rooms the servers name: a slot per client at most.
    let room_slots = if args.matchmake { args.clients } else { rooms };
    let shared = Arc::new(Shared::new(args.clients, room_slots));
    let rss_idle: Vec<Option<u64>> = args.server_pid.iter().map(|&p| stats::process_rss_kib(p)).collect();
    let pb = progress_bar(args.clients as u64);

    let tokens = if no_token {
        vec![None; args.clients]
    } else {
        let began = Instant::now();
        let t = tokens::mint(target.addr, &target.host, args.clients, 16, "load").await?;
        say(&pb, format!("minted {} tokens in {:.2} s", t.len(), began.elapsed().as_secs_f64()));
        t.into_iter().map(Some).collect()
    };

    let lag = Arc::new(Histogram::new());
    tokio::spawn(watch_loop_lag(shared.clone(), lag.clone()));

    pb.set_message("joining");
    let ramp_start = tokio::time::Instant::now();
    for (i, token) in tokens.into_iter().enumerate() {
        let due = ramp_start + Duration::from_secs_f64(i as f64 / args.ramp);
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
            pb.set_position(shared.connected.load(Relaxed) as u64);
        }
        let room_index = i % rooms;
        let room = format!("{}{room_index}", args.room_prefix);
        let matchmake = args.matchmake.then(|| client::Matchmake {
            server: targets[i % targets.len()].clone(),
            room: (!args.any_room).then(|| room.clone()),
            room_slots,
        });
        let plan =
            client::Plan { index: i, room_index, room, token, sampler: i < rooms, input_rate_hz: args.rate, matchmake };
        tokio::spawn(client::run(target.clone(), plan, shared.clone()));
    }
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while shared.connected.load(Relaxed) + shared.connect_failed.load(Relaxed) + shared.disconnected.load(Relaxed)
        < args.clients
        && tokio::time::Instant::now() < join_deadline
    {
        pb.set_position(shared.connected.load(Relaxed) as u64);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pb.set_position(shared.connected.load(Relaxed) as u64);
    say(
        &pb,
        format!(
            "{} clients connected in {:.1} s ({} failed)",
            shared.connected.load(Relaxed),
            ramp_start.elapsed().as_secs_f64(),
            shared.connect_failed.load(Relaxed)
        ),
    );

    pb.set_message("warming up");
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;

    // The server's fan-out histogram, scraped around the window (not from the floor).
    let scraped: Vec<(std::net::SocketAddr, String)> =
        if args.floor { Vec::new() } else { targets.iter().map(|t| (t.addr, t.host.clone())).collect() };
    let metrics0 = if scraped.is_empty() { None } else { server_metrics::scrape(&scraped).await };

    let start_us = client::now_us();
    let window_us = (args.duration * 1e6) as u64;
    shared.window_start_us.store(start_us, Relaxed);
    shared.window_end_us.store(start_us + window_us, Relaxed);
    let cpu0 = stats::own_cpu_seconds();
    let cores0 = stats::core_jiffies();
    let server_cpu0: Vec<Option<f64>> = args.server_pid.iter().map(|&p| stats::process_cpu_seconds(p)).collect();
    let wall0 = Instant::now();
    let window_end = tokio::time::Instant::now() + Duration::from_micros(window_us);
    pb.reset_elapsed();
    let mut last = (Instant::now(), shared.updates.load(Relaxed), cpu0);
    while tokio::time::Instant::now() < window_end {
        tokio::time::sleep(Duration::from_millis(500).min(window_end - tokio::time::Instant::now())).await;
        let (now, updates, cpu) = (Instant::now(), shared.updates.load(Relaxed), stats::own_cpu_seconds());
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        pb.set_message(format!(
            "measuring: {} connected, {:.0} updates/s, p99 {:.1} ms, loadgen CPU {:.0} %",
            shared.connected.load(Relaxed),
            (updates - last.1) as f64 / dt,
            shared.latency.quantile(0.99) as f64 / 1e3,
            (cpu - last.2) / dt * 100.0
        ));
        last = (now, updates, cpu);
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = stats::own_cpu_seconds() - cpu0;
    let server_cpu: Vec<Option<f64>> =
        args.server_pid.iter().zip(&server_cpu0).map(|(&p, a)| Some(stats::process_cpu_seconds(p)? - (*a)?)).collect();
    let rss: Vec<Option<u64>> = args.server_pid.iter().map(|&p| stats::process_rss_kib(p)).collect();
    let host_core_busy = stats::core_busy(&cores0, &stats::core_jiffies());
    let fan_out = match metrics0 {
        Some(before) => server_metrics::scrape(&scraped).await.and_then(|after| {
            let f = server_metrics::fan_out_between(&before, &after);
            if f.is_none() {
                eprintln!("warning: /metrics has no tickcast_fanout_seconds samples in the window; no fan-out figures");
            }
            f
        }),
        None => None,
    };

    // Updates of ticks computed inside the window may still be on their way.
    let rate = shared.tick_rate_hz.load(Relaxed).max(1);
    pb.set_message("collecting late updates");
    tokio::time::sleep(Duration::from_secs_f64((5.0 / rate as f64).max(0.5))).await;
    pb.finish_and_clear();

    Ok(report(
        &args,
        &shared,
        &lag,
        rooms,
        ReportInputs { wall, cpu, server_cpu, rss, rss_idle, host_core_busy, fan_out },
    ))
}

/// Measures how late a 5 ms sleep wakes up: the load generator's own queueing delay,
/// which adds to every latency it reports.
async fn watch_loop_lag(shared: Arc<Shared>, lag: Arc<Histogram>) {
    let period = Duration::from_millis(5);
    loop {
        let before = Instant::now();
        tokio::time::sleep(period).await;
        let late = before.elapsed().saturating_sub(period);
        if shared.in_window(client::now_us()) {
            lag.record(late.as_micros() as u64);
        }
    }
}

/// Per `--server-pid`, in order.
struct ReportInputs {
    wall: f64,
    cpu: f64,
    server_cpu: Vec<Option<f64>>,
    rss: Vec<Option<u64>>,
    rss_idle: Vec<Option<u64>>,
    host_core_busy: Vec<f64>,
    /// The servers' fan-out over the window (`None`: the floor, or `/metrics` unreachable).
    fan_out: Option<server_metrics::FanOut>,
}

/// The sum of every sample, `None` without samples or when one is missing.
fn sum_all<T: std::iter::Sum<T> + Copy>(v: &[Option<T>]) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    v.iter().copied().sum()
}

fn report(args: &Args, shared: &Shared, lag: &Histogram, rooms: usize, m: ReportInputs) -> Report {
    let rate = shared.tick_rate_hz.load(Relaxed);
    let nodes = shared.placements.nodes();
    let mut per_node = vec![NodeSums::default(); nodes.len()];
    let mut node_rooms: Vec<std::collections::HashSet<usize>> = vec![Default::default(); nodes.len()];
    let mut all = NodeSums::default();
    let (mut gaps, mut with_gaps, mut keyframes) = (0u64, 0usize, 0u64);
    for c in &shared.clients {
        if !c.connected.load(Relaxed) {
            continue;
        }
        let room = c.room.load(Relaxed);
        let got = c.received.load(Relaxed);
        let want = shared.rooms.get(room).map_or(0, |r| r.expected());
        let still = c.closed.load(Relaxed) == 0;
        all.add(got, want, c.bytes.load(Relaxed), still);
        if let Some(n) = per_node.get_mut(c.node.load(Relaxed)) {
            n.add(got, want, c.bytes.load(Relaxed), still);
            node_rooms[c.node.load(Relaxed)].insert(room);
        }
        let g = c.gaps.load(Relaxed);
        gaps += g;
        with_gaps += usize::from(g > 0 || got < want);
        keyframes += c.keyframes.load(Relaxed);
    }
    let NodeSums { clients: connected, received, expected, bytes, .. } = all;
    let per_client_s = |v: u64, n: usize| if n == 0 { 0.0 } else { v as f64 / n as f64 / m.wall };
    let ratio = |got: u64, want: u64| if want == 0 { 0.0 } else { got as f64 / want as f64 };
    let body = &shared.body;
    let changed = body.changed.load(Relaxed).max(1) as f64;
    let ms = |us: u64| us as f64 / 1e3;
    let cores = m.cpu / m.wall;
    let period_ms = if rate > 0 { 1e3 / rate as f64 } else { 50.0 };
    let lag_p99 = ms(lag.quantile(0.99));
    let saturated = cores >= 0.9 || lag_p99 >= period_ms / 2.0;
    let server_cpu = sum_all(&m.server_cpu);
    let (rss, rss_idle) = (sum_all(&m.rss), sum_all(&m.rss_idle));
    let server_cpu_cores = server_cpu.map(|c| c / m.wall);
    let matchmake = args.matchmake.then(|| {
        let p = &shared.placements;
        stats::MatchReport {
            targets: args.url.clone(),
            any_room: args.any_room,
            nodes: nodes
                .iter()
                .zip(&per_node)
                .zip(&node_rooms)
                .map(|((n, s), r)| stats::NodeReport {
                    node: n.name.clone(),
                    placed: s.clients,
                    connected_at_end: s.still,
                    rooms: r.len(),
                    delivery_ratio: ratio(s.received, s.expected),
                    latency_p50_ms: ms(n.latency.quantile(0.5)),
                    latency_p99_ms: ms(n.latency.quantile(0.99)),
                    bytes_per_client_per_s: per_client_s(s.bytes, s.clients),
                })
                .collect(),
            redirects_4421: p.redirects.load(Relaxed),
            redirect_loops: p.redirect_loops.load(Relaxed),
            errors: p.errors.lock().clone(),
            retried: p.retried.lock().clone(),
            join_errors: p.join_errors.lock().clone(),
            request_p50_ms: ms(p.latency.quantile(0.5)),
            request_p99_ms: ms(p.latency.quantile(0.99)),
        }
    });
    Report {
        label: args.label.clone(),
        url: args.url.join(","),
        clients: args.clients,
        rooms: if args.matchmake { shared.placements.room_count() } else { rooms },
        connected,
        connect_failed: shared.connect_failed.load(Relaxed),
        disconnected: shared.disconnected.load(Relaxed),
        tick_rate_hz: rate,
        window_s: m.wall,
        latency_p50_ms: ms(shared.latency.quantile(0.5)),
        latency_p99_ms: ms(shared.latency.quantile(0.99)),
        latency_p999_ms: ms(shared.latency.quantile(0.999)),
        latency_max_ms: ms(shared.latency.max()),
        updates_received: received,
        updates_expected: expected,
        delivery_ratio: ratio(received, expected),
        missing_ticks: expected - received,
        gap_ticks: gaps,
        clients_with_gaps: with_gaps,
        keyframes,
        bytes_per_client_per_s: per_client_s(bytes, connected),
        updates_per_client_per_s: per_client_s(received, connected),
        deltas_sampled: body.deltas.load(Relaxed),
        moving_entities_per_delta: changed / body.deltas.load(Relaxed).max(1) as f64,
        changed_bytes_per_moving_entity: body.changed_bytes.load(Relaxed) as f64 / changed,
        state_bytes_per_moving_entity: body.state_bytes.load(Relaxed) as f64 / changed,
        frame_bytes_per_moving_entity: body.frame_bytes.load(Relaxed) as f64 / changed,
        loadgen_cpu_s: m.cpu,
        loadgen_cpu_cores: cores,
        loadgen_saturated: saturated,
        loadgen_loop_lag_p99_ms: lag_p99,
        server_pid: args.server_pid.first().copied(),
        server_cpu_s: server_cpu,
        server_cpu_cores,
        server_cpu_us_per_client_tick: server_cpu.filter(|_| received > 0).map(|c| c * 1e6 / received as f64),
        server_rss_idle_kib: rss_idle,
        server_rss_kib: rss,
        server_rss_per_client_kib: match (rss, rss_idle) {
            (Some(r), Some(i)) if connected > 0 => Some((r as f64 - i as f64) / connected as f64),
            _ => None,
        },
        host_core_busy: m.host_core_busy,
        fanout_p50_ms: m.fan_out.as_ref().map(|f| f.p50_ms),
        fanout_p99_ms: m.fan_out.as_ref().map(|f| f.p99_ms),
        fanout_mean_ms: m.fan_out.as_ref().map(|f| f.mean_ms),
        fanout_samples: m.fan_out.as_ref().map(|f| f.samples),
        first_error: shared.first_error.lock().clone(),
        servers: args
            .server_pid
            .iter()
            .enumerate()
            .map(|(i, &pid)| stats::ServerReport {
                pid,
                cpu_s: m.server_cpu[i],
                cpu_cores: m.server_cpu[i].map(|c| c / m.wall),
                rss_idle_kib: m.rss_idle[i],
                rss_kib: m.rss[i],
            })
            .collect(),
        matchmake,
        latency_histogram_us: shared.latency.buckets(),
    }
}

/// Delivery and bytes of a set of connected clients (all, or one node's).
#[derive(Default, Clone)]
struct NodeSums {
    clients: usize,
    /// Of those, still connected at the end.
    still: usize,
    received: u64,
    expected: u64,
    bytes: u64,
}

impl NodeSums {
    fn add(&mut self, got: u64, want: u64, bytes: u64, still: bool) {
        self.clients += 1;
        self.still += usize::from(still);
        self.received += got.min(want);
        self.expected += want;
        self.bytes += bytes;
    }
}
