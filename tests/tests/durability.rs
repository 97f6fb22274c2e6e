//! Fault tests (issue #9): what is acknowledged is never lost, what is spooled is delivered.
//!
//! - A storm of documents from concurrent agents while the collector is SIGKILLed at random
//!   points and restarted on the same database: every document it acknowledged is still there
//!   afterwards (a replay of it is recognised), and no machine became two assets.
//! - An agent SIGKILLed while it writes its spool, and a spool entry torn as a power cut can
//!   leave it: the agent starts, quarantines the torn entry with a warning, delivers the rest.
//!
//! Kill points come from a seeded generator; the seed is printed, and `PARC_FAULT_SEED=<seed>`
//! replays the same schedule.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parc_shared::inventory::{Hardware, NetworkInterface};
use parc_shared::{Document, DocumentHeader, HardwareId, Inventory, SourceKind};
use parc_tests::{agent, closed_loopback_url, http, wait_for, Collector};
use serde_json::Value;
use uuid::Uuid;

/// SplitMix64: small, seedable, good enough to pick kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("PARC_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed {seed} (PARC_FAULT_SEED={seed} repeats this schedule)");
    seed
}

fn sigkill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid} failed");
}

/// The inventory of simulated machine `machine`, observation `n`: the same hardware every
/// time, so all of one machine's documents must land on one asset.
fn inventory(agent_id: Uuid, machine: usize, n: usize) -> Document<Inventory> {
    let mut body = Inventory::default();
    body.host.hostname = format!("storm-pc-{machine:03}");
    body.os.family = "linux".into();
    body.os.arch = "x86_64".into();
    body.hardware = Hardware {
        manufacturer: Some("Parc Test".into()),
        model: Some("Storm 1".into()),
        serial: HardwareId::serial(&format!("STORM{machine:06}")),
        uuid: None,
        dmi_available: true,
        ..Default::default()
    };
    body.network.interfaces = vec![NetworkInterface {
        name: "eth0".into(),
        mac: Some(format!(
            "02:00:5e:00:{:02x}:{:02x}",
            machine / 256,
            machine % 256
        )),
        state: "up".into(),
        ..Default::default()
    }];
    // Facts that change between observations, so that each document writes something.
    body.memory.total_bytes = (8 << 30) + n as u64 * 4096;
    let observed =
        chrono::Utc::now() - chrono::Duration::minutes(60) + chrono::Duration::seconds(n as i64);
    Document {
        header: DocumentHeader::new(agent_id, SourceKind::AgentInventory, observed),
        body,
    }
}

/// One acknowledged document: its id, the exact body sent, the collector's answer.
struct Acked {
    document_id: Uuid,
    body: Vec<u8>,
}

/// Posts `body` until the collector acknowledges it (2xx), as an agent's spool would: a refused
/// connection, a reset (the collector was killed mid-request), 429 and 5xx are retried after a
/// short jittered pause; anything else fails the test.
fn post_until_acknowledged(
    client: &reqwest::blocking::Client,
    url: &RwLock<String>,
    token: &str,
    body: &[u8],
    rng: &mut Rng,
    deadline: Instant,
) -> Value {
    loop {
        let base = url.read().unwrap().clone();
        let answer = client
            .post(format!("{base}/api/v1/inventories"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send();
        match answer {
            Ok(r) if r.status().is_success() => {
                return r.json().expect("the collector's answer is JSON");
            }
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {}
            Ok(r) => {
                let status = r.status();
                panic!(
                    "document refused: {status}: {}",
                    r.text().unwrap_or_default()
                );
            }
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "a document was still not acknowledged at the deadline"
        );
        // A client's retry pause (shorter than Retry-After, to keep the test short), not a wait
        // for some other thread's progress.
        std::thread::sleep(Duration::from_millis(rng.range(10, 60)));
    }
}

#[test]
fn collector_sigkilled_during_a_storm_loses_no_acknowledged_document() {
    const AGENTS: usize = 50;
    const DOCS_PER_AGENT: usize = 20;
    const KILLS: usize = 4;
    let total = AGENTS * DOCS_PER_AGENT;
    let mut rng = Rng(seed("storm"));

    let dir = tempfile::tempdir().unwrap();
    let first = Collector::start(dir.path()).unwrap();
    let token = first.token("storm-site").unwrap();
    let url = Arc::new(RwLock::new(first.url.clone()));
    let collector = Arc::new(Mutex::new(Some(first)));
    let acked = Arc::new(AtomicUsize::new(0));
    let replays = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(600);

    let drivers: Vec<_> = (0..AGENTS)
        .map(|machine| {
            let url = url.clone();
            let token = token.clone();
            let acked = acked.clone();
            let replays = replays.clone();
            let mut rng = Rng(rng.next());
            std::thread::spawn(move || {
                let client = http();
                let agent_id = Uuid::new_v4();
                let mut mine = Vec::with_capacity(DOCS_PER_AGENT);
                for n in 0..DOCS_PER_AGENT {
                    let doc = inventory(agent_id, machine, n);
                    let body = serde_json::to_vec(&doc).unwrap();
                    let answer =
                        post_until_acknowledged(&client, &url, &token, &body, &mut rng, deadline);
                    // A replay answer is right too: the collector committed an earlier
                    // attempt and was killed before its answer left.
                    if answer["duplicate"] == true {
                        replays.fetch_add(1, Ordering::SeqCst);
                    }
                    acked.fetch_add(1, Ordering::SeqCst);
                    mine.push(Acked {
                        document_id: doc.header.document_id,
                        body,
                    });
                }
                mine
            })
        })
        .collect();

    // Kill points: after a random number of acknowledgements, plus a random few milliseconds so
    // that the kill lands anywhere in a request (reading, parsing, inside the transaction,
    // answering).
    let mut points: Vec<usize> = (0..KILLS)
        .map(|_| rng.range(total as u64 / 20, total as u64 * 9 / 10) as usize)
        .collect();
    points.sort_unstable();
    let mut acked_before_kill = Vec::new();
    for point in points {
        wait_for(Duration::from_secs(300), || {
            (acked.load(Ordering::SeqCst) >= point).then_some(())
        })
        .expect("the storm stalled");
        std::thread::sleep(Duration::from_millis(rng.range(0, 40)));
        let old = collector.lock().unwrap().take().unwrap();
        sigkill(old.pid());
        acked_before_kill.push(acked.load(Ordering::SeqCst));
        drop(old);
        let restarted = Collector::start(dir.path()).unwrap();
        *url.write().unwrap() = restarted.url.clone();
        *collector.lock().unwrap() = Some(restarted);
    }
    let mut documents: Vec<Acked> = Vec::with_capacity(total);
    for d in drivers {
        documents.extend(d.join().expect("a storm driver failed"));
    }
    eprintln!(
        "storm: {total} documents from {AGENTS} agents; SIGKILL after {acked_before_kill:?} \
         acknowledgements; {} first acknowledged as replays (committed, answer lost in a kill)",
        replays.load(Ordering::SeqCst)
    );
    assert_eq!(documents.len(), total);
    assert!(
        acked_before_kill.iter().all(|&n| n > 0 && n < total),
        "every kill landed during the storm: {acked_before_kill:?}"
    );

    // Every acknowledged document is stored: sending it again is recognised as a replay (a lost
    // one would be stored anew and answered duplicate: false).
    let c = collector.lock().unwrap().take().unwrap();
    let client = http();
    let url = RwLock::new(c.url.clone());
    let mut lost = Vec::new();
    for d in &documents {
        let answer = post_until_acknowledged(&client, &url, &token, &d.body, &mut rng, deadline);
        if answer["duplicate"] != true {
            lost.push(d.document_id);
        }
    }
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // One asset per machine, none twice.
    let list = c.get("/api/v1/assets?per_page=500").unwrap();
    assert_eq!(list["total"], AGENTS as u64, "{list}");
    let mut names: HashMap<String, usize> = HashMap::new();
    for item in list["items"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap_or_default().to_string();
        *names.entry(name).or_default() += 1;
    }
    assert_eq!(names.len(), AGENTS, "{names:?}");
}

/// The document ids in a spool directory (entries only, not quarantine).
fn spooled(spool: &Path) -> Vec<(String, Uuid)> {
    let mut out: Vec<(String, Uuid)> = std::fs::read_dir(spool)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // <stamp>-<kind>-<document id>.json.gz
                    let stem = name.strip_suffix(".json.gz")?;
                    let id = Uuid::parse_str(stem.splitn(3, '-').nth(2)?).ok()?;
                    Some((name, id))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn agent_sigkilled_mid_spool_write_keeps_its_spool_and_quarantines_a_torn_entry() {
    let mut rng = Rng(seed("agent-kill"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("agent");
    let spool = state.join("spool");
    let nowhere = closed_loopback_url();

    // While the collector is away, `push` spools its inventory and fails to deliver it; killed
    // at a random moment, it has spooled it whole or not at all.
    let mut completed = 0;
    for _ in 0..12 {
        let empty_config = state.join("agent.toml");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(&empty_config, "").unwrap();
        let mut child = Command::new(parc_tests::agent_bin())
            .arg("--config")
            .arg(&empty_config)
            .arg("--state-dir")
            .arg(&state)
            .args(["--server", &nowhere, "--token", "t", "push"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Collecting an inventory takes a few hundred ms; kill points spread over it and the
        // spool write that follows.
        std::thread::sleep(Duration::from_millis(rng.range(0, 1500)));
        sigkill(child.id());
        let status = child.wait().unwrap();
        if status.code().is_some() {
            completed += 1;
        }
    }
    // Runs that finished before the kill ran to their end (a failed delivery).
    let before_torn = spooled(&spool);
    eprintln!(
        "agent-kill: {} entries spooled by 12 runs ({completed} finished before the kill)",
        before_torn.len()
    );
    // At least one run must have finished spooling for the rest of the test to mean anything;
    // make sure of it with one uninterrupted run.
    let out = agent(&state, &["--server", &nowhere, "--token", "t", "push"]).unwrap();
    assert!(!out.status.success(), "no collector: push must fail");
    let entries = spooled(&spool);
    assert!(
        !entries.is_empty(),
        "the failed push left its document spooled"
    );
    assert!(
        std::fs::read_dir(&spool)
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")),
        "a completed run removes leftovers of killed ones"
    );

    // A power cut on a file system without ordered data can leave a valid name over a torn
    // file: tear the oldest entry.
    let (torn_name, torn_id) = entries[0].clone();
    let torn_path = spool.join(&torn_name);
    let bytes = std::fs::read(&torn_path).unwrap();
    std::fs::write(&torn_path, &bytes[..bytes.len() / 2]).unwrap();
    let good: Vec<(Uuid, Vec<u8>)> = entries[1..]
        .iter()
        .map(|(name, id)| {
            let gz = std::fs::read(spool.join(name)).unwrap();
            let mut plain = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain)
                .unwrap();
            (*id, plain)
        })
        .collect();

    // The collector comes back; the next push delivers what the spool holds.
    std::fs::create_dir_all(dir.path().join("collector")).unwrap();
    let c = Collector::start(&dir.path().join("collector")).unwrap();
    let token = c.token("site").unwrap();
    let out = agent(&state, &["--server", &c.url, "--token", &token, "push"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("quarantine") && stderr.contains(&torn_id.to_string()),
        "the torn entry is reported: {stderr}"
    );
    assert!(spooled(&spool).is_empty(), "the spool drained");
    assert!(spool.join("quarantine").join(&torn_name).exists());

    // Every intact entry reached the CMDB: posting it again is a replay.
    for (id, plain) in &good {
        let r = http()
            .post(format!("{}/api/v1/inventories", c.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(plain.clone())
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{id}: {}", r.status());
        let answer: Value = r.json().unwrap();
        assert_eq!(
            answer["duplicate"], true,
            "{id} was not delivered: {answer}"
        );
    }
    // The torn one was never sent.
    let list = c.get("/api/v1/assets").unwrap();
    assert_eq!(list["total"], 1, "{list}");
}

/// Writes `config` and starts a collector with it; its log goes to `dir/collector.log`.
fn collector_with(dir: &Path, config: &str) -> Collector {
    let path = dir.join("collector.toml");
    std::fs::write(&path, config).unwrap();
    let database_url = format!("sqlite://{}", dir.join("parc.db").display());
    let (c, _) =
        parc_tests::start_collector_with_config(&path, &database_url, &dir.join("collector.log"))
            .unwrap();
    c
}

#[test]
fn a_client_trickling_its_request_is_cut_off() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with(dir.path(), "[limits]\nheader_timeout_secs = 2\n");
    let addr = c.url.trim_start_matches("http://").to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let head = b"POST /api/v1/inventories HTTP/1.1\r\nHost: collector\r\nContent-Length: 10\r\n";
    let mut cut = None;
    // One byte every 200 ms, as a slowloris client does (only slower); the server must hang up
    // before the head is complete.
    for b in head.iter() {
        if slow.write_all(&[*b]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if cut.is_none() {
        let mut buf = [0u8; 256];
        // Closed by the server: end of stream (or a reset), never an answer.
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => cut = Some(started.elapsed()),
            Ok(n) => panic!("answered: {}", String::from_utf8_lossy(&buf[..n])),
        }
    }
    let cut = cut.unwrap();
    assert!(
        cut >= Duration::from_secs(2) && cut < Duration::from_secs(15),
        "cut after {cut:?}"
    );
    // A normal client is served meanwhile and afterwards.
    assert_eq!(c.get("/healthz").unwrap()["status"], "ok");
}

#[test]
fn an_agent_over_its_rate_gets_429_with_retry_after_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let c = collector_with(
        dir.path(),
        "[limits]\nagent_documents_per_minute = 1\nagent_burst = 2\n",
    );
    let token = c.token("site").unwrap();
    let client = http();
    let agent_id = Uuid::new_v4();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..3 {
        let doc = inventory(agent_id, 7, n);
        let r = client
            .post(format!("{}/api/v1/inventories", c.url))
            .bearer_auth(&token)
            .json(&doc)
            .send()
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body: Value = r.json().unwrap();
            assert_eq!(body["error"], "rate_limited", "{body}");
        }
    }
    assert_eq!(
        statuses[..2].iter().filter(|s| **s < 300).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(statuses[2], 429, "{statuses:?}");
    let wait = retry_after.expect("Retry-After on the 429");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // Another agent of the same site is not held back by this one.
    let other = inventory(Uuid::new_v4(), 8, 0);
    let r = client
        .post(format!("{}/api/v1/inventories", c.url))
        .bearer_auth(&token)
        .json(&other)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[test]
fn a_cloned_agent_identity_is_flagged_and_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path()).unwrap();
    let token = c.token("site").unwrap();
    let client = http();
    // Two machines from one disk image: same agent id and host name, their own serial and MAC.
    let agent_id = Uuid::new_v4();
    let post = |machine: usize, n: usize| {
        let mut doc = inventory(agent_id, machine, n);
        doc.body.host.hostname = "imaged-pc".into();
        let r = client
            .post(format!("{}/api/v1/inventories", c.url))
            .bearer_auth(&token)
            .json(&doc)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().unwrap()["asset_id"].as_i64().unwrap()
    };
    let first = post(1, 0);
    let second = post(2, 1);
    assert_ne!(
        first, second,
        "the clone must not overwrite the original's asset"
    );
    // Both keep reporting; each stays on its own asset.
    assert_eq!(post(1, 2), first);
    assert_eq!(post(2, 3), second);
    let list = c.get("/api/v1/assets").unwrap();
    assert_eq!(list["total"], 2, "{list}");
    let report = c.get("/api/v1/reports/clones").unwrap();
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{report}");
    let pair = &items[0];
    assert_eq!(pair["agent_id"], agent_id.to_string());
    assert_eq!(pair["original"]["asset_id"], first);
    assert_eq!(pair["clone"]["asset_id"], second);
    assert_eq!(pair["documents"], 3, "{pair}");
}
