//! In-memory rate limits (per process): a token bucket per key.
//!
//! Each instance of the API enforces its own limits; behind a load balancer the effective
//! limit is the per-instance limit times the number of instances.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `capacity` requests at once, refilled evenly over `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Burst size.
    pub capacity: u32,
    /// Time to refill the whole burst.
    pub per: Duration,
}

impl Quota {
    /// `n` requests per minute.
    pub const fn per_minute(n: u32) -> Quota {
        Quota {
            capacity: n,
            per: Duration::from_secs(60),
        }
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by string (an IP, an account, an email).
pub struct RateLimiter {
    quota: Quota,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with one quota for every key.
    pub fn new(quota: Quota) -> Self {
        RateLimiter {
            quota,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `Err(wait)` when none is left.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.quota.capacity.max(1));
        let rate = capacity / self.quota.per.as_secs_f64().max(f64::EPSILON);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 100_000 {
            // Forget idle keys so memory stays bounded under key churn.
            buckets.retain(|_, b| now.duration_since(b.updated) < self.quota.per);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let limiter = RateLimiter::new(Quota::per_minute(3));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("ip", t0).is_ok());
        }
        let wait = limiter.check_at("ip", t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limiter.check_at("other", t0).is_ok(),
            "keys are independent"
        );
        assert!(limiter.check_at("ip", t0 + Duration::from_secs(20)).is_ok());
    }
}
