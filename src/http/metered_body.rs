//! The response body under a WebSocket session that tells the session's link how many
//! bytes the connection took: what "handed to the socket" means for baselines, pending
//! bytes and stall detection.

use crate::actors::link::MemberLink;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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
