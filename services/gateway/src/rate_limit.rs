//! Per-tenant rate limits: one token bucket per tenant (or per caller
//! without a tenant), refilled continuously. Integer arithmetic in
//! micro-tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

const MICROS_PER_TOKEN: u64 = 1_000_000;

/// How fast callers of one key may call.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Quota {
    /// Sustained calls per second.
    pub requests_per_second: u32,
    /// Calls allowed at once after a quiet period.
    pub burst: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RateLimitConfig {
    /// The quota of every tenant without its own.
    #[serde(default = "default_quota")]
    pub default: Quota,
    /// Quotas of particular tenants, by tenant id.
    #[serde(default)]
    pub tenants: BTreeMap<String, Quota>,
}

fn default_quota() -> Quota {
    Quota { requests_per_second: 1_000, burst: 2_000 }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { default: default_quota(), tenants: BTreeMap::new() }
    }
}

struct Bucket {
    micro_tokens: u64,
    refilled_at: Instant,
}

/// Token buckets by key.
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter { config, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn acquire(&self, key: &str) -> Result<(), Duration> {
        self.acquire_at(key, Instant::now())
    }

    fn acquire_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let quota = self.config.tenants.get(key).copied().unwrap_or(self.config.default);
        let rate = u64::from(quota.requests_per_second.max(1));
        let capacity = u64::from(quota.burst.max(1)) * MICROS_PER_TOKEN;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket =
            buckets.entry(key.to_owned()).or_insert_with(|| Bucket { micro_tokens: capacity, refilled_at: now });
        let elapsed_nanos =
            now.saturating_duration_since(bucket.refilled_at).as_nanos().min(u128::from(u64::MAX)) as u64;
        // rate tokens per second = rate * 10^6 micro-tokens per 10^9 ns.
        let refill = elapsed_nanos.saturating_mul(rate) / 1_000;
        bucket.micro_tokens = bucket.micro_tokens.saturating_add(refill).min(capacity);
        bucket.refilled_at = now;
        if bucket.micro_tokens >= MICROS_PER_TOKEN {
            bucket.micro_tokens -= MICROS_PER_TOKEN;
            return Ok(());
        }
        let missing = MICROS_PER_TOKEN - bucket.micro_tokens;
        Err(Duration::from_nanos(missing * 1_000 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests_per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig { default: Quota { requests_per_second, burst }, tenants: BTreeMap::new() })
    }

    #[test]
    fn a_burst_is_allowed_then_calls_wait_for_the_refill() {
        let limiter = limiter(10, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.acquire_at("t1", start).is_ok());
        }
        let wait = limiter.acquire_at("t1", start).expect_err("bucket empty");
        assert_eq!(wait, Duration::from_millis(100), "10 per second: a token every 100 ms");
        assert!(limiter.acquire_at("t1", start + Duration::from_millis(100)).is_ok());
        assert!(limiter.acquire_at("t2", start).is_ok(), "each tenant has its own bucket");
    }

    #[test]
    fn a_tenant_can_have_its_own_quota() {
        let mut config =
            RateLimitConfig { default: Quota { requests_per_second: 1, burst: 1 }, tenants: BTreeMap::new() };
        config.tenants.insert("big".to_owned(), Quota { requests_per_second: 100, burst: 5 });
        let limiter = RateLimiter::new(config);
        let now = Instant::now();
        for _ in 0..5 {
            assert!(limiter.acquire_at("big", now).is_ok());
        }
        assert!(limiter.acquire_at("small", now).is_ok());
        assert!(limiter.acquire_at("small", now).is_err());
    }
}
