//! Tokens: who a connecting player is (guest tokens, or a game's own through
//! [`Authenticator`]) and which player a reconnecting client takes back (resume tokens).
//!
//! Tokens travel in the WebSocket subprotocol list (`tickcast.token.<t>`,
//! `tickcast.resume.<t>`), never in URLs, so they are unpadded base64url with a `.`
//! separator: characters browsers accept in a subprotocol name. The built-in format is
//! `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))`, payload being
//! `g|<expiry unix s>|<subject>|<name>` for a guest (the subject: 22 random base64url
//! characters minted by `POST /api/session`, what bans and per-token session limits key
//! on) and `r|<expiry>|<room id>|<room>|<player>|<epoch>|<nonce>` for a resume (the nonce:
//! chosen by the room, which honours only the newest token it issued to the player).
//! MACs are compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Who a verified token says the player is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Who this is, stable across tokens: bans and `security.max_sessions_per_token`
    /// key on it. A guest token's is random, minted with the token; a game's own
    /// [`Authenticator`] returns its account id. Never shown to other players.
    pub subject: String,
    /// Display name.
    pub name: String,
}

/// Why a token was refused (close 4401 with this reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not in the expected format.
    Malformed,
    /// The signature does not match.
    BadSignature,
    /// Past its expiry.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadSignature => "invalid token signature",
            TokenError::Expired => "token expired",
        })
    }
}

/// The seam through which a game plugs its own verification (accounts, JWTs): given
/// the token a client presented as `tickcast.token.<t>`, say who it is.
///
/// [`Identity::subject`] must be stable for one account: return the account id (the JWT
/// `sub`), not the display name nor anything per token. An admin ban refuses that subject
/// from then on, and `security.max_sessions_per_token` counts one subject's players on
/// the node, so a subject that changes per token defeats both.
pub trait Authenticator: Send + Sync + 'static {
    /// Verifies a token.
    fn verify(&self, token: &str) -> Result<Identity, TokenError>;
}

/// What a resume token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeClaim {
    /// The room's process-unique id (a disposed room's name may be reused).
    pub room_id: u64,
    /// The room's name.
    pub room: String,
    /// The player.
    pub player: u32,
    /// The room incarnation the player joined in (the cluster lease's fencing number; 0
    /// on a single node). A room restored elsewhere may hand the same player id to
    /// someone new: the epoch tells that player's token from the one who held the id
    /// before the node died.
    pub epoch: u64,
    /// Chosen by the room for this token; the room honours only the nonce of the last
    /// token it issued to the player, so a token replaced by a newer one is dead.
    pub nonce: u64,
}

/// What a seat reservation from `/api/matchmake` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatClaim {
    /// The room the seat is in.
    pub room: String,
    /// Identifies the reservation: on the node that holds it, or in the room's held
    /// seats in Redis.
    pub nonce: u64,
    /// Join-or-create asked for it: if the room filled up before the player arrived
    /// (a named join there is counted only at the owner's next renewal), any open
    /// room will do.
    pub any: bool,
}

/// The built-in HMAC-SHA256 signer: guest tokens (the default [`Authenticator`]) and
/// resume tokens.
#[derive(Clone)]
pub struct TokenKeys {
    secret: Vec<u8>,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenKeys {
    /// Keys from `secret`; an empty secret gets 32 random bytes (tokens then die with
    /// the process), which the caller should warn about.
    pub fn new(secret: &str) -> Self {
        let secret = if secret.is_empty() {
            let mut buf = vec![0u8; 32];
            getrandom::fill(&mut buf).expect("the OS random source works");
            buf
        } else {
            secret.as_bytes().to_vec()
        };
        TokenKeys { secret }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }

    fn sign(&self, payload: &str) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes())))
    }

    /// Checks signature and expiry, returning the payload's fields after the kind.
    fn open(&self, token: &str, kind: &str, now: u64) -> Result<Vec<String>, TokenError> {
        let (payload, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length");
        mac.update(&payload);
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed)?;
        let mut parts = text.split('|').map(str::to_string);
        if parts.next().as_deref() != Some(kind) {
            return Err(TokenError::Malformed);
        }
        let expiry: u64 = parts.next().and_then(|e| e.parse().ok()).ok_or(TokenError::Malformed)?;
        if now >= expiry {
            return Err(TokenError::Expired);
        }
        Ok(parts.collect())
    }

    /// A guest token for `name` (already validated), valid `ttl_s` seconds from `now`,
    /// under a fresh random subject: every minted token is a new guest.
    pub fn mint_guest(&self, name: &str, now: u64, ttl_s: u64) -> String {
        self.mint_guest_as(&new_subject(), name, now, ttl_s)
    }

    /// A guest token for `subject` (no `|`) and `name` (already validated).
    pub fn mint_guest_as(&self, subject: &str, name: &str, now: u64, ttl_s: u64) -> String {
        self.sign(&format!("g|{}|{subject}|{name}", now + ttl_s))
    }

    /// Verifies a guest token at time `now`.
    pub fn verify_guest(&self, token: &str, now: u64) -> Result<Identity, TokenError> {
        let fields = self.open(token, "g", now)?;
        match fields.as_slice() {
            [subject, name] if !subject.is_empty() => Ok(Identity { subject: subject.clone(), name: name.clone() }),
            _ => Err(TokenError::Malformed),
        }
    }

    /// A resume token for `claim`, valid `ttl_s` seconds from `now`.
    pub fn mint_resume(&self, claim: &ResumeClaim, now: u64, ttl_s: u64) -> String {
        let ResumeClaim { room_id, room, player, epoch, nonce } = claim;
        self.sign(&format!("r|{}|{room_id}|{room}|{player}|{epoch}|{nonce}", now + ttl_s))
    }

    /// Verifies a resume token at time `now`.
    pub fn verify_resume(&self, token: &str, now: u64) -> Result<ResumeClaim, TokenError> {
        let fields = self.open(token, "r", now)?;
        match fields.as_slice() {
            [room_id, room, player, epoch, nonce] => Ok(ResumeClaim {
                room_id: room_id.parse().map_err(|_| TokenError::Malformed)?,
                room: room.clone(),
                player: player.parse().map_err(|_| TokenError::Malformed)?,
                epoch: epoch.parse().map_err(|_| TokenError::Malformed)?,
                nonce: nonce.parse().map_err(|_| TokenError::Malformed)?,
            }),
            _ => Err(TokenError::Malformed),
        }
    }
}

impl TokenKeys {
    /// A seat reservation token for `claim`, valid `ttl_s` seconds from `now`.
    pub fn mint_seat(&self, claim: &SeatClaim, now: u64, ttl_s: u64) -> String {
        self.sign(&format!("s|{}|{}|{}|{}", now + ttl_s, claim.room, claim.nonce, u8::from(claim.any)))
    }

    /// Verifies a seat reservation token at time `now`.
    pub fn verify_seat(&self, token: &str, now: u64) -> Result<SeatClaim, TokenError> {
        let fields = self.open(token, "s", now)?;
        match fields.as_slice() {
            [room, nonce, any] => Ok(SeatClaim {
                room: room.clone(),
                nonce: nonce.parse().map_err(|_| TokenError::Malformed)?,
                any: match any.as_str() {
                    "0" => false,
                    "1" => true,
                    _ => return Err(TokenError::Malformed),
                },
            }),
            _ => Err(TokenError::Malformed),
        }
    }
}

/// A fresh random guest subject: 16 bytes as 22 base64url characters (no `|`).
pub fn new_subject() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The default [`Authenticator`]: guest tokens signed by [`TokenKeys`].
#[derive(Debug, Clone)]
pub struct GuestAuthenticator(pub TokenKeys);

impl Authenticator for GuestAuthenticator {
    fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        self.0.verify_guest(token, unix_now())
    }
}

/// Checks a player name: 1..=max bytes, letters, digits, spaces, `-`, `_`, `.`; no
/// leading or trailing space.
pub fn check_player_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() || name.len() > max {
        return Err(format!("name must be 1..={max} bytes"));
    }
    if name.trim() != name {
        return Err("name must not start or end with a space".into());
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')) {
        return Err("name may hold letters, digits, spaces, '-', '_' and '.' only".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_tokens_verify_and_expire_and_resist_forgery() {
        let keys = TokenKeys::new("secret");
        let t = keys.mint_guest_as("s1", "Ada", 1000, 60);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        assert_eq!(keys.verify_guest(&t, 1059), Ok(Identity { subject: "s1".into(), name: "Ada".into() }));
        assert_eq!(keys.verify_guest(&t, 1060), Err(TokenError::Expired));
        assert_eq!(TokenKeys::new("other").verify_guest(&t, 1000), Err(TokenError::BadSignature));
        let (p, s) = t.split_once('.').unwrap();
        let forged = format!("{}.{s}", URL_SAFE_NO_PAD.encode(b"g|99999|s1|Eve"));
        assert_eq!(keys.verify_guest(&forged, 1000), Err(TokenError::BadSignature));
        assert_eq!(keys.verify_guest(p, 1000), Err(TokenError::Malformed));
        assert_eq!(keys.verify_resume(&t, 1000), Err(TokenError::Malformed));
        // The old subject-less format is refused: its holder fetches a new token.
        let old = keys.sign("g|99999|Ada");
        assert_eq!(keys.verify_guest(&old, 1000), Err(TokenError::Malformed));
    }

    #[test]
    fn every_minted_guest_token_is_a_new_subject() {
        let keys = TokenKeys::new("secret");
        let a = keys.verify_guest(&keys.mint_guest("Ada", 1000, 60), 1000).unwrap();
        let b = keys.verify_guest(&keys.mint_guest("Ada", 1000, 60), 1000).unwrap();
        assert_eq!((a.name.as_str(), b.name.as_str()), ("Ada", "Ada"));
        assert_ne!(a.subject, b.subject);
        assert!(a.subject.len() >= 22 && !a.subject.contains('|'));
    }

    #[test]
    fn resume_tokens_round_trip() {
        let keys = TokenKeys::new("");
        let claim = ResumeClaim { room_id: 7, room: "lobby".into(), player: 3, epoch: 12, nonce: u64::MAX };
        let t = keys.mint_resume(&claim, 5, 10);
        assert_eq!(keys.verify_resume(&t, 6), Ok(claim));
    }

    #[test]
    fn seat_tokens_round_trip_and_are_not_other_tokens() {
        let keys = TokenKeys::new("s");
        let claim = SeatClaim { room: "mm-4".into(), nonce: 99, any: true };
        let t = keys.mint_seat(&claim, 5, 10);
        assert_eq!(keys.verify_seat(&t, 6), Ok(claim));
        assert_eq!(keys.verify_seat(&t, 15), Err(TokenError::Expired));
        assert_eq!(keys.verify_guest(&t, 6), Err(TokenError::Malformed));
        assert_eq!(keys.verify_resume(&t, 6), Err(TokenError::Malformed));
    }

    #[test]
    fn player_names_are_checked() {
        assert!(check_player_name("Ada Lovelace", 24).is_ok());
        assert!(check_player_name("", 24).is_err());
        assert!(check_player_name(" x", 24).is_err());
        assert!(check_player_name("a|b", 24).is_err());
        assert!(check_player_name("<script>", 24).is_err());
    }
}
