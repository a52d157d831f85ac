//! Per-tenant rate limits with `governor` (GCRA, the token bucket's exact
//! equivalent without a lock per call): the default quota keyed by tenant
//! (or by caller without a tenant) in a concurrent map, and a limiter of its
//! own for each tenant with a configured quota. Keys whose bucket is full
//! again are evicted as calls go by, so callers that come and go never grow
//! the map.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use serde::Deserialize;

/// How fast callers of one key may call.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Quota {
    /// Sustained calls per second.
    pub requests_per_second: u32,
    /// Calls allowed at once after a quiet period.
    pub burst: u32,
}

impl Quota {
    /// As governor counts it; zeros count as one.
    fn gcra(self) -> governor::Quota {
        let at_least_one = |value: u32| NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN);
        governor::Quota::per_second(at_least_one(self.requests_per_second)).allow_burst(at_least_one(self.burst))
    }
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

/// Calls between two sweeps of the keys whose bucket is full again.
const SWEEP_EVERY: u64 = 4_096;

type Keyed<C> = governor::RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;
type Direct<C> = governor::RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Rate limits by key: a tenant's id, or the caller's subject.
pub struct RateLimiter<C: Clock + Clone = DefaultClock> {
    clock: C,
    default: Keyed<C>,
    tenants: HashMap<String, Direct<C>>,
    calls: AtomicU64,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(config: RateLimitConfig, clock: C) -> RateLimiter<C> {
        let default = governor::RateLimiter::new(config.default.gcra(), DashMapStateStore::default(), clock.clone());
        let tenants = config
            .tenants
            .iter()
            .map(|(key, quota)| (key.clone(), governor::RateLimiter::direct_with_clock(quota.gcra(), clock.clone())))
            .collect();
        RateLimiter { clock, default, tenants, calls: AtomicU64::new(0) }
    }

    /// Takes a call's share for `key`, or says how long until one is free.
    pub fn acquire(&self, key: &str) -> Result<(), Duration> {
        let checked = match self.tenants.get(key) {
            Some(own) => own.check(),
            None => {
                if self.calls.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
                    self.default.retain_recent();
                }
                self.default.check_key(&key.to_owned())
            }
        };
        checked.map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Keys the default quota holds a bucket for.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.default.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(requests_per_second: u32, burst: u32) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let config = RateLimitConfig { default: Quota { requests_per_second, burst }, tenants: BTreeMap::new() };
        (RateLimiter::with_clock(config, clock.clone()), clock)
    }

    #[test]
    fn a_burst_is_allowed_then_calls_wait_for_the_refill() {
        let (limiter, clock) = limiter(10, 3);
        for _ in 0..3 {
            assert!(limiter.acquire("t1").is_ok());
        }
        let wait = limiter.acquire("t1").expect_err("bucket empty");
        assert_eq!(wait, Duration::from_millis(100), "10 per second: a call every 100 ms");
        clock.advance(Duration::from_millis(100));
        assert!(limiter.acquire("t1").is_ok());
        assert!(limiter.acquire("t1").is_err(), "one call per refill");
        assert!(limiter.acquire("t2").is_ok(), "each tenant has its own bucket");
    }

    #[test]
    fn a_tenant_can_have_its_own_quota() {
        let mut config =
            RateLimitConfig { default: Quota { requests_per_second: 1, burst: 1 }, tenants: BTreeMap::new() };
        config.tenants.insert("big".to_owned(), Quota { requests_per_second: 100, burst: 5 });
        let limiter = RateLimiter::with_clock(config, FakeRelativeClock::default());
        for _ in 0..5 {
            assert!(limiter.acquire("big").is_ok());
        }
        assert!(limiter.acquire("big").is_err());
        assert!(limiter.acquire("small").is_ok());
        assert!(limiter.acquire("small").is_err());
    }

    #[test]
    fn keys_whose_bucket_is_full_again_are_forgotten() {
        let (limiter, clock) = limiter(1_000, 10);
        for caller in 0..SWEEP_EVERY - 1 {
            assert!(limiter.acquire(&format!("caller-{caller}")).is_ok());
        }
        assert_eq!(limiter.tracked() as u64, SWEEP_EVERY - 1, "one bucket per caller while they are drawn down");
        // A quiet second later, every bucket is full: the next sweep drops them.
        clock.advance(Duration::from_secs(1));
        assert!(limiter.acquire("latest").is_ok());
        assert!(limiter.tracked() <= 1, "{} buckets kept", limiter.tracked());
    }
}
