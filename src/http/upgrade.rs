//! The door every `Upgrade: websocket` request goes through, on any path.
//!
//! actix-http hands such a request to the upgrade service with its connection, before
//! any routing. The request still goes through the actix-web application (middleware,
//! routes, and so every check of `handshake` on `/ws`), with an [`UpgradeSlot`] in its
//! extensions. When `/ws` accepts, it leaves the session to start in the slot and
//! answers 101; this service then writes the 101, takes the socket out of the HTTP
//! layer and starts the session actor over it, on the thread of the room it joins. Any other answer (a refused handshake,
//! another path) is written with its body and the connection closed.

use super::AppState;
use crate::actors::link::MemberLink;
use crate::actors::session::{SessionActor, SessionStart};
use crate::actors::world::WorldActor;
use crate::config::Settings;
use crate::net::ws::handoff::{self, HttpFramed};
use crate::net::ws::{ConnectionReader, ConnectionWriter, FrameLimits};
use crate::net::{ConnectionSlot, SocketHandle};
use crate::protocol::close_code;
use actix::{Actor, Addr, ArbiterHandle};
use actix_http::{HttpMessage, Request, StatusCode};
use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{web, HttpResponse};
use bytes::BytesMut;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use tokio::net::TcpStream;

/// A session accepted by `/ws`, waiting for its socket.
pub struct AcceptedSession {
    /// How it starts.
    pub start: SessionStart,
    /// Its count against the connection limits.
    pub slot: ConnectionSlot,
}

/// Where `/ws` leaves the session it accepted (in the request's extensions).
#[derive(Clone, Default)]
pub struct UpgradeSlot(Rc<RefCell<Option<AcceptedSession>>>);

impl UpgradeSlot {
    /// Leaves `session` for the upgrade service to start.
    pub fn put(&self, session: AcceptedSession) {
        *self.0.borrow_mut() = Some(session);
    }

    fn take(&self) -> Option<AcceptedSession> {
        self.0.borrow_mut().take()
    }
}

/// Serves one upgrade request with `app` (the same application as every other request).
pub async fn serve<S>(app: Rc<S>, state: web::Data<AppState>, req: Request, framed: HttpFramed) -> io::Result<()>
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    let slot = UpgradeSlot::default();
    req.extensions_mut().insert(slot.clone());
    let res: HttpResponse<BoxBody> = match app.call(req).await {
        Ok(res) => res.into_parts().1,
        Err(e) => e.as_response_error().error_response(),
    };
    let accepted = slot.take();
    let Some(accepted) = accepted.filter(|_| res.status() == StatusCode::SWITCHING_PROTOCOLS) else {
        return handoff::answer_and_close(framed, res.into()).await;
    };
    let (head, _) = actix_http::Response::from(res).into_parts();
    let (stream, early) = handoff::switch(framed, head).await?;
    let parts = SessionParts { settings: state.settings.clone(), world: state.world.clone(), early, accepted };
    match parts.room_thread() {
        // A joining session runs on its room's thread: the room writes the tick's frames
        // to its members' sockets from there, and the session reads the member's input
        // there, so a tick costs the room's sockets no wake-up of another thread. The
        // socket moves between the two threads' reactors: out of this worker's here, into
        // the room thread's there.
        Some(thread) => {
            // Shared with the handed-over task, so the session can be taken back if the
            // room thread is gone.
            let handover = Arc::new(parking_lot::Mutex::new(Some((stream.into_std()?, parts))));
            let task = handover.clone();
            let handed = thread.spawn(async move {
                let Some((stream, parts)) = task.lock().take() else { return };
                match TcpStream::from_std(stream) {
                    Ok(stream) => parts.start(stream),
                    Err(e) => tracing::warn!(error = %e, "could not hand a connection to its room thread"),
                }
            });
            if !handed {
                // The room thread is gone (a room panicked, or the server is stopping):
                // the client still hears why, from here, and may try again.
                tracing::warn!("room thread gone; refusing the session with 1012");
                if let Some((stream, mut parts)) = handover.lock().take() {
                    parts.accepted.start =
                        SessionStart::Refuse { code: close_code::TRY_AGAIN, reason: "room is gone".into() };
                    parts.start(TcpStream::from_std(stream)?);
                }
            }
        }
        // A refusal (a Notice and a close) is served where it was accepted.
        None => parts.start(stream),
    }
    Ok(())
}

/// What a session needs to start, once its socket is out of the HTTP layer.
struct SessionParts {
    settings: Arc<Settings>,
    world: Addr<WorldActor>,
    early: BytesMut,
    accepted: AcceptedSession,
}

impl SessionParts {
    /// The thread of the room the session joins (none for a refusal).
    fn room_thread(&self) -> Option<ArbiterHandle> {
        match &self.accepted.start {
            SessionStart::Join { room, .. } => Some(room.thread.clone()),
            SessionStart::Refuse { .. } => None,
        }
    }

    /// Starts the session actor over `stream` on the current thread.
    fn start(self, stream: TcpStream) {
        let limits = &self.settings.limits;
        let frame_limits =
            FrameLimits { max_message: limits.max_message_bytes, max_fragments: limits.max_fragments_per_message };
        let stream = Arc::new(stream);
        // The session's socket handle is the stream it owns: one descriptor per session
        // (the duplicate taken at accept goes with the HTTP layer's connection).
        let socket = Some(SocketHandle::over_stream(stream.clone()));
        let writer = Arc::new(ConnectionWriter::new(stream.clone()));
        let reader = ConnectionReader::new(stream, self.early, frame_limits);
        let AcceptedSession { start, slot } = self.accepted;
        let link = Arc::new(MemberLink::over(writer.clone(), socket.clone()));
        let mut session = SessionActor::new(writer, reader, start, self.settings, self.world, link, socket);
        session.hold(slot);
        session.start();
    }
}
