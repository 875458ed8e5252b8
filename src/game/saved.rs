//! The values of a game's saved state ([`crate::game::Game::save`]) and how each is
//! written and read back: the [`SaveFormat`] trait behind `#[derive(GameState)]`,
//! `#[derive(Entity)]`, `#[derive(PlayerInput)]` and `#[derive(SaveFormat)]`.
//!
//! Every value is written in the protocol's varints (`protocol::codec`): unsigned
//! integers as they are, signed ones zigzag-mapped, `bool` as 0 or 1, floats as their
//! IEEE bits, a `Vec` or `BTreeMap` as a count then its items (a map's `u32` keys as the
//! gap from the previous key plus one, so ascending player ids cost a byte each), an
//! array without a count. Reading never panics on hostile bytes: every count is bounded
//! by the bytes left before anything is allocated for it, and every integer must fit its
//! type.

use crate::game::SplitMix64;
use crate::protocol::{DecodeError, Reader, Writer};
use std::collections::BTreeMap;
use std::fmt;

/// Why saved bytes were refused, and where: `runners[3].col: 16 is outside 0..GRID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreError {
    path: String,
    reason: String,
}

impl RestoreError {
    /// A refusal at the current position (the callers above add the path).
    pub fn new(reason: impl Into<String>) -> Self {
        RestoreError { path: String::new(), reason: reason.into() }
    }

    /// The same refusal inside field (or `[index]`) `segment` of the enclosing value.
    pub fn at(mut self, segment: &str) -> Self {
        if !self.path.is_empty() && !self.path.starts_with('[') {
            self.path.insert(0, '.');
        }
        self.path.insert_str(0, segment);
        self
    }
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<DecodeError> for RestoreError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::Truncated => RestoreError::new("the save ends here"),
            DecodeError::Invalid(why) => RestoreError::new(why),
            other => RestoreError::new(other.to_string()),
        }
    }
}

/// A value that can be part of a game's saved state.
///
/// Implemented for the integers, `bool`, `f32`, `f64`, [`SplitMix64`], arrays, `Option`,
/// `Vec`, `String`, `BTreeMap<u32, _>` and pairs; derive it for your own structs with
/// `#[derive(SaveFormat)]` (an `Entity` or `PlayerInput` derive implements it too).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be saved: derive `SaveFormat` for it, or mark the field #[tickcast(skip)]"
)]
pub trait SaveFormat: Sized {
    /// The fewest bytes a saved value takes: a declared count above `bytes left / this`
    /// cannot be honest, and is refused before anything is allocated.
    const MIN_BYTES: usize;

    /// Appends the value.
    fn save_to(&self, w: &mut Writer<'_>);

    /// Reads a value written by [`SaveFormat::save_to`], refusing what it could not have
    /// written.
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError>;
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl SaveFormat for $t {
            const MIN_BYTES: usize = 1;
            fn save_to(&self, w: &mut Writer<'_>) {
                w.u64(*self as u64);
            }
            fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
                let v = r.u64()?;
                <$t>::try_from(v).map_err(|_| RestoreError::new(format!("{v} does not fit in {}", stringify!($t))))
            }
        }
    )*};
}

macro_rules! signed {
    ($($t:ty),*) => {$(
        impl SaveFormat for $t {
            const MIN_BYTES: usize = 1;
            fn save_to(&self, w: &mut Writer<'_>) {
                w.i64(*self as i64);
            }
            fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
                let v = r.i64()?;
                <$t>::try_from(v).map_err(|_| RestoreError::new(format!("{v} does not fit in {}", stringify!($t))))
            }
        }
    )*};
}

unsigned!(u8, u16, u32, u64, usize);
signed!(i8, i16, i32, i64, isize);

impl SaveFormat for bool {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(*self as u64);
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        match r.u64()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(RestoreError::new(format!("{v} is not a bool (0 or 1)"))),
        }
    }
}

impl SaveFormat for f32 {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.to_bits() as u64);
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        Ok(f32::from_bits(r.u32()?))
    }
}

impl SaveFormat for f64 {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.to_bits());
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        Ok(f64::from_bits(r.u64()?))
    }
}

impl SaveFormat for SplitMix64 {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.state());
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        Ok(SplitMix64::from_state(r.u64()?))
    }
}

impl<T: SaveFormat, const N: usize> SaveFormat for [T; N] {
    const MIN_BYTES: usize = T::MIN_BYTES * N;
    fn save_to(&self, w: &mut Writer<'_>) {
        self.iter().for_each(|v| v.save_to(w));
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        nested(r, |r| {
            let mut items = list_of(N);
            for i in 0..N {
                items.push(T::restore_from(r).map_err(|e| e.at(&format!("[{i}]")))?);
            }
            // Exactly N items were pushed.
            items.try_into().map_err(|_| RestoreError::new("array length"))
        })
    }
}

impl<A: SaveFormat, B: SaveFormat> SaveFormat for (A, B) {
    const MIN_BYTES: usize = A::MIN_BYTES + B::MIN_BYTES;
    fn save_to(&self, w: &mut Writer<'_>) {
        self.0.save_to(w);
        self.1.save_to(w);
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        Ok((A::restore_from(r).map_err(|e| e.at("0"))?, B::restore_from(r).map_err(|e| e.at("1"))?))
    }
}

impl<T: SaveFormat> SaveFormat for Option<T> {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        match self {
            None => w.u64(0),
            Some(v) => {
                w.u64(1);
                v.save_to(w);
            }
        }
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        match bool::restore_from(r)? {
            false => Ok(None),
            true => nested(r, |r| T::restore_from(r).map(Some)),
        }
    }
}

/// Most bytes a restore sets aside for a list before reading its items: a count is bounded
/// by the bytes left, but an item may take far more memory than its saved bytes, so the
/// list grows as items actually arrive beyond this.
const PREALLOCATE_BYTES: usize = 64 * 1024;

/// A list of `n` items of `T`, with room for as many as fit [`PREALLOCATE_BYTES`].
fn list_of<T>(n: usize) -> Vec<T> {
    Vec::with_capacity(n.min(PREALLOCATE_BYTES / std::mem::size_of::<T>().max(1)))
}

/// Reads a nested value inside one more level of [`Reader::enter`].
fn nested<T>(
    r: &mut Reader<'_>,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, RestoreError>,
) -> Result<T, RestoreError> {
    r.enter()?;
    let value = read(r);
    r.leave();
    value
}

/// How much memory one restored list may take per byte left in the save, beyond a first
/// MiB: honest items take a few times their saved bytes (an `i32` 4 bytes for at least one
/// saved, a `String` 24), while an `Option` of a big array saved as one byte each would let
/// a small hostile save claim gigabytes.
const MEMORY_PER_SAVED_BYTE: usize = 64;

/// Reads a count of `T` items: never more than the bytes left hold (at `T::MIN_BYTES`
/// each), nor more than [`MEMORY_PER_SAVED_BYTE`] allows them to take in memory.
fn count<T: SaveFormat>(r: &mut Reader<'_>, extra_bytes: usize) -> Result<usize, RestoreError> {
    let left = r.remaining();
    let by_bytes = left / (T::MIN_BYTES + extra_bytes).max(1);
    let by_memory = (left.saturating_mul(MEMORY_PER_SAVED_BYTE) + (1 << 20)) / std::mem::size_of::<T>().max(1);
    let most = by_bytes.min(by_memory);
    r.count(most).map_err(|e| match e {
        DecodeError::Invalid(_) => RestoreError::new(format!("a count above the {most} items the bytes left can hold")),
        other => other.into(),
    })
}

impl<T: SaveFormat> SaveFormat for Vec<T> {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.len() as u64);
        self.iter().for_each(|v| v.save_to(w));
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        let n = count::<T>(r, 0)?;
        nested(r, |r| {
            let mut items = list_of(n);
            for i in 0..n {
                items.push(T::restore_from(r).map_err(|e| e.at(&format!("[{i}]")))?);
            }
            Ok(items)
        })
    }
}

impl SaveFormat for String {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.len() as u64);
        w.raw(self.as_bytes());
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        let n = count::<u8>(r, 0)?;
        let bytes = r.bytes(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| RestoreError::new("a string that is not UTF-8"))
    }
}

/// Keyed by player or entity id, in ascending order: each key is saved as the gap from
/// the previous key plus one.
impl<V: SaveFormat> SaveFormat for BTreeMap<u32, V> {
    const MIN_BYTES: usize = 1;
    fn save_to(&self, w: &mut Writer<'_>) {
        w.u64(self.len() as u64);
        let mut next = 0u64;
        for (k, v) in self {
            w.u64(*k as u64 - next);
            next = *k as u64 + 1;
            v.save_to(w);
        }
    }
    fn restore_from(r: &mut Reader<'_>) -> Result<Self, RestoreError> {
        let n = count::<V>(r, 1)?;
        nested(r, |r| map_entries(r, n))
    }
}

/// The `n` entries of a saved `BTreeMap<u32, _>`, after its count. Errors name an entry by
/// its key (`ships[300].hp`), or by its position while the key itself is unreadable.
fn map_entries<V: SaveFormat>(r: &mut Reader<'_>, n: usize) -> Result<BTreeMap<u32, V>, RestoreError> {
    let mut map = BTreeMap::new();
    let mut next = 0u64;
    for i in 0..n {
        let gap = r.u64().map_err(|e| RestoreError::from(e).at(&format!("[{i}]")))?;
        let key = match next.checked_add(gap).map(u32::try_from) {
            Some(Ok(key)) => key,
            _ => return Err(RestoreError::new("a key beyond u32").at(&format!("[{i}]"))),
        };
        next = key as u64 + 1;
        map.insert(key, V::restore_from(r).map_err(|e| e.at(&format!("[{key}]")))?);
    }
    Ok(map)
}
