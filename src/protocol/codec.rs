//! The one place that knows bincode: its configuration, and a writer/reader for the
//! hand-laid parts of a message (the per-recipient update header and the entity body)
//! that follow bincode 2's standard integer rules byte for byte.
//!
//! bincode 2 is unmaintained (RUSTSEC-2025-0141) and 3.0 is a tombstone, so nothing else
//! in the crate names it: replacing it means changing this file only.
//!
//! Integer rules (bincode 2 `config::standard()`), used everywhere on the wire:
//! an unsigned value `v` is one byte when `v <= 250`; otherwise a marker byte then the
//! value little-endian: `251` + u16, `252` + u32, `253` + u64. A signed value is first
//! zigzag-mapped (`0, -1, 1, -2, …` → `0, 1, 2, 3, …`).

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

const SINGLE_BYTE_MAX: u64 = 250;
const U16_MARKER: u8 = 251;
const U32_MARKER: u8 = 252;
const U64_MARKER: u8 = 253;

/// Upper bound bincode may allocate while decoding one client message. The real limit is
/// `limits.max_message_bytes`, checked on the raw length before decoding; bincode's limit
/// is a compile-time constant, so it is only a backstop.
const DECODE_LIMIT: usize = 64 * 1024;

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The message ended before a complete value was read.
    Truncated,
    /// Bytes remained after a complete message.
    TrailingBytes(usize),
    /// The message is longer than the configured limit.
    TooLong { len: usize, max: usize },
    /// A value was read but is not allowed (unknown tag, bad length, out of range).
    Invalid(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes after message"),
            DecodeError::TooLong { len, max } => {
                write!(f, "message of {len} bytes exceeds limit of {max}")
            }
            DecodeError::Invalid(why) => write!(f, "invalid message: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Encodes a serde value with the wire configuration, appending to `out`.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail for the plain types the protocol uses; a failure
    // here would be a programming error in a message definition, not bad input.
    bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
        .expect("protocol types encode infallibly into a Vec");
}

/// Decodes a whole message: every byte must be consumed.
pub fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config()).map_err(map_error)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes a value from the front of `bytes`, returning it and the bytes used.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), DecodeError> {
    bincode::serde::decode_from_slice(bytes, config()).map_err(map_error)
}

fn map_error(err: bincode::error::DecodeError) -> DecodeError {
    use bincode::error::DecodeError as E;
    match err {
        E::UnexpectedEnd { .. } => DecodeError::Truncated,
        other => DecodeError::Invalid(other.to_string()),
    }
}

/// Appends bincode-standard integers to a buffer: the hand-laid parts of a message.
#[derive(Debug, Default)]
pub struct Writer<'a> {
    out: Option<&'a mut Vec<u8>>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Writer { out: Some(out) }
    }

    fn buf(&mut self) -> &mut Vec<u8> {
        self.out.as_mut().expect("writer has a buffer")
    }

    /// An unsigned varint.
    pub fn u64(&mut self, v: u64) {
        let out = self.buf();
        if v <= SINGLE_BYTE_MAX {
            out.push(v as u8);
        } else if v <= u16::MAX as u64 {
            out.push(U16_MARKER);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        } else if v <= u32::MAX as u64 {
            out.push(U32_MARKER);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        } else {
            out.push(U64_MARKER);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A signed varint (zigzag).
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Raw bytes, appended as they are.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf().extend_from_slice(bytes);
    }
}

/// Reads bincode-standard integers from a slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

/// How deep [`Reader::enter`] lets nested values go: hostile bytes describing a deeply
/// nested value must be refused, not recursed into until the stack overflows.
const MAX_DEPTH: u32 = 32;

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0, depth: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The unread rest of the input.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Enters one level of a nested value (a list inside a list…); refused beyond a fixed
    /// depth. Pair with [`Reader::leave`].
    pub fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::Invalid(format!("values nested deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Reader::enter`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The next `n` bytes as they are.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.take(n)
    }

    /// An unsigned varint.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let first = self.take(1)?[0];
        Ok(match first {
            b if b as u64 <= SINGLE_BYTE_MAX => b as u64,
            U16_MARKER => u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")) as u64,
            U32_MARKER => u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as u64,
            U64_MARKER => u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")),
            other => return Err(DecodeError::Invalid(format!("bad varint marker {other}"))),
        })
    }

    /// An unsigned varint that must fit in a u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| DecodeError::Invalid(format!("{v} does not fit in u32")))
    }

    /// A signed (zigzag) varint.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let v = self.u64()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A signed varint that must fit in an i32.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let v = self.i64()?;
        i32::try_from(v).map_err(|_| DecodeError::Invalid(format!("{v} does not fit in i32")))
    }

    /// A count that must not exceed `max` (checked before anything is allocated for it).
    pub fn count(&mut self, max: usize) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        if n > max as u64 {
            return Err(DecodeError::Invalid(format!("count {n} exceeds {max}")));
        }
        Ok(n as usize)
    }

    /// Decodes a serde value at the current position.
    pub fn value<T: DeserializeOwned>(&mut self) -> Result<T, DecodeError> {
        let (v, used) = decode_prefix(self.rest())?;
        self.pos += used;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_matches_bincode_for_unsigned_and_signed() {
        for v in [0u64, 1, 250, 251, 255, 65535, 65536, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX] {
            let mut ours = Vec::new();
            Writer::new(&mut ours).u64(v);
            let mut theirs = Vec::new();
            encode_into(&v, &mut theirs);
            assert_eq!(ours, theirs, "u64 {v}");
            assert_eq!(Reader::new(&ours).u64().unwrap(), v);
        }
        for v in [0i64, -1, 1, -125, 125, -126, 126, i32::MIN as i64, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut ours = Vec::new();
            Writer::new(&mut ours).i64(v);
            let mut theirs = Vec::new();
            encode_into(&v, &mut theirs);
            assert_eq!(ours, theirs, "i64 {v}");
            assert_eq!(Reader::new(&ours).i64().unwrap(), v);
        }
    }

    #[test]
    fn reader_rejects_truncation_and_bad_markers() {
        assert_eq!(Reader::new(&[]).u64(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[251, 1]).u64(), Err(DecodeError::Truncated));
        assert!(matches!(Reader::new(&[255]).u64(), Err(DecodeError::Invalid(_))));
        assert!(matches!(Reader::new(&[5]).count(4), Err(DecodeError::Invalid(_))));
    }
}
