//! A player that stays in the game across dropped connections (docs/PROTOCOL.md,
//! "Resume", "Close codes", "Matchmaking and cluster redirects"): it places itself
//! (directly or through `GET /api/matchmake`), follows 4421 redirects to the node that
//! runs its room, and when a connection ends with a code that advises it, comes back
//! with the newest resume token after a backoff with jitter; a refused resume (4401)
//! joins afresh with a new token.

use crate::connection::{guest_token, matchmake, ConnectError, Connection};
use crate::message::Update;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a [`Player`] connects and reconnects.
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    /// The server's HTTP base, `http://HOST:PORT`.
    pub http: String,
    /// The player's display name (for its guest tokens).
    pub name: String,
    /// A room to join or create; `None`: join-or-create matchmaking.
    pub room: Option<String>,
    /// Place every connect and reconnect through `GET /api/matchmake` (what a cluster
    /// needs); otherwise connect to `/ws` directly.
    pub matchmake: bool,
    /// The first backoff window; each failed attempt doubles it up to `backoff_cap`.
    pub backoff_base: Duration,
    /// The largest backoff window.
    pub backoff_cap: Duration,
    /// Failed attempts in a row before giving up.
    pub max_retries: u32,
    /// 4421 redirects followed in a row before an attempt counts as failed.
    pub max_redirects: u32,
}

impl PlayerOptions {
    /// Defaults for `name` at `http`: room `lobby`, direct, backoff 0.5 s doubling to
    /// 30 s, 10 attempts, 3 redirects.
    pub fn new(http: &str, name: &str) -> Self {
        PlayerOptions {
            http: http.trim_end_matches('/').to_string(),
            name: name.to_string(),
            room: Some("lobby".into()),
            matchmake: false,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_retries: 10,
            max_redirects: 3,
        }
    }

    fn ws_base(&self) -> String {
        self.http.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1)
    }
}

/// A player kept in its room across reconnections.
pub struct Player {
    options: PlayerOptions,
    conn: Connection,
    /// Reconnection attempts since the player last had a healthy connection (one that
    /// lasted `backoff_cap`): the backoff grows with them and `max_retries` bounds them,
    /// so a connection dropped again and again right after its Welcome is not retried
    /// forever at the shortest wait.
    attempts: u32,
    connected_at: std::time::Instant,
    /// Successful resumes so far.
    pub resumes: u32,
    /// Times a resume was refused and the player joined afresh (a new player id).
    pub rejoins: u32,
    jitter: u64,
}

impl Player {
    /// Gets a token, places the player and joins.
    pub async fn start(options: PlayerOptions) -> Result<Player, ConnectError> {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
        let conn = Self::join(&options).await?;
        let connected_at = std::time::Instant::now();
        Ok(Player { options, conn, attempts: 0, connected_at, resumes: 0, rejoins: 0, jitter: seed })
    }

    /// The live connection: its Welcome, world, inputs and pings.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The next update; a connection that ends with a code advising it is resumed (or
    /// the player joins afresh if the resume is refused) before reading on. Errors only
    /// when the close says not to come back, or `max_retries` attempts failed since the
    /// player last held a connection for `backoff_cap`.
    pub async fn next_update(&mut self) -> Result<Update, ConnectError> {
        loop {
            match self.conn.next_update().await {
                Ok(update) => return Ok(update),
                Err(e) if e.resumable() => {
                    if self.connected_at.elapsed() >= self.options.backoff_cap {
                        self.attempts = 0;
                    }
                    self.come_back(e).await?;
                    self.connected_at = std::time::Instant::now();
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn join(options: &PlayerOptions) -> Result<Connection, ConnectError> {
        let token = guest_token(&options.http, &options.name).await?;
        let mut credentials = vec![format!("tickcast.token.{token}")];
        let url = if options.matchmake {
            let placement = matchmake(&options.http, options.room.as_deref(), false).await?;
            credentials.extend(placement.seat.map(|s| format!("tickcast.seat.{s}")));
            placement.url
        } else {
            match &options.room {
                Some(room) => format!("{}/ws?room={room}", options.ws_base()),
                None => format!("{}/ws", options.ws_base()),
            }
        };
        Self::open_following_redirects(options, url, &credentials).await
    }

    async fn open_following_redirects(
        options: &PlayerOptions,
        mut url: String,
        credentials: &[String],
    ) -> Result<Connection, ConnectError> {
        for _ in 0..options.max_redirects {
            match Connection::open(&url, credentials, None).await {
                Err(e) => match e.redirect() {
                    Some(next) => url = next.to_string(),
                    None => return Err(e),
                },
                ok => return ok,
            }
        }
        Connection::open(&url, credentials, None).await
    }

    async fn come_back(&mut self, cause: ConnectError) -> Result<(), ConnectError> {
        let resume = format!("tickcast.resume.{}", self.conn.welcome.resume_token);
        let room = self.conn.welcome.room.clone();
        let mut last = cause;
        while self.attempts < self.options.max_retries {
            tokio::time::sleep(backoff(&self.options, self.attempts, &mut self.jitter)).await;
            self.attempts += 1;
            let url = if self.options.matchmake {
                match matchmake(&self.options.http, Some(&room), true).await {
                    Ok(p) => p.url,
                    // The room is gone (410) or the node unreachable: join afresh.
                    Err(ConnectError::Refused { status: 410, .. }) => return self.rejoin().await,
                    Err(e) => {
                        last = e;
                        continue;
                    }
                }
            } else {
                format!("{}/ws", self.options.ws_base())
            };
            match Self::open_following_redirects(&self.options, url, std::slice::from_ref(&resume)).await {
                Ok(conn) => {
                    self.conn = conn;
                    self.resumes += 1;
                    return Ok(());
                }
                // The resume cannot be honoured (grace over, token replaced): a new player.
                Err(ConnectError::Closed { code: 4401, .. }) => return self.rejoin().await,
                // Busy, or redirected more times in a row than allowed: a failed attempt.
                Err(e)
                    if e.resumable()
                        || e.redirect().is_some()
                        || matches!(e, ConnectError::Refused { status: 429 | 503, .. }) =>
                {
                    last = e
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn rejoin(&mut self) -> Result<(), ConnectError> {
        self.conn = Self::join(&self.options).await?;
        self.rejoins += 1;
        Ok(())
    }
}

/// A full-jitter backoff: a random wait up to `base × 2^attempt`, capped at `cap`, so
/// clients dropped together by a restarting server do not come back together.
fn backoff(options: &PlayerOptions, attempt: u32, state: &mut u64) -> Duration {
    let window = options.backoff_base.saturating_mul(1 << attempt.min(16)).min(options.backoff_cap);
    // xorshift64: jitter need not be secret, only spread clients apart.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    window.mul_f64((*state % 1_000_000) as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_is_spread() {
        let options = PlayerOptions::new("http://x", "n");
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let waits: Vec<Duration> = (0..20).map(|a| backoff(&options, a, &mut state)).collect();
        for (a, w) in waits.iter().enumerate() {
            let window = options.backoff_base.saturating_mul(1 << a.min(16)).min(options.backoff_cap);
            assert!(*w <= window, "attempt {a}: {w:?} beyond {window:?}");
        }
        assert!(waits.iter().all(|w| *w <= options.backoff_cap));
        let late: Vec<_> = waits[10..].iter().collect();
        assert!(late.windows(2).any(|p| p[0] != p[1]), "jittered, not a fixed wait");
    }
}
