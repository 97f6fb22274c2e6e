//! Many devices at once: the sweep's SNMP stage and `parc-agent snmp TARGET...`.
//!
//! Addresses are drawn lazily from an iterator and at most `concurrency` devices are queried
//! at a time, so a /16 of targets costs no more memory than its answers. Every request of the
//! batch waits for one shared [`Pacer`] (the packet-rate cap), each device has its own time
//! budget clamped to the batch's deadline, and cancellation stops the batch at once, keeping
//! what was already collected. A device that does not answer costs its own timeouts, in
//! parallel with the others: it never holds the batch up.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parc_shared::snmp::SnmpDevice;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{query_device_paced, CredentialMemory, SnmpCredential, SnmpError, SnmpLimits};

/// Spaces requests so that a batch sends at most `rate` requests per second.
///
/// Each caller reserves the next free slot and sleeps until it, so callers are served in order
/// and idle time never builds up a burst.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    pub fn new(rate_per_second: u32) -> Self {
        Pacer {
            interval: Duration::from_secs(1) / rate_per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The instant the caller may send at, reserving it.
    fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = (*next).max(now);
        *next = at + self.interval;
        at
    }

    pub async fn acquire(&self) {
        let now = Instant::now();
        let at = self.reserve(now);
        // A sleep, even to a past instant, waits for the timer wheel's next 1 ms tick: a walk of
        // one device (one request at a time, far under the rate) would pay it on every request.
        if at > now {
            tokio::time::sleep_until(at).await;
        }
    }
}

/// How a batch queries its devices.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Tried in order on each device (the remembered one first).
    pub credentials: Arc<[SnmpCredential]>,
    pub limits: SnmpLimits,
    pub port: u16,
    /// Devices queried at the same time.
    pub concurrency: usize,
    /// Requests per second over the whole batch.
    pub rate_pps: u32,
}

/// What a batch found.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// One entry per address queried, in address order.
    pub results: Vec<(IpAddr, Result<SnmpDevice, SnmpError>)>,
    /// Addresses never queried because the deadline came or the batch was cancelled.
    pub skipped: u64,
    pub cancelled: bool,
}

impl BatchReport {
    pub fn devices(&self) -> impl Iterator<Item = &SnmpDevice> {
        self.results.iter().filter_map(|(_, r)| r.as_ref().ok())
    }

    pub fn into_devices(self) -> Vec<SnmpDevice> {
        self.results
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect()
    }
}

/// Queries every address of `addrs`. Returns by `deadline` (plus one reply timeout at most)
/// and as soon as `shutdown` is cancelled.
pub async fn query_many(
    batch: &Batch,
    addrs: impl Iterator<Item = IpAddr>,
    memory: Arc<CredentialMemory>,
    deadline: Option<Instant>,
    shutdown: CancellationToken,
) -> BatchReport {
    let pacer = Arc::new(Pacer::new(batch.rate_pps));
    let concurrency = batch.concurrency.max(1);
    let mut addrs = addrs.peekable();
    let mut tasks = JoinSet::new();
    let mut report = BatchReport::default();
    // Never reached when there is no deadline; a far instant keeps one select! arm.
    let hard_stop = deadline
        .map(|d| d + batch.limits.timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    loop {
        while tasks.len() < concurrency && !shutdown.is_cancelled() {
            let Some(&addr) = addrs.peek() else { break };
            let mut limits = batch.limits.clone();
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                // The device stops itself in time and returns what it has: better than
                // being aborted with nothing.
                limits.device_time = limits.device_time.min(left);
            }
            addrs.next();
            let creds = batch.credentials.clone();
            let memory = memory.clone();
            let pacer = pacer.clone();
            let port = batch.port;
            tasks.spawn(async move {
                let result =
                    query_device_paced(addr, port, &creds, &limits, &memory, Some(pacer)).await;
                (addr, result)
            });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok(done)) => report.results.push(done),
                Some(Err(e)) => tracing::error!(error = %e, "SNMP query task failed"),
                None => {}
            },
            _ = shutdown.cancelled() => {
                report.cancelled = true;
                break;
            }
            // Devices stop themselves at the deadline; this only guards against one that
            // would not.
            _ = tokio::time::sleep_until(hard_stop) => break,
        }
    }
    report.cancelled |= shutdown.is_cancelled();
    report.skipped = tasks.len() as u64 + addrs.count() as u64;
    tasks.abort_all();
    report.results.sort_by_key(|(a, _)| *a);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_reserves_slots_at_the_rate_without_bursts_after_idle_time() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let pacer = Pacer::new(100);
            let t0 = Instant::now();
            let slots: Vec<Instant> = (0..51).map(|_| pacer.reserve(t0)).collect();
            // 51 requests at 100/s: the last one goes out 500 ms after the first.
            assert_eq!(slots[50] - slots[0], Duration::from_millis(500));
            assert_eq!(slots[0], t0);
            // Long after: the next slot is "now", and the one after it 10 ms later.
            let later = t0 + Duration::from_secs(5);
            assert_eq!(pacer.reserve(later), later);
            assert_eq!(pacer.reserve(later), later + Duration::from_millis(10));
            // acquire() really waits for its slot.
            let pacer = Pacer::new(1_000);
            let t = std::time::Instant::now();
            for _ in 0..21 {
                pacer.acquire().await;
            }
            assert!(
                t.elapsed() >= Duration::from_millis(20),
                "{:?}",
                t.elapsed()
            );
        });
    }

    fn batch(creds: Vec<SnmpCredential>, timeout_ms: u64, port: u16) -> Batch {
        Batch {
            credentials: creds.into(),
            limits: SnmpLimits {
                timeout: Duration::from_millis(timeout_ms),
                retries: 1,
                ..SnmpLimits::default()
            },
            port,
            concurrency: 64,
            rate_pps: 10_000,
        }
    }

    /// A UDP port on 127.0.0.1 that swallows datagrams and never answers.
    async fn black_hole() -> tokio::net::UdpSocket {
        tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()
    }

    #[tokio::test]
    async fn silent_devices_cost_one_timeout_budget_in_parallel() {
        let hole = black_hole().await;
        let port = hole.local_addr().unwrap().port();
        // 40 silent devices (all 127.0.0.1, same silent port), two credentials each: serially
        // that would be 40 × 2 × 2 × 100 ms = 16 s.
        let creds = vec![SnmpCredential::v2c("a"), SnmpCredential::v2c("b")];
        let addrs = vec!["127.0.0.1".parse::<IpAddr>().unwrap(); 40];
        let t0 = std::time::Instant::now();
        let report = query_many(
            &batch(creds, 100, port),
            addrs.into_iter(),
            Arc::default(),
            None,
            CancellationToken::new(),
        )
        .await;
        let took = t0.elapsed();
        assert_eq!(report.results.len(), 40);
        assert!(report.results.iter().all(|(_, r)| r.is_err()));
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn deadline_and_cancellation_end_the_batch() {
        let hole = black_hole().await;
        let port = hole.local_addr().unwrap().port();
        let creds = vec![SnmpCredential::v2c("a")];
        let mut b = batch(creds, 2_000, port);
        b.concurrency = 2;
        let addrs = || vec!["127.0.0.1".parse::<IpAddr>().unwrap(); 10].into_iter();

        let t0 = std::time::Instant::now();
        let report = query_many(
            &b,
            addrs(),
            Arc::default(),
            Some(Instant::now() + Duration::from_millis(300)),
            CancellationToken::new(),
        )
        .await;
        // The two running devices stop at the deadline; the other eight are never started.
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert_eq!(report.results.len(), 2);
        assert_eq!(report.skipped, 8);

        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let report = query_many(&b, addrs(), Arc::default(), None, shutdown).await;
        assert!(report.cancelled);
        assert!(report.results.is_empty());
        assert_eq!(report.skipped, 10);
    }
}
