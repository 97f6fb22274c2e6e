//! Hosts found by a network sweep.

use serde::{Deserialize, Serialize};

/// The result of one sweep: what was asked and what answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// Targets as the user gave them ("198.18.0.0/21", "10.0.0.5-10.0.0.9").
    pub targets: Vec<String>,
    /// How many addresses were probed.
    pub addresses_probed: u64,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
    pub hosts: Vec<DiscoveredHost>,
    /// The collector's sweep job this sweep answers (a sweep started from the web UI); absent
    /// for scheduled and manual sweeps. The collector marks the job done when it stores this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i64>,
}

/// One live host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredHost {
    pub ip: String,
    /// From ARP, when the host is on a directly attached segment.
    pub mac: Option<String>,
    /// Vendor from the MAC's OUI.
    pub vendor: Option<String>,
    /// From reverse DNS or NetBIOS.
    pub name: Option<String>,
    /// How it answered, strongest first.
    pub methods: Vec<ProbeMethod>,
    /// TCP ports that accepted a connection (SYN-ACK).
    #[serde(default)]
    pub open_ports: Vec<u16>,
    /// Round-trip time of the first answer, in microseconds.
    pub rtt_us: Option<u64>,
    /// What the host is, when it answered SNMP. The full SNMP record travels as its own
    /// document (`POST /api/v1/snmp`); this summary lets a sweep's table and the CMDB type the
    /// device without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::snmp::Identification>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMethod {
    Arp,
    IcmpEcho,
    /// SYN-ACK from a TCP port.
    TcpOpen,
    /// RST from a TCP port: closed, but the host is alive.
    TcpClosed,
    /// An SNMP agent answered (UDP 161).
    Snmp,
}

/// A sweep started from the web UI, as the collector hands it to an agent of the job's site
/// (`POST /api/v1/agents/jobs/claim`). The agent answers with a [`Discovery`] whose `job_id`
/// is `id`, or with a [`JobFailure`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepJob {
    pub id: i64,
    /// As the user typed them: CIDRs, ranges, addresses. Already checked by the collector
    /// against the site's subnets; the agent checks them again against its own scopes.
    pub targets: Vec<String>,
}

/// The body of the agent-side job requests: who asks (the signature covers these bytes, and
/// the collector checks it against this agent's enrolled key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobClaim {
    pub agent_id: uuid::Uuid,
}

/// `POST /api/v1/agents/jobs/{id}/fail`: why the agent could not run the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFailure {
    pub agent_id: uuid::Uuid,
    pub error: String,
}
