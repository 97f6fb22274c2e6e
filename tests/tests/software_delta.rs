//! A changed software list travels as its changes: the agent's real delivery code (spooled
//! gzip documents, the acknowledgement file) against a real `parc-collector` on SQLite.

use std::time::Duration;

use chrono::TimeZone;
use parc_agent::delivery::{Client, Outcome};
use parc_config::agent::ServerConfig;
use parc_config::AgentConfig;
use parc_shared::inventory::Software;
use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
use parc_tests::Collector;
use uuid::Uuid;

fn client(state_dir: &std::path::Path, url: &str, token: &str) -> Client {
    let server = ServerConfig {
        url: reqwest::Url::parse(&format!("{url}/")).unwrap(),
        token: token.into(),
        timeout: Duration::from_secs(30),
    };
    let config = AgentConfig {
        state_dir: state_dir.to_path_buf(),
        ..AgentConfig::default()
    };
    Client::for_agent(&config, &server).unwrap()
}

fn package(name: &str, version: &str) -> Software {
    Software {
        name: name.into(),
        version: Some(version.into()),
        arch: Some("amd64".into()),
        install_date: Some(chrono::Utc.with_ymd_and_hms(2026, 9, 1, 7, 0, 0).unwrap()),
        source: "dpkg".into(),
        ..Default::default()
    }
}

/// The spooled form of an inventory of `agent` with `list`, observed `hour` hours ago.
fn spooled(agent: Uuid, hours_ago: i64, list: &[Software]) -> Vec<u8> {
    use std::io::Write;
    let mut body = Inventory::default();
    body.host.hostname = "pc-pharmacie-02".into();
    body.os.family = "linux".into();
    body.os.arch = "x86_64".into();
    body.software = list.to_vec();
    let doc = Document {
        header: DocumentHeader::new(
            agent,
            SourceKind::AgentInventory,
            chrono::Utc::now() - chrono::Duration::hours(hours_ago),
        ),
        body,
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&serde_json::to_vec(&doc).unwrap()).unwrap();
    gz.finish().unwrap()
}

fn lists(c: &Collector, list: &str) -> f64 {
    c.metric(&format!(
        "parc_inventory_software_lists_total{{list=\"{list}\"}} "
    ))
}

/// The asset's packages as "name version".
fn stored_packages(c: &Collector) -> Vec<String> {
    let assets = c.get("/api/v1/assets").unwrap();
    assert_eq!(assets["total"], 1, "{assets}");
    let id = assets["items"][0]["id"].as_i64().unwrap();
    let asset = c.get(&format!("/api/v1/assets/{id}")).unwrap();
    asset["software"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["name"].as_str().unwrap(),
                s["version"].as_str().unwrap()
            )
        })
        .collect()
}

fn delivered(outcome: Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Delivered(answer) => answer,
        other => panic!("not delivered: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_is_sent_as_its_changes_and_whole_to_a_collector_that_lost_the_list() {
    let dir = tempfile::tempdir().unwrap();
    for db in ["first", "second"] {
        std::fs::create_dir(dir.path().join(db)).unwrap();
    }
    let state = dir.path().join("agent");
    std::fs::create_dir(&state).unwrap();
    let agent = Uuid::new_v4();
    let (c, token) = tokio::task::block_in_place(|| {
        let c = Collector::start(&dir.path().join("first")).unwrap();
        let token = c.token("chu-sud").unwrap();
        (c, token)
    });
    let first: Vec<Software> = (0..40)
        .map(|i| package(&format!("lib{i:02}"), "1.0"))
        .collect();
    let agent_client = client(&state, &c.url, &token);

    let answer = delivered(agent_client.send_inventory(spooled(agent, 3, &first)).await);
    assert_eq!(answer["accepts_software_delta"], true, "{answer}");

    // One package upgraded, one installed: the agent sends the changes, the collector stores
    // the whole new list.
    let mut second = first.clone();
    second[7].version = Some("1.1".into());
    second.push(package("vim", "9.1"));
    let answer = delivered(
        agent_client
            .send_inventory(spooled(agent, 2, &second))
            .await,
    );
    assert_eq!(
        answer["software_digest"],
        parc_shared::software_digest(&second),
        "{answer}"
    );
    tokio::task::block_in_place(|| {
        assert_eq!((lists(&c, "stored"), lists(&c, "delta")), (1.0, 1.0));
        let stored = stored_packages(&c);
        assert_eq!(stored.len(), 41);
        assert!(
            stored.contains(&"lib07 1.1".to_string()) && stored.contains(&"vim 9.1".to_string()),
            "{stored:?}"
        );
        assert!(!stored.contains(&"lib07 1.0".to_string()));
    });

    // A collector at the same address that never saw the list asks for it (409), and the
    // agent sends it whole in the same delivery.
    let addr = c.url.trim_start_matches("http://").to_string();
    let (c, token) = tokio::task::block_in_place(|| {
        c.stop().unwrap();
        let c = Collector::start_on(&dir.path().join("second"), &addr).unwrap();
        let token = c.token("chu-sud").unwrap();
        (c, token)
    });
    let mut third = second.clone();
    third.retain(|s| s.name != "lib03");
    let answer = delivered(
        client(&state, &c.url, &token)
            .send_inventory(spooled(agent, 1, &third))
            .await,
    );
    assert_eq!(answer["created"], true, "{answer}");
    tokio::task::block_in_place(|| {
        let refused = r#"parc_ingest_documents_total{endpoint="inventories",outcome="rejected",reason="software_list_unknown"} "#;
        assert_eq!(c.metric(refused), 1.0);
        assert_eq!((lists(&c, "stored"), lists(&c, "delta")), (1.0, 0.0));
        assert_eq!(stored_packages(&c).len(), 40);
        c.stop().unwrap();
    });
}
