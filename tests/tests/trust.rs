//! End-to-end trust: a self-signed HTTPS collector, `parc-agent enroll` (pinned fingerprint,
//! signing key), signed pushes, what a leaked site token can no longer do, revocation,
//! certificate reload on SIGHUP, and the plain-HTTP guard. Real binaries, loopback only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
use parc_tests::{
    agent_bin, collector_bin, https_any_certificate, start_collector_with_config, wait_for,
    Collector,
};
use sha2::{Digest, Sha256};

/// A self-signed collector with its own data directory, database and log.
struct Site {
    dir: tempfile::TempDir,
    collector: Collector,
    /// As printed by `serve`.
    fingerprint: String,
    token: String,
}

impl Site {
    fn start() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\ndata_dir = {:?}\n[tls]\nself_signed = true\n",
                dir.path().join("data").display().to_string()
            ),
        )
        .unwrap();
        let db = format!("sqlite://{}", dir.path().join("parc.db").display());
        let (collector, fingerprint) =
            start_collector_with_config(&config, &db, &dir.path().join("collector.log")).unwrap();
        assert!(collector.url.starts_with("https://"), "{}", collector.url);
        let fingerprint = fingerprint.expect("serve prints the certificate fingerprint");
        let token = collector.token("main").unwrap();
        Site {
            dir,
            collector,
            fingerprint,
            token,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("data/tls")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("collector.log")).unwrap()
    }

    fn assets(&self) -> serde_json::Value {
        https_any_certificate()
            .get(format!("{}/api/v1/assets", self.collector.url))
            .header(
                "Cookie",
                parc_tests::admin_session(&self.collector.url).unwrap(),
            )
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn admin(&self, args: &[&str]) -> Output {
        Command::new(collector_bin())
            .args(args)
            .args(["--database", &self.collector.database_url])
            .output()
            .unwrap()
    }

    fn enroll(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "--server",
            &self.collector.url,
            "--token",
            &self.token,
            "enroll",
        ];
        args.extend_from_slice(extra);
        run_agent(&self.state(), &args)
    }
}

/// `parc-agent ARGS` with its state in `state_dir`, no config file, debug logs on stderr (the
/// secret checks read them).
fn run_agent(state_dir: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(state_dir).unwrap();
    let config = state_dir.join("agent.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let out = Command::new(agent_bin())
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env("RUST_LOG", "debug")
        .env_remove("PARC_SERVER")
        .env_remove("PARC_TOKEN")
        .output()
        .unwrap();
    let log = state_dir.join("agent.log");
    let mut all = std::fs::read(&log).unwrap_or_default();
    all.extend_from_slice(&out.stderr);
    std::fs::write(&log, all).unwrap();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn served_fingerprint(url: &str) -> String {
    let response = https_any_certificate()
        .get(format!("{url}/healthz"))
        .send()
        .unwrap();
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
        .expect("a TLS connection with a certificate");
    colon_hex(&Sha256::digest(der))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn spooled(state: &Path) -> usize {
    std::fs::read_dir(state.join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "gz"))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// No secret in any log: the site token, the agent's private key, the collector's key.
fn assert_no_secrets(site: &Site) {
    let mut secrets = vec![site.token.clone()];
    if let Ok(key) = std::fs::read_to_string(site.state().join("agent-key")) {
        secrets.push(key.trim().to_string());
    }
    let collector_key = std::fs::read_to_string(site.tls_dir().join("key.pem")).unwrap();
    secrets.extend(
        collector_key
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(String::from),
    );
    let agent_log = std::fs::read_to_string(site.state().join("agent.log")).unwrap_or_default();
    for (name, log) in [("collector", site.log()), ("agent", agent_log)] {
        assert!(!log.is_empty() || name == "agent", "{name} log is empty");
        for s in &secrets {
            assert!(!log.contains(s.as_str()), "a secret is in the {name} log");
        }
    }
}

#[test]
fn enrolled_agent_pushes_over_https_and_a_leaked_token_cannot_impersonate_it() {
    let site = Site::start();
    let state = site.state();

    let out = site.enroll(&["--accept"]);
    assert!(out.status.success(), "enroll: {}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&site.fingerprint), "{said}");
    #[cfg(unix)]
    for file in ["agent-key", "enrollment.json"] {
        assert_eq!(mode(&state.join(file)), 0o600, "{file}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&site.tls_dir().join("key.pem")), 0o600);
    let agent_id = std::fs::read_to_string(state.join("agent-id"))
        .unwrap()
        .trim()
        .to_string();
    let listed = text(&site.admin(&["agent", "list"]).stdout);
    assert!(listed.contains(&agent_id), "{listed}");

    // No --server or --token: enrolment stored them, with the pin.
    let out = run_agent(&state, &["push"]);
    assert!(out.status.success(), "push: {}", text(&out.stderr));
    let assets = site.assets();
    let items = assets["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{assets}");
    let name = items[0]["name"].clone();

    // Someone with the site token but not the agent's key: refused, the asset unchanged.
    let mut inv = Inventory::default();
    inv.host.hostname = "pc-impostor".into();
    inv.os.family = "linux".into();
    let forged = Document {
        header: DocumentHeader::new(
            agent_id.parse().unwrap(),
            SourceKind::AgentInventory,
            chrono::Utc::now(),
        ),
        body: inv,
    };
    let client = https_any_certificate();
    for signature in [
        None,
        Some("ed25519=AAAA"),
        Some(&*format!("ed25519={}", "A".repeat(86) + "==")),
    ] {
        let mut req = client
            .post(format!("{}/api/v1/inventories", site.collector.url))
            .bearer_auth(&site.token)
            .json(&forged);
        if let Some(s) = signature {
            req = req.header("X-Parc-Signature", s);
        }
        let r = req.send().unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{signature:?}"
        );
        let body: serde_json::Value = r.json().unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("enrolled"),
            "{body}"
        );
    }
    let assets = site.assets();
    assert_eq!(assets["items"].as_array().unwrap().len(), 1);
    assert_eq!(assets["items"][0]["name"], name, "{assets}");

    // Revoked: the agent's own signed documents are refused and stay in its spool.
    let out = site.admin(&["agent", "revoke", &agent_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_agent(&state, &["push"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("401") && err.contains("revoked"), "{err}");
    assert_eq!(spooled(&state), 1);

    assert_no_secrets(&site);
    site.collector.stop().unwrap();
}

#[test]
fn enrolment_with_a_wrong_fingerprint_is_refused_and_stores_nothing() {
    let site = Site::start();
    let wrong = colon_hex(&Sha256::digest(b"not the collector's certificate"));
    let out = site.enroll(&["--fingerprint", &wrong]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("not enrolled") && err.contains(&wrong),
        "{err}"
    );
    for file in ["agent-key", "enrollment.json"] {
        assert!(!site.state().join(file).exists(), "{file} was stored");
    }
    let listed = text(&site.admin(&["agent", "list"]).stdout);
    assert_eq!(listed.lines().count(), 1, "only the header: {listed}");

    // The right fingerprint, pasted without colons in lower case, is accepted.
    let right = site.fingerprint.replace(':', "").to_lowercase();
    let out = site.enroll(&["--fingerprint", &right]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_secrets(&site);
}

#[test]
fn reloaded_certificate_is_served_and_the_pinned_agent_refuses_it() {
    let site = Site::start();
    let state = site.state();
    let out = site.enroll(&["--fingerprint", &site.fingerprint]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(served_fingerprint(&site.collector.url), site.fingerprint);

    // A broken certificate file and SIGHUP: the old certificate stays, the log says why.
    let tls = site.tls_dir();
    let good_cert = std::fs::read(tls.join("cert.pem")).unwrap();
    std::fs::write(
        tls.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\ntruncated",
    )
    .unwrap();
    hup(&site.collector);
    assert!(
        wait_for(Duration::from_secs(20), || site
            .log()
            .contains("not reloaded")
            .then_some(()))
        .is_some(),
        "{}",
        site.log()
    );
    assert_eq!(served_fingerprint(&site.collector.url), site.fingerprint);
    std::fs::write(tls.join("cert.pem"), good_cert).unwrap();

    // A new certificate (another self-signed collector's files) and SIGHUP: served at once.
    let other = Site::start();
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(other.tls_dir().join(f), tls.join(f)).unwrap();
    }
    hup(&site.collector);
    let served = wait_for(Duration::from_secs(20), || {
        let fp = served_fingerprint(&site.collector.url);
        (fp == other.fingerprint).then_some(fp)
    });
    assert!(served.is_some(), "the new certificate was never served");

    // The agent pinned the old one: it refuses to send, and the document stays spooled.
    let out = run_agent(&state, &["push"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("not the one pinned") && err.contains(&other.fingerprint),
        "{err}"
    );
    assert_eq!(spooled(&state), 1);
    assert_eq!(site.assets()["items"].as_array().unwrap().len(), 0);
    assert_no_secrets(&site);
}

fn hup(collector: &Collector) {
    let ok = Command::new("kill")
        .args(["-HUP", &collector.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn plain_http_on_a_non_loopback_address_is_refused_at_config_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    let db = format!("sqlite://{}", dir.path().join("parc.db").display());
    std::fs::write(&config, "[server]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let by_file = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--database",
        &db,
    ];
    let by_flag = ["serve", "--listen", "0.0.0.0:0", "--database", &db];
    for args in [&by_file[..], &by_flag[..]] {
        let mut child = Command::new(collector_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It must exit on its own; a collector that started serving is killed and fails the test.
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        assert!(status.is_some_and(|s| !s.success()), "{args:?} started");
        let err = text(&out.stderr);
        assert!(
            err.contains("not a loopback address") && err.contains("allow_plain_http"),
            "{err}"
        );
        assert!(!text(&out.stdout).contains("listening"));
        assert!(!dir.path().join("parc.db").exists(), "nothing is created");
    }
}

/// A CA, and a certificate it issued for 127.0.0.1, written as PEM files in `dir`:
/// (ca.pem, cert.pem with the chain, key.pem).
fn internal_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Parc test hospital CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca-key.pem"), ca_key.serialize_pem()).unwrap();
    (paths.0, paths.1, paths.2)
}

#[test]
fn a_collector_with_a_ca_issued_certificate_needs_no_pin() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = internal_pki(dir.path());
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let db = format!("sqlite://{}", dir.path().join("parc.db").display());
    let (collector, _) =
        start_collector_with_config(&config, &db, &dir.path().join("collector.log")).unwrap();
    let token = collector.token("main").unwrap();
    let state = dir.path().join("agent");
    let enroll = |extra: &[&str]| {
        let mut args = vec!["--server", &collector.url, "--token", &token, "enroll"];
        args.extend_from_slice(extra);
        run_agent(&state, &args)
    };

    // Unknown CA, no pin asked for: refused with the way out, nothing stored.
    let out = enroll(&[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--fingerprint"), "{err}");
    assert!(!state.join("enrollment.json").exists() && !state.join("agent-key").exists());

    let out = enroll(&["--ca", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("pinned"),
        "{}",
        text(&out.stdout)
    );
    let out = run_agent(&state, &["push"]);
    assert!(out.status.success(), "push: {}", text(&out.stderr));
    let listed = text(
        &Command::new(collector_bin())
            .args(["agent", "list", "--database", &db])
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(listed.lines().count(), 2, "{listed}");
    collector.stop().unwrap();
}

#[test]
fn bad_certificate_files_stop_the_collector_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = internal_pki(dir.path());
    let ca_key = dir.path().join("ca-key.pem");
    let missing = dir.path().join("missing.pem");
    let db = format!("sqlite://{}", dir.path().join("parc.db").display());
    let cases = [
        (&missing, &key, "does not exist"),
        (&cert, &missing, "does not exist"),
        (&cert, &cert, "not a usable PEM private key"),
        (&cert, &ca_key, "does not belong to the certificate"),
    ];
    for (cert, key, expected) in cases {
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            format!(
                "[tls]\ncert = {:?}\nkey = {:?}\n",
                cert.display().to_string(),
                key.display().to_string()
            ),
        )
        .unwrap();
        let out = Command::new(collector_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &db,
                "--config",
            ])
            .arg(&config)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!text(&out.stdout).contains("listening"));
    }
}
