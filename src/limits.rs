//! The input rate limit of one session: a token bucket (`limits.input_rate_hz` refill,
//! `limits.input_burst` depth). Messages beyond it are dropped and counted; a client
//! still flooding after `limits.flood_grace_s` is closed with 1008.
//!
//! A few lines of arithmetic rather than a crate: the drop-then-disconnect policy needs
//! to know how long the flood has lasted, which rate-limit crates do not report.

use std::time::{Duration, Instant};

/// What the limiter decided about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate: handle it.
    Allow,
    /// Over the rate: drop it.
    Drop,
    /// Over the rate for longer than the grace: close the session.
    Disconnect,
}

/// A token bucket with flood tracking.
#[derive(Debug, Clone)]
pub struct InputRateLimit {
    rate: f64,
    burst: f64,
    grace: Duration,
    tokens: f64,
    last: Instant,
    flooding_since: Option<Instant>,
}

impl InputRateLimit {
    /// A full bucket refilled at `rate` per second up to `burst`.
    pub fn new(rate: f64, burst: f64, grace: Duration, now: Instant) -> Self {
        InputRateLimit { rate, burst, grace, tokens: burst, last: now, flooding_since: None }
    }

    /// Takes one token for a message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> RateVerdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            // A flood ends once the client is back within its rate for a whole second's
            // worth of refill, not at the first message that happens to fit.
            if self.tokens >= self.rate.min(self.burst) - 1.0 {
                self.flooding_since = None;
            }
            return RateVerdict::Allow;
        }
        let since = *self.flooding_since.get_or_insert(now);
        if now.duration_since(since) >= self.grace {
            RateVerdict::Disconnect
        } else {
            RateVerdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_burst_then_drops_then_disconnects_a_sustained_flood() {
        let t0 = Instant::now();
        let mut l = InputRateLimit::new(10.0, 5.0, Duration::from_secs(2), t0);
        for _ in 0..5 {
            assert_eq!(l.check(t0), RateVerdict::Allow);
        }
        assert_eq!(l.check(t0), RateVerdict::Drop);
        // 100 messages a second for 3 s: some allowed by refill, the rest dropped, then cut.
        let mut verdicts = Vec::new();
        for i in 1..=300 {
            verdicts.push(l.check(t0 + Duration::from_millis(i * 10)));
        }
        assert!(verdicts.contains(&RateVerdict::Allow));
        assert!(verdicts.contains(&RateVerdict::Drop));
        assert_eq!(verdicts.last(), Some(&RateVerdict::Disconnect));
    }

    #[test]
    fn a_client_within_its_rate_is_never_dropped() {
        let t0 = Instant::now();
        let mut l = InputRateLimit::new(20.0, 5.0, Duration::from_secs(1), t0);
        for i in 0..1000 {
            assert_eq!(l.check(t0 + Duration::from_millis(i * 50)), RateVerdict::Allow);
        }
    }
}
