//! `[snmp]` in `agent.toml`: the credentials tried on each device (in order) and the bounds on
//! one device's query.
//!
//! The raw types mirror the file; [`check`] turns them into [`SnmpConfig`], reporting every
//! problem with its key (`snmp.credentials[2].priv_password`). Secrets live in [`Secret`],
//! whose `Debug` never shows them, so a logged configuration leaks no community or password.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::agent::parse_duration;
use crate::error::Problems;

/// `[snmp]` as written. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmp {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub credentials: Vec<RawCredential>,
    pub port: Option<u16>,
    pub timeout: Option<String>,
    pub retries: Option<u32>,
    pub device_timeout: Option<String>,
    pub walk_timeout: Option<String>,
    pub max_rows: Option<usize>,
    pub max_repetitions: Option<u32>,
    pub concurrency: Option<usize>,
}

/// One `[[snmp.credentials]]` table as written: the fields of every version together, so that
/// a field given to the wrong version is reported by name rather than as an unknown key.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    pub version: Option<String>,
    pub community: Option<String>,
    pub user: Option<String>,
    pub auth_protocol: Option<String>,
    pub auth_password: Option<String>,
    pub priv_protocol: Option<String>,
    pub priv_password: Option<String>,
}

impl fmt::Debug for RawCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("RawCredential")
            .field("version", &self.version)
            .field("community", &hidden(&self.community))
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_password", &hidden(&self.auth_password))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_password", &hidden(&self.priv_password))
            .finish()
    }
}

/// A community or password. `Debug` shows `***`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// So that command-line flags can hold secrets too (`--community`).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The checked `[snmp]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SnmpConfig {
    /// Query SNMP on the live hosts of sweeps. Defaults to "credentials are configured".
    pub enabled: bool,
    /// Tried in this order on each device; the one that answered a device is tried first there
    /// next time.
    pub credentials: Vec<Credential>,
    /// UDP port of the agents (161 everywhere but in tests).
    pub port: u16,
    /// Wait for one reply.
    pub timeout: Duration,
    /// Resends after a timeout.
    pub retries: u32,
    /// Time allowed for one device, all credentials and sections included.
    pub device_timeout: Duration,
    /// Time allowed for one table walk.
    pub walk_timeout: Duration,
    /// Rows kept per table walk.
    pub max_rows: usize,
    /// GETBULK max-repetitions.
    pub max_repetitions: u32,
    /// Devices queried at the same time.
    pub concurrency: usize,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            enabled: false,
            credentials: Vec::new(),
            port: 161,
            timeout: Duration::from_millis(1000),
            retries: 1,
            device_timeout: Duration::from_secs(30),
            walk_timeout: Duration::from_secs(15),
            max_rows: 4096,
            max_repetitions: 25,
            concurrency: 128,
        }
    }
}

/// One checked credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    V1 {
        community: Secret,
    },
    V2c {
        community: Secret,
    },
    /// The security level follows from which passwords are set: none (noAuthNoPriv), auth
    /// (authNoPriv), auth and privacy (authPriv).
    V3 {
        user: String,
        auth: Option<(AuthProtocol, Secret)>,
        privacy: Option<(PrivProtocol, Secret)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}

impl AuthProtocol {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "md5" => AuthProtocol::Md5,
            "sha" | "sha1" => AuthProtocol::Sha,
            "sha224" => AuthProtocol::Sha224,
            "sha256" => AuthProtocol::Sha256,
            "sha384" => AuthProtocol::Sha384,
            "sha512" => AuthProtocol::Sha512,
            _ => {
                return Err(format!(
                    "unknown protocol {text:?} (use md5, sha, sha224, sha256, sha384 or sha512)"
                ))
            }
        })
    }
}

impl PrivProtocol {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "des" => PrivProtocol::Des,
            "aes" | "aes128" => PrivProtocol::Aes,
            "aes192" => PrivProtocol::Aes192,
            "aes256" => PrivProtocol::Aes256,
            _ => {
                return Err(format!(
                    "unknown protocol {text:?} (use des, aes, aes192 or aes256)"
                ))
            }
        })
    }
}

/// RFC 3414 §11.2: USM passwords shorter than this are refused by agents.
pub const MIN_V3_PASSWORD: usize = 8;

/// Checks `[snmp]`, pushing problems under `snmp.*`.
pub(crate) fn check(p: &mut Problems, raw: RawSnmp) -> SnmpConfig {
    let d = SnmpConfig::default();
    let written = raw.credentials.len();
    let mut credentials = Vec::new();
    for (i, c) in raw.credentials.into_iter().enumerate() {
        if let Some(c) = credential(p, &format!("snmp.credentials[{i}]"), c) {
            credentials.push(c);
        }
    }
    let enabled = match raw.enabled {
        Some(true) if written == 0 => {
            p.push(
                "snmp.enabled",
                "true but no credentials: add at least one [[snmp.credentials]] table",
            );
            true
        }
        Some(e) => e,
        None => !credentials.is_empty(),
    };
    let mut duration = |key: &str, text: Option<String>, default: Duration| match text {
        None => default,
        Some(t) => match parse_duration(&t) {
            Ok(v) if v.is_zero() => {
                p.push(key, "must be positive");
                default
            }
            Ok(v) => v,
            Err(m) => {
                p.push(key, m);
                default
            }
        },
    };
    let timeout = duration("snmp.timeout", raw.timeout, d.timeout);
    let device_timeout = duration("snmp.device_timeout", raw.device_timeout, d.device_timeout);
    let walk_timeout = duration("snmp.walk_timeout", raw.walk_timeout, d.walk_timeout);
    let mut at_least_one = |key: &str, v: Option<usize>, default: usize| match v {
        Some(0) => {
            p.push(key, "must be at least 1");
            default
        }
        Some(v) => v,
        None => default,
    };
    let max_rows = at_least_one("snmp.max_rows", raw.max_rows, d.max_rows);
    let concurrency = at_least_one("snmp.concurrency", raw.concurrency, d.concurrency);
    let max_repetitions = at_least_one(
        "snmp.max_repetitions",
        raw.max_repetitions.map(|v| v as usize),
        d.max_repetitions as usize,
    ) as u32;
    let port = match raw.port {
        Some(0) => {
            p.push("snmp.port", "port 0 is not a valid UDP port");
            d.port
        }
        Some(v) => v,
        None => d.port,
    };
    let retries = raw.retries.unwrap_or(d.retries);
    if retries > 10 {
        p.push(
            "snmp.retries",
            "at most 10: a silent host costs timeout × (retries + 1) per credential",
        );
    }
    if timeout > device_timeout {
        p.push(
            "snmp.timeout",
            "longer than snmp.device_timeout: no reply could ever be waited for in full",
        );
    }
    SnmpConfig {
        enabled,
        credentials,
        port,
        timeout,
        retries,
        device_timeout,
        walk_timeout,
        max_rows,
        max_repetitions,
        concurrency,
    }
}

fn credential(p: &mut Problems, key: &str, raw: RawCredential) -> Option<Credential> {
    let RawCredential {
        version,
        community,
        user,
        auth_protocol,
        auth_password,
        priv_protocol,
        priv_password,
    } = raw;
    let Some(version) = version else {
        p.push(
            format!("{key}.version"),
            "missing: say which SNMP version (v1, v2c or v3)",
        );
        return None;
    };
    match version.trim().to_ascii_lowercase().as_str() {
        v @ ("v1" | "v2c" | "1" | "2c") => {
            let mut ok = true;
            for (field, set) in [
                ("user", user.is_some()),
                ("auth_protocol", auth_protocol.is_some()),
                ("auth_password", auth_password.is_some()),
                ("priv_protocol", priv_protocol.is_some()),
                ("priv_password", priv_password.is_some()),
            ] {
                if set {
                    p.push(
                        format!("{key}.{field}"),
                        format!("only for version \"v3\"; this entry is {version:?}"),
                    );
                    ok = false;
                }
            }
            let community = match community {
                None => {
                    p.push(
                        format!("{key}.community"),
                        "missing: v1 and v2c need a community",
                    );
                    return None;
                }
                Some(c) if c.is_empty() => {
                    p.push(
                        format!("{key}.community"),
                        "empty: agents never accept an empty community",
                    );
                    return None;
                }
                Some(c) => Secret(c),
            };
            ok.then(|| {
                if v.ends_with('1') {
                    Credential::V1 { community }
                } else {
                    Credential::V2c { community }
                }
            })
        }
        "v3" | "3" => {
            let mut ok = true;
            if community.is_some() {
                p.push(
                    format!("{key}.community"),
                    "v3 has no community; use user and passwords",
                );
                ok = false;
            }
            let user = match user {
                Some(u) if !u.trim().is_empty() => u,
                _ => {
                    p.push(format!("{key}.user"), "missing: v3 needs a user name");
                    ok = false;
                    String::new()
                }
            };
            let mut password = |field: &str, value: Option<String>| -> Option<Secret> {
                let v = value?;
                if v.chars().count() < MIN_V3_PASSWORD {
                    p.push(
                        format!("{key}.{field}"),
                        format!("shorter than {MIN_V3_PASSWORD} characters: agents refuse it (RFC 3414)"),
                    );
                    ok = false;
                }
                Some(Secret(v))
            };
            let auth_secret = password("auth_password", auth_password);
            let priv_secret = password("priv_password", priv_password);
            let auth_proto = match auth_protocol.as_deref().map(AuthProtocol::parse) {
                None => AuthProtocol::Sha,
                Some(Ok(a)) => a,
                Some(Err(m)) => {
                    p.push(format!("{key}.auth_protocol"), m);
                    ok = false;
                    AuthProtocol::Sha
                }
            };
            let priv_proto = match priv_protocol.as_deref().map(PrivProtocol::parse) {
                None => PrivProtocol::Aes,
                Some(Ok(a)) => a,
                Some(Err(m)) => {
                    p.push(format!("{key}.priv_protocol"), m);
                    ok = false;
                    PrivProtocol::Aes
                }
            };
            if auth_protocol.is_some() && auth_secret.is_none() {
                p.push(
                    format!("{key}.auth_protocol"),
                    "set without auth_password: give the password too, or drop the protocol",
                );
                ok = false;
            }
            if priv_protocol.is_some() && priv_secret.is_none() {
                p.push(
                    format!("{key}.priv_protocol"),
                    "set without priv_password: give the password too, or drop the protocol",
                );
                ok = false;
            }
            if priv_secret.is_some() && auth_secret.is_none() {
                p.push(
                    format!("{key}.priv_password"),
                    "privacy without authentication is not an SNMPv3 security level: set auth_password too",
                );
                ok = false;
            }
            ok.then(|| Credential::V3 {
                user,
                auth: auth_secret.map(|s| (auth_proto, s)),
                privacy: priv_secret.map(|s| (priv_proto, s)),
            })
        }
        _ => {
            p.push(
                format!("{key}.version"),
                format!("unknown version {version:?} (use v1, v2c or v3)"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentConfig, ConfigError};

    fn parse(text: &str) -> Result<SnmpConfig, Vec<(String, String)>> {
        match AgentConfig::parse(text, "agent.toml") {
            Ok(c) => Ok(c.snmp),
            Err(ConfigError::Invalid { problems, .. }) => {
                Err(problems.into_iter().map(|p| (p.key, p.message)).collect())
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn no_section_means_disabled_with_defaults() {
        assert_eq!(parse("").unwrap(), SnmpConfig::default());
        assert!(!SnmpConfig::default().enabled);
    }

    #[test]
    fn credentials_parse_in_order_and_enable_snmp() {
        let c = parse(
            r#"
            [snmp]
            timeout = "800ms"
            retries = 2
            device_timeout = "20s"
            max_rows = 1000
            concurrency = 64
            [[snmp.credentials]]
            version = "v3"
            user = "parc"
            auth_protocol = "sha256"
            auth_password = "auth-secret-1"
            priv_protocol = "aes"
            priv_password = "priv-secret-1"
            [[snmp.credentials]]
            version = "v3"
            user = "monitor"
            auth_password = "auth-secret-2"
            [[snmp.credentials]]
            version = "v2c"
            community = "hospital-ro"
            [[snmp.credentials]]
            version = "v1"
            community = "public"
            "#,
        )
        .unwrap();
        assert!(c.enabled);
        assert_eq!(c.timeout, Duration::from_millis(800));
        assert_eq!(c.retries, 2);
        assert_eq!(c.device_timeout, Duration::from_secs(20));
        assert_eq!(c.max_rows, 1000);
        assert_eq!(c.concurrency, 64);
        assert_eq!(
            c.credentials,
            vec![
                Credential::V3 {
                    user: "parc".into(),
                    auth: Some((AuthProtocol::Sha256, Secret::new("auth-secret-1"))),
                    privacy: Some((PrivProtocol::Aes, Secret::new("priv-secret-1"))),
                },
                // Protocols default to SHA (and AES) when only the password is given.
                Credential::V3 {
                    user: "monitor".into(),
                    auth: Some((AuthProtocol::Sha, Secret::new("auth-secret-2"))),
                    privacy: None,
                },
                Credential::V2c {
                    community: Secret::new("hospital-ro")
                },
                Credential::V1 {
                    community: Secret::new("public")
                },
            ]
        );
    }

    #[test]
    fn enabled_can_be_turned_off_with_credentials() {
        let c = parse(
            "[snmp]\nenabled = false\n[[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"x\"\n",
        )
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.credentials.len(), 1);
    }

    #[test]
    fn bad_entries_are_named_by_index_and_field() {
        // (credential table, expected key, word expected in the message)
        let cases = [
            ("version = \"v2c\"\ncommunity = \"\"", "snmp.credentials[1].community", "empty"),
            ("version = \"v2c\"", "snmp.credentials[1].community", "missing"),
            ("community = \"x\"", "snmp.credentials[1].version", "missing"),
            ("version = \"v4\"", "snmp.credentials[1].version", "v4"),
            (
                "version = \"v3\"\nuser = \"u\"\npriv_password = \"priv-secret\"",
                "snmp.credentials[1].priv_password",
                "authentication",
            ),
            (
                "version = \"v3\"\nuser = \"u\"\nauth_password = \"short\"",
                "snmp.credentials[1].auth_password",
                "8 characters",
            ),
            (
                "version = \"v3\"\nuser = \"u\"\nauth_protocol = \"sha3\"\nauth_password = \"long-enough\"",
                "snmp.credentials[1].auth_protocol",
                "sha3",
            ),
            (
                "version = \"v3\"\nuser = \"u\"\nauth_protocol = \"sha\"",
                "snmp.credentials[1].auth_protocol",
                "auth_password",
            ),
            ("version = \"v3\"\nauth_password = \"long-enough\"", "snmp.credentials[1].user", "missing"),
            (
                "version = \"v3\"\nuser = \"u\"\ncommunity = \"x\"",
                "snmp.credentials[1].community",
                "v3",
            ),
            (
                "version = \"v2c\"\ncommunity = \"x\"\nuser = \"u\"",
                "snmp.credentials[1].user",
                "v3",
            ),
        ];
        for (entry, key, word) in cases {
            let text = format!(
                "[[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"ok\"\n[[snmp.credentials]]\n{entry}\n"
            );
            let problems = parse(&text).unwrap_err();
            assert!(
                problems.iter().any(|(k, m)| k == key && m.contains(word)),
                "{entry:?}: want {key} mentioning {word:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn bad_limits_are_named() {
        let problems = parse(
            "[snmp]\ntimeout = \"soon\"\nconcurrency = 0\nmax_rows = 0\nport = 0\nretries = 99\ndevice_timeout = \"0s\"\nenabled = true\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "snmp.timeout",
            "snmp.device_timeout",
            "snmp.max_rows",
            "snmp.concurrency",
            "snmp.port",
            "snmp.retries",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let problems = parse("[snmp]\nenabled = true\n").unwrap_err();
        assert_eq!(problems[0].0, "snmp.enabled");
    }

    #[test]
    fn unknown_credential_key_is_named() {
        let err = AgentConfig::parse(
            "[[snmp.credentials]]\nversion = \"v2c\"\ncomunity = \"x\"\n",
            "agent.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("comunity"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let text = r#"
            [[snmp.credentials]]
            version = "v2c"
            community = "community-secret"
            [[snmp.credentials]]
            version = "v3"
            user = "parc"
            auth_password = "auth-password-secret"
            priv_password = "priv-password-secret"
        "#;
        let checked = AgentConfig::parse(text, "agent.toml").unwrap();
        let raw: crate::agent::RawAgentConfig = toml::from_str(text).unwrap();
        for shown in [format!("{checked:?}"), format!("{raw:?}")] {
            assert!(!shown.contains("secret"), "{shown}");
            assert!(shown.contains("parc") && shown.contains("***"), "{shown}");
        }
    }
}
