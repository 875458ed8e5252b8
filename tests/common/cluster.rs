//! Cluster test fixtures: a real `redis-server` on a loopback port with its own data
//! directory (so it can be killed and restarted with its data), and tickcast nodes as
//! real processes of the built binary, which a test can kill with SIGKILL. Only with the
//! `cluster` feature, like the tests that use them.
#![cfg(feature = "cluster")]

use super::{http, Client, PATIENCE};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Shared by every node of a test: they must verify each other's tokens.
pub const CLUSTER_SECRET: &str = "cluster-test-secret";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scratch_dir(what: &str) -> PathBuf {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "tickcast-test-{what}-{}-{}",
        std::process::id(),
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

/// A redis-server of the test's own.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    /// Starts `redis-server` (from PATH, or `TICKCAST_REDIS_SERVER`) on a free loopback
    /// port, persisting every write (AOF, fsync always) so a restart finds its data.
    pub fn start() -> Redis {
        let mut r = Redis { port: free_port(), dir: scratch_dir("redis"), child: None };
        r.launch();
        r
    }

    fn launch(&mut self) {
        let bin = std::env::var("TICKCAST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let log = std::fs::File::create(self.dir.join("redis.log")).unwrap();
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin}: {e}. Install Redis (Debian: apt-get install redis-server) or run `bash scripts/test`, which does")
            });
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start; see {}", self.dir.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: the server is gone, connections are refused.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// SIGSTOP: the server hangs (connections stay open, nothing is answered).
    pub fn pause(&self) {
        signal(self.child.as_ref().expect("running").id(), "-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        signal(self.child.as_ref().expect("running").id(), "-CONT");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A tickcast node: the real binary in cluster mode.
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
}

/// Cluster settings for tests: short TTLs so failures are seen in seconds.
pub fn node_env(redis: &Redis, id: &str, port: u16) -> Vec<(String, String)> {
    [
        ("TICKCAST__SERVER__BIND", format!("127.0.0.1:{port}")),
        ("TICKCAST__SERVER__WORKERS", "1".into()),
        ("TICKCAST__SERVER__SHUTDOWN_GRACE_S", "1".into()),
        ("TICKCAST__TICK__RATE_HZ", "50".into()),
        ("TICKCAST__SECURITY__TOKEN_SECRET", CLUSTER_SECRET.into()),
        ("TICKCAST__SECURITY__MINT_PER_MINUTE", "100000".into()),
        ("TICKCAST__SECURITY__MATCHMAKE_PER_MINUTE", "100000".into()),
        ("TICKCAST__CLUSTER__REDIS_URL", redis.url()),
        ("TICKCAST__CLUSTER__NODE_ID", id.into()),
        ("TICKCAST__CLUSTER__REDIS_TIMEOUT_MS", "300".into()),
        ("TICKCAST__CLUSTER__LEASE_TTL_S", "4".into()),
        ("TICKCAST__CLUSTER__NODE_TTL_S", "3".into()),
        ("TICKCAST__CLUSTER__SNAPSHOT_INTERVAL_S", "0.4".into()),
        ("TICKCAST__LOG__FILTER", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Node {
    /// Starts node `id` against `redis` and waits until it answers `/healthz`.
    pub async fn start(redis: &Redis, id: &str) -> Node {
        Self::start_with(redis, id, &[]).await
    }

    /// Like [`Node::start`] with extra `TICKCAST__*` variables.
    pub async fn start_with(redis: &Redis, id: &str, extra: &[(&str, &str)]) -> Node {
        let port = free_port();
        let log = scratch_dir("node").join(format!("{id}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickcast"));
        cmd.envs(node_env(redis, id, port)).stdout(file.try_clone().unwrap()).stderr(file);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("tickcast binary starts");
        let node = Node { id: id.into(), addr: ([127, 0, 0, 1], port).into(), log, child: Some(child) };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(node.addr)).await
            {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
                let mut buf = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut buf)).await;
                if buf.starts_with(b"HTTP/1.1 200") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "node {id} did not start:\n{}", node.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    /// What the node logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The node's WebSocket base URL (its default `cluster.public_url`).
    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn ws_url(&self, room: Option<&str>) -> String {
        match room {
            Some(r) => format!("ws://{}/ws?room={r}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        }
    }

    /// SIGTERM, then waits for the process to exit; returns its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        signal(c.id(), "-TERM");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = c.try_wait().ok().flatten() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "node {} did not exit on SIGTERM", self.id);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye, no lease release.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path, &[], "").await
    }

    /// `GET path` as JSON; the status must be 200, after retrying 503s for a while.
    ///
    /// A 503 is the node's answer when one Redis call misses its deadline
    /// (`cluster.redis_timeout_ms`, 300 ms here as by default), which a shared two-core CI machine
    /// running every suite at once does now and then. Clients retry it (tickcast.js
    /// asks again on any 5xx), so a test that wants the answer does too; a test about
    /// the 503 itself uses [`Node::get`].
    pub async fn json(&self, path: &str) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(path).await;
            if status == 503 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            assert_eq!(status, 200, "GET {path} on {}: {body}", self.id);
            return serde_json::from_str(&body).expect("json");
        }
    }

    /// A guest token minted by this node (valid on every node: one shared secret).
    pub async fn token(&self, name: &str) -> String {
        let body = format!("{{\"name\":\"{name}\"}}");
        let (status, text) =
            http(self.addr, "POST", "/api/session", &[("Content-Type", "application/json")], &body).await;
        assert_eq!(status, 200, "token request failed: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// `GET /api/matchmake[?room=]` as JSON (status must be 200).
    pub async fn matchmake(&self, room: Option<&str>) -> serde_json::Value {
        let path = match room {
            Some(r) => format!("/api/matchmake?room={r}"),
            None => "/api/matchmake".into(),
        };
        self.json(&path).await
    }

    /// The value of a metric line starting with `prefix` (0 when absent).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes "node-a" and "node-b" against `redis`, with rooms of `players` seats.
pub async fn two_nodes_with_rooms_of(redis: &Redis, players: &str) -> (Node, Node) {
    let rooms = [("TICKCAST__ROOM__MAX_PLAYERS", players)];
    (Node::start_with(redis, "node-a", &rooms).await, Node::start_with(redis, "node-b", &rooms).await)
}

/// Opens a WebSocket to a cluster node, asking again while the upgrade is refused with
/// 503: like [`Node::json`], a Redis call past its deadline on a loaded machine, which
/// clients retry.
pub async fn connect(url: &str, extra: &[&str]) -> Client {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match Client::connect(url, extra).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result.expect("connect"),
        }
    }
}

/// Connects through a matchmaking answer: its url, the token and the seat.
pub async fn connect_matchmade(answer: &serde_json::Value, token: &str) -> Client {
    let url = answer["url"].as_str().expect("url");
    let seat = answer["seat"].as_str().expect("seat");
    connect(url, &[&format!("tickcast.token.{token}"), &format!("tickcast.seat.{seat}")]).await
}

/// Polls `check` every 100 ms until it answers `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not reached within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
