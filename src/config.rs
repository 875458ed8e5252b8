//! Typed settings: the embedded `config.yaml` as defaults, an optional file from
//! `--config`, then `TICKCAST__SECTION__KEY` environment variables, validated at start.
//!
//! Every bound in the server comes from here. An invalid value fails at start with a
//! message naming the key and what is allowed.

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The default configuration, compiled in so the binary runs from any directory.
pub const DEFAULT_YAML: &str = include_str!("../config.yaml");

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `server.*`
    pub server: ServerSettings,
    /// `tick.*`
    pub tick: TickSettings,
    /// `room.*`
    pub room: RoomSettings,
    /// `sync.*`
    pub sync: SyncSettings,
    /// `interest.*`
    pub interest: InterestSettings,
    /// `limits.*`
    pub limits: LimitSettings,
    /// `heartbeat.*`
    pub heartbeat: HeartbeatSettings,
    /// `security.*`
    pub security: SecuritySettings,
    /// `admin.*`
    pub admin: AdminSettings,
    /// `game.*`
    pub game: GameSettings,
    /// `log.*`
    pub log: LogSettings,
    /// `cluster.*`
    pub cluster: ClusterSettings,
}

/// `server.*`: listening and lifecycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    pub workers: usize,
    pub request_timeout_ms: u64,
    pub disconnect_timeout_ms: u64,
    pub shutdown_grace_s: u64,
    pub room_threads: usize,
    pub write_buffer_bytes: usize,
    pub socket_send_buffer_bytes: usize,
    pub socket_notsent_lowat_bytes: usize,
    pub max_request_head_bytes: usize,
    pub public_origins: Vec<String>,
}

/// `tick.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TickSettings {
    pub rate_hz: u32,
}

/// `room.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub max_players: usize,
    pub empty_ttl_s: f64,
    pub reconnect_grace_s: f64,
    pub max_rooms: usize,
    pub max_name_bytes: usize,
    /// Rooms one client IP, and one token identity, may create per minute.
    pub create_per_minute: u32,
    /// Rooms created from one client IP that may be open at once on this node.
    pub max_open_per_ip: usize,
    /// An empty room nobody ever stayed in this long is disposed after this.
    pub abandoned_ttl_s: f64,
}

/// `sync.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    pub history_ticks: usize,
    pub max_baseline_age_ticks: u64,
    pub max_events_per_tick: usize,
    pub max_pending_events: usize,
    /// Most bytes of one member's frame in a big room before far cells wait; 0 = no limit.
    pub max_bytes_per_client_tick: usize,
}

/// `interest.*`: interest management in rooms whose game declares positions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestSettings {
    /// Side of a cell of the grid, in game units.
    pub cell_size: u32,
    /// Ticks a cell stays after it left a member's view.
    pub linger_ticks: u64,
    /// Most cells one member's view meets (a larger view is cut around its centre).
    pub max_cells_per_view: usize,
}

/// `limits.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub max_message_bytes: usize,
    pub max_pending_bytes: usize,
    pub stall_timeout_s: f64,
    pub input_queue: usize,
    pub input_rate_hz: f64,
    pub input_burst: f64,
    pub flood_grace_s: f64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_http_connections_per_ip: usize,
    pub max_chat_bytes: usize,
    /// Frames one fragmented client message may have (the first and its continuations).
    pub max_fragments_per_message: usize,
}

/// `heartbeat.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSettings {
    pub interval_s: f64,
    pub timeout_s: f64,
}

/// `security.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub require_token: bool,
    pub token_secret: String,
    pub token_ttl_s: u64,
    pub allowed_origins: Vec<String>,
    pub require_origin: bool,
    pub trusted_proxies: Vec<IpAddr>,
    pub max_player_name_bytes: usize,
    pub mint_per_minute: u32,
    pub matchmake_per_minute: u32,
    /// Players one token subject may hold on this node (connected or in grace).
    pub max_sessions_per_token: usize,
    /// How long an admin ban also bans the member's client IP (0: the subject only).
    pub ban_ip_s: u64,
    /// Most banned subjects kept (the oldest ban is dropped beyond), and as many IPs.
    pub max_bans: usize,
}

/// `admin.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub bind: String,
    pub token: String,
}

/// `game.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameSettings {
    pub seed: u64,
    /// `game.arena.*`: the built-in arena game.
    pub arena: ArenaSettings,
}

/// `game.arena.*`: the demo arena's tunables for ordinary rooms, and its room kinds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArenaSettings {
    /// Side of the map, arena units.
    pub size: u32,
    /// Orbs on the map.
    pub orbs: u32,
    /// Half the side of the square a player sees, arena units; interest management is
    /// on when the map is larger than a view.
    pub view_radius: u32,
    /// Players the server itself runs in each room (not connections).
    pub bots: u32,
    /// Room kinds by name: a room named `KIND` or `KIND-…` is of that kind.
    #[serde(default)]
    pub presets: std::collections::BTreeMap<String, ArenaPreset>,
}

/// One room kind of the arena (`game.arena.presets.KIND`); a missing value is the
/// `game.arena.*` one (seats: `room.max_players`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArenaPreset {
    pub size: Option<u32>,
    pub orbs: Option<u32>,
    pub view_radius: Option<u32>,
    pub bots: Option<u32>,
    pub max_players: Option<usize>,
}

/// The arena of one room kind, every value resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaKind {
    /// The kind's name; empty for ordinary rooms.
    pub name: String,
    pub size: u32,
    pub orbs: u32,
    pub view_radius: u32,
    pub bots: u32,
    pub max_players: usize,
}

impl Settings {
    /// The arena kind of room `room`: the preset named by the room's name (`KIND` or
    /// `KIND-…`), else the ordinary arena. Fixed by the name, so for the room's life.
    pub fn arena_kind(&self, room: &str) -> ArenaKind {
        let a = &self.game.arena;
        let found = a.presets.iter().find(|(kind, _)| {
            room == kind.as_str() || room.strip_prefix(kind.as_str()).is_some_and(|rest| rest.starts_with('-'))
        });
        let (name, p) = match found {
            Some((kind, p)) => (kind.clone(), p.clone()),
            None => (String::new(), ArenaPreset::default()),
        };
        ArenaKind {
            name,
            size: p.size.unwrap_or(a.size),
            orbs: p.orbs.unwrap_or(a.orbs),
            view_radius: p.view_radius.unwrap_or(a.view_radius),
            bots: p.bots.unwrap_or(a.bots),
            max_players: p.max_players.unwrap_or(self.room.max_players),
        }
    }

    /// Seats of room `room` (its kind's `max_players`).
    pub fn room_capacity(&self, room: &str) -> usize {
        self.arena_kind(room).max_players
    }
}

/// `log.*`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub filter: String,
}

/// `cluster.*`: several nodes sharing rooms through Redis (see docs/CLUSTER.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub redis_url: String,
    pub node_id: String,
    pub public_url: String,
    pub key_prefix: String,
    pub node_ttl_s: f64,
    pub lease_ttl_s: f64,
    pub snapshot_interval_s: f64,
    pub snapshot_ttl_s: u64,
    pub redis_timeout_ms: u64,
    pub max_snapshot_bytes: usize,
    pub seat_ttl_s: u64,
}

impl ClusterSettings {
    /// True when `cluster.redis_url` is set.
    pub fn enabled(&self) -> bool {
        !self.redis_url.is_empty()
    }
}

/// Where the settings came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The file layered over the defaults, if any.
    pub file: Option<String>,
    /// Names of `TICKCAST__*` variables that were applied.
    pub env: Vec<String>,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("embedded defaults")?;
        if let Some(file) = &self.file {
            write!(f, " + {file}")?;
        }
        if !self.env.is_empty() {
            write!(f, " + env {}", self.env.join(","))?;
        }
        Ok(())
    }
}

/// An origin in the config must be `scheme://host[:port]` with no path, as browsers send it.
fn check_origin_syntax(key: &str, origin: &str) -> Result<(), ConfigError> {
    if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
        return Err(ConfigError(format!("{key} entry {origin:?} must be scheme://host[:port] with no path")));
    }
    Ok(())
}

impl Settings {
    /// The embedded defaults alone (tests and examples start from here).
    pub fn defaults() -> Self {
        Self::load(None, std::iter::empty()).expect("embedded config.yaml is valid").0
    }

    /// Loads defaults, then `file`, then the given environment variables (only those
    /// starting with `TICKCAST__` are used), and validates the result.
    pub fn load(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, ConfigSource), ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let env: std::collections::HashMap<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with("TICKCAST__")).collect();
        let mut names: Vec<String> = env.keys().cloned().collect();
        names.sort();
        let mut builder = Config::builder().add_source(File::from_str(DEFAULT_YAML, FileFormat::Yaml));
        if let Some(path) = file {
            builder = builder.add_source(File::new(path, FileFormat::Yaml).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("TICKCAST")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("security.allowed_origins")
                .with_list_parse_key("server.public_origins")
                .with_list_parse_key("security.trusted_proxies")
                .try_parsing(true)
                .source(Some(env)),
        );
        let settings: Settings =
            builder.build().and_then(|c| c.try_deserialize()).map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok((settings, ConfigSource { file: file.map(str::to_string), env: names }))
    }

    /// Checks every range; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server
            .bind
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError(format!("server.bind = {:?} is not an address: {e}", self.server.bind)))?;
        range("server.workers", self.server.workers, 0, 256)?;
        range("server.request_timeout_ms", self.server.request_timeout_ms, 10, 600_000)?;
        range("server.disconnect_timeout_ms", self.server.disconnect_timeout_ms, 1, 600_000)?;
        range("server.shutdown_grace_s", self.server.shutdown_grace_s, 0, 3600)?;
        range("server.room_threads", self.server.room_threads, 1, 64)?;
        range("server.write_buffer_bytes", self.server.write_buffer_bytes, 256, 16 << 20)?;
        range("server.socket_send_buffer_bytes", self.server.socket_send_buffer_bytes, 0, 64 << 20)?;
        range("server.socket_notsent_lowat_bytes", self.server.socket_notsent_lowat_bytes, 0, 64 << 20)?;
        // The largest legitimate head is a browser's upgrade with three tokens in the
        // subprotocol list (~1 KiB); actix-http itself refuses heads past 128 KiB.
        range("server.max_request_head_bytes", self.server.max_request_head_bytes, 1024, 128 << 10)?;
        for origin in &self.server.public_origins {
            check_origin_syntax("server.public_origins", origin)?;
        }
        range("tick.rate_hz", self.tick.rate_hz, 1, 128)?;
        range("room.max_players", self.room.max_players, 1, 10_000)?;
        range("room.empty_ttl_s", self.room.empty_ttl_s, 0.0, 86_400.0)?;
        range("room.reconnect_grace_s", self.room.reconnect_grace_s, 0.0, 3600.0)?;
        range("room.max_rooms", self.room.max_rooms, 1, 1_000_000)?;
        range("room.max_name_bytes", self.room.max_name_bytes, 1, 100)?;
        range("room.create_per_minute", self.room.create_per_minute, 1, 1_000_000)?;
        range("room.max_open_per_ip", self.room.max_open_per_ip, 1, 1_000_000)?;
        range("room.abandoned_ttl_s", self.room.abandoned_ttl_s, 0.0, 86_400.0)?;
        range("sync.history_ticks", self.sync.history_ticks, 2, 4096)?;
        range("sync.max_baseline_age_ticks", self.sync.max_baseline_age_ticks, 1, self.sync.history_ticks as u64)?;
        range("sync.max_events_per_tick", self.sync.max_events_per_tick, 1, 65_536)?;
        range("sync.max_pending_events", self.sync.max_pending_events, 1, 1_000_000)?;
        let bytes = self.sync.max_bytes_per_client_tick;
        if bytes != 0 {
            range("sync.max_bytes_per_client_tick", bytes, 64, self.limits.max_pending_bytes)?;
        }
        range("interest.cell_size", self.interest.cell_size, 1, 1_000_000)?;
        range("interest.linger_ticks", self.interest.linger_ticks, 0, self.sync.history_ticks as u64)?;
        range("interest.max_cells_per_view", self.interest.max_cells_per_view, 1, 4096)?;
        range("limits.max_message_bytes", self.limits.max_message_bytes, 16, 65_536)?;
        range("limits.max_pending_bytes", self.limits.max_pending_bytes, 1024, 64 << 20)?;
        range("limits.stall_timeout_s", self.limits.stall_timeout_s, 0.05, 3600.0)?;
        range("limits.input_queue", self.limits.input_queue, 1, 1024)?;
        range("limits.input_rate_hz", self.limits.input_rate_hz, 1.0, 10_000.0)?;
        range("limits.input_burst", self.limits.input_burst, 1.0, 100_000.0)?;
        range("limits.flood_grace_s", self.limits.flood_grace_s, 0.0, 3600.0)?;
        range("limits.max_connections", self.limits.max_connections, 1, 10_000_000)?;
        range("limits.max_connections_per_ip", self.limits.max_connections_per_ip, 1, 10_000_000)?;
        range("limits.max_http_connections_per_ip", self.limits.max_http_connections_per_ip, 1, 10_000_000)?;
        range("limits.max_chat_bytes", self.limits.max_chat_bytes, 0, 4096)?;
        range("limits.max_fragments_per_message", self.limits.max_fragments_per_message, 1, 65_536)?;
        range("heartbeat.interval_s", self.heartbeat.interval_s, 0.05, 3600.0)?;
        range("heartbeat.timeout_s", self.heartbeat.timeout_s, self.heartbeat.interval_s, 3600.0)?;
        range("security.token_ttl_s", self.security.token_ttl_s, 1, 30 * 86_400)?;
        range("security.max_player_name_bytes", self.security.max_player_name_bytes, 1, 64)?;
        range("security.mint_per_minute", self.security.mint_per_minute, 1, 1_000_000)?;
        range("security.max_sessions_per_token", self.security.max_sessions_per_token, 1, 100_000)?;
        range("security.ban_ip_s", self.security.ban_ip_s, 0, 30 * 86_400)?;
        range("security.max_bans", self.security.max_bans, 1, 10_000_000)?;
        for origin in &self.security.allowed_origins {
            check_origin_syntax("security.allowed_origins", origin)?;
        }
        self.validate_arena()?;
        if !self.admin.token.is_empty() {
            self.admin
                .bind
                .parse::<SocketAddr>()
                .map_err(|e| ConfigError(format!("admin.bind = {:?} is not an address: {e}", self.admin.bind)))?;
        }
        self.validate_cluster()
    }

    fn validate_arena(&self) -> Result<(), ConfigError> {
        // Positions are i32 quanta of 1/10 unit, with room to move.
        let check = |prefix: &str, size: u32, orbs: u32, view: u32, bots: u32| -> Result<(), ConfigError> {
            range(&format!("{prefix}.size"), size, 100, 100_000)?;
            range(&format!("{prefix}.orbs"), orbs, 0, 100_000)?;
            range(&format!("{prefix}.view_radius"), view, 10, 100_000)?;
            range(&format!("{prefix}.bots"), bots, 0, 10_000)
        };
        let a = &self.game.arena;
        check("game.arena", a.size, a.orbs, a.view_radius, a.bots)?;
        for (kind, p) in &a.presets {
            let key = format!("game.arena.presets.{kind}");
            let valid = !kind.is_empty()
                && kind.len() <= 32
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(ConfigError(format!("{key}: a kind's name is 1 to 32 of a-z, 0-9 and _")));
            }
            let k = self.arena_kind(kind);
            check(&key, k.size, k.orbs, k.view_radius, k.bots)?;
            range(&format!("{key}.max_players"), p.max_players.unwrap_or(self.room.max_players), 1, 10_000)?;
        }
        Ok(())
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        range("cluster.seat_ttl_s", c.seat_ttl_s, 1, 600)?;
        let url = &c.public_url;
        let bad_url = !(url.starts_with("ws://") || url.starts_with("wss://")) || url.ends_with('/') || url.len() > 80;
        if !url.is_empty() && bad_url {
            return Err(ConfigError(format!(
                "cluster.public_url = {url:?} must be ws[s]://host[:port] with no path, at most 80 bytes"
            )));
        }
        if !c.enabled() {
            return Ok(());
        }
        if !(c.redis_url.starts_with("redis://")
            || c.redis_url.starts_with("rediss://")
            || c.redis_url.starts_with("unix://"))
        {
            return Err(ConfigError(format!("cluster.redis_url = {:?} must be a redis:// URL", c.redis_url)));
        }
        if self.security.token_secret.is_empty() {
            return Err(ConfigError(
                "cluster.redis_url is set but security.token_secret is empty: every node must verify every \
                 node's tokens, so cluster mode needs one shared secret"
                    .into(),
            ));
        }
        let id_ok = c.node_id.len() <= 64
            && c.node_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !id_ok {
            return Err(ConfigError(format!(
                "cluster.node_id = {:?} must be at most 64 bytes of letters, digits, '-', '_', '.'",
                c.node_id
            )));
        }
        if c.key_prefix.is_empty() || c.key_prefix.len() > 64 {
            return Err(ConfigError("cluster.key_prefix must be 1..=64 bytes".into()));
        }
        if url.is_empty() {
            let bind: SocketAddr = self.server.bind.parse().map_err(|_| ConfigError("server.bind".into()))?;
            if bind.ip().is_unspecified() {
                return Err(ConfigError(format!(
                    "cluster.public_url is empty and server.bind = {} is a wildcard address: set the URL clients \
                     use to reach this node",
                    self.server.bind
                )));
            }
        }
        range("cluster.redis_timeout_ms", c.redis_timeout_ms, 10, 60_000)?;
        range("cluster.node_ttl_s", c.node_ttl_s, 0.3, 3600.0)?;
        // A lease is renewed every third of its life and a room stops when a sixth is
        // left, so every Redis call must give up well within a sixth.
        let min_lease = (c.redis_timeout_ms as f64 / 1000.0) * 12.0;
        range("cluster.lease_ttl_s", c.lease_ttl_s, min_lease.max(0.3), 3600.0)?;
        // A seat held for a player seated here is released by the next renewal: it must
        // outlive a renewal period, with room to spare.
        let min_seat = (c.lease_ttl_s / 3.0 + 1.0).ceil() as u64;
        range("cluster.seat_ttl_s", c.seat_ttl_s, min_seat, 600)?;
        range("cluster.snapshot_interval_s", c.snapshot_interval_s, 0.05, 3600.0)?;
        range("cluster.snapshot_ttl_s", c.snapshot_ttl_s, 1, 30 * 86_400)?;
        range("cluster.max_snapshot_bytes", c.max_snapshot_bytes, 1024, 64 << 20)?;
        Ok(())
    }

    /// The tick period.
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.tick.rate_hz as f64)
    }
}

/// Seconds as a [`Duration`].
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// `v` within `lo..=hi`, or an error naming `key` and the range.
fn range<T: PartialOrd + fmt::Display>(key: &str, v: T, lo: T, hi: T) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError(format!("{key} = {v} is outside the allowed range {lo}..={hi}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn embedded_defaults_load() {
        let s = Settings::defaults();
        assert_eq!(s.tick.rate_hz, 20);
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert!(s.security.require_token);
    }

    #[test]
    fn env_overrides_and_lists() {
        let (s, src) = Settings::load(
            None,
            env(&[
                ("TICKCAST__TICK__RATE_HZ", "30"),
                ("TICKCAST__SERVER__BIND", "0.0.0.0:9000"),
                ("TICKCAST__SECURITY__ALLOWED_ORIGINS", "https://a.example,https://b.example"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.tick.rate_hz, 30);
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.security.allowed_origins.len(), 2);
        assert_eq!(src.env.len(), 3);
    }

    #[test]
    fn invalid_value_names_the_key() {
        let err = Settings::load(None, env(&[("TICKCAST__TICK__RATE_HZ", "500")])).unwrap_err();
        assert!(err.0.contains("tick.rate_hz"), "{err}");
        let err = Settings::load(None, env(&[("TICKCAST__TICK__RATE_HZ", "fast")])).unwrap_err();
        assert!(err.0.contains("rate_hz"), "{err}");
        for (var, key) in [
            ("TICKCAST__LIMITS__MAX_FRAGMENTS_PER_MESSAGE", "limits.max_fragments_per_message"),
            ("TICKCAST__SECURITY__MAX_SESSIONS_PER_TOKEN", "security.max_sessions_per_token"),
            ("TICKCAST__SECURITY__MAX_BANS", "security.max_bans"),
        ] {
            let err = Settings::load(None, env(&[(var, "0")])).unwrap_err();
            assert!(err.0.contains(key), "{err}");
        }
        let err = Settings::load(None, env(&[("TICKCAST__SECURITY__BAN_IP_S", "99999999")])).unwrap_err();
        assert!(err.0.contains("security.ban_ip_s"), "{err}");
    }

    #[test]
    fn room_creation_limits_are_validated() {
        let err = Settings::load(None, env(&[("TICKCAST__ROOM__CREATE_PER_MINUTE", "0")])).unwrap_err();
        assert!(err.0.contains("room.create_per_minute"), "{err}");
        let err = Settings::load(None, env(&[("TICKCAST__ROOM__MAX_OPEN_PER_IP", "0")])).unwrap_err();
        assert!(err.0.contains("room.max_open_per_ip"), "{err}");
        let err = Settings::load(None, env(&[("TICKCAST__ROOM__ABANDONED_TTL_S", "-1")])).unwrap_err();
        assert!(err.0.contains("room.abandoned_ttl_s"), "{err}");
        let s = Settings::defaults();
        assert_eq!((s.room.create_per_minute, s.room.max_open_per_ip), (30, 20));
        assert!(s.room.abandoned_ttl_s <= s.room.empty_ttl_s);
    }

    #[test]
    fn in_a_cluster_a_held_seat_must_outlive_a_renewal_period() {
        let cluster = |seat_ttl: &str| {
            Settings::load(
                None,
                env(&[
                    ("TICKCAST__CLUSTER__REDIS_URL", "redis://127.0.0.1:6379"),
                    ("TICKCAST__SECURITY__TOKEN_SECRET", "s3cret"),
                    ("TICKCAST__CLUSTER__LEASE_TTL_S", "12"),
                    ("TICKCAST__CLUSTER__SEAT_TTL_S", seat_ttl),
                ]),
            )
        };
        let err = cluster("4").unwrap_err();
        assert!(err.0.contains("cluster.seat_ttl_s"), "{err}");
        assert!(cluster("5").is_ok());
        // A single node has no renewals: any seat lifetime in range will do.
        assert!(Settings::load(None, env(&[("TICKCAST__CLUSTER__SEAT_TTL_S", "1")])).is_ok());
    }
}
