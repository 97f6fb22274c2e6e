//! The envelope shared by every document an agent sends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the wire format. The collector refuses documents of any other version with a
/// message naming both, so an old collector never half-understands a newer agent.
pub const SCHEMA_VERSION: u32 = 1;

/// What produced a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The agent's own host facts.
    AgentInventory,
    /// Hosts found by a network sweep.
    Sweep,
    /// Facts read from a device over SNMP.
    Snmp,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::AgentInventory => "agent_inventory",
            SourceKind::Sweep => "sweep",
            SourceKind::Snmp => "snmp",
        }
    }
}

/// Identifies a document and its origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentHeader {
    pub schema_version: u32,
    /// Stable id of the agent, created once per installation.
    pub agent_id: Uuid,
    /// Unique per document: a replay of the same id is recognised and ignored.
    pub document_id: Uuid,
    pub source: SourceKind,
    /// When the facts were observed (not when they were delivered, which may be much later
    /// for a spooled document).
    pub observed_at: DateTime<Utc>,
    /// Version of the agent that produced the document.
    pub agent_version: String,
}

impl DocumentHeader {
    pub fn new(agent_id: Uuid, source: SourceKind, observed_at: DateTime<Utc>) -> Self {
        DocumentHeader {
            schema_version: SCHEMA_VERSION,
            agent_id,
            document_id: Uuid::new_v4(),
            source,
            observed_at,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A document with its header and body, as sent on the wire:
/// `{"header": {...}, "body": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document<T> {
    pub header: DocumentHeader,
    pub body: T,
}
