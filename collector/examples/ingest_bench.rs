//! Ingest throughput on a real SQLite file: a hospital's worth of inventories, then the same
//! machines again unchanged and with a few upgrades, then a sweep of the whole site.
//!
//! `cargo run -p parc-collector --example ingest_bench [--release] -- [MACHINES] [PACKAGES]`
//! (defaults: 1100 machines, 1500 packages each). Documents go through the real router
//! (intake checks, merge, store) in process, one at a time, as the write path serialises them
//! anyway.

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use parc_collector::http::{router, AppState};
use parc_collector::store::Store;
use parc_shared::inventory::{NetworkInterface, Software};
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, HardwareId, Inventory, SourceKind,
};
use tower::ServiceExt;
use uuid::Uuid;

fn machine(i: u32, packages: u32, upgraded: bool) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = format!("pc-{i:05}");
    inv.os.family = "linux".into();
    inv.hardware.serial = HardwareId::serial(&format!("SN{i:08}"));
    inv.hardware.uuid = HardwareId::uuid(&format!("4c4c4544-0000-0000-0000-{i:012x}"));
    inv.network.interfaces = vec![NetworkInterface {
        name: "eth0".into(),
        mac: Some(format!(
            "00:1a:2b:{:02x}:{:02x}:{:02x}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        )),
        addresses: vec![format!("198.18.{}.{}/16", i / 250, i % 250 + 1)],
        state: "up".into(),
        ..Default::default()
    }];
    inv.software = (0..packages)
        .map(|p| Software {
            name: format!("package-{p:05}"),
            version: Some(if upgraded && p % 300 == 0 {
                "2.0".into()
            } else {
                "1.0".into()
            }),
            arch: Some("amd64".into()),
            publisher: Some("Debian".into()),
            source: "dpkg".into(),
            ..Default::default()
        })
        .collect();
    Document {
        header: DocumentHeader::new(
            Uuid::from_u128(u128::from(i) + 1),
            SourceKind::AgentInventory,
            Utc::now(),
        ),
        body: inv,
    }
}

async fn post(app: &axum::Router, token: &str, path: &str, body: Vec<u8>) {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let status = app.clone().oneshot(req).await.unwrap().status();
    assert!(status.is_success(), "{status}");
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let machines: u32 = args.next().map_or(1100, |a| a.parse().expect("MACHINES"));
    let packages: u32 = args.next().map_or(1500, |a| a.parse().expect("PACKAGES"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("parc.db");
    let store = Store::open(&format!("sqlite://{}", db.display()), 8)
        .await
        .unwrap();
    let (_, token) = store.create_token("bench").await.unwrap();
    let app = router(AppState::new(
        store.clone(),
        parc_shared::limits::MAX_DOCUMENT_BYTES,
    ));

    let rounds = [
        ("new machines", false),
        ("unchanged", false),
        ("5 upgrades each", true),
    ];
    for (name, upgraded) in rounds {
        let docs: Vec<Vec<u8>> = (0..machines)
            .map(|i| serde_json::to_vec(&machine(i, packages, upgraded)).unwrap())
            .collect();
        let bytes: usize = docs.iter().map(Vec::len).sum();
        let start = Instant::now();
        for doc in docs {
            post(&app, &token, "/api/v1/inventories", doc).await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:>16}: {machines} inventories ({:.1} MB JSON) in {secs:.2} s = {:.0} docs/s, {:.1} ms/doc",
            bytes as f64 / 1e6,
            f64::from(machines) / secs,
            secs * 1000.0 / f64::from(machines)
        );
    }

    let now = Utc::now();
    let hosts: Vec<DiscoveredHost> = (0..machines + 1000)
        .map(|i| DiscoveredHost {
            ip: format!("198.18.{}.{}", i / 250, i % 250 + 1),
            methods: vec![parc_shared::ProbeMethod::IcmpEcho],
            ..Default::default()
        })
        .collect();
    let n = hosts.len();
    let sweep = Document {
        header: DocumentHeader::new(Uuid::from_u128(u128::MAX), SourceKind::Sweep, now),
        body: Discovery {
            targets: vec!["198.18.0.0/16".into()],
            addresses_probed: 65_534,
            started_at: now,
            finished_at: now,
            hosts,
        },
    };
    let start = Instant::now();
    post(
        &app,
        &token,
        "/api/v1/discoveries",
        serde_json::to_vec(&sweep).unwrap(),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:>16}: {n} hosts ({machines} known by address) in {secs:.2} s = {:.0} hosts/s",
        "sweep",
        n as f64 / secs
    );
    let start = Instant::now();
    let req = Request::get("/api/v1/assets?q=sn0000&per_page=500")
        .body(Body::empty())
        .unwrap();
    let status = app.clone().oneshot(req).await.unwrap().status();
    assert!(status.is_success());
    println!(
        "{:>16}: {:.1} ms",
        "search",
        start.elapsed().as_secs_f64() * 1000.0
    );
    store.close().await;
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!("{:>16}: {:.1} MB", "database", size as f64 / 1e6);
}
