//! A small deterministic random generator, so a game's behaviour depends only on its
//! seed and inputs (and its whole state can be saved as a few integers).

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, good enough for gameplay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The whole state of the generator, to save it: [`SplitMix64::from_state`] with this
    /// value continues the exact same sequence.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// A generator that continues from a state returned by [`SplitMix64::state`]. Every
    /// `u64` is a valid state (SplitMix64's seed is its state, so this equals `new`).
    pub fn from_state(state: u64) -> Self {
        SplitMix64 { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (hi as i64 - lo as i64) as u64;
        lo + (self.next_u64() % span) as i32
    }
}
