//! A 24-hour collector outage, simulated with shifted time (issue #9).
//!
//! The service's schedule is replayed on a virtual clock: an inventory every hour (followed by
//! a delivery attempt, as `parc-agent run` does), and a retry whenever [`Retry`] says. The
//! spool, the HTTP client and the collector are real: during the outage every attempt really
//! fails against a closed loopback port; then a real `parc-collector` starts and the next
//! scheduled attempt drains the spool into it. Only the waiting is skipped.

use std::time::Duration;

use parc_agent::delivery::{flush, Client, Retry, RETRY_BASE, RETRY_CAP};
use parc_agent::spool::{Kind, Spool};
use parc_config::agent::ServerConfig;
use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
use parc_tests::{closed_loopback_url, Collector};
use uuid::Uuid;

const HOUR: Duration = Duration::from_secs(3600);

fn client(url: &str, token: &str) -> Client {
    Client::new(&ServerConfig {
        url: reqwest::Url::parse(&format!("{url}/")).unwrap(),
        token: token.into(),
        timeout: Duration::from_secs(30),
    })
    .unwrap()
}

fn inventory(agent_id: Uuid, hour: u64) -> Document<Inventory> {
    let mut body = Inventory::default();
    body.host.hostname = "ward-3-pc".into();
    body.os.family = "linux".into();
    body.os.arch = "x86_64".into();
    body.memory.total_bytes = 8 << 30;
    // Observed at the simulated hour, so each is newer than the last.
    let observed =
        chrono::Utc::now() - chrono::Duration::hours(48) + chrono::Duration::hours(hour as i64);
    Document {
        header: DocumentHeader::new(agent_id, SourceKind::AgentInventory, observed),
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_without_collector_spools_caps_backs_off_and_drains() {
    const KEEP: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool"), 64 * 1024 * 1024, KEEP).unwrap();
    let agent_id = Uuid::new_v4();
    let mut rng = rand::thread_rng();
    let mut retry = Retry::new(RETRY_BASE, RETRY_CAP);
    let away = client(&closed_loopback_url(), "token");

    // Virtual time since the collector went away.
    let mut now = Duration::ZERO;
    let mut next_inventory = Duration::ZERO;
    let mut next_flush = Duration::ZERO;
    let mut attempts = 0u32;
    let mut waits = Vec::new();
    let mut pushed = Vec::new();
    let mut hour = 0;
    while now < 24 * HOUR {
        if now >= next_inventory {
            let doc = inventory(agent_id, hour);
            spool
                .push(Kind::Inventory, doc.header.document_id, &doc)
                .unwrap();
            pushed.push(doc.header.document_id);
            hour += 1;
            next_inventory = now + HOUR;
            next_flush = now;
        }
        if now >= next_flush {
            let report = flush(&spool, &away).await.unwrap();
            attempts += 1;
            assert!(report.delivered.is_empty() && report.refused.is_empty());
            assert!(
                report.stopped.as_deref().unwrap().contains("unreachable"),
                "{report:?}"
            );
            let wait = retry.after(&report, &mut rng).expect("a failed pass waits");
            waits.push(wait);
            next_flush = now + wait;
        }
        now = next_inventory.min(next_flush);
    }

    // Spools hold and cap: the newest KEEP inventories, the rest dropped and counted.
    let kept: Vec<Uuid> = spool
        .entries()
        .unwrap()
        .iter()
        .map(|e| e.document_id)
        .collect();
    assert_eq!(pushed.len(), 24);
    assert_eq!(kept, pushed[24 - KEEP..]);
    assert_eq!(spool.dropped(), (24 - KEEP) as u64);
    // Backs off: a day costs tens of attempts, not thousands; the waits grew to the cap.
    assert!((24..=80).contains(&attempts), "{attempts} attempts");
    let longest = waits.iter().max().unwrap();
    assert!(
        *longest >= RETRY_CAP / 2 && *longest <= RETRY_CAP,
        "{longest:?}"
    );
    assert!(retry.failures() >= 24);
    eprintln!(
        "24 h outage: {attempts} delivery attempts, longest wait {longest:?}, {} documents dropped",
        spool.dropped()
    );

    // The collector comes back; the next scheduled attempt drains everything.
    // The harness waits for the collector with a blocking HTTP client.
    let (collector, token) = tokio::task::block_in_place(|| {
        let collector = Collector::start(dir.path()).unwrap();
        let token = collector.token("outage").unwrap();
        (collector, token)
    });
    let back = client(&collector.url, &token);
    let report = flush(&spool, &back).await.unwrap();
    assert_eq!(report.stopped, None, "{report:?}");
    let delivered: Vec<Uuid> = report
        .delivered
        .iter()
        .map(|(e, _)| e.document_id)
        .collect();
    assert_eq!(delivered, kept, "oldest first, each once");
    for (_, answer) in &report.delivered {
        assert_eq!(answer["duplicate"], false, "{answer}");
    }
    assert!(spool.entries().unwrap().is_empty());
    assert_eq!(retry.after(&report, &mut rng), None);
    assert_eq!(retry.failures(), 0);
}
