//! Typed configuration for both Parc binaries.
//!
//! - [`agent`]: `agent.toml`, raw (as written) and checked (as used).
//! - [`collector`]: `collector.toml`, same split.
//! - [`snmp`]: the agent's `[snmp]` section (credentials, limits); secrets never in `Debug`.
//! - [`error`]: a configuration error lists every problem at once, each with where it is.
//!
//! The files users copy live in `config/examples/`; a test parses each of them so they never
//! drift from the code.
#![forbid(unsafe_code)]

pub mod agent;
pub mod collector;
pub mod error;
pub mod snmp;

pub use agent::AgentConfig;
pub use collector::CollectorConfig;
pub use error::{ConfigError, Problem};

use std::path::Path;

/// Reads a TOML file into its raw type; syntax and type errors name the file, line and key.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(&text, &path.display().to_string())
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })
}
