//! The admin API, on its own address (`admin.bind`, loopback by default) and only when
//! `admin.token` is set. Every request needs `Authorization: Bearer <admin.token>`.
//!
//! - `GET /admin/sessions`: every member of every room, with its link counters.
//! - `POST /admin/kick` `{"room", "player", "ban": bool}`: close with 4403 and remove the
//!   player; with `ban`, its token subject is refused from then on (until restart), and
//!   its client IP for `security.ban_ip_s` (see `bans`). The answer says what was banned.
//! - `POST /admin/disconnect` `{"room", "player"}`: close with 1012 but keep the player
//!   for its reconnect grace window (operators and tests use it to force a resume).

use super::AppState;
use crate::actors::room::{ClosePlayer, ListMembers, MemberInfo};
use crate::protocol::{close_code, PlayerId};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Registers the admin routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/sessions", web::get().to(sessions))
        .route("/admin/kick", web::post().to(kick))
        .route("/admin/disconnect", web::post().to(disconnect));
}

fn authorized(req: &HttpRequest, state: &AppState) -> bool {
    let expected = state.settings.admin.token.as_bytes();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected))
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .content_type("text/plain")
        .body("admin token required\n")
}

#[derive(Serialize)]
struct SessionRow {
    room: String,
    #[serde(flatten)]
    member: MemberInfo,
}

async fn sessions(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !authorized(&req, &state) {
        return unauthorized();
    }
    let mut rows = Vec::new();
    for room in state.directory.local_rooms() {
        if let Ok(members) = room.addr.send(ListMembers).await {
            rows.extend(members.into_iter().map(|member| SessionRow { room: room.name.to_string(), member }));
        }
    }
    HttpResponse::Ok().json(rows)
}

#[derive(Deserialize)]
struct Target {
    room: String,
    player: PlayerId,
    #[serde(default)]
    ban: bool,
}

async fn close_player(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
    code: u16,
    reason: &str,
    remove: bool,
) -> HttpResponse {
    if !authorized(&req, &state) {
        return unauthorized();
    }
    let Ok(target) = serde_json::from_slice::<Target>(&body) else {
        return HttpResponse::BadRequest().content_type("text/plain").body("expected JSON {\"room\", \"player\"}\n");
    };
    let Some(room) = state.directory.find(&target.room) else {
        return HttpResponse::NotFound().content_type("text/plain").body("no such room\n");
    };
    let msg = ClosePlayer { player: target.player, code, reason: reason.to_string(), remove };
    match room.addr.send(msg).await {
        Ok(Some(closed)) => {
            let banned = target.ban && remove;
            if banned {
                state.bans.ban(closed.subject.as_deref(), closed.ip);
            }
            let name = closed.name;
            tracing::info!(room = %target.room, player = target.player, %name, code, banned, "admin closed session");
            let ip_banned = banned && closed.ip.is_some() && state.settings.security.ban_ip_s > 0;
            HttpResponse::Ok().json(serde_json::json!({
                "closed": true,
                "name": name,
                "banned_subject": banned && closed.subject.is_some(),
                "banned_ip": ip_banned,
            }))
        }
        Ok(None) => HttpResponse::NotFound().content_type("text/plain").body("no such player\n"),
        Err(_) => HttpResponse::ServiceUnavailable().content_type("text/plain").body("room is gone\n"),
    }
}

async fn kick(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    close_player(req, body, state, close_code::KICKED, "kicked by an admin", true).await
}

async fn disconnect(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    close_player(req, body, state, close_code::TRY_AGAIN, "disconnected by an admin", false).await
}
