//! A sweep started from the web UI's API, run by a real `parc-agent run` of the site: the
//! collector queues the job, the agent (allowed to sweep 127.0.0.0/30 only) claims it, sweeps
//! loopback, and its result shows in the job; a job outside the agent's scope is failed with the
//! reason and nothing is swept. Loopback only: no other address is ever probed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parc_tests::{agent_bin, http, service_config, wait_for, Collector};
use serde_json::{json, Value};

/// A signed-in browser session: the session cookie and the CSRF header on writes.
struct Session {
    url: String,
    cookie: String,
}

impl Session {
    fn sign_in(c: &Collector) -> Session {
        Session {
            url: c.url.clone(),
            cookie: parc_tests::admin_session(&c.url).expect("the admin signs in"),
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let r = http()
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = http()
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("x-requested-with", "parc")
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
}

/// The agent service, killed on drop.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until job `id` reaches a final state; returns it.
fn finished(s: &Session, id: i64) -> Value {
    wait_for(Duration::from_secs(90), || {
        let (status, job) = s.get(&format!("/api/v1/sweeps/{id}"));
        assert_eq!(status, 200, "{job}");
        matches!(job["state"].as_str(), Some("done" | "failed" | "expired")).then_some(job)
    })
    .unwrap_or_else(|| {
        panic!(
            "sweep job {id} never finished: {:?}",
            s.get(&format!("/api/v1/sweeps/{id}"))
        )
    })
}

#[test]
fn a_sweep_started_from_the_ui_is_run_by_an_agent_of_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("chu-nord").unwrap();
    let s = Session::sign_in(&c);
    let (status, sites) = s.get("/api/v1/sites");
    assert_eq!(status, 200, "{sites}");
    let site_id = sites
        .as_array()
        .or_else(|| sites["items"].as_array())
        .and_then(|list| list.iter().find(|x| x["name"] == "chu-nord"))
        .and_then(|x| x["id"].as_i64())
        .unwrap_or_else(|| panic!("site chu-nord in {sites}"));
    // The site's networks: the agent may sweep the first, not the second.
    for cidr in ["127.0.0.0/30", "127.0.0.4/30"] {
        let (status, body) = s.post(
            "/api/v1/subnets",
            json!({"cidr": cidr, "site_id": site_id, "name": "loopback"}),
        );
        assert!(status == 200 || status == 201, "{cidr}: {status} {body}");
    }

    let port = c.url.rsplit(':').next().unwrap().to_string();
    let state = dir.path().join("agent");
    let sweep =
        format!("[sweep]\nscopes = [\"127.0.0.0/30\"]\nports = [{port}]\njob_poll_seconds = 1\n");
    let config = service_config(&state, &c.url, &token, &sweep).unwrap();
    let _agent = Service(
        Command::new(agent_bin())
            .args(["--config", config.to_str().unwrap(), "run"])
            .env("RUST_LOG", "parc_agent=info")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (status, body) = s.post(
        "/api/v1/sweeps",
        json!({"site_id": site_id, "targets": ["127.0.0.1/32"]}),
    );
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_i64().unwrap();
    let job = finished(&s, id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["hosts_found"], 1, "{job}");
    let hosts = job["hosts"].as_array().unwrap();
    assert_eq!(hosts[0]["address"], "127.0.0.1", "{job}");
    let port: u16 = port.parse().unwrap();
    assert!(
        hosts[0]["open_ports"]
            .as_array()
            .unwrap()
            .contains(&json!(port)),
        "the collector's port answered: {job}"
    );
    assert!(
        hosts[0]["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("tcp_open")),
        "{job}"
    );
    let asset = hosts[0]["asset_id"].as_i64().expect("merged into an asset");
    let (status, detail) = s.get(&format!("/api/v1/assets/{asset}"));
    assert_eq!(status, 200, "{detail}");
    assert!(detail.to_string().contains("127.0.0.1"), "{detail}");

    // Inside the site's subnets, outside the agent's scope: refused by the agent, with why.
    let (status, body) = s.post(
        "/api/v1/sweeps",
        json!({"site_id": site_id, "targets": ["127.0.0.5"]}),
    );
    assert_eq!(status, 202, "{body}");
    let refused = body["id"].as_i64().unwrap();
    let job = finished(&s, refused);
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.5") && error.contains("outside the allowed scopes"),
        "{error}"
    );
    assert_eq!(job["hosts"], json!([]));

    // Both in the site's list, newest first.
    let (status, list) = s.get(&format!("/api/v1/sweeps?site={site_id}"));
    assert_eq!(status, 200, "{list}");
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "job")
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(ids, [refused, id], "{list}");
}
