//! A host's facts, as the agent collects them.
//!
//! Absent facts are `None` (or empty lists), never empty strings or made-up values: the
//! collector and the admins must be able to tell "unknown" from "blank".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::HardwareId;
use crate::software_delta::SoftwareDelta;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub host: Host,
    pub os: OperatingSystem,
    pub hardware: Hardware,
    #[serde(default)]
    pub cpus: Vec<Cpu>,
    #[serde(default)]
    pub memory: Memory,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default)]
    pub filesystems: Vec<Filesystem>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub software: Vec<Software>,
    /// Sent in place of `software` (then empty) when the list is the one the collector
    /// acknowledged last time: its [`software_digest`](crate::software_digest::software_digest). The collector
    /// refuses the document with 409 when it does not hold that list for this machine, and
    /// the agent then sends the list. Absent in documents that carry their list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_unchanged: Option<String>,
    /// Sent in place of `software` (then empty) when the list differs from the one the
    /// collector acknowledged by a few packages: those changes, against that list's digest
    /// (see [`crate::software_delta`]). Only to a collector that said it accepts them
    /// (`accepts_software_delta` in its answer); refused with 409 like `software_unchanged`
    /// when the collector does not hold the base list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_delta: Option<SoftwareDelta>,
    #[serde(default)]
    pub users: Users,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub fqdn: Option<String>,
    /// DNS domain, or the Windows domain / workgroup.
    pub domain: Option<String>,
    /// /etc/machine-id on Linux, MachineGuid on Windows. Copied by VM clones: evidence, not proof.
    pub machine_id: Option<String>,
    /// "physical", "kvm", "vmware", "docker", ... when known.
    pub virtualization: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatingSystem {
    /// Family: "linux", "windows", ...
    pub family: String,
    /// Distribution or product name: "Debian GNU/Linux", "Windows 11 Pro".
    pub name: Option<String>,
    pub version: Option<String>,
    pub pretty_name: Option<String>,
    pub kernel: Option<String>,
    /// Machine architecture as the OS reports it: "x86_64", "aarch64".
    pub arch: String,
    pub install_date: Option<DateTime<Utc>>,
    pub boot_time: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<HardwareId>,
    pub uuid: Option<HardwareId>,
    pub chassis_type: Option<String>,
    pub bios: Option<Bios>,
    /// True when the firmware tables (DMI/SMBIOS) could be read at all; false means every
    /// field above is absent because the platform does not expose them, not because it is blank.
    pub dmi_available: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bios {
    pub vendor: Option<String>,
    pub version: Option<String>,
    pub date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub arch: String,
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
    pub frequency_mhz: Option<u64>,
    pub family: Option<u32>,
    pub model_number: Option<u32>,
    pub stepping: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub swap_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub size_bytes: u64,
    /// "ssd", "hdd", "nvme", "virtual", "removable" when known.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filesystem {
    pub mount_point: String,
    pub device: Option<String>,
    pub fs_type: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    #[serde(default)]
    pub interfaces: Vec<NetworkInterface>,
    #[serde(default)]
    pub gateways: Vec<String>,
    #[serde(default)]
    pub dns_servers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInterface {
    pub name: String,
    /// Normalised ("aa:bb:cc:dd:ee:ff"); None for interfaces without one (loopback, tunnels).
    pub mac: Option<String>,
    /// Addresses with prefix length: "192.0.2.10/24", "fe80::1/64".
    #[serde(default)]
    pub addresses: Vec<String>,
    pub speed_mbps: Option<u64>,
    pub mtu: Option<u32>,
    /// Operational state: "up", "down", "unknown".
    pub state: String,
    /// True for software interfaces (bridges, veth, tun, docker, VPN): their MACs do not
    /// identify the machine.
    #[serde(rename = "virtual")]
    pub is_virtual: bool,
    /// Driver, when known ("e1000e", "virtio_net").
    pub driver: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    pub name: String,
    pub version: Option<String>,
    pub arch: Option<String>,
    pub publisher: Option<String>,
    pub size_bytes: Option<u64>,
    #[serde(default, deserialize_with = "crate::timestamp::option_utc")]
    pub install_date: Option<DateTime<Utc>>,
    /// Where it was found: "dpkg", "rpm", "registry".
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Users {
    #[serde(default)]
    pub local: Vec<LocalUser>,
    #[serde(default)]
    pub groups: Vec<LocalGroup>,
    #[serde(default)]
    pub logged_in: Vec<Session>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalUser {
    pub name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub full_name: Option<String>,
    pub home: Option<String>,
    pub shell: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalGroup {
    pub name: String,
    pub gid: Option<u32>,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    pub terminal: Option<String>,
    pub host: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

impl Inventory {
    /// MACs of physical interfaces: the ones that can identify the machine.
    ///
    /// Locally administered MACs are kept when the interface is physical: hypervisors assign
    /// them to VM NICs (02:fc:… here), and for a VM they are as stable as the UUID. Software
    /// interfaces (bridges, veth, VPN) are excluded by `is_virtual` instead.
    pub fn physical_macs(&self) -> Vec<String> {
        let mut macs: Vec<String> = self
            .network
            .interfaces
            .iter()
            .filter(|i| !i.is_virtual)
            .filter_map(|i| i.mac.as_deref())
            .filter_map(crate::identity::normalize_mac)
            .collect();
        macs.sort();
        macs.dedup();
        macs
    }
}
