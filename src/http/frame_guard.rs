//! Refuses an oversized WebSocket frame as soon as its header **declares** the size.
//!
//! actix-http checks its frame-size limit only once the whole frame is buffered, so a
//! client declaring a 200 MiB frame and trickling it in would make the server buffer it
//! (measured: RSS 3 → 104 MiB). This adapter sits between the connection's request
//! payload and actix-ws: it passes bytes through untouched while following the RFC 6455
//! frame headers, and fails the stream the moment a header declares more than the limit.
//! The session sees the failure and closes with 1009.
//!
//! It also counts the frames of each fragmented message (the first frame without FIN,
//! then its continuations up to the one with FIN): empty continuation frames add no
//! bytes, so the size cap never ends a message made of endless ones, and each costs the
//! server a frame parse. Beyond `limits.max_fragments_per_message` frames the stream
//! fails the same way and the session closes with 1009 "too many fragments".

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Where the parser is in the client's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Collecting a frame header; `have` bytes of it seen so far.
    Header { have: usize },
    /// Skipping `left` payload bytes.
    Payload { left: u64 },
}

/// Why the reader refused the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A frame header declared this many payload bytes, over the limit.
    TooBig(u64),
    /// A fragmented message reached this many frames, over the limit.
    TooManyFragments(usize),
}

/// Follows frame headers in a client → server byte stream.
#[derive(Debug, Clone)]
pub struct FrameHeaderReader {
    max: u64,
    max_fragments: usize,
    /// Frames of the fragmented message in progress (0: none in progress).
    fragments: usize,
    pos: Position,
    header: [u8; 14],
}

impl FrameHeaderReader {
    /// A reader refusing frames that declare more than `max` payload bytes (and not
    /// counting fragments: see [`FrameHeaderReader::max_fragments`]).
    pub fn new(max: usize) -> Self {
        FrameHeaderReader {
            max: max as u64,
            max_fragments: usize::MAX,
            fragments: 0,
            pos: Position::Header { have: 0 },
            header: [0; 14],
        }
    }

    /// Also refuses a fragmented message of more than `n` frames.
    pub fn max_fragments(mut self, n: usize) -> Self {
        self.max_fragments = n;
        self
    }

    /// Counts a data frame whose header just completed. Control frames (opcode bit 3)
    /// may come between fragments and do not count. A continuation without a message
    /// in progress, or a new message inside one, is actix-ws's protocol error to report.
    fn count_fragment(&mut self) -> Result<(), Refused> {
        let fin = self.header[0] & 0x80 != 0;
        let opcode = self.header[0] & 0x0f;
        if opcode & 0x08 != 0 {
            return Ok(());
        }
        if opcode == 0 {
            if self.fragments > 0 {
                self.fragments += 1;
            }
        } else {
            self.fragments = if fin { 0 } else { 1 };
        }
        if self.fragments > self.max_fragments {
            return Err(Refused::TooManyFragments(self.fragments));
        }
        if fin {
            self.fragments = 0;
        }
        Ok(())
    }

    /// Bytes the header has when complete: 2 + extended length + mask key.
    fn header_len(&self) -> usize {
        let masked = self.header[1] & 0x80 != 0;
        let ext = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + ext + if masked { 4 } else { 0 }
    }

    fn declared(&self) -> u64 {
        match self.header[1] & 0x7f {
            126 => u16::from_be_bytes([self.header[2], self.header[3]]) as u64,
            127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
            n => n as u64,
        }
    }

    /// Feeds bytes; refuses at the first frame over a limit.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Refused> {
        while !bytes.is_empty() {
            match self.pos {
                Position::Payload { left } => {
                    let n = (bytes.len() as u64).min(left);
                    bytes = &bytes[n as usize..];
                    self.pos =
                        if left == n { Position::Header { have: 0 } } else { Position::Payload { left: left - n } };
                }
                Position::Header { mut have } => {
                    while !bytes.is_empty() && (have < 2 || have < self.header_len()) {
                        self.header[have] = bytes[0];
                        bytes = &bytes[1..];
                        have += 1;
                    }
                    if have >= 2 && have == self.header_len() {
                        let len = self.declared();
                        if len > self.max {
                            return Err(Refused::TooBig(len));
                        }
                        self.count_fragment()?;
                        self.pos =
                            if len == 0 { Position::Header { have: 0 } } else { Position::Payload { left: len } };
                    } else {
                        self.pos = Position::Header { have };
                    }
                }
            }
        }
        Ok(())
    }
}

/// The request payload of a WebSocket connection, failing on an oversized frame header
/// or a message of too many fragments.
pub struct GuardedPayload<S> {
    inner: S,
    reader: FrameHeaderReader,
    oversized: Arc<AtomicBool>,
    fragmented: Arc<AtomicBool>,
    failed: bool,
}

impl<S> GuardedPayload<S> {
    /// Wraps `inner`; `oversized` is set when a frame is refused, so the session can
    /// close with 1009 rather than a generic protocol error.
    pub fn new(inner: S, max: usize, oversized: Arc<AtomicBool>) -> Self {
        GuardedPayload {
            inner,
            reader: FrameHeaderReader::new(max),
            oversized,
            fragmented: Arc::default(),
            failed: false,
        }
    }

    /// Also refuses a message of more than `max` frames, setting `fragmented` (for the
    /// session's 1009 "too many fragments").
    pub fn max_fragments(mut self, max: usize, fragmented: Arc<AtomicBool>) -> Self {
        self.reader = self.reader.max_fragments(max);
        self.fragmented = fragmented;
        self
    }
}

impl<S> Stream for GuardedPayload<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match this.reader.feed(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(refused) => {
                    this.failed = true;
                    match refused {
                        Refused::TooBig(declared) => {
                            this.oversized.store(true, Ordering::Release);
                            tracing::debug!(declared, "frame header declares more than limits.max_message_bytes");
                        }
                        Refused::TooManyFragments(frames) => {
                            this.fragmented.store(true, Ordering::Release);
                            tracing::debug!(frames, "message has more than limits.max_fragments_per_message frames");
                        }
                    }
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize, masked: bool) -> Vec<u8> {
        let mut f = vec![0x82];
        let m = if masked { 0x80 } else { 0 };
        if len < 126 {
            f.push(m | len as u8);
        } else if len <= 65535 {
            f.push(m | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            f.push(m | 127);
            f.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(0u8, len.min(70_000)));
        f
    }

    #[test]
    fn passes_frames_within_the_limit_split_anywhere() {
        let mut bytes = frame(10, true);
        bytes.extend(frame(300, true));
        bytes.extend(frame(0, true));
        bytes.extend(frame(1000, true));
        for split in [1, 2, 3, 7, 64, 5000] {
            let mut r = FrameHeaderReader::new(1000);
            for chunk in bytes.chunks(split) {
                assert_eq!(r.feed(chunk), Ok(()), "split {split}");
            }
            assert_eq!(r.pos, Position::Header { have: 0 });
        }
    }

    #[test]
    fn refuses_on_the_header_alone() {
        let mut r = FrameHeaderReader::new(1000);
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(200u64 << 20).to_be_bytes());
        header.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(r.feed(&header), Err(Refused::TooBig(200 << 20)));
        let mut r = FrameHeaderReader::new(1000);
        assert_eq!(r.feed(&frame(1001, true)[..8]), Err(Refused::TooBig(1001)));
    }

    /// A masked frame with the given first byte (FIN bit and opcode), empty payload.
    fn empty(first: u8) -> [u8; 6] {
        [first, 0x80, 1, 2, 3, 4]
    }

    #[test]
    fn counts_the_frames_of_a_fragmented_message() {
        const BINARY: u8 = 0x02;
        const CONT: u8 = 0x00;
        const FIN: u8 = 0x80;
        const PING: u8 = 0x89;
        // 4 frames, a ping in between, then unfragmented messages: all within 4.
        let mut ok = Vec::new();
        ok.extend(empty(BINARY));
        ok.extend(empty(CONT));
        ok.extend(empty(PING));
        ok.extend(empty(CONT));
        ok.extend(empty(FIN | CONT));
        for _ in 0..10 {
            ok.extend(empty(FIN | BINARY));
        }
        ok.extend(empty(BINARY));
        ok.extend(empty(FIN | CONT));
        for split in [1, 5, 6, 7, 100] {
            let mut r = FrameHeaderReader::new(1000).max_fragments(4);
            for chunk in ok.chunks(split) {
                assert_eq!(r.feed(chunk), Ok(()), "split {split}");
            }
        }
        // A fifth frame of one message is refused, however empty.
        let mut r = FrameHeaderReader::new(1000).max_fragments(4);
        let mut bad = Vec::new();
        bad.extend(empty(BINARY));
        for _ in 0..3 {
            bad.extend(empty(CONT));
        }
        assert_eq!(r.feed(&bad), Ok(()));
        assert_eq!(r.feed(&empty(CONT)), Err(Refused::TooManyFragments(5)));
    }
}
