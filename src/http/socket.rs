//! The connection underneath a session: a handle to tear its TCP socket down, and the
//! metered response body that tells a session's link how many bytes the connection took.
//!
//! Why: actix's HTTP layer has no write timeout and a close frame cannot pass a full
//! socket, so evicting a client that stopped reading needs the socket itself (a dup of
//! its descriptor, taken in `HttpServer::on_connect`), reset with `SO_LINGER` 0.

use crate::actors::link::MemberLink;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;
use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A handle to one connection's TCP socket (a duplicated descriptor).
#[derive(Clone, Debug)]
pub struct SocketHandle(Arc<socket2::Socket>);

impl SocketHandle {
    /// Takes a handle from the connection object `HttpServer::on_connect` sees.
    pub fn from_connection(conn: &dyn Any) -> Option<Self> {
        let tcp = conn.downcast_ref::<actix_web::rt::net::TcpStream>()?;
        socket2::SockRef::from(tcp).try_clone().ok().map(|s| SocketHandle(Arc::new(s)))
    }

    /// Sets `SO_SNDBUF` (`server.socket_send_buffer_bytes`): bounds kernel memory per
    /// slow client and makes backpressure reach the session sooner.
    pub fn set_send_buffer(&self, bytes: usize) {
        let _ = self.0.set_send_buffer_size(bytes);
    }

    /// Resets the connection: `SO_LINGER` 0 drops unsent bytes and sends RST on close;
    /// the shutdown wakes the HTTP layer, which then drops the connection.
    pub fn reset(&self) {
        let _ = self.0.set_linger(Some(std::time::Duration::ZERO));
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// A response body that reports every chunk the connection takes to a [`MemberLink`].
pub struct MeteredBody {
    inner: BoxBody,
    link: Arc<MemberLink>,
}

impl MeteredBody {
    /// Wraps `inner`.
    pub fn new(inner: BoxBody, link: Arc<MemberLink>) -> Self {
        MeteredBody { inner, link }
    }
}

impl MessageBody for MeteredBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            this.link.drained(bytes.len() as u64);
        }
        polled
    }
}
