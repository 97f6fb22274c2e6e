//! Parc's wire model: what agents send and the collector accepts.
//!
//! - [`document`]: the envelope every document carries (agent id, document id, schema version,
//!   source kind, observation time) and the document types themselves.
//! - [`inventory`]: a host's facts as collected by the agent.
//! - [`discovery`]: hosts found by a sweep.
//! - [`identity`]: rules both sides must agree on about hardware identifiers (junk serials and
//!   UUIDs, MAC normalisation).
//! - [`limits`]: size and count limits a document must respect to be accepted.
//! - [`software_digest`](mod@software_digest): the digest of a software list, which lets an
//!   agent leave out a list the collector already holds.
//!
//! This crate does no I/O so that the agent, the collector and tests share one definition.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod document;
pub mod identity;
pub mod inventory;
pub mod limits;
pub mod snmp;
pub mod software_delta;
pub mod software_digest;
pub mod timestamp;

pub use discovery::{DiscoveredHost, Discovery, ProbeMethod};
pub use document::{Document, DocumentHeader, SourceKind, SCHEMA_VERSION};
pub use identity::{is_junk_serial, is_junk_uuid, normalize_mac, HardwareId};
pub use inventory::Inventory;
pub use software_delta::SoftwareDelta;
pub use software_digest::{is_software_digest, software_digest};
