//! WebSocket handshake checks, run before the upgrade. Each failure maps to exactly one
//! HTTP status with a one-line plain-text reason. Refusals an honest client must act on
//! (bad token, full room) are not here: they complete the upgrade and close with a 4xxx
//! code, because a browser cannot read the status of a refused upgrade.

use crate::actors::directory::PlacementError;
use crate::protocol::{
    ProtocolVersion, RESUME_PREFIX, SEAT_PREFIX, SUBPROTOCOL, SUBPROTOCOL_V2, SUBPROTOCOL_V3, TOKEN_PREFIX,
};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Why a handshake was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a WebSocket upgrade (method, Upgrade or Connection header): 400.
    NotUpgrade(&'static str),
    /// An upgrade over HTTP/1.0 (RFC 6455 §4.1 requires HTTP/1.1 or later): 505.
    HttpVersion,
    /// `Sec-WebSocket-Version` is not 13: 426.
    BadVersion,
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes: 400.
    BadKey,
    /// `Origin` not allowed: 403.
    OriginRefused(String),
    /// `tickcast.v1` not offered: 400.
    NoSubprotocol,
    /// Bad query (room name): 400.
    BadRequest(String),
    /// Too many connections on the node: 503.
    TooManyConnections,
    /// Too many connections from this IP: 429.
    TooManyFromIp,
    /// No placement possible now (the cluster directory unreachable): 503.
    Unavailable(String),
    /// A room-creation limit: `room.max_rooms` (503), `room.max_open_per_ip` or
    /// `room.create_per_minute` (429). The reason names the limit.
    RoomLimit(PlacementError),
}

impl HandshakeError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::NotUpgrade(_)
            | HandshakeError::BadKey
            | HandshakeError::NoSubprotocol
            | HandshakeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HandshakeError::BadVersion => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::HttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HandshakeError::OriginRefused(_) => StatusCode::FORBIDDEN,
            HandshakeError::TooManyConnections | HandshakeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HandshakeError::TooManyFromIp => StatusCode::TOO_MANY_REQUESTS,
            HandshakeError::RoomLimit(e) => placement_status(e),
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            HandshakeError::NotUpgrade(_) => "not_upgrade",
            HandshakeError::BadVersion => "version",
            HandshakeError::HttpVersion => "http_version",
            HandshakeError::BadKey => "key",
            HandshakeError::OriginRefused(_) => "origin",
            HandshakeError::NoSubprotocol => "subprotocol",
            HandshakeError::BadRequest(_) => "bad_request",
            HandshakeError::TooManyConnections => "max_connections",
            HandshakeError::TooManyFromIp => "max_connections_per_ip",
            HandshakeError::Unavailable(_) => "unavailable",
            HandshakeError::RoomLimit(e) => e.label(),
        }
    }

    /// The response: status, reason as plain text, and `Sec-WebSocket-Version: 13` on 426.
    pub fn response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status());
        if matches!(self, HandshakeError::BadVersion) {
            res.insert_header((header::SEC_WEBSOCKET_VERSION, "13"));
        }
        res.content_type("text/plain; charset=utf-8").body(format!("{self}\n"))
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotUpgrade(why) => write!(f, "not a WebSocket upgrade: {why}"),
            HandshakeError::BadVersion => f.write_str("unsupported Sec-WebSocket-Version (13 required)"),
            HandshakeError::HttpVersion => f.write_str("a WebSocket upgrade needs HTTP/1.1"),
            HandshakeError::BadKey => f.write_str("invalid Sec-WebSocket-Key header"),
            HandshakeError::OriginRefused(o) => write!(f, "origin not allowed: {o}"),
            HandshakeError::NoSubprotocol => {
                write!(f, "subprotocol {SUBPROTOCOL}, {SUBPROTOCOL_V2} or {SUBPROTOCOL_V3} must be offered")
            }
            HandshakeError::BadRequest(why) => f.write_str(why),
            HandshakeError::TooManyConnections => f.write_str("server is at its connection limit"),
            HandshakeError::TooManyFromIp => f.write_str("too many connections from this address"),
            HandshakeError::Unavailable(why) => write!(f, "no room can be placed now: {why}"),
            HandshakeError::RoomLimit(e) => e.fmt(f),
        }
    }
}

/// The HTTP status of a placement refusal, on `/ws` before the upgrade and on
/// `/api/matchmake`: a limit of the requester's own is 429, the server's 503.
pub fn placement_status(e: &PlacementError) -> StatusCode {
    match e {
        PlacementError::RoomFull => StatusCode::CONFLICT,
        PlacementError::BadName(_) => StatusCode::BAD_REQUEST,
        PlacementError::TooManyOpenRooms | PlacementError::CreatingTooFast => StatusCode::TOO_MANY_REQUESTS,
        PlacementError::TooManyRooms | PlacementError::Unavailable(_) | PlacementError::TooManyPendingSeats => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

impl From<crate::net::SlotRefused> for HandshakeError {
    fn from(refused: crate::net::SlotRefused) -> Self {
        match refused {
            crate::net::SlotRefused::Total => HandshakeError::TooManyConnections,
            crate::net::SlotRefused::PerIp => HandshakeError::TooManyFromIp,
        }
    }
}

/// Checks method, Upgrade/Connection headers, version and key (RFC 6455 §4.2.1).
pub fn check_upgrade(req: &HttpRequest) -> Result<(), HandshakeError> {
    use actix_http::ws::{verify_handshake, HandshakeError as H};
    if req.version() < actix_web::http::Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    verify_handshake(req.head()).map_err(|e| match e {
        H::GetMethodRequired => HandshakeError::NotUpgrade("method must be GET"),
        H::NoWebsocketUpgrade => HandshakeError::NotUpgrade("Upgrade: websocket expected"),
        H::NoConnectionUpgrade => HandshakeError::NotUpgrade("Connection: Upgrade expected"),
        H::NoVersionHeader | H::UnsupportedVersion => HandshakeError::BadVersion,
        H::BadWebsocketKey => HandshakeError::BadKey,
    })
}

/// The origins of this server's own pages. A browser names the page's origin in
/// `Origin`; the server's own is allowed without listing it, but only for addresses it
/// is configured to serve: `server.public_origins`, its bound address (with `localhost`
/// for a loopback or wildcard bind) and, in a cluster, `cluster.public_url`. Never the
/// request's `Host` header, which a DNS-rebinding page controls.
pub fn own_origins(bound: SocketAddr, public_origins: &[String], public_url: Option<&str>) -> Vec<String> {
    let port = bound.port();
    let with_port = |host: &str| if port == 80 { format!("http://{host}") } else { format!("http://{host}:{port}") };
    let mut own: Vec<String> = public_origins.to_vec();
    let ip = bound.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        own.extend(["localhost", "127.0.0.1", "[::1]"].map(with_port));
    }
    if !ip.is_unspecified() {
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        own.push(with_port(&host));
    }
    if let Some(url) = public_url {
        if let Some(rest) = url.strip_prefix("wss://") {
            own.push(format!("https://{rest}"));
        } else if let Some(rest) = url.strip_prefix("ws://") {
            own.push(format!("http://{rest}"));
        }
    }
    own.sort();
    own.dedup();
    own
}

/// Checks `Origin` against `allowed` (which holds the server's own origins too, see
/// [`own_origins`]). A missing header is allowed unless `require`.
pub fn check_origin(req: &HttpRequest, allowed: &[String], require: bool) -> Result<(), HandshakeError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return if require { Err(HandshakeError::OriginRefused("(none)".into())) } else { Ok(()) };
    };
    let origin = origin.to_str().map_err(|_| HandshakeError::OriginRefused("(not text)".into()))?;
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    Err(HandshakeError::OriginRefused(origin.chars().take(100).collect()))
}

/// What the client offered in `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// The newest protocol version offered that the server speaks: the one the
    /// connection uses (answered in the 101 and named again in Welcome).
    pub version: ProtocolVersion,
    /// A session token (`tickcast.token.<t>`).
    pub token: Option<String>,
    /// A resume token (`tickcast.resume.<t>`).
    pub resume: Option<String>,
    /// A seat reservation from `/api/matchmake` (`tickcast.seat.<t>`).
    pub seat: Option<String>,
}

/// Parses the subprotocol list; it must name at least one protocol version the server
/// speaks (`tickcast.v1`, `tickcast.v2`), and the newest of them is chosen, wherever it
/// is in the list (the list says what a client speaks, not what it prefers).
pub fn check_subprotocols(req: &HttpRequest) -> Result<Offered, HandshakeError> {
    let mut offered = Offered { version: ProtocolVersion::V1, token: None, resume: None, seat: None };
    let mut newest = None;
    for value in req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',').map(str::trim) {
            if let Some(v) = ProtocolVersion::from_subprotocol(item) {
                newest = newest.max(Some(v));
            } else if let Some(t) = item.strip_prefix(TOKEN_PREFIX) {
                offered.token = Some(t.to_string());
            } else if let Some(t) = item.strip_prefix(RESUME_PREFIX) {
                offered.resume = Some(t.to_string());
            } else if let Some(t) = item.strip_prefix(SEAT_PREFIX) {
                offered.seat = Some(t.to_string());
            }
        }
    }
    offered.version = newest.ok_or(HandshakeError::NoSubprotocol)?;
    Ok(offered)
}

/// The client's IP: the socket peer, or the last `X-Forwarded-For` hop when the peer is
/// a trusted proxy. (actix's `realip_remote_addr` believes the header from anyone.)
pub fn client_ip(peer: Option<SocketAddr>, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    forwarded_for
        .and_then(|v| v.rsplit(',').map(str::trim).find(|hop| !hop.is_empty()))
        .and_then(|hop| hop.parse().ok())
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origins_come_from_configuration_not_from_host() {
        let loopback = own_origins("127.0.0.1:8080".parse().unwrap(), &[], None);
        assert!(loopback.contains(&"http://127.0.0.1:8080".to_string()));
        assert!(loopback.contains(&"http://localhost:8080".to_string()));
        let public = own_origins(
            "10.0.0.5:80".parse().unwrap(),
            &["https://play.example.com".into()],
            Some("wss://node1.example.com"),
        );
        assert_eq!(public, ["http://10.0.0.5", "https://node1.example.com", "https://play.example.com"]);
        let v6 = own_origins("[2001:db8::1]:9000".parse().unwrap(), &[], None);
        assert_eq!(v6, ["http://[2001:db8::1]:9000"]);
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap()];
        assert_eq!(client_ip(Some(peer), Some("1.2.3.4"), &[]), Some(peer.ip()));
        assert_eq!(client_ip(Some(peer), Some("9.9.9.9, 1.2.3.4"), &trusted), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), Some("garbage"), &trusted), Some(peer.ip()));
    }
}
