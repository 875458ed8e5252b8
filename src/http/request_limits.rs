//! Limits every HTTP request gets before a route sees it, and the count of every answer.
//!
//! - **Head size**: a head (request line and headers) past `server.max_request_head_bytes`
//!   is answered 431 and the connection closed. (actix-http buffers up to 128 KiB of
//!   head before it refuses on its own; this sets the bound a handshake actually needs.)
//! - **Body deadline**: actix-http's `client_request_timeout` covers only the head. A
//!   request whose body has not arrived within `server.request_timeout_ms` after its
//!   head is answered 408 and closed: its payload is cut off at the deadline, so a
//!   handler waiting on a slow body fails instead of holding the connection forever.
//!   WebSocket upgrades are exempt: their "body" is the session's stream.
//! - **Refusals end**: a connection answered 408, 431 or a refused handshake is shut
//!   down after `server.disconnect_timeout_ms` (see [`close_soon`]).
//! - **Accounting**: `tickcast_http_responses_total{status}` counts every answer the
//!   application gives (404s from the default service included), and the connection is
//!   marked as having served a request (see `accept`).

use super::accept::AcceptedConnection;
use super::AppState;
use crate::metrics;
use crate::net::SocketHandle;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The middleware (`actix_web::middleware::from_fn(limit_requests)`).
pub async fn limit_requests(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(conn) = req.conn_data::<AcceptedConnection>() {
        conn.request_seen();
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let server = &state.settings.server;
    let head = head_bytes(req.request());
    if head > server.max_request_head_bytes {
        let reason = format!(
            "request head of {head} bytes is over the limit of {} (server.max_request_head_bytes)\n",
            server.max_request_head_bytes
        );
        let res = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .force_close()
            .content_type("text/plain; charset=utf-8")
            .body(reason);
        close_soon(req.request(), server.disconnect_timeout_ms);
        return Ok(counted(req.into_response(res)));
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let upgrade = req.head().upgrade();
    if !upgrade {
        let deadline = Duration::from_millis(server.request_timeout_ms);
        let payload = DeadlinePayload::new(req.take_payload(), deadline, timed_out.clone());
        req.set_payload(Payload::Stream { payload: Box::pin(payload) });
    }
    let res = next
        .call(req)
        .await
        .inspect_err(|e| metrics::http_response(e.as_response_error().status_code().as_u16()))?
        .map_into_boxed_body();
    if timed_out.load(Ordering::Acquire) {
        // Whatever the handler made of its cut-off body, the answer is the deadline's.
        let (request, _) = res.into_parts();
        close_soon(&request, server.disconnect_timeout_ms);
        return Ok(counted(ServiceResponse::new(request, body_timed_out(server.request_timeout_ms))));
    }
    if upgrade && res.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A refused handshake: the rest of the connection is its unread "body".
        close_soon(res.request(), server.disconnect_timeout_ms);
    }
    Ok(counted(res))
}

/// Makes sure a refused connection ends: actix-http closes a connection answered before
/// its body (or, for a refused upgrade, the rest of the stream) was read only after a
/// linger whose timer, when `server.disconnect_timeout_ms` is under the 500 ms step of
/// actix-http's cached clock, may be set in the past and never fire. So the socket is
/// shut down once the answer has had the linger's time (and half a second) to go out.
fn close_soon(req: &HttpRequest, disconnect_timeout_ms: u64) {
    let Some(socket) = req.conn_data::<SocketHandle>().cloned() else { return };
    let grace = Duration::from_millis(disconnect_timeout_ms + 500);
    actix_web::rt::spawn(async move {
        tokio::time::sleep(grace).await;
        socket.shut_down();
    });
}

fn counted(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    metrics::http_response(res.status().as_u16());
    res
}

fn body_timed_out(ms: u64) -> HttpResponse {
    HttpResponse::build(StatusCode::REQUEST_TIMEOUT)
        .force_close()
        .content_type("text/plain; charset=utf-8")
        .body(format!("request body did not arrive within {ms} ms (server.request_timeout_ms)\n"))
}

/// The size of a request's head as it came on the wire: request line and header lines.
fn head_bytes(req: &HttpRequest) -> usize {
    let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    // "METHOD target HTTP/1.1\r\n", each "name: value\r\n", and the blank line.
    let line = req.method().as_str().len() + 1 + target + 11;
    let headers: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + 2 + value.len() + 2).sum();
    line + headers + 2
}

/// A request payload cut off with an error once its deadline passes.
struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
    done: bool,
}

impl DeadlinePayload {
    fn new(inner: Payload, within: Duration, timed_out: Arc<AtomicBool>) -> Self {
        DeadlinePayload { inner, deadline: Box::pin(tokio::time::sleep(within)), timed_out, done: false }
    }
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.done = true;
                this.timed_out.store(true, Ordering::Release);
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body deadline");
                Poll::Ready(Some(Err(PayloadError::Io(e))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn head_size_counts_the_request_line_and_every_header_line() {
        let req = TestRequest::get().uri("/ws?room=a").insert_header(("host", "h:1")).to_http_request();
        // "GET /ws?room=a HTTP/1.1\r\n" + "host: h:1\r\n" + "\r\n"
        assert_eq!(head_bytes(&req), 25 + 11 + 2);
    }
}
