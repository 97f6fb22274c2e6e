//! `collector.toml`: where to listen, which database, what to accept.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::error::{ConfigError, Problems};
use crate::{parse_toml, read_toml};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://parc.db";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollectorConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub limits: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub max_connections: u32,
    /// Largest accepted document once decompressed.
    pub max_document_bytes: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            database_url: DEFAULT_DATABASE_URL.to_string(),
            max_connections: 8,
            max_document_bytes: parc_limits::MAX_DOCUMENT_BYTES,
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
        p.finish(
            origin,
            CollectorConfig {
                listen,
                database_url,
                max_connections,
                max_document_bytes,
            },
        )
    }
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
    fn examples_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        CollectorConfig::load(&dir.join("collector.toml")).unwrap();
        crate::AgentConfig::load(&dir.join("agent.toml")).unwrap();
    }
}
