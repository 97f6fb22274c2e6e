//! Network sweeps: find every live host of the targets, fast, without ever sending a packet
//! outside them.
//!
//! Data flow: [`targets`] (parse, size-check, lazy walk) -> [`scope`] (refuse what the
//! configuration does not allow, before any socket exists) -> [`engine`] (per target: [`arp`]
//! on attached segments found by [`netif`], else [`icmp`] / [`icmp6`] echo and [`tcp`] probes, all paced by
//! the one [`rate`] limiter, waits from [`timing`], replies recognised by the cookies of
//! [`probe`]) -> [`names`] (reverse DNS, NetBIOS) and [`oui`] (vendors) -> [`snmp_stage`]
//! (SNMP on the live hosts: type, vendor, model) -> [`output`] (table, JSON, CSV, addresses).
//! [`cli`] is `parc-agent sweep`. [`sys`] holds the only `unsafe` (libc calls for raw sockets
//! and limits).

pub mod arp;
pub mod cli;
pub mod engine;
pub mod icmp;
pub mod icmp6;
pub mod names;
pub mod netif;
pub mod oui;
pub mod output;
pub mod probe;
pub mod rate;
pub mod scope;
pub mod snmp_stage;
mod sys;
pub mod targets;
pub mod tcp;
pub mod timing;

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

pub use engine::SweepStats;

/// What to sweep and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRequest {
    /// Targets as typed by users: CIDRs, ranges, addresses.
    pub targets: Vec<String>,
    /// Networks the sweep may touch; empty means no restriction (manual CLI sweeps).
    pub scopes: Vec<IpNet>,
    /// Allow more than a /16 worth of addresses.
    pub allow_large: bool,
    /// TCP ports probed on every target (empty: no TCP probes).
    pub ports: Vec<u16>,
    /// Global limit on packets per second, all methods together.
    pub rate_pps: u32,
    /// Longest wait for an answer; the actual wait adapts to measured round-trip times.
    pub timeout: Duration,
    /// Extra passes over targets that stayed silent.
    pub retries: u32,
    /// Hard limit on the whole sweep; what was found by then is returned.
    pub deadline: Option<Duration>,
    pub methods: Methods,
}

/// Method toggles. ARP is only ever used on directly attached segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    pub arp: bool,
    pub icmp: bool,
    pub tcp: bool,
    /// Reverse DNS for live hosts.
    pub dns: bool,
    /// NetBIOS node status for live hosts DNS could not name.
    pub netbios: bool,
    /// Use unprivileged sockets even when raw sockets are available.
    pub force_unprivileged: bool,
    /// Stop probing an address once it answered (host discovery, as `nmap -sn`): its other
    /// ports are not enumerated, except on a fixed sample of hosts kept for loss estimates.
    pub first_answer: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Methods {
            arp: true,
            icmp: true,
            tcp: true,
            dns: true,
            netbios: true,
            force_unprivileged: false,
            first_answer: false,
        }
    }
}

impl SweepRequest {
    /// A request with the configuration's ports, rate and timeout. `scopes` stays empty: set it
    /// from `config.sweep.scopes` for scheduled sweeps.
    pub fn from_config(targets: Vec<String>, config: &parc_config::agent::SweepConfig) -> Self {
        SweepRequest {
            targets,
            scopes: Vec::new(),
            allow_large: false,
            ports: config.ports.clone(),
            rate_pps: config.rate_pps,
            timeout: config.timeout,
            retries: 1,
            deadline: None,
            methods: Methods::default(),
        }
    }
}

/// Progress of a sweep, as reported to a [`ProgressSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Addresses whose first probes were sent.
    pub done: u64,
    pub total: u64,
    /// Live hosts found so far.
    pub found: u64,
}

/// Called a few times per second during a sweep (from a runtime task: keep it cheap).
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Target(#[from] targets::TargetError),
    #[error(transparent)]
    Scope(#[from] scope::ScopeError),
    #[error("invalid sweep settings: {0}")]
    Settings(String),
    #[error("not enough file descriptors for a sweep: {0}")]
    Resources(String),
    #[error("cannot open {what}: {source}")]
    Socket {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Sweeps the targets. Cancellation (or the deadline) ends the sweep early and returns the hosts
/// found so far.
pub async fn sweep(
    request: SweepRequest,
    progress: Option<ProgressSink>,
    shutdown: CancellationToken,
) -> Result<parc_shared::Discovery, SweepError> {
    engine::run(request, progress, shutdown)
        .await
        .map(|(d, _)| d)
}

impl SweepRequest {
    /// The request of a scheduled sweep (`parc-agent run`): the configured targets, always
    /// restricted to the configured scopes.
    pub fn scheduled(config: &parc_config::agent::SweepConfig) -> Self {
        let mut req = Self::from_config(config.targets.clone(), config);
        req.scopes = config.scopes.clone();
        req
    }
}
