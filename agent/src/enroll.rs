//! `parc-agent enroll`: the agent's identity towards one collector.
//!
//! Enrolment checks the collector's certificate (a fingerprint the admin gives, trust on first
//! use with `--accept`, or the system roots), creates the agent's Ed25519 key, registers its
//! public half with the site token, and keeps in the state directory, readable by the owner
//! only:
//! - `agent-key`: the private key (base64 of the 32-byte seed);
//! - `enrollment.json`: collector URL, site token, pinned fingerprint, agent id.
//!
//! From then on [`Signer`] signs every document the agent sends, so the collector can tell the
//! agent from anyone who merely holds the site token.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey};
use parc_config::AgentConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::tls::{self, ServerTrust};

pub const ENROLLMENT_FILE: &str = "enrollment.json";
pub const KEY_FILE: &str = "agent-key";
/// Copy of the CA given with `enroll --ca`.
pub const CA_FILE: &str = "collector-ca.pem";
/// Request header naming the agent a signature speaks for.
pub const AGENT_HEADER: &str = "X-Parc-Agent";
/// Request header carrying `ed25519=<base64 signature>`.
pub const SIGNATURE_HEADER: &str = "X-Parc-Signature";
const ENROLL_ENDPOINT: &str = "api/v1/agents/enroll";

#[derive(Debug, Clone, clap::Args)]
pub struct EnrollArgs {
    /// The collector certificate's SHA-256 fingerprint, as its admin read it (printed by
    /// `parc-collector serve`); enrolment is refused if the collector shows another one.
    #[arg(long, value_name = "SHA256", conflicts_with = "accept")]
    pub fingerprint: Option<String>,
    /// Trust the certificate the collector shows now (trust on first use) and pin it.
    #[arg(long)]
    pub accept: bool,
    /// PEM file of the CA that issued the collector's certificate (an internal PKI): trusted
    /// instead of the system roots, no pin needed. A copy is kept in the state directory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["accept", "fingerprint"])]
    pub ca: Option<PathBuf>,
}

/// What `enroll` stored. The token is a secret: it never appears in `Debug` output.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub server: String,
    pub token: String,
    /// Pinned certificate fingerprint (colon hex); None when the system roots vouch for the
    /// collector, or over plain HTTP.
    pub fingerprint: Option<String>,
    pub agent_id: Uuid,
    pub site: String,
    pub enrolled_at: String,
    /// The CA file (a copy in the state directory) trusted for this collector, if given.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .field("agent_id", &self.agent_id)
            .field("site", &self.site)
            .finish()
    }
}

impl Enrollment {
    /// The enrolment kept in `state_dir`, None if the agent never enrolled.
    pub fn load(state_dir: &Path) -> Result<Option<Enrollment>> {
        let path = state_dir.join(ENROLLMENT_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| {
                format!("{} is corrupt; run parc-agent enroll again", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// How to trust the certificate of the collector at `url`: as enrolled when it is this
    /// enrolment's collector, by the system roots otherwise.
    pub fn trust_for(&self, url: &reqwest::Url) -> Result<ServerTrust> {
        if !self.is_for(url) {
            return Ok(ServerTrust::System);
        }
        if let Some(fp) = &self.fingerprint {
            let pin = tls::parse(fp).map_err(|m| anyhow::anyhow!("{ENROLLMENT_FILE}: {m}"))?;
            return Ok(ServerTrust::Pinned(pin));
        }
        Ok(match &self.ca {
            Some(ca) => ServerTrust::Ca(ca.clone()),
            None => ServerTrust::System,
        })
    }

    /// Whether `url` is the collector this enrolment (and its pin) is for: same scheme, host
    /// and port.
    pub fn is_for(&self, url: &reqwest::Url) -> bool {
        reqwest::Url::parse(&self.server)
            .map(|mine| mine.origin() == url.origin())
            .unwrap_or(false)
    }
}

/// The bytes an agent signs for a request body: a domain tag, the agent id, and the SHA-256
/// of the body exactly as sent. The collector (`http::agents::signed_message`) builds the same.
pub fn signed_message(agent_id: Uuid, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + 36 + 32);
    m.extend_from_slice(b"parc-document-signature-v1\0");
    m.extend_from_slice(agent_id.hyphenated().to_string().as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(body));
    m
}

/// Signs request bodies as one enrolled agent.
pub struct Signer {
    pub agent_id: Uuid,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.agent_id)
    }
}

impl Signer {
    pub fn new(agent_id: Uuid, key: SigningKey) -> Self {
        Signer { agent_id, key }
    }

    /// The agent's signer if it has a key in `state_dir`.
    pub fn load(state_dir: &Path, agent_id: Uuid) -> Result<Option<Signer>> {
        Ok(load_key(state_dir)?.map(|key| Signer::new(agent_id, key)))
    }

    /// The value of [`SIGNATURE_HEADER`] for `body`.
    pub fn signature(&self, body: &[u8]) -> String {
        let sig = self.key.sign(&signed_message(self.agent_id, body));
        format!(
            "ed25519={}",
            base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
        )
    }

    pub fn public_key(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.verifying_key().to_bytes())
    }
}

fn key_path(state_dir: &Path) -> PathBuf {
    state_dir.join(KEY_FILE)
}

fn load_key(state_dir: &Path) -> Result<Option<SigningKey>> {
    let path = key_path(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| {
                    format!(
                        "{} is corrupt (expected a base64 Ed25519 key); the agent must be \
                         revoked and enrolled again",
                        path.display()
                    )
                })?;
            Ok(Some(SigningKey::from_bytes(&seed)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes a file readable by its owner only: created 0600 under a temporary name, synced, then
/// renamed over `path`, so a crash leaves the old file or the new one, never half of one.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Decides the trust from what the collector showed and what the admin said (pure).
fn decide_trust(seen: Option<tls::Fingerprint>, args: &EnrollArgs) -> Result<ServerTrust> {
    let expected = args
        .fingerprint
        .as_deref()
        .map(tls::parse)
        .transpose()
        .map_err(|m| anyhow::anyhow!("--fingerprint: {m}"))?;
    if let Some(ca) = &args.ca {
        return Ok(ServerTrust::Ca(ca.clone()));
    }
    match (seen, expected) {
        (None, Some(_)) => bail!("--fingerprint needs an https:// collector URL"),
        (None, None) => Ok(ServerTrust::System),
        (Some(seen), Some(expected)) if seen != expected => bail!(
            "the collector's certificate has SHA-256 fingerprint {}, not {} as given with \
             --fingerprint: not enrolled, nothing stored (someone may be intercepting the \
             connection, or the certificate was replaced)",
            tls::display(&seen),
            tls::display(&expected)
        ),
        (Some(seen), Some(_)) => Ok(ServerTrust::Pinned(seen)),
        (Some(seen), None) if args.accept => Ok(ServerTrust::Pinned(seen)),
        (Some(_), None) => Ok(ServerTrust::System),
    }
}

/// Runs `parc-agent enroll`.
pub async fn run(args: EnrollArgs, config: &AgentConfig) -> Result<ExitCode> {
    let server = config
        .server
        .as_ref()
        .context("enroll needs the collector URL and a site token (--server, --token)")?;
    let state_dir = &config.state_dir;
    let agent_id = crate::agent_id::load_or_create(state_dir)?;
    let seen = if server.url.scheme() == "https" {
        let cert = tls::server_certificate(&server.url, Duration::from_secs(30)).await?;
        let fp = tls::fingerprint(&cert);
        println!(
            "collector certificate SHA-256 fingerprint: {}",
            tls::display(&fp)
        );
        Some(fp)
    } else {
        eprintln!(
            "parc-agent: warning: {} is plain HTTP: the token and documents travel in clear",
            server.url
        );
        None
    };
    let trust = decide_trust(seen, &args)?;
    if let (ServerTrust::Pinned(_), true) = (&trust, args.accept) {
        println!(
            "trusting this certificate from now on (--accept); compare it with the collector's"
        );
    }

    let existing = load_key(state_dir)?;
    let created = existing.is_none();
    let key = match existing {
        Some(k) => k,
        None => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let seed = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
            write_private(&key_path(state_dir), format!("{seed}\n").as_bytes())?;
            key
        }
    };
    let signer = Signer::new(agent_id, key);
    let registered = register(server, &trust, &signer).await;
    let site = match registered {
        Ok(site) => site,
        Err(e) => {
            // A key the collector never registered is useless; the next attempt makes a new one.
            if created {
                let _ = fs::remove_file(key_path(state_dir));
            }
            return Err(e);
        }
    };
    let ca = match &trust {
        ServerTrust::Ca(given) => {
            let copy = state_dir.join(CA_FILE);
            if fs::canonicalize(given).ok() != fs::canonicalize(&copy).ok() {
                let pem =
                    fs::read(given).with_context(|| format!("cannot read {}", given.display()))?;
                write_private(&copy, &pem)?;
            }
            Some(copy)
        }
        _ => None,
    };
    let enrollment = Enrollment {
        server: server.url.to_string(),
        token: server.token.clone(),
        fingerprint: match &trust {
            ServerTrust::Pinned(fp) => Some(tls::display(fp)),
            _ => None,
        },
        agent_id,
        site: site.clone(),
        enrolled_at: chrono::Utc::now().to_rfc3339(),
        ca,
    };
    write_private(
        &state_dir.join(ENROLLMENT_FILE),
        &serde_json::to_vec_pretty(&enrollment)?,
    )?;
    match &enrollment.fingerprint {
        Some(fp) => println!(
            "enrolled agent {agent_id} at site {site:?} on {}; certificate pinned: {fp}",
            server.url
        ),
        None => println!(
            "enrolled agent {agent_id} at site {site:?} on {}",
            server.url
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `POST /api/v1/agents/enroll`, signed by the new key. Returns the site's name.
async fn register(
    server: &parc_config::agent::ServerConfig,
    trust: &ServerTrust,
    signer: &Signer,
) -> Result<String> {
    let http = crate::delivery::http_client(server, trust)?;
    let url = server
        .url
        .join(ENROLL_ENDPOINT)
        .context("bad collector URL")?;
    let body = serde_json::to_vec(&serde_json::json!({
        "agent_id": signer.agent_id,
        "public_key": signer.public_key(),
    }))?;
    let response = http
        .post(url)
        .bearer_auth(&server.token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(AGENT_HEADER, signer.agent_id.to_string())
        .header(SIGNATURE_HEADER, signer.signature(&body))
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            if matches!(trust, ServerTrust::System) && why.contains("certificate") {
                why.push_str(
                    "; if the collector uses a self-signed certificate, check the fingerprint \
                     shown above with its admin and run enroll again with --fingerprint \
                     (or --accept)",
                );
            }
            anyhow::anyhow!("cannot reach the collector: {why}")
        })?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = answer
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("(no message)");
        bail!("the collector refused the enrolment ({status}): {message}");
    }
    Ok(answer
        .get("site")
        .and_then(|s| s.as_str())
        .unwrap_or("?")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(fingerprint: Option<&str>, accept: bool) -> EnrollArgs {
        EnrollArgs {
            fingerprint: fingerprint.map(String::from),
            accept,
            ca: None,
        }
    }

    #[test]
    fn trust_decisions() {
        let seen = tls::fingerprint(b"cert");
        let other = tls::fingerprint(b"other");
        let shown = tls::display(&seen);
        assert_eq!(
            decide_trust(Some(seen), &args(Some(&shown), false)).unwrap(),
            ServerTrust::Pinned(seen)
        );
        let err = decide_trust(Some(seen), &args(Some(&tls::display(&other)), false))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not enrolled") && err.contains(&shown),
            "{err}"
        );
        assert_eq!(
            decide_trust(Some(seen), &args(None, true)).unwrap(),
            ServerTrust::Pinned(seen)
        );
        assert_eq!(
            decide_trust(Some(seen), &args(None, false)).unwrap(),
            ServerTrust::System
        );
        assert_eq!(
            decide_trust(None, &args(None, true)).unwrap(),
            ServerTrust::System
        );
        assert!(decide_trust(None, &args(Some(&shown), false)).is_err());
        assert!(decide_trust(Some(seen), &args(Some("nope"), false)).is_err());
        let with_ca = EnrollArgs {
            ca: Some("ca.pem".into()),
            ..args(None, false)
        };
        assert_eq!(
            decide_trust(Some(seen), &with_ca).unwrap(),
            ServerTrust::Ca("ca.pem".into())
        );
    }

    #[test]
    fn message_vector_matches_the_collector() {
        // Same vector as the collector's `http::agents` tests.
        let id = Uuid::parse_str("0b6c4a52-55a3-4c0e-9f3e-1d2f1c9b8a70").unwrap();
        let mut expected = b"parc-document-signature-v1\0".to_vec();
        expected.extend_from_slice(b"0b6c4a52-55a3-4c0e-9f3e-1d2f1c9b8a70\0");
        expected.extend_from_slice(
            &hex::decode("230d8358dc8e8890b4c58deeb62912ee2f20357ae92a5cc861b98e68fe31acb5")
                .unwrap(),
        );
        assert_eq!(signed_message(id, b"body"), expected);
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        use ed25519_dalek::{Signature, Verifier, VerifyingKey};
        let signer = Signer::new(Uuid::new_v4(), SigningKey::from_bytes(&[3; 32]));
        let header = signer.signature(b"payload");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(header.strip_prefix("ed25519=").unwrap())
            .unwrap();
        let public: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(signer.public_key())
            .unwrap()
            .try_into()
            .unwrap();
        let key = VerifyingKey::from_bytes(&public).unwrap();
        let sig = Signature::from_slice(&raw).unwrap();
        assert!(key
            .verify(&signed_message(signer.agent_id, b"payload"), &sig)
            .is_ok());
        assert!(key
            .verify(&signed_message(signer.agent_id, b"payloaD"), &sig)
            .is_err());
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only_and_the_token_is_not_in_debug() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let e = Enrollment {
            server: "https://collector.example:8443/".into(),
            token: "parc_secret".into(),
            fingerprint: Some(tls::display(&tls::fingerprint(b"c"))),
            agent_id: Uuid::new_v4(),
            site: "main".into(),
            enrolled_at: "2026-11-22T23:00:00Z".into(),
            ca: None,
        };
        let path = dir.path().join(ENROLLMENT_FILE);
        write_private(&path, &serde_json::to_vec(&e).unwrap()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Enrollment::load(dir.path()).unwrap(), Some(e.clone()));
        assert!(!format!("{e:?}").contains("parc_secret"));
        assert!(e.is_for(&"https://collector.example:8443/api/v1/x".parse().unwrap()));
        assert!(matches!(
            e.trust_for(&"https://collector.example:8443/".parse().unwrap()),
            Ok(ServerTrust::Pinned(_))
        ));
        assert_eq!(
            e.trust_for(&"https://other.example/".parse().unwrap())
                .unwrap(),
            ServerTrust::System
        );
        assert!(!e.is_for(&"https://collector.example/".parse().unwrap()));
        assert!(!e.is_for(&"http://collector.example:8443/".parse().unwrap()));
    }
}
