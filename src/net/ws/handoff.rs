//! Taking a connection out of the HTTP layer after an upgrade request: answer it (a 101
//! hands the socket over; anything else is answered with its body and the connection
//! closed).
//!
//! actix-http calls the upgrade service with the request and the connection framed by
//! its HTTP/1 codec, including any bytes the client sent past the head. After a 101 the
//! codec's buffers (8 KiB each) are dropped: the WebSocket layer keeps none of its own
//! between messages.

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::h1;
use actix_http::{ConnectionType, Response};
use bytes::BytesMut;
use futures_util::SinkExt;
use std::io;
use tokio::net::TcpStream;

/// The connection framed by actix-http's HTTP/1 codec, as the upgrade service gets it.
pub type HttpFramed = Framed<TcpStream, h1::Codec>;

/// Writes the head of `switching` (a `101 Switching Protocols`) and takes the socket:
/// returns it with the bytes the client already sent after its request.
pub async fn switch(mut framed: HttpFramed, switching: Response<()>) -> io::Result<(TcpStream, BytesMut)> {
    framed.send(h1::Message::Item((switching, BodySize::None))).await?;
    let parts = framed.into_parts();
    // Sized to what is there: the codec's 8 KiB buffer goes with the codec.
    let early = if parts.read_buf.is_empty() { BytesMut::new() } else { BytesMut::from(&parts.read_buf[..]) };
    Ok((parts.io, early))
}

/// Answers with `res` and its whole body, then closes the connection: after an upgrade
/// request the HTTP layer no longer serves the connection, so it cannot be kept alive.
pub async fn answer_and_close<B: MessageBody>(mut framed: HttpFramed, res: Response<B>) -> io::Result<()> {
    let (mut head, body) = res.into_parts();
    let body = actix_http::body::to_bytes(body).await.map_err(|_| io::Error::other("response body failed"))?;
    head.head_mut().set_connection_type(ConnectionType::Close);
    // Fed, then flushed once: the whole answer leaves in one write.
    framed.feed(h1::Message::Item((head, BodySize::Sized(body.len() as u64)))).await?;
    if !body.is_empty() {
        framed.feed(h1::Message::Chunk(Some(body))).await?;
    }
    framed.feed(h1::Message::Chunk(None)).await?;
    framed.flush().await?;
    let mut io = framed.into_parts().io;
    tokio::io::AsyncWriteExt::shutdown(&mut io).await
}
