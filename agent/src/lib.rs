//! Parc agent: collects this host's facts, sweeps networks, and delivers both to the collector
//! without losing anything while the collector is away.
//!
//! - [`cli`]: command-line arguments (the binary's `main` only parses them and calls [`run`]).
//! - [`inventory`]: this host's facts (hardware, OS, NICs, software, users).
//! - [`sweep`]: finding live hosts on networks (ARP, ICMP, TCP, names).
//! - [`snmp`]: querying and identifying network gear, printers and UPSes over SNMP.
//! - [`agent_id`]: the stable id created once per installation.
//! - [`spool`]: the on-disk queue every document passes through before delivery.
//! - [`delivery`]: sending spooled documents to the collector, with backoff.
//! - [`software_ack`]: leaving out a software list the collector already holds.
//! - [`enroll`]: `parc-agent enroll`: the agent's key, its registration, the pinned collector.
//! - [`tls`]: trusting the collector's certificate by its pinned SHA-256 fingerprint.
//! - [`service`]: `parc-agent run`, the periodic service mode.
//! - [`jobs`]: sweep jobs started from the web UI: claimed from the collector, run within the
//!   agent's scopes, answered by a discovery or a failure.
//! - [`summary`]: the readable inventory summary printed for people.
//! - [`windows`]: the Windows service, its paths, and the registry values (MSI properties,
//!   group policy) that override the config file.
#![deny(unsafe_code)]

pub mod agent_id;
pub mod cli;
pub mod delivery;
pub mod enroll;
pub mod inventory;
// Jobs are sweeps: Linux only, like the sweep engine.
#[cfg(unix)]
pub mod jobs;
pub mod service;
pub mod snmp;
pub mod software_ack;
pub mod spool;
pub mod summary;
pub mod tls;
// Raw sockets (AF_PACKET, ICMP): Linux only for now; Windows agents do inventory and SNMP.
#[cfg(unix)]
pub mod sweep;
pub mod windows;

pub use cli::run;
