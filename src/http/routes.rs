//! HTTP routes: the demo page, health, metrics, the rooms and session APIs, and the
//! WebSocket endpoint where a player's session starts.

use super::accept::AcceptedConnection;
use super::handshake::{
    self, check_origin, check_subprotocols, check_upgrade, client_ip, placement_status, HandshakeError,
};
use super::upgrade::{AcceptedSession, UpgradeSlot};
use super::AppState;
use crate::actors::directory::{
    check_room_name, seat_nonce, Ask, Located, Placement, PlacementError, PlacementRequest, Requester,
};
use crate::actors::session::SessionStart;
use crate::metrics;
use crate::protocol::close_code;
use crate::tokens::{check_player_name, unix_now, SeatClaim};
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::net::IpAddr;

/// `assets/$file` compiled in, served at `/$file`: `(path, content type, body)`.
macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        (concat!("/", $file), $content_type, include_str!(concat!("../../assets/", $file)))
    };
}

/// The browser client's modules and the demo page's files: one line per file.
const ASSETS: &[(&str, &str, &str)] = &[
    asset!("tickcast.js", "text/javascript"),
    asset!("codec.js", "text/javascript"),
    asset!("state.js", "text/javascript"),
    asset!("clock.js", "text/javascript"),
    asset!("prediction.js", "text/javascript"),
    asset!("client.js", "text/javascript"),
    asset!("matchmake.js", "text/javascript"),
    asset!("arena.js", "text/javascript"),
    asset!("demo.js", "text/javascript"),
    asset!("demo.css", "text/css"),
];

/// Registers every public route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| asset("text/html; charset=utf-8", include_str!("../../assets/index.html"))));
    for &(path, content_type, body) in ASSETS {
        cfg.route(path, web::get().to(move || asset(content_type, body)));
    }
    cfg.route("/healthz", web::get().to(|| async { HttpResponse::Ok().content_type("text/plain").body("ok\n") }))
        .route("/metrics", web::get().to(metrics_route))
        .route("/api/rooms", web::get().to(rooms_route))
        .route("/api/rooms", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route("/api/session", web::post().to(session_route))
        .route("/api/session", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        .route("/api/matchmake", web::get().to(matchmake_route))
        .route("/api/matchmake", web::method(actix_web::http::Method::OPTIONS).to(preflight))
        // Every method: a POST is refused by the handshake check (400), as documented.
        .route("/ws", web::route().to(ws_route));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "no-cache")).body(body)
}

async fn metrics_route(state: web::Data<AppState>) -> HttpResponse {
    let local = state.directory.local_rooms();
    metrics::set_players(local.iter().map(|r| r.shared.seats.load(std::sync::atomic::Ordering::Acquire)).sum());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(metrics::render())
}

/// CORS for `/api/*`: the same allow-list as WebSocket origins. A request from a
/// foreign origin is refused with 403; an allowed one gets the CORS headers.
fn cors(req: &HttpRequest, state: &AppState, mut res: HttpResponse) -> HttpResponse {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else { return res };
    if check_origin(req, &state.allowed_origins(), false).is_err() {
        return HttpResponse::Forbidden().content_type("text/plain").body("origin not allowed\n");
    }
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, header::HeaderValue::from_static("GET, POST, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, header::HeaderValue::from_static("content-type"));
    res
}

async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    cors(&req, &state, HttpResponse::NoContent().finish())
}

async fn rooms_route(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let res = match state.directory.list().await {
        Ok(rooms) => HttpResponse::Ok().json(rooms),
        Err(e) => text(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    cors(&req, &state, res)
}

#[derive(serde::Serialize)]
struct MatchmakeResponse {
    url: String,
    room: String,
    node: String,
    seat: String,
    expires_in: u64,
}

/// This node's WebSocket base URL: `cluster.public_url` (or the bound address in a
/// cluster), else what the client used to reach it.
fn own_base_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(url) = &state.public_url {
        return url.clone();
    }
    let info = req.connection_info();
    let scheme = if info.scheme() == "https" { "wss" } else { "ws" };
    // A request naming no host gets actix-web's default `AppConfig` host (the server is
    // assembled without HttpServer, which would set the bound address there).
    let host = match state.bound {
        Some(bound) if info.host() == req.app_config().host() => bound.to_string(),
        _ => info.host().to_string(),
    };
    format!("{scheme}://{host}")
}

/// `GET /api/matchmake[?room=NAME]`: where to play. Answers the WebSocket URL of the
/// node that runs (or will run) the room and a signed, short-lived seat reservation.
async fn matchmake_route(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let sec = &state.settings.security;
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(req.peer_addr(), forwarded, &sec.trusted_proxies);
    if let Some(ip) = ip {
        if state.matchmake_limiter.check_key(&ip).is_err() {
            return cors(&req, &state, text(StatusCode::TOO_MANY_REQUESTS, "too many matchmaking requests"));
        }
    }
    let query = match web::Query::<MatchmakeQuery>::from_query(req.query_string()) {
        Ok(q) => q.into_inner(),
        Err(e) => return cors(&req, &state, text(StatusCode::BAD_REQUEST, format!("bad query: {e}"))),
    };
    if let Some(room) = &query.room {
        if let Err(e) = check_room_name(room, state.settings.room.max_name_bytes) {
            return cors(&req, &state, text(StatusCode::BAD_REQUEST, e.to_string()));
        }
    }
    let placed = match (query.resume, &query.room) {
        (Some(1), Some(room)) => match state.directory.locate(room, None).await {
            // A resuming player has its seat: answer where, with a seat token held by
            // nobody (a resume does not use it).
            Ok(Located::Here(h)) => {
                let url = format!("{}/ws?room={}", own_base_url(&req, &state), h.name);
                (h.name.to_string(), state.node.clone(), url, seat_nonce())
            }
            Ok(Located::Elsewhere(r)) => (r.room.clone(), r.node.clone(), r.ws_url(), r.seat),
            Ok(Located::Gone) => return cors(&req, &state, text(StatusCode::GONE, "no such room: join afresh")),
            Err(e) => return cors(&req, &state, text(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        },
        (Some(_), _) => {
            return cors(&req, &state, text(StatusCode::BAD_REQUEST, "resume=1 needs a room"));
        }
        // No token here: a room it creates counts against the IP alone.
        (None, room) => match placement_answer(&req, &state, room.clone(), Requester::new(ip, None)).await {
            Ok(answer) => answer,
            Err(res) => return cors(&req, &state, res),
        },
    };
    let any = query.room.is_none();
    let (room, node, url, nonce) = placed;
    let ttl = state.settings.cluster.seat_ttl_s;
    let seat = state.keys.mint_seat(&SeatClaim { room: room.clone(), nonce, any }, unix_now(), ttl);
    cors(&req, &state, HttpResponse::Ok().json(MatchmakeResponse { url, room, node, seat, expires_in: ttl }))
}

/// Places a player for `/api/matchmake`: room, node, URL and the held seat's nonce.
async fn placement_answer(
    req: &HttpRequest,
    state: &AppState,
    room: Option<String>,
    who: Requester,
) -> Result<(String, String, String, u64), HttpResponse> {
    use actix_web::http::StatusCode;
    match state.directory.place(PlacementRequest::Matchmake { room, who }).await {
        Ok(Placement::Held(seat)) => {
            let url = format!("{}/ws?room={}", own_base_url(req, state), seat.room);
            Ok((seat.room, state.node.clone(), url, seat.nonce))
        }
        Ok(Placement::Elsewhere(r)) => Ok((r.room.clone(), r.node.clone(), r.ws_url(), r.seat)),
        // A seat taken for no session (never the answer to a matchmaking request): it is
        // freed here, and the client asks again.
        Ok(Placement::Here(_)) => Err(text(StatusCode::SERVICE_UNAVAILABLE, "no seat held: try again")),
        // This node's own bound on held seats, not a refusal of the client's request.
        Err(e @ PlacementError::TooManyPendingSeats) => Err(text(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => {
            metrics::matchmake_rejected(e.label());
            Err(text(placement_status(&e), e.to_string()))
        }
    }
}

#[derive(Deserialize)]
struct SessionRequest {
    name: String,
}

#[derive(serde::Serialize)]
struct SessionResponse {
    token: String,
    expires_in: u64,
}

fn text(status: actix_web::http::StatusCode, msg: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(msg.into() + "\n")
}

async fn session_route(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let sec = &state.settings.security;
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if let Some(ip) = client_ip(req.peer_addr(), forwarded, &sec.trusted_proxies) {
        // A banned guest must not mint itself a new subject from the same address.
        if state.bans.ip_banned(ip) {
            return cors(&req, &state, text(StatusCode::FORBIDDEN, "this address is banned by an admin"));
        }
        if state.mint_limiter.check_key(&ip).is_err() {
            return cors(&req, &state, text(StatusCode::TOO_MANY_REQUESTS, "too many session requests"));
        }
    }
    if body.len() > 1024 {
        return cors(&req, &state, text(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
    }
    let Ok(request) = serde_json::from_slice::<SessionRequest>(&body) else {
        return cors(&req, &state, text(StatusCode::BAD_REQUEST, "expected JSON {\"name\": \"...\"}"));
    };
    if let Err(why) = check_player_name(&request.name, sec.max_player_name_bytes) {
        return cors(&req, &state, text(StatusCode::BAD_REQUEST, why));
    }
    let token = state.keys.mint_guest(&request.name, unix_now(), sec.token_ttl_s);
    cors(&req, &state, HttpResponse::Ok().json(SessionResponse { token, expires_in: sec.token_ttl_s }))
}

#[derive(Deserialize)]
struct WsQuery {
    room: Option<String>,
}

#[derive(Deserialize)]
struct MatchmakeQuery {
    room: Option<String>,
    /// `resume=1`: only where the room is (restoring it if its node died); no seat.
    #[serde(default)]
    resume: Option<u8>,
}

async fn ws_route(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match ws_upgrade(&req, &state).await {
        Ok(res) => res,
        Err(e) => {
            metrics::handshake_rejected(e.label());
            tracing::debug!(error = %e, "handshake refused");
            e.response()
        }
    }
}

/// Runs every check of the handshake and places the player; on success leaves the
/// session in the request's [`UpgradeSlot`] and answers 101 (the upgrade service then
/// hands the socket to the session, see `upgrade`).
async fn ws_upgrade(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, HandshakeError> {
    let settings = &state.settings;
    let sec = &settings.security;
    check_upgrade(req)?;
    check_origin(req, &state.allowed_origins(), sec.require_origin)?;
    let offered = check_subprotocols(req)?;
    let query = web::Query::<WsQuery>::from_query(req.query_string())
        .map_err(|e| HandshakeError::BadRequest(format!("bad query: {e}")))?;
    if let Some(room) = &query.room {
        check_room_name(room, settings.room.max_name_bytes).map_err(|e| HandshakeError::BadRequest(e.to_string()))?;
    }
    // Only requests that came through the upgrade service carry a slot; actix-http sends
    // every request with `Upgrade: websocket` there, and check_upgrade required it.
    let upgrade = req.extensions().get::<UpgradeSlot>().cloned();
    let Some(upgrade) = upgrade else { return Err(HandshakeError::NotUpgrade("Upgrade: websocket expected")) };
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(req.peer_addr(), forwarded, &sec.trusted_proxies);
    let slot = state.connections.acquire(ip)?;

    let start = session_start(state, &offered, query.room.as_deref(), ip).await?;
    let response = actix_http::ws::handshake_response(req.head())
        .insert_header((header::SEC_WEBSOCKET_PROTOCOL, offered.version.subprotocol()))
        .finish()
        .map_into_boxed_body();
    if let Some(conn) = req.conn_data::<AcceptedConnection>() {
        conn.upgraded();
    }
    upgrade.put(AcceptedSession { start, slot });
    Ok(HttpResponse::from(response))
}

/// Decides how the session starts: resume, join, or refuse with a close code.
async fn session_start(
    state: &AppState,
    offered: &handshake::Offered,
    room: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<SessionStart, HandshakeError> {
    let refuse = |code: u16, reason: &str| Ok(SessionStart::Refuse { code, reason: reason.to_string() });
    if ip.is_some_and(|ip| state.bans.ip_banned(ip)) {
        metrics::handshake_rejected("banned");
        return refuse(close_code::KICKED, "banned by an admin");
    }
    if let Some(token) = &offered.resume {
        let claim = match state.keys.verify_resume(token, unix_now()) {
            Ok(c) => c,
            Err(e) => {
                metrics::handshake_rejected("resume_token");
                return refuse(close_code::UNAUTHORIZED, &format!("resume refused: {e}"));
            }
        };
        return match state.directory.locate(&claim.room, Some(claim.room_id)).await {
            Ok(Located::Here(room)) => Ok(SessionStart::Join {
                room,
                seat: None,
                name: String::new(),
                resume: Some(claim),
                subject: None,
                ip,
                slot: None,
                version: offered.version,
            }),
            Ok(Located::Elsewhere(r)) => {
                metrics::handshake_rejected("wrong_node");
                refuse(close_code::WRONG_NODE, &r.ws_url())
            }
            Ok(Located::Gone) => refuse(close_code::UNAUTHORIZED, "resume refused: room no longer exists"),
            Err(e) => Err(HandshakeError::Unavailable(e.to_string())),
        };
    }
    // Who a room this session creates counts against: its IP, and its token's identity.
    let mut who = Requester::new(ip, None);
    let (name, subject) = match (&offered.token, state.settings.security.require_token) {
        (Some(token), _) => match state.auth.verify(token) {
            Ok(identity) => {
                who = Requester::new(ip, Some(&identity));
                (identity.name, Some(identity.subject))
            }
            Err(e) => {
                metrics::handshake_rejected("token");
                return refuse(close_code::UNAUTHORIZED, &format!("{e}: get a new token"));
            }
        },
        (None, true) => {
            metrics::handshake_rejected("token");
            return refuse(close_code::UNAUTHORIZED, "token required: POST /api/session");
        }
        (None, false) => ("guest".to_string(), None),
    };
    if subject.as_deref().is_some_and(|s| state.bans.subject_banned(s)) {
        metrics::handshake_rejected("banned");
        return refuse(close_code::KICKED, "banned by an admin");
    }
    // Counted before placement, so a refused subject takes no seat. The slot goes with
    // the player into the room and is freed when the player is removed.
    let slot = match &subject {
        Some(s) => match state.subjects.acquire(s) {
            Some(slot) => Some(slot),
            None => {
                metrics::handshake_rejected("sessions_per_token");
                return refuse(close_code::TOO_MANY_SESSIONS, "too many sessions for this token");
            }
        },
        None => None,
    };
    let version = offered.version;
    let joining = |room, seat| SessionStart::Join { room, seat, name, resume: None, subject, ip, slot, version };
    // A seat from /api/matchmake names its room (and overrides the query's): the
    // directory seats the player where it is held, or wherever its rules send it.
    let ask = match &offered.seat {
        Some(seat) => match state.keys.verify_seat(seat, unix_now()) {
            Ok(claim) => Ask::Seat(claim),
            Err(e) => {
                metrics::handshake_rejected("seat_token");
                return refuse(close_code::UNAUTHORIZED, &format!("seat refused: {e}: matchmake again"));
            }
        },
        None => room.map_or(Ask::Any, |name| Ask::Named(name.to_string())),
    };
    match state.directory.place(PlacementRequest::Join { ask, who }).await {
        Ok(Placement::Here(r)) => Ok(joining(r.room, Some(r.seat))),
        Ok(Placement::Elsewhere(r)) => {
            metrics::handshake_rejected("wrong_node");
            refuse(close_code::WRONG_NODE, &r.ws_url())
        }
        // A seat held for a token (never the answer to a join): nobody has its nonce, so
        // its hold lapses after `cluster.seat_ttl_s`; the client retries.
        Ok(Placement::Held(_)) => Err(HandshakeError::Unavailable("no seat taken: retry".into())),
        Err(PlacementError::RoomFull) => {
            metrics::handshake_rejected("room_full");
            refuse(close_code::ROOM_FULL, "room is full")
        }
        Err(PlacementError::BadName(why)) => Err(HandshakeError::BadRequest(format!("invalid room name: {why}"))),
        Err(
            e @ (PlacementError::TooManyRooms | PlacementError::TooManyOpenRooms | PlacementError::CreatingTooFast),
        ) => Err(HandshakeError::RoomLimit(e)),
        Err(e @ (PlacementError::Unavailable(_) | PlacementError::TooManyPendingSeats)) => {
            Err(HandshakeError::Unavailable(e.to_string()))
        }
    }
}
