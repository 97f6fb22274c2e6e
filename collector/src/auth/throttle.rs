//! Failed-login throttling: at most [`Policy::per_login`] failures per login and
//! [`Policy::per_address`] per client address within [`Policy::window`]; beyond that, logins
//! are refused (429 with Retry-After) until the oldest failure leaves the window. Counting per
//! login stops password guessing on one account from many addresses; per address stops one
//! client spraying many accounts.
//!
//! Kept in memory: a restart forgets the counts, and each collector of a group counts its own,
//! which multiplies an attacker's budget by the number of collectors, not more.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub window: Duration,
    pub per_login: usize,
    pub per_address: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window: Duration::from_secs(15 * 60),
            per_login: 5,
            per_address: 20,
        }
    }
}

/// Keys tracked at once; past it, keys without a failure in the window are dropped, and if
/// none can be, new keys are not tracked (the per-address count still catches a spray).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Login(String),
    Address(String),
}

#[derive(Debug, Default)]
pub struct Throttle {
    policy: Policy,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            failures: Mutex::default(),
        }
    }

    fn keys(login: &str, address: Option<&str>) -> Vec<(Key, usize)> {
        // The number says which limit applies: see `limit`.
        let mut keys = vec![(Key::Login(login.trim().to_lowercase()), 0)];
        if let Some(a) = address {
            keys.push((Key::Address(a.to_string()), 1));
        }
        keys
    }

    fn limit(&self, which: usize) -> usize {
        if which == 0 {
            self.policy.per_login
        } else {
            self.policy.per_address
        }
    }

    /// `Err(wait)` when a login for `login` from `address` must be refused for now.
    pub fn check(&self, login: &str, address: Option<&str>, now: Instant) -> Result<(), Duration> {
        let map = self.failures.lock().expect("throttle lock");
        let mut wait = None;
        for (key, which) in Self::keys(login, address) {
            let Some(times) = map.get(&key) else { continue };
            let recent: Vec<&Instant> = times
                .iter()
                .filter(|t| now.duration_since(**t) < self.policy.window)
                .collect();
            if recent.len() >= self.limit(which) {
                // Free again when enough failures have aged out of the window.
                let oldest_needed = recent[recent.len() - self.limit(which)];
                let w = self.policy.window - now.duration_since(*oldest_needed);
                wait = wait.max(Some(w.max(Duration::from_secs(1))));
            }
        }
        wait.map_or(Ok(()), Err)
    }

    pub fn failed(&self, login: &str, address: Option<&str>, now: Instant) {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_KEYS {
            let window = self.policy.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for (key, which) in Self::keys(login, address) {
            if map.len() >= MAX_KEYS && !map.contains_key(&key) {
                continue;
            }
            let limit = self.limit(which);
            let times = map.entry(key).or_default();
            times.push_back(now);
            while times.len() > limit {
                times.pop_front();
            }
        }
    }

    /// A successful login clears its login's count (not its address's: one good password does
    /// not excuse a spray of bad ones).
    pub fn succeeded(&self, login: &str) {
        let mut map = self.failures.lock().expect("throttle lock");
        map.remove(&Key::Login(login.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            window: Duration::from_secs(60),
            per_login: 3,
            per_address: 5,
        }
    }

    #[test]
    fn per_login_limit_and_expiry() {
        let t = Throttle::new(policy());
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(t.check("Admin", Some("a"), t0).is_ok(), "attempt {i}");
            t.failed(
                "admin ",
                Some(&format!("addr{i}")),
                t0 + Duration::from_secs(i),
            );
        }
        // Case and spaces do not make a new login.
        let wait = t
            .check("ADMIN", Some("other"), t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(t.check("someone", Some("other"), t0).is_ok());
        assert!(t.check("admin", None, t0 + Duration::from_secs(61)).is_ok());
        t.succeeded("admin");
        assert!(t.check("admin", None, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn per_address_limit_across_logins() {
        let t = Throttle::new(policy());
        let t0 = Instant::now();
        for i in 0..5 {
            t.failed(&format!("user{i}"), Some("10.0.0.1"), t0);
        }
        assert!(t.check("user9", Some("10.0.0.1"), t0).is_err());
        assert!(t.check("user9", Some("10.0.0.2"), t0).is_ok());
        t.succeeded("user9");
        assert!(t.check("user9", Some("10.0.0.1"), t0).is_err());
    }
}
