//! The global packets-per-second limit. One [`RateLimiter`] per sweep is shared by every
//! sender (ARP, ICMP, raw SYN, `connect()`), so the configured rate bounds what the whole sweep
//! puts on the wire, not each method separately.
//!
//! [`Pacer`] is the pure token bucket (time is passed in, so it is tested without clocks);
//! [`RateLimiter`] wraps it for blocking sender threads and async tasks.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token bucket. `burst` tokens at most accumulate, so a sender that was descheduled does not
/// flood the link when it wakes up, while still sending in small batches: sleeping once per
/// packet cannot reach 100 kpps with a ~60 µs timer resolution.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl Pacer {
    /// `rate` packets per second; the bucket holds about 2 ms worth of packets (at least one).
    pub fn new(rate: u32, now: Duration) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = (rate / 500.0).max(1.0);
        Pacer {
            rate,
            burst,
            tokens: 1.0,
            last: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
            self.last = now;
        }
    }

    /// Takes up to `want` tokens; returns how many were granted (possibly 0).
    pub fn take(&mut self, now: Duration, want: u32) -> u32 {
        self.refill(now);
        let granted = (self.tokens.floor() as u32).min(want);
        self.tokens -= f64::from(granted);
        granted
    }

    /// How long until at least one token is available.
    pub fn wait_hint(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

/// A [`Pacer`] shared by all senders of one sweep.
#[derive(Debug)]
pub struct RateLimiter {
    start: Instant,
    pacer: Mutex<Pacer>,
}

impl RateLimiter {
    pub fn new(rate_pps: u32) -> Self {
        RateLimiter {
            start: Instant::now(),
            pacer: Mutex::new(Pacer::new(rate_pps, Duration::ZERO)),
        }
    }

    fn try_take(&self, want: u32) -> Result<u32, Duration> {
        let mut p = self.pacer.lock().unwrap_or_else(|e| e.into_inner());
        match p.take(self.start.elapsed(), want) {
            0 => Err(p.wait_hint()),
            n => Ok(n),
        }
    }

    /// Blocks the calling (sender) thread until at least one token is available; returns how
    /// many of `want` may be sent now.
    pub fn take_blocking(&self, want: u32) -> u32 {
        loop {
            match self.try_take(want) {
                Ok(n) => return n,
                Err(wait) => std::thread::sleep(wait.max(Duration::from_micros(50))),
            }
        }
    }

    /// Async variant for `connect()` probes: one token.
    pub async fn acquire(&self) {
        loop {
            match self.try_take(1) {
                Ok(_) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_micros(200))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grants_follow_the_rate() {
        // (rate, elapsed since start, expected tokens granted over that time when asking often)
        let cases = [
            (1_000u32, 1_000u64, 1_000u32),
            (100_000, 100, 10_000),
            (10, 1_000, 10),
            (1, 3_000, 3),
        ];
        for (rate, ms, want) in cases {
            let mut p = Pacer::new(rate, Duration::ZERO);
            let mut got = 0;
            let mut t = Duration::ZERO;
            // the first token is available at once; ask every 100 µs
            while t <= Duration::from_millis(ms) {
                got += p.take(t, u32::MAX);
                t += Duration::from_micros(100);
            }
            let want_f = f64::from(want);
            assert!(
                (f64::from(got) - want_f).abs() <= want_f * 0.02 + 1.0,
                "rate {rate} over {ms} ms: {got} tokens, want about {want}"
            );
        }
    }

    #[test]
    fn idle_time_does_not_build_a_flood() {
        let mut p = Pacer::new(100_000, Duration::ZERO);
        // after a second of idleness, only the 2 ms burst is available
        assert_eq!(p.take(Duration::from_secs(1), u32::MAX), 200);
        assert_eq!(p.take(Duration::from_secs(1), u32::MAX), 0);
        assert!(p.wait_hint() > Duration::ZERO && p.wait_hint() <= Duration::from_micros(10));
        assert_eq!(p.take(Duration::from_secs(1) + MS, u32::MAX), 100);
    }

    #[test]
    fn take_never_exceeds_want() {
        let mut p = Pacer::new(1_000_000, Duration::ZERO);
        assert_eq!(p.take(Duration::from_secs(1), 7), 7);
    }

    #[tokio::test]
    async fn async_acquire_is_paced() {
        let limiter = RateLimiter::new(1_000);
        let t0 = Instant::now();
        for _ in 0..50 {
            limiter.acquire().await;
        }
        // 50 tokens at 1 kpps, with a 2-token burst: at least 48 ms of real time.
        assert!(
            t0.elapsed() >= Duration::from_millis(47),
            "{:?}",
            t0.elapsed()
        );
    }
}
