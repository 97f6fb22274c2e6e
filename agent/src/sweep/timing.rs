//! Adaptive timeouts. How long to wait for the last answers after a pass is derived from the
//! round-trip times measured during the sweep, bounded by the configured timeout, and grows
//! with each retry (backoff). Pure: tests feed samples, no clock.

use std::time::Duration;

/// Never wait less than this after a pass: a loaded 2-core host or a Wi-Fi hop can delay a
/// reply far beyond the typical RTT, and retries are cheaper than misses only up to a point.
pub const MIN_WAIT: Duration = Duration::from_millis(120);
/// Shortest silence that ends a wait early.
pub const MIN_QUIET: Duration = Duration::from_millis(40);

/// RTT statistics of one sweep: a histogram with power-of-two buckets (in µs), so a quantile
/// costs nothing to keep and a few outliers (a SYN-ACK retransmitted a second later after our
/// kernel's RST was lost) cannot stretch every wait.
#[derive(Debug, Clone, Default)]
pub struct RttStats {
    samples: u64,
    max: Duration,
    /// `buckets[i]` counts samples in [2^i, 2^(i+1)) µs (bucket 0 also holds 0 µs).
    buckets: [u64; 32],
}

impl RttStats {
    pub fn record(&mut self, rtt: Duration) {
        self.samples += 1;
        self.max = self.max.max(rtt);
        let us = rtt.as_micros().max(1) as u64;
        let i = (63 - us.leading_zeros() as usize).min(31);
        self.buckets[i] += 1;
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// Upper bound of the bucket holding quantile `q` (0 < q <= 1); zero without samples.
    pub fn quantile(&self, q: f64) -> Duration {
        let rank = ((self.samples as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(1u64 << (i + 1))
                    .min(self.max.max(Duration::from_micros(1)));
            }
        }
        self.max
    }

    /// How long to wait after pass `pass` (0 = first) before deciding its silent targets.
    /// Without any sample the configured timeout is all we know. With samples: four times the
    /// 95th percentile RTT (queueing on the path under our own burst inflates the tail), at
    /// least [`MIN_WAIT`], at most `configured`; each retry doubles it, since a target that was
    /// silent once is more likely slow than fast. Answers later than the wait are still taken.
    pub fn wait_after_pass(&self, pass: u32, configured: Duration) -> Duration {
        let base = if self.samples == 0 {
            configured
        } else {
            (self.quantile(0.95) * 4).clamp(MIN_WAIT.min(configured), configured)
        };
        base.saturating_mul(1 << pass.min(4))
            .min(configured.saturating_mul(2).max(base))
    }

    /// Whether the wait after pass `pass` is over, `waited` after its last probe and
    /// `quiet_for` after the last answer (or the pass's end, if later). Besides the upper bound
    /// above, a wait ends once answers have stopped for a few base round trips (4 x the 5th
    /// percentile RTT): when our own burst queues on a slow path (a 100 kpps sweep through a
    /// router doing 100 kpps), RTTs grow by the queue, but the queue drains as soon as we stop
    /// sending, and then the answers stop.
    pub fn wait_is_over(
        &self,
        pass: u32,
        configured: Duration,
        waited: Duration,
        quiet_for: Duration,
    ) -> bool {
        let upper = self.wait_after_pass(pass, configured);
        if waited >= upper {
            return true;
        }
        if self.samples == 0 {
            return false;
        }
        let quiet = (self.quantile(0.05) * 4).clamp(MIN_QUIET, upper);
        waited >= MIN_WAIT.min(upper) && quiet_for >= quiet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn wait_table() {
        // (samples in ms, pass, configured, expected)
        let cases: &[(&[u64], u32, u64, u64)] = &[
            (&[], 0, 1000, 1000),        // nothing measured: the configured timeout
            (&[], 1, 1000, 2000),        // backoff, capped at twice the configured timeout
            (&[0], 0, 1000, 120),        // LAN: the floor
            (&[1, 2, 10], 0, 1000, 120), // 4 x 10 ms = 40 ms, below the floor
            (&[1, 50], 0, 1000, 200),    // 4 x 50 ms
            (&[1, 50], 1, 1000, 400),    // retry doubles
            (&[1, 50], 3, 1000, 1600),   // 200 ms x 8
            (&[1, 50], 6, 1000, 2000),   // capped
            (&[400], 0, 1000, 1000),     // slow path: capped by the configured timeout
            (&[5], 0, 50, 50),           // a configured timeout below the floor wins
        ];
        for (samples, pass, configured, want) in cases {
            let mut s = RttStats::default();
            for &x in samples.iter() {
                s.record(ms(x));
            }
            assert_eq!(
                s.wait_after_pass(*pass, ms(*configured)),
                ms(*want),
                "{samples:?} pass {pass}"
            );
        }
    }

    #[test]
    fn outliers_do_not_stretch_the_wait() {
        let mut s = RttStats::default();
        for _ in 0..99 {
            s.record(ms(1));
        }
        // a SYN-ACK retransmitted a second later
        s.record(ms(1000));
        assert_eq!(s.wait_after_pass(0, ms(1000)), ms(120));
        assert_eq!(s.max(), ms(1000));
    }

    #[test]
    fn quantiles_are_bucket_bounds() {
        let mut s = RttStats::default();
        for us in [10u64, 20, 30, 40, 5_000] {
            s.record(Duration::from_micros(us));
        }
        assert_eq!(s.quantile(0.2), Duration::from_micros(16));
        assert_eq!(s.quantile(0.8), Duration::from_micros(64));
        assert_eq!(
            s.quantile(1.0),
            Duration::from_micros(5_000),
            "never above the max"
        );
    }

    #[test]
    fn early_end_table() {
        let mut queued = RttStats::default(); // base RTT 10 ms, queueing up to 300 ms
        for x in [10, 11, 12, 50, 100, 200, 250, 280, 290, 300] {
            for _ in 0..10 {
                queued.record(ms(x));
            }
        }
        // (stats, pass, waited, quiet for, over?)
        let cases: &[(&RttStats, u32, u64, u64, bool)] = &[
            (&queued, 0, 100, 100, false), // below the floor
            (&queued, 0, 130, 20, false),  // answers still draining
            (&queued, 0, 130, 70, true),   // 4 x 16 ms (bucket bound of 10-12 ms) of silence
            (&queued, 0, 999, 0, false),   // upper bound is the configured 1 s
            (&queued, 0, 1000, 0, true),
            (&RttStats::default(), 0, 500, 500, false), // nothing measured: full timeout
            (&RttStats::default(), 0, 1000, 0, true),
        ];
        for (i, (stats, pass, waited, quiet, want)) in cases.iter().enumerate() {
            assert_eq!(
                stats.wait_is_over(*pass, ms(1000), ms(*waited), ms(*quiet)),
                *want,
                "case {i}"
            );
        }
    }
}
