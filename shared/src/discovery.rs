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
