//! RFC 6455 framing, as plain code: the decoder of a client's frames and the header of
//! the server's.
//!
//! The decoder checks everything a frame header says before its payload arrives: a
//! frame declaring more than the message limit is refused on its header alone (a client
//! announcing 200 MiB and trickling it in costs the server nothing), as is a fragmented
//! message of more than `max_fragments` frames (empty continuations add no bytes, so the
//! size cap alone never ends a message made of endless ones). It reassembles fragmented
//! messages, answers nothing itself (control frames come out as messages, in order), and
//! validates what RFC 6455 requires: masking, reserved bits, opcodes, control frame
//! rules, close codes and UTF-8 in text and close reasons.

use bytes::{Buf, Bytes, BytesMut};

/// Opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// A continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message (UTF-8).
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// The close handshake.
    pub const CLOSE: u8 = 0x8;
    /// A ping, answered by a pong with the same payload.
    pub const PING: u8 = 0x9;
    /// A pong.
    pub const PONG: u8 = 0xA;
}

/// Longest header the server writes: 2 bytes plus an 8-byte length.
pub const MAX_SERVER_HEADER: usize = 10;
/// Longest header a client writes: 2 bytes, an 8-byte length and a 4-byte mask.
pub const MAX_CLIENT_HEADER: usize = 14;
/// A control frame's payload is at most this long (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Writes the header of an unmasked, final server frame with `len` payload bytes into
/// `out`; returns how many bytes of `out` it used.
pub fn server_header(op: u8, len: usize, out: &mut [u8; MAX_SERVER_HEADER]) -> usize {
    out[0] = 0x80 | (op & 0x0f);
    if len <= 125 {
        out[1] = len as u8;
        2
    } else if len <= 0xffff {
        out[1] = 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// Size on the wire of an unmasked server frame with `payload` bytes.
pub fn server_frame_len(payload: usize) -> usize {
    let mut scratch = [0; MAX_SERVER_HEADER];
    server_header(opcode::BINARY, payload, &mut scratch) + payload
}

/// A close frame's payload, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code.
    pub code: u16,
    /// The reason, valid UTF-8, at most 123 bytes.
    pub reason: String,
}

/// One message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A binary message, reassembled.
    Binary(Bytes),
    /// A text message, reassembled and checked to be UTF-8.
    Text(Bytes),
    /// A ping's payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong's payload.
    Pong(Bytes),
    /// A close frame, with its code and reason when it carried them.
    Close(Option<CloseFrame>),
}

/// Why the client's byte stream was refused: each maps to the close code the server
/// sends before it ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The framing broke a rule of RFC 6455 (close 1002); says which.
    Protocol(&'static str),
    /// A text message or close reason is not UTF-8 (close 1007).
    InvalidUtf8,
    /// A frame header declared more than the message limit (close 1009).
    FrameTooBig,
    /// A fragmented message grew past the message limit (close 1009).
    MessageTooBig,
    /// A fragmented message has more frames than allowed (close 1009).
    TooManyFragments,
}

impl FrameError {
    /// The close code to answer with.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
            FrameError::FrameTooBig | FrameError::MessageTooBig | FrameError::TooManyFragments => 1009,
        }
    }

    /// The close reason.
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::Protocol(why) => why,
            FrameError::InvalidUtf8 => "invalid UTF-8",
            FrameError::FrameTooBig => "frame too big",
            FrameError::MessageTooBig => "message too big",
            FrameError::TooManyFragments => "too many fragments",
        }
    }
}

/// What the decoder accepts.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest message (and so largest frame) in payload bytes.
    pub max_message: usize,
    /// Most frames one fragmented message may have.
    pub max_fragments: usize,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    op: u8,
    data: BytesMut,
    frames: usize,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    op: u8,
    mask: [u8; 4],
    len: usize,
    header_len: usize,
}

/// Decodes a client's frames into messages.
#[derive(Debug)]
pub struct Decoder {
    limits: FrameLimits,
    partial: Option<Partial>,
}

impl Decoder {
    /// A decoder applying `limits`.
    pub fn new(limits: FrameLimits) -> Self {
        Decoder { limits, partial: None }
    }

    /// True while a fragmented message is half received.
    pub fn mid_message(&self) -> bool {
        self.partial.is_some()
    }

    /// Takes the next whole message off the front of `buf`. `Ok(None)`: more bytes are
    /// needed (everything they could be checked against so far was checked). Bytes of a
    /// fragment are moved out of `buf` as soon as the fragment is whole.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        loop {
            let Some(h) = self.header(buf)? else { return Ok(None) };
            if buf.len() < h.header_len + h.len {
                return Ok(None);
            }
            buf.advance(h.header_len);
            let mut payload = buf.split_to(h.len);
            unmask(&mut payload, h.mask);
            if let Some(msg) = self.frame(h, payload)? {
                return Ok(Some(msg));
            }
        }
    }

    /// Parses and checks the header at the front of `buf`, if it is all there.
    fn header(&self, buf: &[u8]) -> Result<Option<Header>, FrameError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let fin = b0 & 0x80 != 0;
        let op = b0 & 0x0f;
        if b0 & 0x70 != 0 {
            return Err(FrameError::Protocol("reserved bits set"));
        }
        if b1 & 0x80 == 0 {
            return Err(FrameError::Protocol("client frames must be masked"));
        }
        let control = op & 0x08 != 0;
        match op {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY | opcode::CLOSE | opcode::PING | opcode::PONG => {}
            _ => return Err(FrameError::Protocol("reserved opcode")),
        }
        if control && !fin {
            return Err(FrameError::Protocol("fragmented control frame"));
        }
        let short = (b1 & 0x7f) as usize;
        if control && short > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::Protocol("control frame too long"));
        }
        let (len, at) = match short {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut be = [0; 8];
                be.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(FrameError::Protocol("frame length has its top bit set"));
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        if !control {
            self.check_data_frame(op, fin, len)?;
        }
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        Ok(Some(Header { fin, op, mask, len: len as usize, header_len: at + 4 }))
    }

    /// The rules a data frame's header must meet, checked before its payload arrives.
    fn check_data_frame(&self, op: u8, fin: bool, len: u64) -> Result<(), FrameError> {
        let max = self.limits.max_message as u64;
        if len > max {
            return Err(FrameError::FrameTooBig);
        }
        match (&self.partial, op) {
            (None, opcode::CONTINUATION) => Err(FrameError::Protocol("continuation without a message")),
            (Some(_), opcode::TEXT | opcode::BINARY) => {
                Err(FrameError::Protocol("new message inside a fragmented one"))
            }
            (Some(p), _) => {
                if p.data.len() as u64 + len > max {
                    Err(FrameError::MessageTooBig)
                } else if p.frames + 1 > self.limits.max_fragments {
                    Err(FrameError::TooManyFragments)
                } else {
                    Ok(())
                }
            }
            (None, _) if !fin && self.limits.max_fragments < 2 => Err(FrameError::TooManyFragments),
            (None, _) => Ok(()),
        }
    }

    /// A whole frame: a message if it completes one.
    fn frame(&mut self, h: Header, payload: BytesMut) -> Result<Option<Message>, FrameError> {
        match h.op {
            opcode::PING => Ok(Some(Message::Ping(payload.freeze()))),
            opcode::PONG => Ok(Some(Message::Pong(payload.freeze()))),
            opcode::CLOSE => close_frame(&payload).map(|c| Some(Message::Close(c))),
            opcode::CONTINUATION => {
                let Some(p) = self.partial.as_mut() else {
                    return Err(FrameError::Protocol("continuation without a message"));
                };
                p.data.extend_from_slice(&payload);
                p.frames += 1;
                if !h.fin {
                    return Ok(None);
                }
                let p = self.partial.take().expect("checked above");
                data_message(p.op, p.data.freeze()).map(Some)
            }
            op if h.fin => data_message(op, payload.freeze()).map(Some),
            op => {
                self.partial = Some(Partial { op, data: payload, frames: 1 });
                Ok(None)
            }
        }
    }
}

fn data_message(op: u8, data: Bytes) -> Result<Message, FrameError> {
    if op == opcode::TEXT {
        std::str::from_utf8(&data).map_err(|_| FrameError::InvalidUtf8)?;
        Ok(Message::Text(data))
    } else {
        Ok(Message::Binary(data))
    }
}

/// Checks a close frame's payload: empty, or a valid code and a UTF-8 reason.
fn close_frame(payload: &[u8]) -> Result<Option<CloseFrame>, FrameError> {
    match payload.len() {
        0 => return Ok(None),
        1 => return Err(FrameError::Protocol("close frame of one byte")),
        _ => {}
    }
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    if !valid_close_code(code) {
        return Err(FrameError::Protocol("invalid close code"));
    }
    let reason = std::str::from_utf8(&payload[2..]).map_err(|_| FrameError::InvalidUtf8)?;
    Ok(Some(CloseFrame { code, reason: reason.to_string() }))
}

/// Close codes a peer may send (RFC 6455 §7.4, and the IANA registry's 1012-1014).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Unmasks `data` in place with the 4-byte `mask`, eight bytes at a time.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame.
    fn frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | op];
        match payload.len() {
            n if n <= 125 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn decoder(max_message: usize, max_fragments: usize) -> Decoder {
        Decoder::new(FrameLimits { max_message, max_fragments })
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Result<Vec<Message>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(m) = d.decode(&mut buf)? {
            out.push(m);
        }
        Ok(out)
    }

    #[test]
    fn messages_come_out_whole_however_the_bytes_are_split() {
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut bytes = frame(true, opcode::BINARY, &payload);
        bytes.extend(frame(false, opcode::BINARY, b"ab"));
        bytes.extend(frame(true, opcode::PING, b"p"));
        bytes.extend(frame(true, opcode::CONTINUATION, b"cd"));
        for split in 1..bytes.len() {
            let mut d = decoder(1024, 8);
            let mut buf = BytesMut::from(&bytes[..split]);
            let mut out = Vec::new();
            while let Some(m) = d.decode(&mut buf).unwrap() {
                out.push(m);
            }
            buf.extend_from_slice(&bytes[split..]);
            while let Some(m) = d.decode(&mut buf).unwrap() {
                out.push(m);
            }
            assert_eq!(
                out,
                vec![
                    Message::Binary(Bytes::from(payload.clone())),
                    Message::Ping(Bytes::from_static(b"p")),
                    Message::Binary(Bytes::from_static(b"abcd")),
                ],
                "split at {split}"
            );
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_on_its_header_alone() {
        let mut d = decoder(1024, 8);
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(200u64 << 20).to_be_bytes());
        assert_eq!(d.decode(&mut BytesMut::from(&header[..])), Err(FrameError::FrameTooBig));
        let mut d = decoder(1024, 8);
        let mut bytes = frame(false, opcode::BINARY, &[0; 1000]);
        bytes.extend(&frame(true, opcode::CONTINUATION, &[0; 100])[..4]);
        assert_eq!(decode_all(&mut d, &bytes), Err(FrameError::MessageTooBig));
    }

    #[test]
    fn endless_empty_continuations_are_cut_off() {
        let mut d = decoder(1024, 4);
        let mut bytes = frame(false, opcode::BINARY, b"x");
        for _ in 0..3 {
            bytes.extend(frame(false, opcode::CONTINUATION, b""));
        }
        assert_eq!(decode_all(&mut d, &bytes), Ok(vec![]));
        bytes.extend(frame(false, opcode::CONTINUATION, b""));
        let mut d = decoder(1024, 4);
        assert_eq!(decode_all(&mut d, &bytes), Err(FrameError::TooManyFragments));
    }

    #[test]
    fn framing_rules_of_rfc_6455_are_enforced() {
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (
                {
                    frame(true, opcode::BINARY, b"x")
                        .into_iter()
                        .enumerate()
                        .map(|(i, b)| if i == 0 { b | 0x40 } else { b })
                        .collect()
                },
                FrameError::Protocol("reserved bits set"),
            ),
            (vec![0x82, 0x01, b'x'], FrameError::Protocol("client frames must be masked")),
            (frame(true, 0x3, b""), FrameError::Protocol("reserved opcode")),
            (frame(true, 0xB, b""), FrameError::Protocol("reserved opcode")),
            (frame(false, opcode::PING, b""), FrameError::Protocol("fragmented control frame")),
            (frame(true, opcode::PING, &[0; 126]), FrameError::Protocol("control frame too long")),
            (frame(true, opcode::CONTINUATION, b"x"), FrameError::Protocol("continuation without a message")),
            (
                [frame(false, opcode::BINARY, b"x"), frame(true, opcode::TEXT, b"y")].concat(),
                FrameError::Protocol("new message inside a fragmented one"),
            ),
            (frame(true, opcode::TEXT, &[0xce, 0xba, 0xff]), FrameError::InvalidUtf8),
            (frame(true, opcode::CLOSE, &[3]), FrameError::Protocol("close frame of one byte")),
            (frame(true, opcode::CLOSE, &1005u16.to_be_bytes()), FrameError::Protocol("invalid close code")),
            (frame(true, opcode::CLOSE, &[0x03, 0xe8, 0xff]), FrameError::InvalidUtf8),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_all(&mut decoder(1024, 8), &bytes), Err(want), "{bytes:02x?}");
        }
    }

    #[test]
    fn close_frames_and_text_decode() {
        let mut d = decoder(1024, 8);
        let mut close = 1001u16.to_be_bytes().to_vec();
        close.extend_from_slice("bye ☺".as_bytes());
        let mut bytes = frame(true, opcode::TEXT, "κόσμε".as_bytes());
        bytes.extend(frame(true, opcode::CLOSE, &close));
        bytes.extend(frame(true, opcode::CLOSE, b""));
        assert_eq!(
            decode_all(&mut d, &bytes).unwrap(),
            vec![
                Message::Text(Bytes::from("κόσμε")),
                Message::Close(Some(CloseFrame { code: 1001, reason: "bye ☺".into() })),
                Message::Close(None),
            ]
        );
    }

    #[test]
    fn server_headers_use_the_shortest_length() {
        let header = |op, len| {
            let mut h = [0; MAX_SERVER_HEADER];
            let n = server_header(op, len, &mut h);
            h[..n].to_vec()
        };
        assert_eq!(header(opcode::BINARY, 125), [0x82, 125]);
        assert_eq!(header(opcode::PONG, 126), [0x8a, 126, 0, 126]);
        assert_eq!(header(opcode::BINARY, 70_000), [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(server_frame_len(125), 127);
        assert_eq!(server_frame_len(65_535), 65_539);
        assert_eq!(server_frame_len(65_536), 65_546);
    }

    #[test]
    fn unmasking_matches_the_bytewise_rule_at_every_length() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut fast = data.clone();
            unmask(&mut fast, MASK);
            let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]).collect();
            assert_eq!(fast, slow);
        }
    }
}
