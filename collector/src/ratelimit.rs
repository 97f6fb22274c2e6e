//! Per-agent and per-token rate limits on the document endpoints (config `[limits]`).
//!
//! A token bucket per key, in memory: `burst` documents at once, refilled at `per_minute`. A
//! hospital's PCs send an inventory every few hours and a sweeping agent a burst of SNMP
//! documents, so the defaults never touch a healthy site; what they stop is one agent (or one
//! leaked site token) flooding the CMDB. The site token is checked as soon as it is
//! authenticated, before the body is read; the agent once its document is parsed (its id is in
//! the document).
//!
//! [`Buckets`] is pure (time is passed in) and table-tested; [`RateLimits`] holds one per key
//! kind behind a mutex. Memory is bounded: only authenticated tokens and parsed agent ids get a
//! bucket, and past [`MAX_KEYS`] the buckets that are full again (indistinguishable from new
//! ones) are forgotten.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use parc_config::collector::Quota;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Buckets kept per key kind before full ones are forgotten.
pub const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of one quota, keyed by `K`.
#[derive(Debug)]
pub struct Buckets<K> {
    quota: Quota,
    buckets: HashMap<K, Bucket>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(quota: Quota, max_keys: usize) -> Self {
        Buckets {
            quota,
            buckets: HashMap::new(),
            max_keys,
        }
    }

    fn rate_per_sec(&self) -> f64 {
        f64::from(self.quota.per_minute) / 60.0
    }

    /// Takes one document's token for `key` at `now`; when there is none, how long until there
    /// is one.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        let rate = self.rate_per_sec();
        let burst = f64::from(self.quota.burst);
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.forget_full(now);
        }
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Drops the buckets that have refilled: a new bucket would be the same.
    fn forget_full(&mut self, now: Instant) {
        let rate = self.rate_per_sec();
        let burst = f64::from(self.quota.burst);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// Which limit refused a document, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub what: &'static str,
    /// Whole seconds, at least one: what `Retry-After` carries.
    pub retry_after_secs: u64,
}

/// The collector's two limits. `None` quotas are off.
#[derive(Debug)]
pub struct RateLimits {
    agents: Option<Mutex<Buckets<Uuid>>>,
    tokens: Option<Mutex<Buckets<[u8; 32]>>>,
}

impl RateLimits {
    pub fn new(per_agent: Option<Quota>, per_token: Option<Quota>) -> Self {
        RateLimits {
            agents: per_agent.map(|q| Mutex::new(Buckets::new(q, MAX_KEYS))),
            tokens: per_token.map(|q| Mutex::new(Buckets::new(q, MAX_KEYS))),
        }
    }

    /// No limits (tests, and `[limits]` set to 0).
    pub fn off() -> Self {
        RateLimits::new(None, None)
    }

    /// One document for an authenticated site token. Keyed by the token's hash: the secret
    /// itself is not kept.
    pub fn token(&self, token: &str) -> Result<(), Limited> {
        let Some(buckets) = &self.tokens else {
            return Ok(());
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        take(buckets, &key, "site token")
    }

    /// One document from agent `agent_id`.
    pub fn agent(&self, agent_id: Uuid) -> Result<(), Limited> {
        let Some(buckets) = &self.agents else {
            return Ok(());
        };
        take(buckets, &agent_id, "agent")
    }
}

fn take<K: Hash + Eq + Clone>(
    buckets: &Mutex<Buckets<K>>,
    key: &K,
    what: &'static str,
) -> Result<(), Limited> {
    let mut buckets = buckets
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    buckets.take(key, Instant::now()).map_err(|wait| Limited {
        what,
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_minute: u32, burst: u32) -> Quota {
        Quota { per_minute, burst }
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Buckets::new(quota(60, 3), 10);
        let s = Duration::from_secs;
        // (time, expected): 3 at once, then one per second.
        let cases = [
            (s(0), Ok(())),
            (s(0), Ok(())),
            (s(0), Ok(())),
            (s(0), Err(s(1))),
            (Duration::from_millis(500), Err(Duration::from_millis(500))),
            (s(1), Ok(())),
            (s(1), Err(s(1))),
            // A long pause refills to the burst, not beyond.
            (s(100), Ok(())),
            (s(100), Ok(())),
            (s(100), Ok(())),
            (s(100), Err(s(1))),
        ];
        for (i, (at, want)) in cases.into_iter().enumerate() {
            let got = b.take(&"pc-1", t0 + at);
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(g), Err(w)) => assert!(
                    g.abs_diff(w) < Duration::from_millis(1),
                    "case {i}: waited {g:?}, expected {w:?}"
                ),
                (g, w) => panic!("case {i}: {g:?}, expected {w:?}"),
            }
        }
    }

    #[test]
    fn keys_are_independent() {
        let t0 = Instant::now();
        let mut b = Buckets::new(quota(1, 1), 10);
        assert!(b.take(&1, t0).is_ok());
        assert!(b.take(&1, t0).is_err());
        assert!(b.take(&2, t0).is_ok());
    }

    #[test]
    fn memory_is_bounded_by_forgetting_full_buckets() {
        let t0 = Instant::now();
        let mut b = Buckets::new(quota(60, 2), 100);
        for key in 0..100 {
            b.take(&key, t0).unwrap();
        }
        assert_eq!(b.len(), 100);
        // One second later each has refilled (1 left + 1 per second = burst): all forgotten
        // when a new key arrives.
        b.take(&1000, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(b.len(), 1);
        // Buckets still limited are kept even past the bound.
        for key in 0..200 {
            b.take(&key, t0 + Duration::from_secs(1)).unwrap();
            b.take(&key, t0 + Duration::from_secs(1)).unwrap();
        }
        assert!(b.take(&5, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn limits_report_whole_seconds_and_off_means_off() {
        let limits = RateLimits::new(Some(quota(2, 1)), Some(quota(600, 2)));
        let agent = Uuid::new_v4();
        assert_eq!(limits.agent(agent), Ok(()));
        let refused = limits.agent(agent).unwrap_err();
        assert_eq!(refused.what, "agent");
        assert!((29..=30).contains(&refused.retry_after_secs), "{refused:?}");
        assert_eq!(limits.token("t"), Ok(()));
        assert_eq!(limits.token("t"), Ok(()));
        assert_eq!(
            limits.token("t"),
            Err(Limited {
                what: "site token",
                retry_after_secs: 1
            })
        );
        let off = RateLimits::off();
        for _ in 0..1000 {
            assert_eq!(off.agent(agent), Ok(()));
            assert_eq!(off.token("t"), Ok(()));
        }
    }
}
