//! The write half of a WebSocket connection the server owns, shared by the room that
//! fans ticks out to it and the session that answers pings and closes it.
//!
//! Why: a tick's frame used to travel per member through an actor mailbox, a channel,
//! the HTTP dispatcher and its encoder before one `write`. Now the room's thread, having
//! encoded the tick once per baseline, writes each member's frame itself: one
//! non-blocking vectored write of the WebSocket header, the member's update header and
//! the shared body (never copied). Only what the kernel refuses is copied, into the
//! connection's outbox, and **while the outbox holds bytes nobody writes directly**:
//! later messages queue behind it, and the connection's own task (see
//! [`ConnectionWriter::flush`]) drains it when the socket is writable. Every write takes
//! the same lock, so frames from the room and the session never interleave.

use super::frame::{opcode, server_header, MAX_SERVER_HEADER};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::future::Future;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::net::TcpStream;

/// Milliseconds since the process's first call: a cheap monotonic clock for progress.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// What became of a message handed to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The kernel took all of it.
    Written,
    /// Some or all of it waits in the outbox; the connection will send it in order.
    Queued,
    /// The connection is closed or broken: the message was dropped.
    Closed,
}

/// What a room needs of a member's connection, whatever carries it (WebSocket today;
/// WebTransport and HTTP streaming implement the same).
pub trait Outbound: Send + Sync {
    /// Sends one binary message made of `parts`, in order, without copying them unless
    /// the transport cannot take them now.
    fn send_message(&self, parts: &[&[u8]]) -> Sent;
    /// Sends the transport's keep-alive probe carrying `payload` (a WebSocket ping),
    /// which the peer answers with the same payload.
    fn send_probe(&self, payload: &[u8]) -> Sent;
    /// Bytes accepted but not yet taken by the transport (0: nothing waits).
    fn pending_bytes(&self) -> usize;
    /// When the transport last made progress on waiting bytes (or when bytes started to
    /// wait), in [`now_ms`] milliseconds.
    fn last_progress_ms(&self) -> u64;
}

/// Bytes waiting for the socket, and whether it still takes any.
#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    /// Bytes of `bytes` already written.
    sent: usize,
    closed: bool,
}

impl Outbox {
    fn unsent(&self) -> &[u8] {
        &self.bytes[self.sent..]
    }
}

/// The shared write half of one connection.
#[derive(Debug)]
pub struct ConnectionWriter {
    stream: Arc<TcpStream>,
    outbox: Mutex<Outbox>,
    /// `outbox`'s unsent length, readable without the lock.
    pending: AtomicUsize,
    last_progress_ms: AtomicU64,
    /// The connection's flush task, woken when bytes start to wait.
    flusher: AtomicWaker,
}

impl ConnectionWriter {
    /// A writer over `stream`, whose reader lives with the connection's session.
    pub fn new(stream: Arc<TcpStream>) -> Self {
        ConnectionWriter {
            stream,
            outbox: Mutex::new(Outbox::default()),
            pending: AtomicUsize::new(0),
            last_progress_ms: AtomicU64::new(now_ms()),
            flusher: AtomicWaker::new(),
        }
    }

    /// Sends one frame with opcode `op` whose payload is the concatenation of `parts`.
    pub fn send_frame(&self, op: u8, parts: &[&[u8]]) -> Sent {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut header = [0; MAX_SERVER_HEADER];
        let n = server_header(op, len, &mut header);
        let mut slices = [IoSlice::new(&[]); 4];
        slices[0] = IoSlice::new(&header[..n]);
        for (slot, part) in slices[1..].iter_mut().zip(parts) {
            *slot = IoSlice::new(part);
        }
        debug_assert!(parts.len() <= 3, "at most three parts per frame");
        self.send_slices(&slices[..1 + parts.len().min(3)], n + len)
    }

    /// Sends a close frame with `code` and `reason` (cut to 123 bytes on a character
    /// boundary), after anything already waiting.
    pub fn send_close(&self, code: u16, reason: &str) -> Sent {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.send_frame(opcode::CLOSE, &[&code.to_be_bytes(), &reason.as_bytes()[..end]])
    }

    fn send_slices(&self, slices: &[IoSlice<'_>], total: usize) -> Sent {
        let mut outbox = self.outbox.lock();
        if outbox.closed {
            return Sent::Closed;
        }
        let mut done = 0;
        if outbox.unsent().is_empty() {
            done = match write_all_now(&self.stream, slices, total) {
                Ok(n) => n,
                Err(_) => {
                    outbox.closed = true;
                    return Sent::Closed;
                }
            };
            if done == total {
                return Sent::Written;
            }
            self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
        }
        // The kernel refused the rest: it waits, in order, for the flush task.
        let mut skip = done;
        for s in slices {
            if skip >= s.len() {
                skip -= s.len();
                continue;
            }
            outbox.bytes.extend_from_slice(&s[skip..]);
            skip = 0;
        }
        self.pending.store(outbox.unsent().len(), Ordering::Release);
        drop(outbox);
        self.flusher.wake();
        Sent::Queued
    }

    /// Drains the outbox whenever it holds bytes, for as long as the connection lives:
    /// the connection's session runs this future. It ends with the error that broke the
    /// socket.
    pub fn flush(self: Arc<Self>) -> impl Future<Output = io::Error> {
        std::future::poll_fn(move |cx| match self.poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(e),
            _ => Poll::Pending,
        })
    }

    /// Writes what waits; `Ready(Ok)` once the outbox is empty (the waker is then kept
    /// to be woken when bytes wait again).
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flusher.register(cx.waker());
        // The session's task is polled on every input it reads: with nothing waiting,
        // answer without taking the lock (bytes queued later wake the task again).
        if self.pending.load(Ordering::Acquire) == 0 {
            return Poll::Ready(Ok(()));
        }
        let mut outbox = self.outbox.lock();
        loop {
            if outbox.unsent().is_empty() {
                // Drained outboxes give their memory back: a connection's steady state
                // holds no buffer at all.
                outbox.bytes = Vec::new();
                outbox.sent = 0;
                return Poll::Ready(Ok(()));
            }
            if outbox.closed {
                return Poll::Ready(Ok(()));
            }
            match self.stream.poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    outbox.closed = true;
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {}
            }
            match self.stream.try_write(outbox.unsent()) {
                Ok(n) => {
                    outbox.sent += n;
                    self.pending.store(outbox.unsent().len(), Ordering::Release);
                    self.last_progress_ms.store(now_ms(), Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    outbox.closed = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// No more writes: what waits is dropped, and the socket is shut down (FIN) so the
    /// peer sees the end even while a room still holds this writer.
    pub fn shut_down(&self) {
        let mut outbox = self.outbox.lock();
        outbox.closed = true;
        outbox.bytes = Vec::new();
        outbox.sent = 0;
        self.pending.store(0, Ordering::Release);
        let _ = socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Both);
    }
}

impl Outbound for ConnectionWriter {
    fn send_message(&self, parts: &[&[u8]]) -> Sent {
        self.send_frame(opcode::BINARY, parts)
    }

    fn send_probe(&self, payload: &[u8]) -> Sent {
        self.send_frame(opcode::PING, &[payload])
    }

    fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    fn last_progress_ms(&self) -> u64 {
        self.last_progress_ms.load(Ordering::Relaxed)
    }
}

/// Writes `slices` with non-blocking vectored writes until the kernel refuses more;
/// returns how many bytes it took.
fn write_all_now(stream: &TcpStream, slices: &[IoSlice<'_>], total: usize) -> io::Result<usize> {
    let mut done = 0;
    while done < total {
        let result = if done == 0 {
            send_vectored(stream, slices)
        } else {
            // Rare (a partial write): finish slice by slice from where it stopped.
            let mut skip = done;
            let rest: Vec<IoSlice<'_>> = slices
                .iter()
                .filter_map(|s| {
                    if skip >= s.len() {
                        skip -= s.len();
                        None
                    } else {
                        let part = IoSlice::new(&s[skip..]);
                        skip = 0;
                        Some(part)
                    }
                })
                .collect();
            send_vectored(stream, &rest)
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// One non-blocking `sendmsg` of `slices`, through tokio's readiness (so a refusal is
/// remembered until the socket is writable again). `sendmsg` rather than `writev`: it
/// goes straight to the socket, skipping the file layer's position lock, and
/// `MSG_NOSIGNAL` turns a write to a closed peer into an error instead of SIGPIPE.
fn send_vectored(stream: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    stream.try_io(tokio::io::Interest::WRITABLE, || {
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (std guarantees it);
        // the header points at `slices`, which outlive the call, and the kernel only
        // reads from them. The descriptor is the stream's, open while it is borrowed.
        let sent = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = slices.len() as _;
            libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    })
}
