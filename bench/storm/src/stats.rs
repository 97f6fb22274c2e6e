//! What a storm measured: per-request latencies and counts, summarised once at the end.

use std::time::Duration;

use serde::Serialize;

/// One request's result, as the load generator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: the collector stored the document (or recognised a replay).
    Accepted,
    /// 429: busy; the agent waits Retry-After and sends the same document again.
    Busy,
    /// 409 `software_list_unknown`: the list left out is not the one the collector holds;
    /// the agent sends the whole document at once.
    ListUnknown,
    /// Anything else: another status or no answer.
    Failed,
}

/// Latencies of every request in one storm, and how it ended.
#[derive(Debug, Default)]
pub struct Recorder {
    accepted: Vec<Duration>,
    busy: Vec<Duration>,
    failed: usize,
    /// Documents first sent without their software list, and of those, the ones sent again
    /// whole after a 409.
    left_out: usize,
    /// Documents whose changed list went as its changes ([`parc_shared::SoftwareDelta`]).
    deltas: usize,
    list_unknown: usize,
    /// Agents whose document was never stored.
    undelivered: usize,
}

impl Recorder {
    pub fn record(&mut self, answer: Answer, latency: Duration) {
        match answer {
            Answer::Accepted => self.accepted.push(latency),
            Answer::Busy => self.busy.push(latency),
            Answer::ListUnknown => self.list_unknown += 1,
            Answer::Failed => self.failed += 1,
        }
    }

    pub fn left_out(&mut self) {
        self.left_out += 1;
    }

    pub fn delta(&mut self) {
        self.deltas += 1;
    }

    pub fn undelivered(&mut self) {
        self.undelivered += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        self.accepted.extend(other.accepted);
        self.busy.extend(other.busy);
        self.failed += other.failed;
        self.left_out += other.left_out;
        self.deltas += other.deltas;
        self.list_unknown += other.list_unknown;
        self.undelivered += other.undelivered;
    }

    pub fn summary(mut self, wall: Duration) -> Summary {
        self.accepted.sort();
        let mut all = self.accepted.clone();
        all.extend(&self.busy);
        all.sort();
        let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let secs = wall.as_secs_f64();
        Summary {
            documents: self.accepted.len(),
            wall_s: secs,
            per_second: if secs > 0.0 {
                self.accepted.len() as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(percentile(&self.accepted, 50.0)),
            p95_ms: ms(percentile(&self.accepted, 95.0)),
            p99_ms: ms(percentile(&self.accepted, 99.0)),
            max_ms: ms(self.accepted.last().copied()),
            all_p99_ms: ms(percentile(&all, 99.0)),
            busy_429: self.busy.len(),
            errors: self.failed,
            software_left_out: self.left_out,
            software_deltas: self.deltas,
            software_list_unknown: self.list_unknown,
            generator_cpu_s: 0.0,
            undelivered: self.undelivered,
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One storm's figures; printed for people and, with `--json`, as one JSON line for scripts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Documents the collector accepted.
    pub documents: usize,
    pub wall_s: f64,
    /// Accepted documents per second of wall time.
    pub per_second: f64,
    /// Latencies of accepted requests (send to full answer).
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// p99 over every answer, 429s included.
    pub all_p99_ms: f64,
    pub busy_429: usize,
    pub errors: usize,
    /// Documents first sent without their software list; 409s that made an agent send the
    /// whole document.
    pub software_left_out: usize,
    /// Documents whose changed list was sent as its changes.
    pub software_deltas: usize,
    pub software_list_unknown: usize,
    pub undelivered: usize,
    /// CPU the load generator itself used while sending (it shares the machine).
    pub generator_cpu_s: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} documents in {:.2} s ({:.1}/s); latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, \
             max {:.1} ms (p99 with 429s: {:.1} ms); 429: {}; errors: {}; lists left out: {}, \
             sent as changes: {} (409 then whole: {}); undelivered: {}; generator CPU {:.2} s",
            self.documents,
            self.wall_s,
            self.per_second,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms,
            self.all_p99_ms,
            self.busy_429,
            self.errors,
            self.software_left_out,
            self.software_deltas,
            self.software_list_unknown,
            self.undelivered,
            self.generator_cpu_s
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        let cases = [(50.0, 50), (95.0, 95), (99.0, 99), (100.0, 100), (0.0, 1)];
        for (p, want) in cases {
            assert_eq!(percentile(&values, p), Some(ms(want)), "p{p}");
        }
        assert_eq!(percentile(&[ms(7)], 99.0), Some(ms(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_separates_429s_from_stored_documents() {
        let mut r = Recorder::default();
        for v in 1..=98 {
            r.record(Answer::Accepted, ms(v));
        }
        r.record(Answer::Busy, ms(1));
        r.record(Answer::Busy, ms(2));
        r.record(Answer::Failed, ms(5000));
        let mut other = Recorder::default();
        other.record(Answer::Accepted, ms(500));
        other.undelivered();
        other.left_out();
        other.record(Answer::ListUnknown, ms(3));
        r.merge(other);
        let s = r.summary(Duration::from_secs(2));
        assert_eq!(s.documents, 99);
        assert_eq!(s.per_second, 49.5);
        assert_eq!(s.busy_429, 2);
        assert_eq!(s.errors, 1);
        assert_eq!(s.undelivered, 1);
        assert_eq!((s.software_left_out, s.software_list_unknown), (1, 1));
        assert_eq!(s.max_ms, 500.0);
        // Rank 99 of the 99 stored documents: the 500 ms one.
        assert_eq!(s.p99_ms, 500.0);
        // With the two fast 429s, rank 100 of 101 is the 98 ms request.
        assert_eq!(s.all_p99_ms, 98.0);
    }
}
