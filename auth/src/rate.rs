//! Rate limits: a GCRA bucket per key (the generic cell rate algorithm: `n` requests at once,
//! one more every `60 / n` seconds).
//!
//! In one process the buckets are kept by the `governor` crate. Several instances of the API
//! behind a load balancer share theirs through Redis when `REDIS_URL` is set ([`Shared`]):
//! each check is one atomic script on the Redis server, timed by the server's clock, so N
//! instances together allow the limit once, not N times. When Redis does not answer, a check
//! falls back to the process's own bucket (logged): limits hold per instance meanwhile rather
//! than not at all.

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

/// The GCRA as one atomic Redis script. `KEYS[1]`: the bucket; `ARGV[1]`: the emission
/// interval and `ARGV[2]`: the burst tolerance, both in milliseconds. The bucket holds the
/// theoretical arrival time of the next request and expires when it is reached. Answers 0 when
/// the request is taken, else the milliseconds to wait. Time is the server's, the same for
/// every instance.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then
  return tat - tolerance - now
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
";

/// Buckets kept in Redis, shared by every process using the same server and prefix.
#[derive(Clone)]
pub struct Shared {
    connection: redis::aio::ConnectionManager,
    script: std::sync::Arc<redis::Script>,
    prefix: String,
}

impl Shared {
    /// Connects to the Redis at `url` (`redis://host:port/db`); buckets are named
    /// `{prefix}{limit}:{key}`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Shared, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_with_config(client, config).await?;
        Ok(Shared {
            connection,
            script: std::sync::Arc::new(redis::Script::new(GCRA)),
            prefix: prefix.to_owned(),
        })
    }

    async fn take(
        &self,
        limit: &str,
        key: &str,
        quota: Quota,
    ) -> Result<Option<Duration>, redis::RedisError> {
        let per_minute = u64::from(quota.per_minute.max(1));
        let interval = (60_000 / per_minute).max(1);
        let tolerance = interval * (per_minute - 1);
        let mut connection = self.connection.clone();
        let wait: u64 = self
            .script
            .key(format!("{}{limit}:{key}", self.prefix))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut connection)
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}

/// Limits keyed by string (an IP, an account, an email).
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter:
        governor::RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    quota: Quota,
    /// The limit's name in shared bucket keys (`per_ip`, `login_per_email`).
    name: &'static str,
    shared: Option<Shared>,
}

impl RateLimiter {
    /// A limiter with one quota for every key, kept in this process.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, DefaultClock::default())
    }

    /// A limiter named `name` whose buckets live in `shared` (when given), shared with every
    /// process using the same Redis and prefix.
    pub fn shared(name: &'static str, quota: Quota, shared: Option<Shared>) -> Self {
        let mut limiter = Self::new(quota);
        limiter.name = name;
        limiter.shared = shared;
        limiter
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A limiter reading time from `clock`, kept in this process.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        RateLimiter {
            limiter: governor::RateLimiter::dashmap_with_clock(quota.governor(), clock.clone()),
            clock,
            quota,
            name: "limit",
            shared: None,
        }
    }

    /// Takes one request for `key`; `Err(wait)` when the key must wait that long first.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared {
            match shared.take(self.name, key, self.quota).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => return Err(wait),
                Err(e) => {
                    tracing::warn!(limit = self.name, error = %e,
                        "shared rate limits unavailable; counting in this process");
                }
            }
        }
        self.check_here(key)
    }

    /// Takes one request for `key` from this process's bucket.
    fn check_here(&self, key: &str) -> Result<(), Duration> {
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

    #[tokio::test]
    async fn a_burst_then_refusal_then_refill() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(Quota::per_minute(3), clock.clone());
        for _ in 0..3 {
            assert!(limiter.check("ip").await.is_ok());
        }
        let wait = limiter.check("ip").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check("other").await.is_ok(), "keys are independent");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.check("ip").await.is_ok());
        assert!(limiter.check("ip").await.is_err());
    }

    /// The Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`); fails loudly when none
    /// answers.
    async fn redis() -> Shared {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("commerce-test:{}:", uuid::Uuid::new_v4().simple());
        Shared::connect(&url, &prefix).await.unwrap_or_else(|e| {
            panic!("Redis is required for this test but {url} does not answer ({e})")
        })
    }

    /// Two limiters on one Redis (two processes, as far as the buckets know) allow a burst
    /// once between them, and say how long to wait.
    #[tokio::test]
    async fn limiters_sharing_redis_allow_the_limit_once() {
        let shared = redis().await;
        let quota = Quota::per_minute(4);
        let first = RateLimiter::shared("per_ip", quota, Some(shared.clone()));
        let second = RateLimiter::shared("per_ip", quota, Some(shared.clone()));
        let mut allowed = 0;
        for n in 0..10 {
            let limiter = if n % 2 == 0 { &first } else { &second };
            if limiter.check("10.0.0.1").await.is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 4);
        let wait = first.check("10.0.0.1").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(15),
            "{wait:?}"
        );
        assert!(
            second.check("10.0.0.2").await.is_ok(),
            "keys are independent"
        );
        let other_limit = RateLimiter::shared("per_account", quota, Some(shared));
        assert!(
            other_limit.check("10.0.0.1").await.is_ok(),
            "limits are independent"
        );
    }
}
