//! Helpers for the end-to-end tests: locate (and build) the real binaries, start a collector on
//! an ephemeral port with its own SQLite file, run the agent, talk HTTP.
//!
//! Nothing here is a mock: the tests run the same binaries users run.

pub mod snmpd;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// What cargo sets for the test process of a package, by prefix (not CARGO_HOME,
/// CARGO_TARGET_DIR, CARGO_INCREMENTAL or other settings of the build itself).
const PACKAGE_VARIABLES: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Builds both binaries once per test process (cargo is a no-op when they are fresh).
fn build_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        // Cargo gives this test process the variables of its own package (CARGO_PKG_NAME,
        // CARGO_MANIFEST_DIR, ..). Some build scripts (ring's) rerun when those change, so
        // passing them on made this build and the next `cargo test` each compile ring and all
        // that depends on it again.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if PACKAGE_VARIABLES.iter().any(|p| name.starts_with(p)) {
                build.env_remove(&*name);
            }
        }
        let status = build
            .current_dir(workspace_root())
            // The same command as scripts/test.sh, so that features resolve identically and
            // this is a no-op there instead of a rebuild (the tests' dev-dependencies change
            // features of shared crates, so a plain `--bins` would compile a second tree).
            .args(["build", "--workspace", "--bins", "--tests"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
}

pub fn agent_bin() -> PathBuf {
    build_binaries();
    target_dir().join("debug/parc-agent")
}

pub fn collector_bin() -> PathBuf {
    build_binaries();
    target_dir().join("debug/parc-collector")
}

/// A collector process on 127.0.0.1 with its own database; killed on drop.
pub struct Collector {
    child: Child,
    pub url: String,
    pub database_url: String,
}

impl Collector {
    /// Starts `parc-collector serve` on an ephemeral port with the SQLite file `dir/parc.db`,
    /// or a fresh PostgreSQL database under `PARC_TEST_POSTGRES=1` (parc_collector::testing).
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_on(dir, "127.0.0.1:0")
    }

    pub fn start_on(dir: &Path, listen: &str) -> Result<Self> {
        let database_url = parc_collector::testing::database_url(dir);
        let mut child = Command::new(collector_bin())
            .args(["serve", "--listen", listen, "--database", &database_url])
            .env("RUST_LOG", "warn")
            .env("PARC_INITIAL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start parc-collector")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(url.trim_end_matches('/').to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!("parc-collector did not report its address within 60 s");
            }
        };
        let collector = Collector {
            child,
            url,
            database_url,
        };
        collector.wait_healthy()?;
        Ok(collector)
    }

    fn wait_healthy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = http();
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", self.url)).send() {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("collector at {} never became healthy", self.url);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Creates a site token with the real CLI, as an admin would.
    pub fn token(&self, site: &str) -> Result<String> {
        let out = Command::new(collector_bin())
            .args([
                "token",
                "create",
                "--site",
                site,
                "--database",
                &self.database_url,
            ])
            .output()?;
        if !out.status.success() {
            bail!(
                "token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let token = String::from_utf8(out.stdout)?.trim().to_string();
        if token.is_empty() || token.contains(char::is_whitespace) {
            bail!("token create printed {token:?}, expected one token");
        }
        Ok(token)
    }

    /// GET as the bootstrap admin (signed in once per collector and test process).
    pub fn get(&self, path: &str) -> Result<serde_json::Value> {
        let get = |cookie: String| {
            http()
                .get(format!("{}{path}", self.url))
                .header("Cookie", cookie)
                .send()
        };
        let mut r = get(admin_session(&self.url)?)?;
        if r.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Another collector served this address before (a test restarting it on a fresh
            // database): its session means nothing here.
            r = get(renew_admin_session(&self.url)?)?;
        }
        let status = r.status();
        let body = r.text()?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Stops the collector the way a service manager does (SIGTERM), then waits for it.
    /// The value of the `/metrics` line starting with `series` (labels included), read as the
    /// admin; 0 when the series is absent.
    pub fn metric(&self, series: &str) -> f64 {
        let cookie = sign_in(&self.url, "admin", ADMIN_PASSWORD).unwrap();
        let text = http()
            .get(format!("{}/metrics", self.url))
            .header("Cookie", cookie)
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    pub fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("collector exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// Runs `parc-agent ARGS` with its state in `state_dir` and no system config file.
pub fn agent(state_dir: &Path, args: &[&str]) -> Result<Output> {
    let empty_config = state_dir.join("agent.toml");
    if !empty_config.exists() {
        std::fs::create_dir_all(state_dir)?;
        std::fs::write(&empty_config, "")?;
    }
    let out = Command::new(agent_bin())
        .arg("--config")
        .arg(&empty_config)
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("run parc-agent")?;
    Ok(out)
}

/// Writes the `agent.toml` of a service-mode test: state in `state_dir`, this collector and
/// token, no start delay, then `extra` (more TOML, e.g. a `[sweep]` table). Returns its path.
pub fn service_config(state_dir: &Path, url: &str, token: &str, extra: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = {:?}\n[server]\nurl = {url:?}\ntoken = {token:?}\n\
             [schedule]\ninterval = \"1h\"\nsplay = \"0s\"\n{extra}",
            state_dir.display().to_string(),
        ),
    )?;
    Ok(path)
}

/// An address on loopback where nothing listens (bound, then released).
pub fn closed_loopback_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// Polls `check` until it returns Some or `timeout` passes. For waiting on another process's
/// observable state (an asset appearing through the API), never as a fixed sleep.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A collector started from a configuration file (`serve --config`), its stderr (the log) in
/// `log`, listening on loopback port 0. Returns it with the certificate fingerprint it printed,
/// if it serves HTTPS.
pub fn start_collector_with_config(
    config: &Path,
    database_url: &str,
    log: &Path,
) -> Result<(Collector, Option<String>)> {
    let mut child = Command::new(collector_bin())
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--database", database_url])
        .env("RUST_LOG", "debug")
        .env("PARC_INITIAL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("start parc-collector")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut fingerprint = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(fp) = line.trim().strip_prefix("certificate fingerprint SHA256 ") {
                fingerprint = Some(fp.to_string());
            }
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send((url.trim_end_matches('/').to_string(), fingerprint.take()));
            }
        }
    });
    let (url, fingerprint) = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "parc-collector did not report its address within 60 s: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    };
    let collector = Collector {
        child,
        url,
        database_url: database_url.to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = https_any_certificate();
    while !client
        .get(format!("{}/healthz", collector.url))
        .send()
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("collector at {} never became healthy", collector.url);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((collector, fingerprint))
}

impl Collector {
    /// The process id, to send it signals (SIGHUP reloads the certificate).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// An HTTP client that accepts any server certificate and reports it (`tls_info`): for tests
/// that check the certificate themselves, by fingerprint.
pub fn https_any_certificate() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .build()
        .expect("http client")
}

/// The password of the `admin` user every test collector starts with
/// (`PARC_INITIAL_ADMIN_PASSWORD`, set by [`Collector::start`]).
pub const ADMIN_PASSWORD: &str = "parc-tests-admin-password";

/// Signs in to the collector at `url` with `login` and `password`; returns the `Cookie` header
/// value of the session.
pub fn sign_in(url: &str, login: &str, password: &str) -> Result<String> {
    // Test collectors serving HTTPS have self-signed certificates.
    let client = if url.starts_with("https:") {
        https_any_certificate()
    } else {
        http()
    };
    let r = client
        .post(format!("{url}/api/v1/session"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .send()?;
    let status = r.status();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match cookie {
        Some(c) if status.is_success() => Ok(c),
        _ => bail!("sign-in as {login} failed: {status}: {}", r.text()?),
    }
}

type Sessions = std::sync::Mutex<std::collections::HashMap<String, String>>;

/// Admin session cookies by collector URL.
fn sessions() -> &'static Sessions {
    static SESSIONS: OnceLock<Sessions> = OnceLock::new();
    SESSIONS.get_or_init(Default::default)
}

/// The admin's session cookie for the collector at `url`, signed in once and reused.
pub fn admin_session(url: &str) -> Result<String> {
    if let Some(c) = sessions().lock().expect("sessions").get(url) {
        return Ok(c.clone());
    }
    renew_admin_session(url)
}

/// Signs the admin in again at `url` and keeps that session.
pub fn renew_admin_session(url: &str) -> Result<String> {
    let cookie = sign_in(url, "admin", ADMIN_PASSWORD)?;
    sessions()
        .lock()
        .expect("sessions")
        .insert(url.to_string(), cookie.clone());
    Ok(cookie)
}
