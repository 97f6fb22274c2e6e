//! Overload end to end: a real collector whose intake slots are all taken answers 429 with a
//! Retry-After at once (never a timeout), and a real agent service waits that long before it
//! sends again, then delivers.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parc_tests::{admin_session, agent_bin, http, service_config, wait_for, Collector};

/// The collector's intake slots (collector/src/http/mod.rs `INTAKE_SLOTS`).
const INTAKE_SLOTS: usize = 8;

/// Starts a document upload and never finishes it: the request holds an intake slot while the
/// collector waits for the rest of the body.
fn hold_slot(url: &str, token: &str) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the collector");
    write!(
        s,
        "POST /api/v1/inventories HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"header\":"
    )
    .expect("send the request head");
    s.flush().expect("flush");
    s
}

/// The collector's `parc_ingest_in_flight` gauge, read as the admin (/metrics needs a group role).
fn in_flight(collector: &Collector) -> Option<f64> {
    let cookie = admin_session(&collector.url).ok()?;
    let text = http()
        .get(format!("{}/metrics", collector.url))
        .header("Cookie", cookie)
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("parc_ingest_in_flight "))
        .and_then(|v| v.trim().parse().ok())
}

/// The agent's log, written to a file: plain text, no terminal colour codes.
fn plain(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !text.contains('\u{1b}'),
        "a log written to a file holds terminal colour codes: {text}"
    );
    text
}

/// The `retry_in` of the agent's "delivery postponed" line, in seconds.
fn postponed_for(log: &Path) -> Option<u64> {
    let text = plain(log);
    let line = text.lines().find(|l| l.contains("delivery postponed"))?;
    let value = line.split("retry_in=").nth(1)?;
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    let unit = value[digits.len()..].chars().next()?;
    // Whole seconds print as "10s"; anything else ("10.5s", "800ms") is not what was asked.
    (unit == 's').then(|| digits.parse().ok()).flatten()
}

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn overloaded_collector_answers_429_and_the_agent_waits_its_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(dir.path()).unwrap();
    let token = collector.token("storm").unwrap();

    let held: Vec<TcpStream> = (0..INTAKE_SLOTS)
        .map(|_| hold_slot(&collector.url, &token))
        .collect();
    let full = wait_for(Duration::from_secs(20), || {
        in_flight(&collector).filter(|&n| n >= INTAKE_SLOTS as f64)
    });
    assert!(full.is_some(), "the slow uploads never took every slot");

    // A document now is refused quickly, with a wait to honour.
    let sent = Instant::now();
    let answer = http()
        .post(format!("{}/api/v1/inventories", collector.url))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .unwrap();
    let took = sent.elapsed();
    assert_eq!(answer.status().as_u16(), 429);
    assert!(took < Duration::from_secs(2), "429 took {took:?}");
    let retry_after: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=120).contains(&retry_after),
        "Retry-After {retry_after}"
    );

    // The agent service's first delivery is refused the same way; it must wait as told.
    let state = dir.path().join("agent");
    let config = service_config(&state, &collector.url, &token, "").unwrap();
    let log = dir.path().join("agent.log");
    let _service = Service(
        Command::new(agent_bin())
            .arg("--config")
            .arg(&config)
            .args(["run", "--no-splay"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let told = wait_for(Duration::from_secs(60), || postponed_for(&log))
        .unwrap_or_else(|| panic!("the agent never postponed delivery:\n{}", plain(&log)));
    let postponed_at = Instant::now();
    // With no backlog the collector asks for its minimum, 1 s (2 when the two refusals fall
    // within one booking interval); the agent's own backoff would be 15 to 30 s.
    assert!(
        (1..=2).contains(&told) && told >= retry_after,
        "the agent waits {told} s; the collector asked for {retry_after} s a moment before"
    );
    drop(held);

    let delivered = wait_for(Duration::from_secs(told + 60), || {
        let assets = collector.get("/api/v1/assets").ok()?;
        (assets["total"].as_u64()? >= 1).then(Instant::now)
    })
    .unwrap_or_else(|| panic!("the inventory never arrived:\n{}", plain(&log)));
    let waited = delivered - postponed_at;
    // Not before the Retry-After (less the time the log took to be noticed), and at it rather
    // than after the agent's own backoff (15 to 30 s on a first failure).
    assert!(
        waited >= Duration::from_secs(told) - Duration::from_millis(500),
        "delivered {waited:?} after a Retry-After of {told} s"
    );
    assert!(
        waited < Duration::from_secs(told + 5),
        "delivered {waited:?} after a Retry-After of {told} s: the agent did not come back when told"
    );
}
