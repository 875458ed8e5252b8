//! The read half of a WebSocket connection the server owns: client frames off the
//! socket, decoded and checked (see `frame`), as a stream of messages.
//!
//! Bytes are read into a stack chunk and appended to a small buffer the connection keeps
//! (`KEPT_BUFFER` bytes): a decoded message shares that buffer's memory until it is
//! handled and dropped, then the next read reuses it, so a connection sending a small
//! input every tick allocates nothing for it. Only a larger, unfinished frame makes the
//! buffer grow; a grown buffer goes once it is empty with more than `KEPT_BUFFER` bytes
//! of room left (otherwise its allocation is reused by the next read).

use super::frame::{Decoder, FrameError, FrameLimits, Message};
use bytes::BytesMut;
use futures_util::Stream;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// How many bytes one read takes off the socket at most.
const READ_CHUNK: usize = 4096;
/// The buffer a connection keeps between messages: room for the inputs a game sends
/// every tick (a few dozen bytes each), small beside a connection's other memory.
const KEPT_BUFFER: usize = 256;

/// Why the stream of client messages ended early.
#[derive(Debug)]
pub enum ReadError {
    /// The client broke a framing rule: close with its code and reason.
    Frame(FrameError),
    /// The socket failed (reset, or closed in the middle of a frame).
    Io(io::Error),
}

/// The client's messages, in order. Ends (`None`) when the client closes the TCP
/// connection between messages.
#[derive(Debug)]
pub struct ConnectionReader {
    stream: Arc<TcpStream>,
    buf: BytesMut,
    decoder: Decoder,
    ended: bool,
}

impl ConnectionReader {
    /// A reader over `stream`; `early` holds bytes read past the handshake's head.
    pub fn new(stream: Arc<TcpStream>, early: BytesMut, limits: FrameLimits) -> Self {
        ConnectionReader { stream, buf: early, decoder: Decoder::new(limits), ended: false }
    }
}

impl Stream for ConnectionReader {
    type Item = Result<Message, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            match this.decoder.decode(&mut this.buf) {
                Ok(Some(msg)) => return Poll::Ready(Some(Ok(msg))),
                Ok(None) => {}
                Err(e) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(ReadError::Frame(e))));
                }
            }
            if this.buf.is_empty() && this.buf.capacity() > KEPT_BUFFER {
                this.buf = BytesMut::new();
            }
            if let Err(e) = std::task::ready!(this.stream.poll_read_ready(cx)) {
                this.ended = true;
                return Poll::Ready(Some(Err(ReadError::Io(e))));
            }
            let mut chunk = [0u8; READ_CHUNK];
            match recv(&this.stream, &mut chunk) {
                Ok(0) => {
                    this.ended = true;
                    if this.buf.is_empty() && !this.decoder.mid_message() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()))));
                }
                Ok(n) => {
                    if this.buf.capacity() == 0 && n <= KEPT_BUFFER {
                        this.buf.reserve(KEPT_BUFFER);
                    }
                    // With the previous message dropped, this reclaims the kept buffer's
                    // memory in place rather than allocating.
                    this.buf.extend_from_slice(&chunk[..n]);
                    if n < READ_CHUNK {
                        // A short read drained the socket: forget its readiness now, as
                        // tokio's own `poll_read` does, rather than pay a second `recv`
                        // only to hear EAGAIN. Edge-triggered epoll reports the next
                        // bytes anew, and this thread runs the reactor, so no readiness
                        // can be missed in between.
                        let _ =
                            this.stream.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(ReadError::Io(e))));
                }
            }
        }
    }
}

/// One non-blocking `recv` into `buf`, through tokio's readiness. `recv` rather than
/// `read`: it goes straight to the socket, skipping the file layer's position lock.
fn recv(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    stream.try_io(Interest::READABLE, || {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we own
        // mutably for the call; the descriptor is the stream's, open while borrowed.
        let n = unsafe { libc::recv(stream.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    })
}
