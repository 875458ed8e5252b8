//! The protocol's integer rules (docs/PROTOCOL.md, "Encoding rules"): bincode 2's
//! standard configuration, written from the document rather than from bincode.
//!
//! Unsigned integers are varints (a value ≤ 250 is one byte; else a marker, 251/252/253,
//! then 2/4/8 bytes little-endian); signed integers are zigzag-encoded first. Every read
//! is bounds-checked and returns an error, never panics: the bytes come from a network.

use std::fmt;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The message ended in the middle of a value.
    Truncated,
    /// A value that is not allowed here (what and why).
    Invalid(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "message truncated"),
            WireError::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for WireError {}

fn invalid(why: impl Into<String>) -> WireError {
    WireError::Invalid(why.into())
}

/// Reads the protocol's values from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    /// The next `n` bytes, as they are (a length-prefixed part read on its own).
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated);
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    /// An unsigned varint no wider than `max_marker` allows (251: u16, 252: u32, 253: u64).
    fn varint(&mut self, max_marker: u8) -> Result<u64, WireError> {
        let first = self.byte()?;
        if first <= 250 {
            return Ok(u64::from(first));
        }
        if first > max_marker {
            return Err(invalid(format!("varint marker {first} too wide for the field")));
        }
        let mut le = [0u8; 8];
        let n = match first {
            251 => 2,
            252 => 4,
            _ => 8,
        };
        le[..n].copy_from_slice(self.take(n)?);
        Ok(u64::from_le_bytes(le))
    }

    /// A `u16` varint.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(self.varint(251)? as u16)
    }

    /// A `u32` varint.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(self.varint(252)? as u32)
    }

    /// A `u64` varint.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        self.varint(253)
    }

    /// A zigzag `i32`.
    pub fn i32(&mut self) -> Result<i32, WireError> {
        let z = self.u32()?;
        Ok(((z >> 1) as i32) ^ -((z & 1) as i32))
    }

    /// A zigzag `i64`.
    pub fn i64(&mut self) -> Result<i64, WireError> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count (a `u64` varint) that cannot ask for more items than there are bytes left
    /// (every item takes at least one byte), so a hostile count allocates nothing.
    pub fn count(&mut self) -> Result<usize, WireError> {
        let n = self.u64()?;
        if n > self.remaining() as u64 {
            return Err(invalid(format!("count {n} exceeds the {} bytes left", self.remaining())));
        }
        Ok(n as usize)
    }

    /// A UTF-8 string: byte length, then the bytes.
    pub fn string(&mut self) -> Result<String, WireError> {
        let n = self.count()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| invalid("string is not UTF-8"))
    }

    /// Fails unless every byte was read (a message has no trailing bytes).
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(invalid(format!("{n} trailing bytes"))),
        }
    }
}

/// Appends the protocol's values to a buffer, in their shortest form.
#[derive(Debug)]
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    /// An unsigned varint.
    pub fn u64(&mut self, v: u64) {
        if v <= 250 {
            self.0.push(v as u8);
        } else if v <= u64::from(u16::MAX) {
            self.0.push(251);
            self.0.extend_from_slice(&(v as u16).to_le_bytes());
        } else if v <= u64::from(u32::MAX) {
            self.0.push(252);
            self.0.extend_from_slice(&(v as u32).to_le_bytes());
        } else {
            self.0.push(253);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// A zigzag signed integer.
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A UTF-8 string.
    pub fn string(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_examples_read_back() {
        let cases: &[(&[u8], i64)] =
            &[(&[0x1b], -14), (&[0xfb, 0xcf, 0x07], -1000), (&[0xfc, 0xfe, 0xff, 0xff, 0xff], i32::MAX as i64)];
        for (bytes, v) in cases {
            assert_eq!(Reader::new(bytes).i64().unwrap(), *v);
            let mut out = Vec::new();
            Writer(&mut out).i64(*v);
            assert_eq!(&out[..], *bytes);
        }
        assert_eq!(Reader::new(&[0xfb, 0x39, 0x11]).u16().unwrap(), 4409);
    }

    #[test]
    fn hostile_bytes_are_errors() {
        assert_eq!(Reader::new(&[]).u32(), Err(WireError::Truncated));
        assert!(Reader::new(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0]).u32().is_err(), "u64 marker for a u32");
        assert!(Reader::new(&[0xfe]).u64().is_err());
        assert!(Reader::new(&[0xfc, 0xff, 0xff, 0xff, 0x7f]).count().is_err(), "a count beyond the bytes");
        assert!(Reader::new(&[2, 0xff, 0xfe]).string().is_err(), "not UTF-8");
    }
}
