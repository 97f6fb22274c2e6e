//! The backbone, end to end: the real agent inventories this machine and pushes it to the real
//! collector (SQLite), and the CMDB shows it, keeps history, ignores replays, refuses bad input
//! and receives what was spooled while it was away.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use parc_tests::{agent, closed_loopback_url, http, wait_for, Collector};
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The agent's wire document for this machine.
fn inventory_json(state: &std::path::Path) -> Value {
    let out = ok(agent(state, &["inventory", "--format", "json"]).unwrap());
    serde_json::from_str(&stdout(&out)).expect("inventory --format json is JSON")
}

/// What dpkg itself says is installed on this machine.
fn dpkg_installed_count() -> Option<usize> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}\n"])
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ii"))
            .count(),
    )
}

fn post(c: &Collector, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = http()
        .post(format!("{}/api/v1/inventories", c.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assets(c: &Collector) -> Value {
    c.get("/api/v1/assets?per_page=500").unwrap()
}

fn history(c: &Collector, id: i64) -> Vec<Value> {
    c.get(&format!("/api/v1/assets/{id}/history")).unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn pushed_inventory_becomes_an_asset_with_its_facts() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("chu-nord").unwrap();
    let state = dir.path().join("agent");

    let out = ok(agent(&state, &["--server", &c.url, "--token", &token, "push"]).unwrap());
    assert!(stdout(&out).contains("delivered"), "{}", stdout(&out));

    let list = assets(&c);
    assert_eq!(list["total"], 1, "{list}");
    let item = &list["items"][0];
    assert_eq!(item["site"], "chu-nord");
    let id = item["id"].as_i64().unwrap();
    let asset = c.get(&format!("/api/v1/assets/{id}")).unwrap();

    // What the agent sees here is what the CMDB holds.
    let doc = inventory_json(&state);
    let inv = &doc["body"];
    assert_eq!(asset["name"], inv["host"]["hostname"], "{asset}");
    for key in ["serial", "uuid"] {
        let sent = &inv["hardware"][key];
        let stored = &asset["hardware"][key];
        // Absent DMI stays absent (null), never an empty string or a made-up value.
        assert_eq!(
            stored.is_null(),
            sent.is_null(),
            "{key}: {stored} vs {sent}"
        );
        if !sent.is_null() {
            assert_eq!(stored["value"], sent["value"]);
        }
    }
    let sent_nics = inv["network"]["interfaces"].as_array().unwrap();
    let stored_nics = asset["network_interfaces"].as_array().unwrap();
    assert!(!sent_nics.is_empty());
    for nic in sent_nics {
        let found = stored_nics
            .iter()
            .find(|n| n["name"] == nic["name"])
            .unwrap_or_else(|| panic!("NIC {} missing from the asset", nic["name"]));
        assert_eq!(found["mac"], nic["mac"], "MAC of {}", nic["name"]);
    }
    if let Some(n) = dpkg_installed_count() {
        assert_eq!(asset["software_count"], n, "software entries vs dpkg");
        assert_eq!(asset["software"].as_array().unwrap().len(), n);
    }
    let sources = asset["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["agent_id"], doc["header"]["agent_id"]);
}

#[test]
fn renamed_machine_stays_one_asset_and_history_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("chu-sud").unwrap();
    let state = dir.path().join("agent");
    ok(agent(&state, &["--server", &c.url, "--token", &token, "push"]).unwrap());
    let id = assets(&c)["items"][0]["id"].as_i64().unwrap();

    // The same machine, renamed, reports again (new document id, later observation).
    let mut doc = inventory_json(&state);
    let old_name = doc["body"]["host"]["hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let new_name = format!("{old_name}-renamed");
    doc["body"]["host"]["hostname"] = Value::String(new_name.clone());
    doc["body"]["host"]["fqdn"] = Value::Null;
    let (status, answer) = post(&c, &token, serde_json::to_vec(&doc).unwrap());
    assert!(status == 200 || status == 201, "{status}: {answer}");
    assert_eq!(answer["asset_id"], id, "{answer}");
    assert_eq!(answer["created"], false);

    let list = assets(&c);
    assert_eq!(
        list["total"], 1,
        "a rename must not create a second asset: {list}"
    );
    assert_eq!(list["items"][0]["name"], new_name);
    let h = history(&c, id);
    assert!(
        h.iter()
            .any(|e| e["field"] == "hostname" && e["old"] == old_name && e["new"] == new_name),
        "hostname change not in history: {h:?}"
    );
}

#[test]
fn replayed_document_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let state = dir.path().join("agent");
    let mut doc = inventory_json(&state);
    let body = serde_json::to_vec(&doc).unwrap();

    let (s1, a1) = post(&c, &token, body.clone());
    assert!(s1 == 200 || s1 == 201, "{s1}: {a1}");
    let id = a1["asset_id"].as_i64().unwrap();
    let before = c.get(&format!("/api/v1/assets/{id}")).unwrap();
    let history_before = history(&c, id);

    // Same document id, even with altered content: recognised as a replay, nothing applied.
    doc["body"]["host"]["hostname"] = Value::String("replayed-name".into());
    let (s2, a2) = post(&c, &token, serde_json::to_vec(&doc).unwrap());
    assert_eq!(s2, 200, "{a2}");
    assert_eq!(a2["duplicate"], true, "{a2}");
    assert_eq!(c.get(&format!("/api/v1/assets/{id}")).unwrap(), before);
    assert_eq!(history(&c, id), history_before);
    assert_eq!(assets(&c)["total"], 1);
}

#[test]
fn bad_token_malformed_and_oversized_documents_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let state = dir.path().join("agent");
    let doc = inventory_json(&state);
    let good = serde_json::to_vec(&doc).unwrap();

    // No token, a wrong token.
    let r = http()
        .post(format!("{}/api/v1/inventories", c.url))
        .header("content-type", "application/json")
        .body(good.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, _) = post(&c, "parc_not-a-real-token", good.clone());
    assert_eq!(s, 401);

    // Malformed JSON, a wrong type, an unknown schema version: 4xx whose message names it.
    let (s, a) = post(&c, &token, b"{\"header\": ".to_vec());
    assert_eq!(s, 400, "{a}");
    assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()), "{a}");
    let mut wrong_type = doc.clone();
    wrong_type["body"]["memory"]["total_bytes"] = Value::String("lots".into());
    let (s, a) = post(&c, &token, serde_json::to_vec(&wrong_type).unwrap());
    assert!(s == 400 || s == 422, "{s} {a}");
    assert!(
        a["message"].as_str().unwrap().contains("total_bytes"),
        "{a}"
    );
    let mut future = doc.clone();
    future["header"]["schema_version"] = Value::from(99);
    let (s, a) = post(&c, &token, serde_json::to_vec(&future).unwrap());
    assert_eq!(s, 422, "{a}");
    assert!(a["message"].as_str().unwrap().contains("99"), "{a}");

    // Oversized: 17 MiB of software names, well past the 16 MiB limit.
    let mut big = doc.clone();
    let filler = "x".repeat(4000);
    big["body"]["software"] = Value::Array(
        (0..4400)
            .map(|i| serde_json::json!({"name": format!("{filler}{i}"), "source": "dpkg"}))
            .collect(),
    );
    let (s, _) = post(&c, &token, serde_json::to_vec(&big).unwrap());
    assert_eq!(s, 413);

    // A gzip bomb: small on the wire, huge once inflated.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"header\":\"").unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let r = http()
        .post(format!("{}/api/v1/inventories", c.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    assert_eq!(
        assets(&c)["total"],
        0,
        "a refused document must store nothing"
    );
    // The collector is still fine and accepts the good document.
    let (s, a) = post(&c, &token, good);
    assert!(s == 200 || s == 201, "{s}: {a}");
    assert_eq!(assets(&c)["total"], 1);
}

#[test]
fn documents_spooled_while_collector_is_down_are_delivered_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent");
    let down = closed_loopback_url();

    // Two runs while the collector is away: both kept, the command says so and exits non-zero.
    for _ in 0..2 {
        let out = agent(&state, &["--server", &down, "--token", "parc_x", "push"]).unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("spool"), "{err}");
    }
    let spooled = std::fs::read_dir(state.join("spool"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count();
    assert_eq!(spooled, 2);

    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let out = ok(agent(&state, &["--server", &c.url, "--token", &token, "flush"]).unwrap());
    assert!(stdout(&out).contains("delivered 2"), "{}", stdout(&out));
    let list = assets(&c);
    assert_eq!(
        list["total"], 1,
        "two reports of one machine are one asset: {list}"
    );
    let id = list["items"][0]["id"].as_i64().unwrap();
    let asset = c.get(&format!("/api/v1/assets/{id}")).unwrap();
    assert_eq!(asset["sources"].as_array().unwrap().len(), 1);

    // Flushing again sends nothing twice.
    let out = ok(agent(&state, &["--server", &c.url, "--token", &token, "flush"]).unwrap());
    assert!(stdout(&out).contains("delivered 0"), "{}", stdout(&out));
}

#[test]
fn service_mode_reports_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let state = dir.path().join("agent");
    let config = parc_tests::service_config(&state, &c.url, &token, "").unwrap();
    let mut child = Command::new(parc_tests::agent_bin())
        .args(["--config", config.to_str().unwrap(), "run"])
        .spawn()
        .unwrap();
    let seen = wait_for(Duration::from_secs(60), || {
        let total = assets(&c)["total"].as_i64().unwrap_or(0);
        (total == 1).then_some(())
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(seen.is_some(), "the service never reported");
    assert!(status.success(), "agent exited with {status} on SIGTERM");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "[server]\nurl = \"ftp://nowhere\"\n[sweep]\nscopes = [\"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let out = Command::new(parc_tests::agent_bin())
        .args(["--config", config.to_str().unwrap(), "inventory"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "server.url",
        "server.token",
        "sweep.scopes[0]",
        "agent.toml",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in: {err}");
    }
}

#[test]
fn an_unchanged_software_list_is_sent_once_and_again_when_the_collector_lost_it() {
    let dir = tempfile::tempdir().unwrap();
    for db in ["first", "second"] {
        std::fs::create_dir(dir.path().join(db)).unwrap();
    }
    let c = Collector::start(&dir.path().join("first")).unwrap();
    let token = c.token("chu-nord").unwrap();
    let state = dir.path().join("agent");
    let push = |c: &Collector, token: &str| {
        ok(agent(&state, &["--server", &c.url, "--token", token, "push"]).unwrap())
    };
    let lists = |c: &Collector, list: &str| {
        c.metric(&format!(
            "parc_inventory_software_lists_total{{list=\"{list}\"}} "
        ))
    };
    let software_count = |c: &Collector| {
        let id = assets(c)["items"][0]["id"].as_i64().unwrap();
        c.get(&format!("/api/v1/assets/{id}")).unwrap()["software_count"].clone()
    };

    push(&c, &token);
    let ack = std::fs::read_to_string(state.join("software-ack.json")).expect("acknowledged");
    assert_eq!(lists(&c, "stored"), 1.0);
    let count = software_count(&c);
    assert!(count.as_u64().unwrap() > 0, "{count}");

    // The next inventory leaves the unchanged list out; the asset keeps it.
    push(&c, &token);
    assert_eq!((lists(&c, "left_out"), lists(&c, "stored")), (1.0, 1.0));
    assert_eq!(software_count(&c), count);
    assert_eq!(assets(&c)["total"], 1);

    // A collector at the same address that never saw the list (a database restored from an
    // old backup, say) asks for it; the agent sends it in the same push.
    let addr = c.url.trim_start_matches("http://").to_string();
    c.stop().unwrap();
    let c = Collector::start_on(&dir.path().join("second"), &addr).unwrap();
    let token = c.token("chu-nord").unwrap();
    let out = push(&c, &token);
    assert!(stdout(&out).contains("delivered"), "{}", stdout(&out));
    let refused = r#"parc_ingest_documents_total{endpoint="inventories",outcome="rejected",reason="software_list_unknown"} "#;
    assert_eq!(c.metric(refused), 1.0);
    assert_eq!((lists(&c, "stored"), lists(&c, "left_out")), (1.0, 0.0));
    assert_eq!(software_count(&c), count);
    assert_eq!(
        std::fs::read_to_string(state.join("software-ack.json")).unwrap(),
        ack,
        "the list is acknowledged again"
    );
}
