//! `collector.toml`: where to listen, which database, what to accept, how agents are trusted
//! (TLS certificate, enrolment).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ConfigError, Problems};
use crate::{parse_toml, read_toml};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://parc.db";
/// Where the collector keeps what it generates itself (the self-signed certificate).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/parc";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollectorConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub agents: RawAgents,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
    #[serde(default)]
    pub auth: RawAuth,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub initial_admin_password: Option<Secret>,
    pub session_idle_hours: Option<u32>,
}

/// A secret from the configuration: compared and used, never printed (`{:?}` shows `***`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Users and sessions (`[auth]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The password of the `admin` user created at first start, when no user exists yet (the
    /// environment variable `PARC_INITIAL_ADMIN_PASSWORD` takes precedence; without either, one
    /// is generated and printed once).
    pub initial_admin_password: Option<Secret>,
    /// A browser session unused for this many hours ends.
    pub session_idle_hours: u32,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            initial_admin_password: None,
            session_idle_hours: 12,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    pub stale_after_days: Option<u32>,
    pub silent_after_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub allow_plain_http: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub self_signed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgents {
    pub require_enrolment: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_document_bytes: Option<usize>,
    /// Documents one agent may send per minute, after its burst; 0 turns the limit off.
    pub agent_documents_per_minute: Option<u32>,
    pub agent_burst: Option<u32>,
    /// Documents one site token (all of a site's agents together) may bring per minute.
    pub token_documents_per_minute: Option<u32>,
    pub token_burst: Option<u32>,
    /// Seconds a client has to send its request headers, and then its whole body.
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
}

/// A token bucket: `burst` documents at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub per_minute: u32,
    pub burst: u32,
}

/// Abuse limits of the document endpoints (`[limits]` besides the document size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// None: no per-agent limit.
    pub per_agent: Option<Quota>,
    /// None: no per-token limit.
    pub per_token: Option<Quota>,
    /// A connection that has not sent its request headers by then is closed (slowloris).
    pub header_timeout: Duration,
    /// A document body not fully received by then is refused (a client trickling bytes).
    pub body_timeout: Duration,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            // An agent sends an inventory every few hours and, after a sweep, one document per
            // SNMP device: a few hundred at once is normal for a sweeping agent, a steady
            // stream is not.
            per_agent: Some(Quota {
                per_minute: 60,
                burst: 1000,
            }),
            // A site of ~1,100 PCs booting at 8:00 within the agents' start delay.
            per_token: Some(Quota {
                per_minute: 3000,
                burst: 5000,
            }),
            header_timeout: Duration::from_secs(10),
            // 16 MiB at a slow 64 kB/s hospital WAN link takes about 4 minutes.
            body_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub max_connections: u32,
    /// Largest accepted document once decompressed.
    pub max_document_bytes: usize,
    /// Directory for files the collector creates itself (the self-signed certificate).
    pub data_dir: PathBuf,
    /// None: plain HTTP, which [`CollectorConfig::check`] allows only on loopback addresses
    /// unless `allow_plain_http` says otherwise.
    pub tls: Option<Tls>,
    pub allow_plain_http: bool,
    /// Refuse documents from agents that have not enrolled a key (otherwise the site token
    /// alone is enough for them, as before enrolment existed).
    pub require_enrolment: bool,
    pub lifecycle: Lifecycle,
    pub auth: Auth,
    /// Rate limits and slow-client timeouts (`[limits]`).
    pub abuse: AbuseLimits,
}

/// When assets count as stale and agents as silent (`[lifecycle]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// An asset no source has seen for this many days is flagged stale.
    pub stale_after_days: u32,
    /// An agent whose last inventory is older than this many days is listed as silent.
    pub silent_after_days: u32,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            stale_after_days: 30,
            silent_after_days: 7,
        }
    }
}

/// Where the server certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// PEM files an admin provides (certificate chain, private key); reloaded on SIGHUP.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated on first start into `data_dir/tls/`, then reused; agents pin its fingerprint.
    SelfSigned { dir: PathBuf },
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            database_url: DEFAULT_DATABASE_URL.to_string(),
            max_connections: 8,
            max_document_bytes: parc_limits::MAX_DOCUMENT_BYTES,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            tls: None,
            allow_plain_http: false,
            require_enrolment: false,
            lifecycle: Lifecycle::default(),
            auth: Auth::default(),
            abuse: AbuseLimits::default(),
        }
    }
}

/// Mirrors `parc_shared::limits` without depending on it: the config crate stays independent of
/// the wire model. A test in the collector checks the two agree.
mod parc_limits {
    pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
}

impl CollectorConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawCollectorConfig = read_toml(path)?;
        Self::check(raw, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawCollectorConfig = parse_toml(text, origin)?;
        Self::check(raw, origin)
    }

    pub fn check(raw: RawCollectorConfig, origin: &str) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let d = CollectorConfig::default();
        let listen = match raw.server.listen {
            None => d.listen,
            Some(s) => s.trim().parse().unwrap_or_else(|_| {
                p.push(
                    "server.listen",
                    format!("{s:?} is not an address:port (e.g. 0.0.0.0:8080)"),
                );
                d.listen
            }),
        };
        let database_url = raw.database.url.unwrap_or(d.database_url);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            p.push(
                "database.url",
                format!("{database_url:?}: use sqlite://PATH or postgres://USER@HOST/DB"),
            );
        }
        let max_connections = raw.database.max_connections.unwrap_or(d.max_connections);
        if max_connections == 0 {
            p.push("database.max_connections", "must be at least 1");
        }
        let max_document_bytes = raw
            .limits
            .max_document_bytes
            .unwrap_or(d.max_document_bytes);
        if max_document_bytes < 64 * 1024 {
            p.push("limits.max_document_bytes", "must be at least 65536");
        }
        let abuse = abuse_limits(&raw.limits, &mut p);
        let data_dir = raw.server.data_dir.unwrap_or(d.data_dir);
        let tls = match (
            raw.tls.self_signed.unwrap_or(false),
            raw.tls.cert,
            raw.tls.key,
        ) {
            (false, None, None) => None,
            (false, Some(cert), Some(key)) => Some(Tls::Files { cert, key }),
            (false, Some(_), None) => {
                p.push("tls.key", "tls.cert is set but not the private key file");
                None
            }
            (false, None, Some(_)) => {
                p.push("tls.cert", "tls.key is set but not the certificate file");
                None
            }
            (true, None, None) => Some(Tls::SelfSigned {
                dir: data_dir.join("tls"),
            }),
            (true, _, _) => {
                p.push(
                    "tls.self_signed",
                    "choose either self_signed = true or cert + key files, not both",
                );
                None
            }
        };
        let allow_plain_http = raw.server.allow_plain_http.unwrap_or(false);
        if let Err(m) = plain_http_allowed(listen, tls.is_some(), allow_plain_http) {
            p.push("server.listen", m);
        }
        let lifecycle = Lifecycle {
            stale_after_days: raw
                .lifecycle
                .stale_after_days
                .unwrap_or(d.lifecycle.stale_after_days),
            silent_after_days: raw
                .lifecycle
                .silent_after_days
                .unwrap_or(d.lifecycle.silent_after_days),
        };
        // Zero would flag everything at once; beyond ten years is a typo.
        for (key, days) in [
            ("lifecycle.stale_after_days", lifecycle.stale_after_days),
            ("lifecycle.silent_after_days", lifecycle.silent_after_days),
        ] {
            if !(1..=3650).contains(&days) {
                p.push(key, format!("must be between 1 and 3650 days, not {days}"));
            }
        }
        let auth = Auth {
            initial_admin_password: raw.auth.initial_admin_password,
            session_idle_hours: raw
                .auth
                .session_idle_hours
                .unwrap_or(d.auth.session_idle_hours),
        };
        if !(1..=24 * 30).contains(&auth.session_idle_hours) {
            p.push(
                "auth.session_idle_hours",
                format!(
                    "must be between 1 and 720 hours, not {}",
                    auth.session_idle_hours
                ),
            );
        }
        if let Some(Secret(pw)) = &auth.initial_admin_password {
            // The collector's own policy (12 characters) is checked again at first start; here
            // only what would make the file unusable.
            if pw.trim().is_empty() {
                p.push("auth.initial_admin_password", "is empty");
            }
        }
        p.finish(
            origin,
            CollectorConfig {
                listen,
                database_url,
                max_connections,
                max_document_bytes,
                data_dir,
                tls,
                allow_plain_http,
                require_enrolment: raw.agents.require_enrolment.unwrap_or(false),
                lifecycle,
                auth,
                abuse,
            },
        )
    }

    /// Replaces the listen address (the `--listen` flag) and checks it again, since plain HTTP
    /// may be fine on one address and not on another.
    pub fn with_listen(mut self, listen: SocketAddr) -> Result<Self, ConfigError> {
        self.listen = listen;
        let mut p = Problems::default();
        if let Err(m) = plain_http_allowed(listen, self.tls.is_some(), self.allow_plain_http) {
            p.push("--listen", m);
        }
        p.finish("the command line", self)
    }
}

/// `[limits]` rate limits and timeouts: a rate of 0 turns its limit off; a burst must be at
/// least 1 when its rate is on; timeouts are 1 s to 1 h.
fn abuse_limits(raw: &RawLimits, p: &mut Problems) -> AbuseLimits {
    let d = AbuseLimits::default();
    let mut quota = |rate_key: &str,
                     burst_key: &str,
                     rate: Option<u32>,
                     burst: Option<u32>,
                     default: Option<Quota>| {
        let default = default.expect("both limits are on by default");
        let per_minute = rate.unwrap_or(default.per_minute);
        let burst = burst.unwrap_or(default.burst);
        if per_minute == 0 {
            return None;
        }
        if burst == 0 {
            p.push(
                burst_key,
                format!("must be at least 1 while {rate_key} is on (set {rate_key} = 0 to turn the limit off)"),
            );
        }
        Some(Quota { per_minute, burst })
    };
    let per_agent = quota(
        "limits.agent_documents_per_minute",
        "limits.agent_burst",
        raw.agent_documents_per_minute,
        raw.agent_burst,
        d.per_agent,
    );
    let per_token = quota(
        "limits.token_documents_per_minute",
        "limits.token_burst",
        raw.token_documents_per_minute,
        raw.token_burst,
        d.per_token,
    );
    let mut timeout = |key: &str, value: Option<u64>, default: Duration| match value {
        None => default,
        Some(secs) if (1..=3600).contains(&secs) => Duration::from_secs(secs),
        Some(secs) => {
            p.push(
                key,
                format!("{secs} is out of range: use 1 to 3600 seconds"),
            );
            default
        }
    };
    AbuseLimits {
        per_agent,
        per_token,
        header_timeout: timeout(
            "limits.header_timeout_secs",
            raw.header_timeout_secs,
            d.header_timeout,
        ),
        body_timeout: timeout(
            "limits.body_timeout_secs",
            raw.body_timeout_secs,
            d.body_timeout,
        ),
    }
}

/// Plain HTTP sends site tokens and inventories in clear: only on loopback (a local reverse
/// proxy, tests) unless the admin says so explicitly.
fn plain_http_allowed(listen: SocketAddr, tls: bool, allowed: bool) -> Result<(), String> {
    if tls || allowed || listen.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "{listen} is not a loopback address and [tls] is not configured: set tls.cert and \
         tls.key (or tls.self_signed = true), or server.allow_plain_http = true to send tokens \
         in clear on purpose"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        assert_eq!(
            CollectorConfig::parse("", "t").unwrap(),
            CollectorConfig::default()
        );
    }

    #[test]
    fn problems_are_listed() {
        let err = CollectorConfig::parse(
            "[server]\nlisten = \"nowhere\"\n[database]\nurl = \"mysql://x\"\n",
            "collector.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.listen") && err.contains("database.url"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let cases = [
            ("listen = \"127.0.0.1:8080\"", "", true),
            ("listen = \"[::1]:8080\"", "", true),
            ("listen = \"0.0.0.0:8080\"", "", false),
            ("listen = \"192.0.2.7:8080\"", "", false),
            (
                "listen = \"0.0.0.0:8080\"\nallow_plain_http = true",
                "",
                true,
            ),
            (
                "listen = \"0.0.0.0:8443\"",
                "[tls]\nself_signed = true",
                true,
            ),
            (
                "listen = \"0.0.0.0:8443\"",
                "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"",
                true,
            ),
        ];
        for (server, tls, ok) in cases {
            let text = format!("[server]\n{server}\n{tls}\n");
            let result = CollectorConfig::parse(&text, "collector.toml");
            assert_eq!(result.is_ok(), ok, "{text}: {result:?}");
            if let Err(e) = result {
                let e = e.to_string();
                assert!(
                    e.contains("server.listen") && e.contains("allow_plain_http"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn listen_flag_is_checked_too() {
        let config = CollectorConfig::default();
        let err = config
            .clone()
            .with_listen("0.0.0.0:8080".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--listen") && err.contains("not a loopback"),
            "{err}"
        );
        assert!(config.with_listen("127.0.0.1:0".parse().unwrap()).is_ok());
    }

    #[test]
    fn tls_settings() {
        let c = CollectorConfig::parse(
            "[server]\ndata_dir = \"/srv/parc\"\n[tls]\nself_signed = true\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.tls,
            Some(Tls::SelfSigned {
                dir: PathBuf::from("/srv/parc/tls")
            })
        );
        let c = CollectorConfig::parse("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", "t").unwrap();
        assert_eq!(
            c.tls,
            Some(Tls::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        for (text, key) in [
            ("[tls]\ncert = \"c.pem\"\n", "tls.key"),
            ("[tls]\nkey = \"k.pem\"\n", "tls.cert"),
            (
                "[tls]\nself_signed = true\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
                "tls.self_signed",
            ),
        ] {
            let err = CollectorConfig::parse(text, "t").unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let c = CollectorConfig::parse("[agents]\nrequire_enrolment = true\n", "t").unwrap();
        assert!(c.require_enrolment);
    }

    #[test]
    fn auth_settings_and_secret_never_printed() {
        let c = CollectorConfig::parse(
            "[auth]\ninitial_admin_password = \"s3cret-passphrase\"\nsession_idle_hours = 2\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.auth.session_idle_hours, 2);
        assert_eq!(
            c.auth.initial_admin_password,
            Some(Secret("s3cret-passphrase".into()))
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = CollectorConfig::parse("[auth]\nsession_idle_hours = 0\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.session_idle_hours"), "{err}");
        assert!(CollectorConfig::parse("[auth]\ninitial_admin_password = \" \"\n", "t").is_err());
    }

    #[test]
    fn lifecycle_settings() {
        let c = CollectorConfig::parse(
            "[lifecycle]\nstale_after_days = 60\nsilent_after_days = 3\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.lifecycle,
            Lifecycle {
                stale_after_days: 60,
                silent_after_days: 3
            }
        );
        let err = CollectorConfig::parse(
            "[lifecycle]\nstale_after_days = 0\nsilent_after_days = 4000\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("lifecycle.stale_after_days")
                && err.contains("lifecycle.silent_after_days"),
            "{err}"
        );
    }

    #[test]
    fn abuse_limits() {
        let c = CollectorConfig::parse(
            "[limits]\nagent_documents_per_minute = 10\nagent_burst = 20\n\
             token_documents_per_minute = 0\nheader_timeout_secs = 5\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.abuse,
            AbuseLimits {
                per_agent: Some(Quota {
                    per_minute: 10,
                    burst: 20
                }),
                per_token: None,
                header_timeout: Duration::from_secs(5),
                body_timeout: AbuseLimits::default().body_timeout,
            }
        );
        let err = CollectorConfig::parse(
            "[limits]\nagent_burst = 0\nbody_timeout_secs = 0\nheader_timeout_secs = 7200\n",
            "collector.toml",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "limits.agent_burst",
            "limits.body_timeout_secs",
            "limits.header_timeout_secs",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        CollectorConfig::load(&dir.join("collector.toml")).unwrap();
        crate::AgentConfig::load(&dir.join("agent.toml")).unwrap();
    }
}
