//! PostgreSQL planner statistics for the tables every inventory reads. Without statistics
//! (a new database, or one that grew fast since autovacuum last looked) the planner guesses
//! dozens of candidates per lookup and answers it with sequential scans and hash joins over
//! every MAC, address and agent row: each document's lookup then grows with the fleet.
//! Measured on a first storm of 3,000 agents through two collectors: 7.8 million index fetches
//! in `sources` alone, and no autovacuum analysis by the end (its naptime is a minute).
//! So a collector on PostgreSQL analyses those tables itself whenever the inventories it
//! stored since the last analysis reach the next threshold: [`FIRST_ANALYSIS`], then doubling,
//! which keeps the statistics within a factor of two of the tables' size during a storm and
//! leaves the steady state to autovacuum. SQLite's planner prefers indexes without
//! statistics and needs none of this.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Backend, Store};

/// The tables an inventory's lookup and merge read, analysed together.
const TABLES: &str = "assets, asset_macs, asset_addresses, sources, documents";
/// Inventories stored by this collector before its first analysis.
pub const FIRST_ANALYSIS: u64 = 200;
/// No more analyses from the collector once this many inventories were stored since it
/// started: past it, autovacuum's own thresholds (a tenth of a table) come soon enough.
pub const LAST_ANALYSIS: u64 = 200_000;

/// Inventories stored since this process started, and the count at which to analyse next.
#[derive(Debug)]
pub struct Growth {
    stored: AtomicU64,
    next: AtomicU64,
}

impl Default for Growth {
    fn default() -> Self {
        Growth {
            stored: AtomicU64::new(0),
            next: AtomicU64::new(FIRST_ANALYSIS),
        }
    }
}

impl Growth {
    /// Counts `n` more stored inventories; true when this crossed the next threshold, for
    /// exactly one caller (the threshold then doubles).
    pub fn stored(&self, n: u64) -> bool {
        let total = self.stored.fetch_add(n, Ordering::AcqRel) + n;
        let next = self.next.load(Ordering::Acquire);
        total >= next
            && next <= LAST_ANALYSIS
            && self
                .next
                .compare_exchange(next, next * 2, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

impl Store {
    /// After `n` inventories were committed: on PostgreSQL, analyses the lookup tables in the
    /// background when [`Growth`] says so. Outside the write lock; a failure is only logged,
    /// as autovacuum will analyse them later anyway.
    pub(crate) fn inventories_stored(&self, n: usize) {
        if self.backend != Backend::Postgres || !self.growth.stored(n as u64) {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match sqlx::query(&format!("ANALYZE {TABLES}"))
                .execute(&pool)
                .await
            {
                Ok(_) => tracing::debug!(
                    took_ms = started.elapsed().as_millis() as u64,
                    "lookup tables analysed"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot analyse the lookup tables"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyses_at_doubling_counts_until_the_last() {
        let g = Growth::default();
        // (inventories committed together, analysis due)
        let steps = [
            (199, false),
            (1, true), // 200
            (150, false),
            (49, false), // 399
            (1, true),   // 400
            (1, false),
            (16, false),
            (383, true),    // 800: one batch crossing it
            (1_000, true),  // 1,800 crosses 1,600 once, not 3,200
            (1_000, false), // 2,800
        ];
        for (i, (n, due)) in steps.into_iter().enumerate() {
            assert_eq!(g.stored(n), due, "step {i}");
        }
        let g = Growth::default();
        let mut analyses = 0;
        for _ in 0..1_000_000 {
            analyses += usize::from(g.stored(1));
        }
        // 200, 400, ..., 102,400; the next, 204,800, is past LAST_ANALYSIS.
        assert_eq!(analyses, 10);
    }
}
