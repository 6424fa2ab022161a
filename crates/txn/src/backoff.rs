//! Retry delays with exponential growth and jitter from a seeded generator.
//!
//! The machine never touches a global RNG: the seed comes from the configuration so that a
//! scenario replayed with the same seed makes the same choices.

use std::time::Duration;

/// xorshift64*: tiny, fast and good enough for jitter.
#[derive(Debug, Clone)]
pub(crate) struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator from `seed` (zero is remapped, xorshift cannot leave the zero state).
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    /// Next pseudo-random 64-bit value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish value in `[0, bound)`; 0 when `bound` is 0.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

/// Exponential backoff: `base * 2^(attempt-1)` capped at `max`, then ±20% jitter.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    rng: SeededRng,
}

impl Backoff {
    /// A backoff policy from `retry.backoff.ms` / `retry.backoff.max.ms` and a seed.
    pub(crate) fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max: max.max(base),
            rng: SeededRng::new(seed),
        }
    }

    /// Delay before retry number `attempt` (1 = first retry).
    pub(crate) fn delay(&mut self, attempt: u32) -> Duration {
        self.jittered(self.base, attempt)
    }

    /// Delay for a retry that should start from a custom base (e.g. 20 ms after commit).
    pub(crate) fn delay_from(&mut self, base: Duration, attempt: u32) -> Duration {
        self.jittered(base.min(self.max), attempt)
    }

    fn jittered(&mut self, base: Duration, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let grown = base.saturating_mul(1u32 << exponent).min(self.max);
        let millis = u64::try_from(grown.as_millis()).unwrap_or(u64::MAX);
        let spread = millis / 5;
        let jitter = self.rng.below(spread.saturating_mul(2).saturating_add(1));
        let jittered = millis.saturating_sub(spread).saturating_add(jitter);
        Duration::from_millis(jittered.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_delays() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 42);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 42);
        let da: Vec<_> = (1..6).map(|n| a.delay(n)).collect();
        let db: Vec<_> = (1..6).map(|n| b.delay(n)).collect();
        assert_eq!(da, db);
    }

    #[test]
    fn delays_grow_and_stay_within_jitter_and_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 7);
        for attempt in 1..10 {
            let expected = (100u64 << (attempt - 1)).min(1000);
            let got = u64::try_from(backoff.delay(attempt).as_millis()).unwrap();
            assert!(
                got >= expected * 4 / 5 && got <= expected * 6 / 5,
                "attempt {attempt}: {got}"
            );
        }
    }
}
