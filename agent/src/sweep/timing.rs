//! Adaptive timing and retry decisions, pure (tests feed samples, no clock).
//!
//! [`RttStats`]: how long to wait for the last answers after a pass, from the round-trip times
//! measured during the sweep, bounded by the configured timeout, growing with each retry.
//! [`AnswerStats`]: whether a retry pass can find anything, from the loss measured on the live
//! hosts' answers, and which ports a retry should send.

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

/// Kinds of probe tracked by [`AnswerStats`]: kind 0 is ICMP echo, kind `i` the `i`-th port of
/// the sweep (sorted). Ports beyond are not tracked (and always retried).
pub const KINDS: usize = 32;
/// Fewest hosts answering a kind before it may serve as evidence of loss on the others.
const MIN_EVIDENCE: u64 = 30;
/// A retry pass runs when it is expected to find at least this many more hosts.
const RETRY_WORTH: f64 = 0.05;
/// Fewest repeat probes (see [`AnswerStats::repeat_sent`]) for their loss to be trusted.
const MIN_REPEATS: u64 = 100;

/// What the live hosts' answers say about loss on the path.
///
/// Every live host answers several probes (echo, and an RST or SYN-ACK per TCP port unless a
/// firewall drops it), so a live host seen through some of its probes but not others is
/// evidence of loss. Which kinds a host answers depends on its firewall, so the loss is
/// estimated per kind `i` as the best agreement with another kind `j`: the share of hosts
/// answering `j` that also answered `i`. Filtering can only lower that share, so the estimate
/// is never below the true answer rate by more than sampling noise; on a clean path it is
/// exactly 1 and no retry pass is needed, which halves a /16 sweep (most silent addresses are
/// empty, and a retry would probe every one of them again).
#[derive(Debug, Clone, Default)]
pub struct AnswerStats {
    /// `answered[i]`: hosts that answered kind `i`.
    answered: [u64; KINDS],
    /// `together[i][j]`: hosts that answered both `i` and `j`.
    together: [[u64; KINDS]; KINDS],
    /// `by_count[n - 1]`: hosts that answered `n` kinds.
    by_count: [u64; KINDS],
    /// `icmp_silent[i]`: hosts that answered kind `i` but not ICMP echo.
    icmp_silent: [u64; KINDS],
    /// Repeat probes sent to hosts that had already answered them, and their answers.
    repeats_sent: u64,
    repeats_answered: u64,
    /// Live hosts each recorded host stands for (1 unless only a sample is recorded); 0 is
    /// read as 1.
    weight: f64,
}

impl AnswerStats {
    /// A host whose answered kinds were `before` (a bit mask) answered kind `kind`.
    /// Returns the host's new mask. Repeated answers count once.
    pub fn add(&mut self, before: u32, kind: usize) -> u32 {
        if kind >= KINDS || before & (1 << kind) != 0 {
            return before;
        }
        let after = before | (1 << kind);
        self.answered[kind] += 1;
        for j in (0..KINDS).filter(|j| before & (1 << j) != 0) {
            self.together[kind][j] += 1;
            self.together[j][kind] += 1;
        }
        let n = before.count_ones() as usize;
        if n > 0 {
            self.by_count[n - 1] -= 1;
        }
        self.by_count[n] += 1;
        if kind == 0 {
            // the host answers echo after all: its ports no longer argue for retrying them
            for j in (1..KINDS).filter(|j| before & (1 << j) != 0) {
                self.icmp_silent[j] -= 1;
            }
        } else if after & 1 == 0 {
            self.icmp_silent[kind] += 1;
        }
        after
    }

    /// Only one host in `weight` is recorded: expected misses scale by it.
    pub fn set_weight(&mut self, weight: f64) {
        self.weight = weight;
    }

    /// A repeat probe went out: the same probe again to a host that already answered it.
    /// Firewalls answer the same probe the same way, so only loss can leave it unanswered.
    pub fn repeat_sent(&mut self) {
        self.repeats_sent += 1;
    }

    pub fn repeat_answered(&mut self) {
        self.repeats_answered += 1;
    }

    /// Estimated share of probes to a live host that go unanswered through loss (either way);
    /// `None` when too few hosts answered to tell. Repeat probes measure it directly when there
    /// were enough of them (answers still on their way count as lost, erring towards a retry);
    /// otherwise the agreement between kinds below estimates it, which reads a network of
    /// differently firewalled hosts as lossy.
    pub fn miss_rate(&self) -> Option<f64> {
        if self.repeats_sent >= MIN_REPEATS {
            let answered = self.repeats_answered.min(self.repeats_sent);
            return Some(1.0 - answered as f64 / self.repeats_sent as f64);
        }
        self.agreement_miss_rate()
    }

    fn agreement_miss_rate(&self) -> Option<f64> {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..KINDS {
            let best = (0..KINDS)
                .filter(|&j| j != i && self.answered[j] >= MIN_EVIDENCE)
                .map(|j| self.together[i][j] as f64 / self.answered[j] as f64)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
            if let Some(q) = best {
                num += self.answered[i] as f64 * q;
                den += self.answered[i] as f64;
            }
        }
        (den > 0.0).then(|| (1.0 - num / den).max(0.0))
    }

    /// Live hosts expected to have been missed by every probe of `passes` passes: a host like one
    /// that answered `n` kinds is missed with probability `miss^(n * passes)`, and for every host
    /// found, `p / (1 - p)` like it are expected unseen. Taking `n` from what was observed (loss
    /// lowers it) errs towards retrying.
    pub fn expected_missed(&self, passes: u32) -> Option<f64> {
        let miss = self.miss_rate()?;
        let weight = if self.weight > 0.0 { self.weight } else { 1.0 };
        let missed: f64 = self
            .by_count
            .iter()
            .enumerate()
            .map(|(i, &hosts)| {
                let p = miss.powi(((i as u32 + 1) * passes) as i32);
                hosts as f64 * p / (1.0 - p).max(1e-9)
            })
            .sum();
        Some(weight * missed)
    }

    /// Whether another pass over the silent addresses is worth its packets after `passes`
    /// passes. Unknown loss (too few answers) means yes: small sweeps retry, as they always did.
    pub fn retry_is_useful(&self, passes: u32) -> bool {
        self.expected_missed(passes)
            .is_none_or(|missed| missed >= RETRY_WORTH)
    }

    /// Whether port number `index` (0-based, in the sweep's sorted port list) belongs in a retry
    /// pass: it found hosts that ICMP echo did not, or it is beyond what is tracked, or nothing
    /// was found yet (then every port does).
    pub fn retry_port(&self, index: usize) -> bool {
        let kind = index + 1;
        kind >= KINDS || self.icmp_silent[kind] > 0 || self.icmp_silent[1..].iter().all(|&n| n == 0)
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

#[cfg(test)]
mod answer_tests {
    use super::*;

    /// Feeds `hosts` hosts answering `kinds`, each answer kept with probability `keep` (a
    /// deterministic xorshift stands in for loss).
    fn feed(stats: &mut AnswerStats, hosts: usize, kinds: &[usize], keep: f64, seed: &mut u64) {
        for _ in 0..hosts {
            let mut m = 0;
            for &k in kinds {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                if (*seed % 10_000) as f64 / 10_000.0 < keep {
                    m = stats.add(m, k);
                }
            }
        }
    }

    const ICMP_HOST: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7]; // echo + 7 ports (RST or SYN-ACK)
    const WINDOWS: &[usize] = &[3, 6, 7]; // firewalled: 135, 445, 3389 only

    #[test]
    fn a_sample_stands_for_the_hosts_it_was_drawn_from() {
        // 30 % loss: eight hosts answering like each host of the sample expect as many misses
        // as the sample recorded with weight 8.
        let (mut full, mut sample) = (AnswerStats::default(), AnswerStats::default());
        for _ in 0..8 {
            let mut seed = 7;
            feed(&mut full, 60, ICMP_HOST, 0.7, &mut seed);
            feed(&mut full, 30, WINDOWS, 0.7, &mut seed);
        }
        let mut seed = 7;
        feed(&mut sample, 60, ICMP_HOST, 0.7, &mut seed);
        feed(&mut sample, 30, WINDOWS, 0.7, &mut seed);
        let unweighted = sample.expected_missed(1).unwrap();
        sample.set_weight(8.0);
        let (a, b) = (
            full.expected_missed(1).unwrap(),
            sample.expected_missed(1).unwrap(),
        );
        assert!(a > 1.0, "{a}");
        assert!((a - b).abs() < 1e-6 * a, "full {a}, sample {b}");
        assert!((b - 8.0 * unweighted).abs() < 1e-6 * b);
    }

    #[test]
    fn loss_table() {
        // (ICMP hosts, firewalled hosts, answer kept with, miss rate range, retry after 1 pass?)
        type Case = (usize, usize, f64, (f64, f64), bool);
        let cases: &[Case] = &[
            (7_000, 3_000, 1.0, (0.0, 0.0), false), // clean /16: no retry
            (790, 330, 1.0, (0.0, 0.0), false),     // clean /21
            (790, 330, 0.81, (0.14, 0.24), true),   // 10 % each way: 0.9 x 0.9 answered
            (7_000, 3_000, 0.99, (0.0, 0.02), false), // 1 %: a firewalled host is missed 1e-6
            (790, 330, 0.95, (0.02, 0.08), true),   // 5 %: ~0.04 missed per firewalled host
            (20, 0, 1.0, (0.0, 0.0), true),         // too few to tell: retry as always
        ];
        for (i, &(icmp, win, keep, (lo, hi), retry)) in cases.iter().enumerate() {
            let mut s = AnswerStats::default();
            let mut seed = 0x9e37_79b9_7f4a_7c15;
            feed(&mut s, icmp, ICMP_HOST, keep, &mut seed);
            feed(&mut s, win, WINDOWS, keep, &mut seed);
            if icmp >= 100 {
                let m = s.miss_rate().unwrap();
                assert!((lo..=hi).contains(&m), "case {i}: miss rate {m}");
            } else {
                assert_eq!(s.miss_rate(), None, "case {i}");
            }
            assert_eq!(
                s.retry_is_useful(1),
                retry,
                "case {i}: {:?}",
                s.expected_missed(1)
            );
        }
    }

    #[test]
    fn retries_stop_once_misses_are_unlikely() {
        let mut s = AnswerStats::default();
        let mut seed = 7;
        feed(&mut s, 790, ICMP_HOST, 0.81, &mut seed);
        feed(&mut s, 330, WINDOWS, 0.81, &mut seed);
        let after = |passes| s.expected_missed(passes).unwrap();
        assert!(after(1) > 1.0, "{}", after(1));
        assert!(after(2) < after(1) && after(3) < after(2));
        assert!(!s.retry_is_useful(6), "{}", after(6));
    }

    #[test]
    fn filtering_is_not_mistaken_for_a_clean_path() {
        // No loss, but hosts answering only echo and hosts answering only port 1 (a firewall
        // per host): nothing says those single-kind hosts were seen whole, yet no kind implies
        // another either, so the estimate must not claim a clean path.
        let mut s = AnswerStats::default();
        let mut seed = 1;
        feed(&mut s, 200, &[0, 1], 1.0, &mut seed);
        feed(&mut s, 200, &[0], 1.0, &mut seed);
        feed(&mut s, 200, &[1], 1.0, &mut seed);
        let m = s.miss_rate().unwrap();
        assert!(m > 0.2, "{m}");
        assert!(s.retry_is_useful(1));
    }

    #[test]
    fn repeat_probes_measure_loss_despite_filtering() {
        // the differently firewalled hosts above, on a clean path, now with repeats
        let mut s = AnswerStats::default();
        let mut seed = 1;
        feed(&mut s, 200, &[0, 1], 1.0, &mut seed);
        feed(&mut s, 200, &[0], 1.0, &mut seed);
        feed(&mut s, 200, &[1], 1.0, &mut seed);
        // (repeats sent, answered, miss rate, retry?)
        let cases: &[(u64, u64, f64, bool)] = &[
            (99, 99, 0.0, true), // too few repeats: agreement between kinds says "lossy"
            (400, 400, 0.0, false),
            (400, 396, 0.01, true), // 1 %: ~4 more like the 400 single-kind hosts missed
            (400, 324, 0.19, true),
            (400, 500, 0.0, false), // more answers than requests (duplicates): no loss
        ];
        for &(sent, answered, miss, retry) in cases {
            let mut s = s.clone();
            (0..sent).for_each(|_| s.repeat_sent());
            (0..answered).for_each(|_| s.repeat_answered());
            if sent >= MIN_REPEATS {
                assert!(
                    (s.miss_rate().unwrap() - miss).abs() < 1e-9,
                    "{sent}/{answered}"
                );
            }
            assert_eq!(s.retry_is_useful(1), retry, "{sent}/{answered}");
        }
    }

    #[test]
    fn repeated_answers_count_once() {
        let mut s = AnswerStats::default();
        let m = s.add(0, 3);
        assert_eq!(s.add(m, 3), m);
        assert_eq!(s.add(m, KINDS), m, "untracked kinds change nothing");
        assert_eq!(s.answered[3], 1);
        assert_eq!(s.by_count[..2], [1, 0]);
    }

    #[test]
    fn retry_ports_are_those_that_found_echo_silent_hosts() {
        let mut s = AnswerStats::default();
        // nothing found yet: every port
        assert!((0..7).all(|i| s.retry_port(i)));
        // a firewalled host (ports 2 and 5), whatever the order of its answers
        let m = s.add(0, 3);
        s.add(m, 6);
        // a host whose RST overtook its echo reply: port 1 then echo
        let m = s.add(0, 1);
        s.add(m, 0);
        let retried: Vec<usize> = (0..7).filter(|&i| s.retry_port(i)).collect();
        assert_eq!(retried, [2, 5]);
        assert!(s.retry_port(KINDS), "untracked ports are always retried");
    }
}
