//! Several collectors on one PostgreSQL database (issue #7): two real `parc-collector serve`
//! processes share a private PostgreSQL server (parc_collector::testing), and many documents
//! for the same machines arrive through both at once. Each machine must end as exactly one
//! asset, and every document must be accounted for, whichever collector took it.
//!
//! Runs whatever PARC_TEST_POSTGRES says: it is about PostgreSQL itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use parc_shared::inventory::NetworkInterface;
use parc_shared::{Document, DocumentHeader, HardwareId, Inventory, SourceKind};
use parc_tests::{http, start_collector_with_config, Collector};
use serde_json::Value;
use uuid::Uuid;

const MACHINES: usize = 30;
const DOCUMENTS_PER_MACHINE: usize = 10;
const SENDERS: usize = 12;

/// Document `k` of machine `m`: same agent, serial, UUID and MAC every time, a new document id
/// and a new hostname each time (a machine renamed between inventories), observed one second
/// after the previous one.
fn document(m: usize, k: usize, base: chrono::DateTime<Utc>) -> (Uuid, Vec<u8>) {
    let mut inv = Inventory::default();
    inv.host.hostname = format!("ward-{m:03}-v{k}");
    inv.os.family = "windows".into();
    inv.os.name = Some("Windows 11 Pro".into());
    inv.hardware.dmi_available = true;
    inv.hardware.manufacturer = Some("HP".into());
    inv.hardware.model = Some("EliteDesk 800 G6".into());
    inv.hardware.serial = HardwareId::serial(&format!("CZC{m:07}"));
    inv.hardware.uuid = HardwareId::uuid(&format!("6a0e2c1f-93d4-4b7e-8c21-{:012x}", 0xa000 + m));
    inv.memory.total_bytes = 16 << 30;
    inv.network.interfaces = vec![NetworkInterface {
        name: "Ethernet".into(),
        mac: Some(format!("00:1b:44:11:{:02x}:{:02x}", m / 256, m % 256)),
        addresses: vec![format!("198.18.{}.{}/21", m / 200, 10 + m % 200)],
        state: "up".into(),
        ..Default::default()
    }];
    let header = DocumentHeader::new(
        Uuid::from_u128(0x5eed_0000 + m as u128),
        SourceKind::AgentInventory,
        base + chrono::Duration::seconds(k as i64),
    );
    let id = header.document_id;
    let doc = Document { header, body: inv };
    (id, serde_json::to_vec(&doc).expect("serialise"))
}

/// What one accepted document came to.
#[derive(Debug, Clone)]
struct Accepted {
    machine: usize,
    document_id: Uuid,
    asset_id: i64,
    created: bool,
}

/// Posts until accepted, honouring 429 + Retry-After as the agent does.
fn post(client: &reqwest::blocking::Client, url: &str, token: &str, body: &[u8]) -> Result<Value> {
    for _ in 0..20 {
        let r = client
            .post(format!("{url}/api/v1/inventories"))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()?;
        let status = r.status();
        if status.as_u16() == 429 {
            let wait = r
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            std::thread::sleep(Duration::from_secs(wait));
            continue;
        }
        let text = r.text()?;
        if !status.is_success() {
            bail!("{url}: {status}: {text}");
        }
        return Ok(serde_json::from_str(&text)?);
    }
    bail!("{url}: still 429 after 20 attempts")
}

fn start(dir: &Path, name: &str, database_url: &str) -> Result<Collector> {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, "")?;
    let (collector, _) =
        start_collector_with_config(&config, database_url, &dir.join(format!("{name}.log")))
            .with_context(|| format!("start collector {name}"))?;
    Ok(collector)
}

#[test]
fn two_collectors_on_one_database_never_duplicate_a_machine() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = parc_collector::testing::postgres_database().map_err(anyhow::Error::msg)?;
    let a = start(dir.path(), "a", &database_url)?;
    let b = start(dir.path(), "b", &database_url)?;
    let token = a.token("ward")?;

    // Each machine's documents are next to each other in the queue and alternate between the
    // collectors, so that they are in flight together, through both, when the machine is new.
    let base = Utc::now() - chrono::Duration::hours(1);
    let mut queue = Vec::new();
    for m in 0..MACHINES {
        for k in 0..DOCUMENTS_PER_MACHINE {
            let (id, body) = document(m, k, base);
            let url = if k % 2 == 0 { &a.url } else { &b.url };
            queue.push((m, id, url.clone(), body));
        }
    }
    queue.reverse(); // popped from the end
    let sent = queue.len();
    let queue = Arc::new(Mutex::new(queue));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (queue, accepted, token) = (queue.clone(), accepted.clone(), token.clone());
            std::thread::spawn(move || -> Result<()> {
                let client = http();
                loop {
                    let Some((machine, document_id, url, body)) = queue.lock().unwrap().pop()
                    else {
                        return Ok(());
                    };
                    let answer = post(&client, &url, &token, &body)?;
                    accepted.lock().unwrap().push(Accepted {
                        machine,
                        document_id,
                        asset_id: answer["asset_id"].as_i64().context("asset_id")?,
                        created: answer["created"]
                            .as_bool()
                            .with_context(|| format!("created in {answer}"))?,
                    });
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender thread")?;
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), sent, "every document answered");

    // Per machine: one asset for all its documents, created by exactly one of them.
    let mut by_machine: BTreeMap<usize, Vec<&Accepted>> = BTreeMap::new();
    for a in &accepted {
        by_machine.entry(a.machine).or_default().push(a);
    }
    assert_eq!(by_machine.len(), MACHINES);
    let mut assets = BTreeSet::new();
    for (m, docs) in &by_machine {
        let ids: BTreeSet<i64> = docs.iter().map(|d| d.asset_id).collect();
        assert_eq!(ids.len(), 1, "machine {m} became assets {ids:?}");
        let created = docs.iter().filter(|d| d.created).count();
        assert_eq!(
            created, 1,
            "machine {m}: {created} documents created its asset"
        );
        assets.extend(ids);
    }
    assert_eq!(assets.len(), MACHINES, "machines shared an asset");

    // What the API says, through either collector.
    let list = b.get("/api/v1/assets?per_page=500")?;
    assert_eq!(list["total"], MACHINES as i64, "{list}");
    // The newest hostname won, whichever collector took it and whenever it arrived.
    for item in list["items"].as_array().context("items")? {
        let name = item["name"].as_str().context("name")?;
        assert!(
            name.ends_with(&format!("-v{}", DOCUMENTS_PER_MACHINE - 1)),
            "{name}"
        );
    }

    // Every document is recorded once, against its machine's asset.
    let recorded = documents(&database_url)?;
    assert_eq!(recorded.len(), sent);
    for a in &accepted {
        assert_eq!(
            recorded.get(&a.document_id.to_string()),
            Some(&Some(a.asset_id)),
            "document {} of machine {}",
            a.document_id,
            a.machine
        );
    }
    a.stop()?;
    b.stop()?;
    Ok(())
}

/// document_id -> asset_id, read straight from the database.
fn documents(database_url: &str) -> Result<BTreeMap<String, Option<i64>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = parc_collector::store::Store::open(database_url, 1).await?;
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT document_id, asset_id FROM documents")
                .fetch_all(store.pool())
                .await?;
        store.close().await;
        Ok(rows.into_iter().collect())
    })
}
