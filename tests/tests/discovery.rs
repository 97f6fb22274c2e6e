//! Sweep results reach the CMDB: a device seen by a sweep with the MAC of an agent-reported PC is
//! that PC's asset; a device nobody reported becomes an asset of unknown type.

use parc_tests::{agent, http, Collector};
use serde_json::{json, Value};

fn post_discovery(c: &Collector, token: &str, doc: &Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/api/v1/discoveries", c.url))
        .bearer_auth(token)
        .json(doc)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn discovery(agent_id: &str, hosts: Value) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "header": {
            "schema_version": parc_shared::SCHEMA_VERSION,
            "agent_id": agent_id,
            "document_id": uuid::Uuid::new_v4(),
            "source": "sweep",
            "observed_at": now,
            "agent_version": "test"
        },
        "body": {
            "targets": ["198.18.7.0/24"],
            "addresses_probed": 254,
            "started_at": now,
            "finished_at": now,
            "hosts": hosts
        }
    })
}

#[test]
fn swept_devices_merge_with_agent_assets_by_mac_and_others_appear_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let state = dir.path().join("agent");
    let out = agent(&state, &["--server", &c.url, "--token", &token, "push"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = c.get("/api/v1/assets").unwrap();
    let pc_id = list["items"][0]["id"].as_i64().unwrap();
    let pc_mac = list["items"][0]["mac_addresses"][0]
        .as_str()
        .expect("this machine has a physical NIC with a MAC")
        .to_string();

    let sweeper = uuid::Uuid::new_v4().to_string();
    let doc = discovery(
        &sweeper,
        json!([
            {"ip": "198.18.7.10", "mac": pc_mac.to_uppercase(), "methods": ["arp"], "rtt_us": 120},
            {"ip": "198.18.7.99", "mac": "00:11:22:33:44:55", "name": "printer-2.lan.test",
             "methods": ["arp", "icmp_echo"], "open_ports": [9100], "rtt_us": 300}
        ]),
    );
    let (status, answer) = post_discovery(&c, &token, &doc);
    assert!(status == 200 || status == 201, "{status}: {answer}");
    assert_eq!(answer["matched"], 1, "{answer}");
    assert_eq!(answer["created"], 1, "{answer}");

    let list = c.get("/api/v1/assets?per_page=500").unwrap();
    assert_eq!(list["total"], 2, "{list}");
    let pc = c.get(&format!("/api/v1/assets/{pc_id}")).unwrap();
    let kinds: Vec<&str> = pc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"sweep") && kinds.contains(&"agent_inventory"),
        "{kinds:?}"
    );
    assert!(
        pc["ip_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "198.18.7.10"),
        "{pc}"
    );
    let other = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"].as_i64() != Some(pc_id))
        .unwrap();
    assert_eq!(other["kind"], "unknown");
    assert_eq!(other["name"], "printer-2.lan.test");

    // The same sweep result again is a replay; a new sweep of the same device is the same asset.
    let (_, replay) = post_discovery(&c, &token, &doc);
    assert_eq!(replay["duplicate"], true, "{replay}");
    let again = discovery(
        &sweeper,
        json!([{"ip": "198.18.7.99", "mac": "00:11:22:33:44:55", "methods": ["icmp_echo"]}]),
    );
    let (_, answer) = post_discovery(&c, &token, &again);
    assert_eq!(answer["matched"], 1, "{answer}");
    assert_eq!(c.get("/api/v1/assets").unwrap()["total"], 2);
}

#[test]
fn discovery_with_bad_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let doc = discovery(
        &uuid::Uuid::new_v4().to_string(),
        json!([{"ip": "198.18.7.1", "methods": ["icmp_echo"]}]),
    );
    let (status, _) = post_discovery(&c, "parc_wrong", &doc);
    assert_eq!(status, 401);
    assert_eq!(c.get("/api/v1/assets").unwrap()["total"], 0);
}

/// `parc-agent sweep --push`: a real sweep of loopback (the only address a test may probe outside
/// its own namespaces) whose result reaches the CMDB through the spool and the API.
#[test]
fn sweep_push_delivers_the_result_to_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let port = c.url.rsplit(':').next().unwrap().to_string();
    let state = dir.path().join("agent");
    let out = agent(
        &state,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "sweep",
            "127.0.0.1",
            "--ports",
            &port,
            "--no-names",
            "--unprivileged",
            "--format",
            "json",
            "--push",
        ],
    )
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_slice(&out.stdout).expect("sweep --format json");
    let port: u16 = port.parse().unwrap();
    assert_eq!(found["hosts"][0]["ip"], "127.0.0.1", "{found}");
    assert!(found["hosts"][0]["open_ports"]
        .as_array()
        .unwrap()
        .contains(&json!(port)));

    let list = c.get("/api/v1/assets?per_page=500").unwrap();
    assert_eq!(list["total"], 1, "{list}");
    let id = list["items"][0]["id"].as_i64().unwrap();
    let asset = c.get(&format!("/api/v1/assets/{id}")).unwrap();
    assert_eq!(asset["sources"][0]["kind"], "sweep", "{asset}");
    assert!(
        std::fs::read_dir(state.join("spool"))
            .unwrap()
            .all(|e| !e.unwrap().path().is_file()),
        "the delivered document left the spool"
    );
}

/// Service mode runs the scheduled sweep of `sweep.targets`, confined to `sweep.scopes`, and
/// delivers its result next to the inventory.
#[test]
fn service_mode_sweeps_its_scheduled_targets() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let port = c.url.rsplit(':').next().unwrap().to_string();
    let state = dir.path().join("agent");
    let sweep = format!(
        "[sweep]\nscopes = [\"127.0.0.0/8\"]\ntargets = [\"127.0.0.1\"]\nports = [{port}]\n"
    );
    let config = parc_tests::service_config(&state, &c.url, &token, &sweep).unwrap();
    let mut child = std::process::Command::new(parc_tests::agent_bin())
        .args(["--config", config.to_str().unwrap(), "run"])
        .spawn()
        .unwrap();
    let swept = parc_tests::wait_for(std::time::Duration::from_secs(60), || {
        let list = c.get("/api/v1/assets?per_page=500").ok()?;
        let items = list["items"].as_array()?.clone();
        items.iter().find(|a| a["kind"] == "unknown").cloned()
    });
    let _ = child.kill();
    let _ = child.wait();
    let swept = swept.expect("the scheduled sweep never reached the collector");
    let detail = c.get(&format!("/api/v1/assets/{}", swept["id"])).unwrap();
    assert_eq!(detail["sources"][0]["kind"], "sweep", "{detail}");
}
