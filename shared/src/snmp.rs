//! What an SNMP query of one device found: the collected values, the identification derived
//! from them, and the sections that failed.
//!
//! A section that could not be read is recorded in [`SnmpDevice::errors`] and left empty; it is
//! never a reason to drop what the other sections returned.

use serde::{Deserialize, Serialize};

/// One device as seen over SNMP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnmpDevice {
    pub ip: String,
    pub port: u16,
    /// "v1", "v2c" or "v3".
    pub version: String,
    /// Position in the configured credential list of the credential that answered; the agent
    /// tries it first next time.
    pub credential_index: usize,
    pub system: SnmpSystem,
    /// ENTITY-MIB chassis entry (entPhysicalClass = chassis, or the first entry).
    pub chassis: Option<EntityChassis>,
    #[serde(default)]
    pub interfaces: Vec<SnmpInterface>,
    #[serde(default)]
    pub ip_addresses: Vec<SnmpIpAddress>,
    /// IP-MIB ipForwarding: true when the device routes.
    pub ip_forwarding: Option<bool>,
    pub printer: Option<PrinterInfo>,
    pub ups: Option<UpsInfo>,
    pub host: Option<HostResources>,
    pub bridge: Option<BridgeInfo>,
    #[serde(default)]
    pub lldp_neighbors: Vec<LldpNeighbor>,
    #[serde(default)]
    pub cdp_neighbors: Vec<CdpNeighbor>,
    #[serde(default)]
    pub arp: Vec<ArpEntry>,
    /// What the maker's own MIB gave for the values the standard MIBs left empty (APC
    /// PowerNet, Eaton XUPS, printer makers' serial and model objects); read only when
    /// sysObjectID names that maker.
    #[serde(default)]
    pub vendor_mib: Option<VendorMibFacts>,
    pub identification: Identification,
    /// Sections that failed, with why; everything else is still filled in.
    #[serde(default)]
    pub errors: Vec<SectionError>,
}

/// SNMPv2-MIB system group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnmpSystem {
    pub descr: Option<String>,
    /// Dotted OID, e.g. "1.3.6.1.4.1.8072.3.2.10".
    pub object_id: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
    pub contact: Option<String>,
    /// Hundredths of a second since the agent started.
    pub uptime_ticks: Option<u32>,
}

/// ENTITY-MIB entPhysicalEntry of the chassis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityChassis {
    pub descr: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub hardware_rev: Option<String>,
    pub firmware_rev: Option<String>,
    pub software_rev: Option<String>,
}

/// IF-MIB ifEntry / ifXEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnmpInterface {
    pub index: u32,
    /// ifName, or ifDescr when the device has no ifXTable.
    pub name: Option<String>,
    pub descr: Option<String>,
    pub alias: Option<String>,
    /// IANAifType (6 ethernetCsmacd, 24 softwareLoopback, 71 ieee80211, ...).
    pub if_type: Option<u32>,
    /// Bits per second (ifHighSpeed × 10⁶ when it is set, else ifSpeed).
    pub speed_bps: Option<u64>,
    /// Lower-case colon-separated, when the interface has a 6-byte address.
    pub mac: Option<String>,
    /// 1 up, 2 down, 3 testing.
    pub admin_status: Option<u32>,
    /// 1 up, 2 down, 3 testing, 4 unknown, 5 dormant, 6 notPresent, 7 lowerLayerDown.
    pub oper_status: Option<u32>,
}

/// IP-MIB address of the device itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnmpIpAddress {
    pub ip: String,
    pub if_index: Option<u32>,
    pub netmask: Option<String>,
}

/// Printer-MIB facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrinterInfo {
    pub serial: Option<String>,
    /// hrDeviceDescr of the printer device (printers rarely fill ENTITY-MIB).
    pub model: Option<String>,
    /// prtMarkerLifeCount of the first marker (usually pages printed).
    pub page_count: Option<u64>,
    #[serde(default)]
    pub supplies: Vec<PrinterSupply>,
}

/// One prtMarkerSuppliesEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrinterSupply {
    pub description: Option<String>,
    /// Negative values are Printer-MIB's special codes (-2 unknown, -3 some remaining).
    pub level: Option<i64>,
    pub max: Option<i64>,
}

/// UPS-MIB (RFC 1628) facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpsInfo {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// upsBatteryStatus: 1 unknown, 2 normal, 3 low, 4 depleted.
    pub battery_status: Option<u32>,
    /// Percent.
    pub battery_charge: Option<u32>,
    /// upsEstimatedMinutesRemaining, in seconds.
    #[serde(default)]
    pub battery_runtime_seconds: Option<u32>,
}

/// Values read from a maker's private MIB (`[[vendor_get]]` in the agent's SNMP rules). Each
/// is present only when the standard MIBs had nothing for it; identification falls back to
/// these after the standard values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VendorMibFacts {
    /// IANA enterprise number whose MIB answered (the one in sysObjectID).
    pub enterprise: u32,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub firmware: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub manufacture_date: Option<String>,
    /// In UPS-MIB's terms: 1 unknown, 2 normal, 3 low, 4 depleted.
    #[serde(default)]
    pub battery_status: Option<u32>,
    /// Percent.
    #[serde(default)]
    pub battery_charge: Option<u32>,
    #[serde(default)]
    pub battery_runtime_seconds: Option<u32>,
}

/// HOST-RESOURCES-MIB facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostResources {
    /// hrMemorySize, in KiB.
    pub memory_kib: Option<u64>,
    #[serde(default)]
    pub storage: Vec<HostStorage>,
}

/// One hrStorageEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStorage {
    pub descr: Option<String>,
    /// hrStorageType as a dotted OID (…25.2.1.4 fixed disk, …25.2.1.2 RAM).
    pub storage_type: Option<String>,
    pub size_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
}

/// BRIDGE-MIB / Q-BRIDGE-MIB facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BridgeInfo {
    /// dot1dBaseNumPorts.
    pub num_ports: Option<u32>,
    /// Forwarding table, bounded by the walk limits.
    #[serde(default)]
    pub forwarding: Vec<FdbEntry>,
}

/// A MAC address learnt on a bridge port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub mac: String,
    pub bridge_port: u32,
    pub if_index: Option<u32>,
    /// From Q-BRIDGE dot1qTpFdbTable.
    pub vlan: Option<u32>,
}

/// One LLDP-MIB lldpRemEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LldpNeighbor {
    pub local_port: u32,
    pub chassis_id: Option<String>,
    pub port_id: Option<String>,
    pub port_descr: Option<String>,
    pub system_name: Option<String>,
    pub system_descr: Option<String>,
}

/// One CISCO-CDP-MIB cdpCacheEntry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CdpNeighbor {
    pub if_index: u32,
    pub device_id: Option<String>,
    pub port: Option<String>,
    pub platform: Option<String>,
    pub address: Option<String>,
}

/// One ARP entry (ipNetToMediaTable or ipNetToPhysicalTable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpEntry {
    pub ip: String,
    pub mac: String,
    pub if_index: u32,
}

/// A section that failed, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionError {
    /// "system", "entity", "interfaces", "printer", …
    pub section: String,
    pub message: String,
}

/// What the device is, derived from the collected values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identification {
    pub device_type: DeviceType,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    /// IANA private enterprise number from sysObjectID.
    pub enterprise: Option<u32>,
    /// Names of the rules that decided the type, strongest first, so a wrong guess can be
    /// traced to its evidence.
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    Switch,
    Router,
    Firewall,
    Wireless,
    Printer,
    /// UPS or PDU.
    Ups,
    Storage,
    Computer,
    Camera,
    Phone,
    #[default]
    Other,
}

impl DeviceType {
    pub const ALL: [DeviceType; 11] = [
        DeviceType::Switch,
        DeviceType::Router,
        DeviceType::Firewall,
        DeviceType::Wireless,
        DeviceType::Printer,
        DeviceType::Ups,
        DeviceType::Storage,
        DeviceType::Computer,
        DeviceType::Camera,
        DeviceType::Phone,
        DeviceType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Switch => "switch",
            DeviceType::Router => "router",
            DeviceType::Firewall => "firewall",
            DeviceType::Wireless => "wireless",
            DeviceType::Printer => "printer",
            DeviceType::Ups => "ups",
            DeviceType::Storage => "storage",
            DeviceType::Computer => "computer",
            DeviceType::Camera => "camera",
            DeviceType::Phone => "phone",
            DeviceType::Other => "other",
        }
    }
}

impl std::fmt::Display for DeviceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_type_serialises_as_its_name() {
        for t in DeviceType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn device_round_trips_through_json() {
        let device = SnmpDevice {
            ip: "127.0.0.1".into(),
            port: 161,
            version: "v2c".into(),
            system: SnmpSystem {
                name: Some("core-sw1".into()),
                ..Default::default()
            },
            identification: Identification {
                device_type: DeviceType::Switch,
                vendor: Some("Cisco".into()),
                ..Default::default()
            },
            errors: vec![SectionError {
                section: "lldp".into(),
                message: "timeout".into(),
            }],
            ..Default::default()
        };
        let back: SnmpDevice =
            serde_json::from_str(&serde_json::to_string(&device).unwrap()).unwrap();
        assert_eq!(back, device);
    }

    #[test]
    fn documents_from_before_vendor_mibs_still_parse() {
        let old = r#"{"ip":"10.0.0.9","port":161,"version":"v2c","credential_index":0,
            "system":{"descr":"UPS"},"chassis":null,"ip_forwarding":null,"printer":null,
            "ups":{"manufacturer":"EATON","model":"9PX","firmware":null,
                   "battery_status":2,"battery_charge":97},
            "host":null,"bridge":null,
            "identification":{"device_type":"ups","vendor":null,"model":null,"serial":null,
                              "firmware":null,"enterprise":534}}"#;
        let d: SnmpDevice = serde_json::from_str(old).unwrap();
        assert_eq!(d.vendor_mib, None);
        let ups = d.ups.unwrap();
        assert_eq!(
            (ups.battery_charge, ups.battery_runtime_seconds),
            (Some(97), None)
        );
    }
}
