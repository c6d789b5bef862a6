//! Rate limits (per process): a GCRA bucket per key, kept by the `governor` crate.
//!
//! Each instance of the API enforces its own limits; behind a load balancer the effective
//! limit is the per-instance limit times the number of instances.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;

/// `n` requests at once, refilled evenly over a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per minute (also the burst size).
    pub per_minute: u32,
}

impl Quota {
    /// `n` requests per minute (at least one).
    pub const fn per_minute(n: u32) -> Quota {
        Quota { per_minute: n }
    }

    fn governor(self) -> governor::Quota {
        governor::Quota::per_minute(NonZeroU32::new(self.per_minute).unwrap_or(NonZeroU32::MIN))
    }
}

/// Keys kept before idle ones are forgotten, so memory stays bounded under key churn.
const MAX_KEYS: usize = 100_000;

/// Limits keyed by string (an IP, an account, an email).
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter:
        governor::RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl RateLimiter {
    /// A limiter with one quota for every key.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter reading time from `clock`.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        RateLimiter {
            limiter: governor::RateLimiter::dashmap_with_clock(quota.governor(), clock.clone()),
            clock,
        }
    }

    /// Takes one request for `key`; `Err(wait)` when the key must wait that long first.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > MAX_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(Quota::per_minute(3), clock.clone());
        for _ in 0..3 {
            assert!(limiter.check("ip").is_ok());
        }
        let wait = limiter.check("ip").unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check("other").is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.check("ip").is_ok());
        assert!(limiter.check("ip").is_err());
    }
}
