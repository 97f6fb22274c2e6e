//! The sweep's SNMP stage: once the engine has found the live hosts, ask each of them over SNMP
//! (UDP 161) what it is.
//!
//! Hosts are queried concurrently through [`crate::snmp::many`], at the sweep's packet rate and
//! within what is left of the sweep's deadline; cancelling the sweep cancels the stage. A host
//! that answers gets [`ProbeMethod::Snmp`] and its identification in
//! [`DiscoveredHost::device`](parc_shared::DiscoveredHost); its full record is returned for
//! delivery as its own document. Hosts without SNMP cost their own timeouts, in parallel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parc_config::AgentConfig;
use parc_shared::snmp::SnmpDevice;
use parc_shared::{Discovery, ProbeMethod};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{engine, ProgressSink, SweepError, SweepRequest, SweepStats};
use crate::snmp::credential::{credentials_from_config, CredentialMemory, SnmpLimits};
use crate::snmp::many::{query_many, Batch, BatchReport};
use crate::snmp::SnmpCredential;

/// How the stage queries hosts, and the memory of which credential answered each.
#[derive(Debug, Clone)]
pub struct SnmpStage {
    pub batch: Batch,
    pub memory: Arc<CredentialMemory>,
}

impl SnmpStage {
    /// The stage as configured (`[snmp]`), its memory loaded from the state directory; `None`
    /// when SNMP is disabled. The sweep's rate applies to it too.
    pub fn from_config(config: &AgentConfig) -> Option<Self> {
        config
            .snmp
            .enabled
            .then(|| Self::with_credentials(config, credentials_from_config(&config.snmp)))
    }

    /// The configured limits with the given credentials (ad-hoc `--community` runs).
    pub fn with_credentials(config: &AgentConfig, credentials: Vec<SnmpCredential>) -> Self {
        SnmpStage {
            batch: Batch {
                credentials: credentials.into(),
                limits: SnmpLimits::from_config(&config.snmp),
                port: config.snmp.port,
                concurrency: config.snmp.concurrency,
                rate_pps: config.sweep.rate_pps,
            },
            memory: Arc::new(CredentialMemory::load(&config.state_dir)),
        }
    }
}

/// A sweep and what its SNMP stage found.
#[derive(Debug)]
pub struct SweepOutcome {
    pub discovery: Discovery,
    pub stats: SweepStats,
    /// `None` when the stage did not run (disabled, or the sweep was cancelled first).
    pub snmp: Option<BatchReport>,
}

impl SweepOutcome {
    /// The devices that answered, for delivery as SNMP documents.
    pub fn devices(&self) -> Vec<SnmpDevice> {
        self.snmp
            .as_ref()
            .map(|r| r.devices().cloned().collect())
            .unwrap_or_default()
    }
}

/// Sweeps, then queries SNMP on the live hosts when `snmp` is given. The request's deadline
/// bounds both together.
pub async fn run(
    req: SweepRequest,
    snmp: Option<&SnmpStage>,
    progress: Option<ProgressSink>,
    shutdown: CancellationToken,
) -> Result<SweepOutcome, SweepError> {
    let deadline = req.deadline.map(|d| Instant::now() + d);
    let mut batch = snmp.map(|s| s.batch.clone());
    if let Some(b) = &mut batch {
        b.rate_pps = req.rate_pps;
    }
    let (mut discovery, stats) = engine::run(req, progress, shutdown.clone()).await?;
    let report = match (snmp, batch) {
        (Some(stage), Some(batch)) if !shutdown.is_cancelled() && !discovery.hosts.is_empty() => {
            let addrs: Vec<IpAddr> = discovery
                .hosts
                .iter()
                .filter_map(|h| h.ip.parse().ok())
                .collect();
            let report = query_many(
                &batch,
                addrs.into_iter(),
                stage.memory.clone(),
                deadline,
                shutdown,
            )
            .await;
            let devices: Vec<&SnmpDevice> = report.devices().collect();
            annotate(&mut discovery, &devices);
            Some(report)
        }
        _ => None,
    };
    Ok(SweepOutcome {
        discovery,
        stats,
        snmp: report,
    })
}

/// Marks the hosts that answered SNMP: the method, and what they are.
pub fn annotate(discovery: &mut Discovery, devices: &[&SnmpDevice]) {
    let by_ip: HashMap<IpAddr, &SnmpDevice> = devices
        .iter()
        .filter_map(|d| Some((d.ip.parse().ok()?, *d)))
        .collect();
    for host in &mut discovery.hosts {
        let Some(device) = host.ip.parse().ok().and_then(|ip: IpAddr| by_ip.get(&ip)) else {
            continue;
        };
        if !host.methods.contains(&ProbeMethod::Snmp) {
            host.methods.push(ProbeMethod::Snmp);
        }
        host.device = Some(device.identification.clone());
        if host.name.is_none() {
            // A device without DNS entry still has a name its admin gave it.
            host.name = device.system.name.clone().filter(|n| !n.trim().is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::snmp::{DeviceType, Identification, SnmpSystem};
    use parc_shared::DiscoveredHost;

    #[test]
    fn answering_hosts_get_the_method_and_their_identification() {
        let host = |ip: &str, name: Option<&str>| DiscoveredHost {
            ip: ip.into(),
            name: name.map(String::from),
            methods: vec![ProbeMethod::IcmpEcho],
            ..Default::default()
        };
        let mut discovery = Discovery {
            hosts: vec![
                host("10.0.0.1", Some("sw1.lan")),
                host("10.0.0.2", None),
                host("10.0.0.3", None),
            ],
            ..Default::default()
        };
        let device = |ip: &str, t: DeviceType, name: &str| SnmpDevice {
            ip: ip.into(),
            system: SnmpSystem {
                name: Some(name.into()),
                ..Default::default()
            },
            identification: Identification {
                device_type: t,
                vendor: Some("Vendor".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let sw = device("10.0.0.1", DeviceType::Switch, "core-sw1");
        let pr = device("10.0.0.2", DeviceType::Printer, "prn-ward4");
        // Not a host of the sweep: ignored.
        let other = device("10.0.0.9", DeviceType::Ups, "ups");
        annotate(&mut discovery, &[&sw, &pr, &other]);
        annotate(&mut discovery, &[&sw]);
        let h = &discovery.hosts;
        assert_eq!(h[0].methods, [ProbeMethod::IcmpEcho, ProbeMethod::Snmp]);
        assert_eq!(
            h[0].device.as_ref().unwrap().device_type,
            DeviceType::Switch
        );
        assert_eq!(h[0].name.as_deref(), Some("sw1.lan"), "DNS name kept");
        assert_eq!(
            h[1].device.as_ref().unwrap().device_type,
            DeviceType::Printer
        );
        assert_eq!(
            h[1].name.as_deref(),
            Some("prn-ward4"),
            "sysName when no DNS name"
        );
        assert_eq!(h[2].methods, [ProbeMethod::IcmpEcho]);
        assert!(h[2].device.is_none());
        assert_eq!(h.len(), 3);
    }
}
