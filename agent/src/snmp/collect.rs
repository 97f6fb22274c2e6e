//! What to ask a device and how the answers become an [`SnmpDevice`]: the requests live in
//! [`collect`], the assembly of rows into records in pure functions tested on their own.
//!
//! Every section is bounded by the walk limits, and a section that fails is recorded in
//! `errors` without stopping the others. Sections whose first column is empty are skipped, so
//! a device costs a few round trips per MIB it does not implement.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use parc_shared::snmp::{
    ArpEntry, BridgeInfo, CdpNeighbor, EntityChassis, FdbEntry, HostResources, HostStorage,
    LldpNeighbor, PrinterInfo, PrinterSupply, SectionError, SnmpDevice, SnmpInterface,
    SnmpIpAddress, SnmpSystem, UpsInfo, VendorMibFacts,
};

use super::client::Session;
use super::codec::{format_mac, Value, VarBind};
use super::credential::Depth;
use super::identify::{Rules, Transform, VendorField, VendorGet};
use super::oid::Oid;

/// OIDs of the objects collected, grouped by MIB.
pub mod oids {
    pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
    pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
    pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
    pub const SYS_CONTACT: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 4, 0];
    pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
    pub const SYS_LOCATION: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 6, 0];

    pub const IP_FORWARDING: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 1, 0];
    pub const HR_SYSTEM_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 1, 1, 0];
    pub const HR_MEMORY_SIZE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 2, 0];
    pub const DOT1D_BASE_NUM_PORTS: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 2, 0];
    pub const UPS_MANUFACTURER: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 1, 1, 0];
    pub const UPS_MODEL: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 1, 2, 0];
    pub const UPS_SOFTWARE: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 1, 3, 0];
    pub const UPS_BATTERY_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 1, 0];
    pub const UPS_MINUTES_REMAINING: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0];
    pub const UPS_CHARGE: &[u32] = &[1, 3, 6, 1, 2, 1, 33, 1, 2, 4, 0];

    pub const ENT_PHYSICAL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1];
    pub const ENT_CLASS: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5];

    pub const IF_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
    pub const IF_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 3];
    pub const IF_SPEED: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 5];
    pub const IF_PHYS_ADDRESS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6];
    pub const IF_ADMIN_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 7];
    pub const IF_OPER_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8];
    pub const IF_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1];
    pub const IF_HIGH_SPEED: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15];
    pub const IF_ALIAS: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18];

    pub const IP_AD_ENT_IF_INDEX: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 20, 1, 2];
    pub const IP_AD_ENT_NET_MASK: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 20, 1, 3];
    pub const IP_ADDRESS_IF_INDEX: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 34, 1, 3];

    pub const PRT_SERIAL: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17];
    pub const PRT_MARKER_LIFE_COUNT: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 10, 2, 1, 4];
    pub const PRT_SUPPLY_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6];
    pub const PRT_SUPPLY_MAX: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 8];
    pub const PRT_SUPPLY_LEVEL: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9];
    pub const HR_DEVICE_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2];
    pub const HR_DEVICE_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 3];
    pub const HR_DEVICE_PRINTER: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 1, 5];

    pub const HR_STORAGE_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 2];
    pub const HR_STORAGE_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 3];
    pub const HR_STORAGE_UNITS: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 4];
    pub const HR_STORAGE_SIZE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 5];
    pub const HR_STORAGE_USED: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1, 6];

    pub const DOT1D_BASE_PORT_IF_INDEX: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 4, 1, 2];
    pub const DOT1D_TP_FDB_PORT: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 4, 3, 1, 2];
    pub const DOT1Q_TP_FDB_PORT: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1, 2];

    pub const LLDP_REM_CHASSIS_ID: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 5];
    pub const LLDP_REM_PORT_ID: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 7];
    pub const LLDP_REM_PORT_DESC: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 8];
    pub const LLDP_REM_SYS_NAME: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9];
    pub const LLDP_REM_SYS_DESC: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 10];

    pub const CDP_CACHE_ADDRESS: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 4];
    pub const CDP_CACHE_DEVICE_ID: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 6];
    pub const CDP_CACHE_DEVICE_PORT: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 7];
    pub const CDP_CACHE_PLATFORM: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 8];

    pub const IP_NET_TO_MEDIA_PHYS: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 22, 1, 2];
    pub const IP_NET_TO_PHYSICAL_PHYS: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 35, 1, 4];
}

use oids::*;

/// Rows of several columns of one table, keyed by column then row index.
#[derive(Debug, Default, Clone)]
pub struct Table {
    columns: HashMap<&'static [u32], BTreeMap<Vec<u32>, Value>>,
}

impl Table {
    pub fn insert_rows(&mut self, column: &'static [u32], rows: Vec<VarBind>) {
        let col = self.columns.entry(column).or_default();
        for (oid, value) in rows {
            if let Some(index) = oid.suffix(column) {
                col.insert(index.to_vec(), value);
            }
        }
    }

    pub fn get(&self, column: &'static [u32], index: &[u32]) -> Option<&Value> {
        self.columns.get(column)?.get(index)
    }

    /// Row indexes of a column, in order.
    pub fn indexes(&self, column: &'static [u32]) -> Vec<Vec<u32>> {
        self.columns
            .get(column)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Row indexes present in any of the columns, in order.
    pub fn all_indexes(&self) -> Vec<Vec<u32>> {
        let mut all: Vec<Vec<u32>> = self
            .columns
            .values()
            .flat_map(|c| c.keys().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    fn text(&self, column: &'static [u32], index: &[u32]) -> Option<String> {
        self.get(column, index).and_then(Value::as_text)
    }

    fn u32(&self, column: &'static [u32], index: &[u32]) -> Option<u32> {
        self.get(column, index).and_then(Value::as_u32)
    }

    fn i64(&self, column: &'static [u32], index: &[u32]) -> Option<i64> {
        self.get(column, index).and_then(Value::as_i64)
    }
}

/// Scalars from one GET, by OID.
#[derive(Debug, Default, Clone)]
pub struct Scalars(HashMap<Vec<u32>, Value>);

impl Scalars {
    pub fn from_varbinds(varbinds: Vec<VarBind>) -> Self {
        Scalars(
            varbinds
                .into_iter()
                .map(|(o, v)| (o.arcs().to_vec(), v))
                .collect(),
        )
    }

    pub fn get(&self, oid: &[u32]) -> Option<&Value> {
        self.0.get(oid).filter(|v| !v.is_absent())
    }

    fn text(&self, oid: &[u32]) -> Option<String> {
        self.get(oid).and_then(Value::as_text)
    }

    fn u32(&self, oid: &[u32]) -> Option<u32> {
        self.get(oid).and_then(Value::as_u32)
    }
}

pub fn system_from(s: &Scalars) -> SnmpSystem {
    SnmpSystem {
        descr: s.text(SYS_DESCR),
        object_id: s
            .get(SYS_OBJECT_ID)
            .and_then(Value::as_oid)
            .map(Oid::to_string),
        name: s.text(SYS_NAME),
        location: s.text(SYS_LOCATION),
        contact: s.text(SYS_CONTACT),
        uptime_ticks: s.u32(SYS_UPTIME),
    }
}

pub fn ups_from(s: &Scalars) -> Option<UpsInfo> {
    let ups = UpsInfo {
        manufacturer: s.text(UPS_MANUFACTURER),
        model: s.text(UPS_MODEL),
        firmware: s.text(UPS_SOFTWARE),
        battery_status: s.u32(UPS_BATTERY_STATUS),
        battery_charge: s.u32(UPS_CHARGE),
        battery_runtime_seconds: s.u32(UPS_MINUTES_REMAINING).and_then(|m| m.checked_mul(60)),
    };
    (ups != UpsInfo::default()).then_some(ups)
}

/// The chassis: the first entity of class chassis (3), else the first entity at all.
pub fn chassis_index(classes: &Table) -> Option<u32> {
    let indexes = classes.indexes(ENT_CLASS);
    indexes
        .iter()
        .find(|i| classes.get(ENT_CLASS, i).and_then(Value::as_i64) == Some(3))
        .or(indexes.first())
        .and_then(|i| (i.len() == 1).then_some(i[0]))
}

pub fn chassis_from(s: &Scalars, index: u32) -> Option<EntityChassis> {
    let col = |c: u32| s.text(&[ENT_PHYSICAL, &[c, index]].concat());
    let chassis = EntityChassis {
        descr: col(2),
        hardware_rev: col(8),
        firmware_rev: col(9),
        software_rev: col(10),
        serial: col(11),
        manufacturer: col(12),
        model: col(13),
    };
    (chassis != EntityChassis::default()).then_some(chassis)
}

pub fn interfaces_from(t: &Table) -> Vec<SnmpInterface> {
    t.all_indexes()
        .into_iter()
        .filter(|i| i.len() == 1)
        .map(|i| {
            let descr = t.text(IF_DESCR, &i);
            let high = t
                .get(IF_HIGH_SPEED, &i)
                .and_then(Value::as_u64)
                .filter(|&s| s > 0);
            let speed = t.get(IF_SPEED, &i).and_then(Value::as_u64);
            SnmpInterface {
                index: i[0],
                name: t.text(IF_NAME, &i).or_else(|| descr.clone()),
                descr,
                alias: t.text(IF_ALIAS, &i),
                if_type: t.u32(IF_TYPE, &i),
                // ifSpeed saturates at 4.29 Gb/s; ifHighSpeed (Mb/s) is right above that.
                speed_bps: high.map(|h| h * 1_000_000).or(speed),
                mac: t.get(IF_PHYS_ADDRESS, &i).and_then(Value::as_mac),
                admin_status: t.u32(IF_ADMIN_STATUS, &i),
                oper_status: t.u32(IF_OPER_STATUS, &i),
            }
        })
        .collect()
}

/// IPv4 from a 4-arc index; `None` for anything else.
fn ipv4_index(arcs: &[u32]) -> Option<Ipv4Addr> {
    match arcs {
        [a, b, c, d] => Some(Ipv4Addr::new(
            u8::try_from(*a).ok()?,
            u8::try_from(*b).ok()?,
            u8::try_from(*c).ok()?,
            u8::try_from(*d).ok()?,
        )),
        _ => None,
    }
}

/// An InetAddress index (type, length, bytes), as IP-MIB's newer tables use.
fn inet_index(arcs: &[u32]) -> Option<String> {
    let bytes =
        |a: &[u32]| -> Option<Vec<u8>> { a.iter().map(|&x| u8::try_from(x).ok()).collect() };
    match arcs {
        [1, 4, rest @ ..] | [1, rest @ ..] if rest.len() == 4 => {
            ipv4_index(rest).map(|ip| ip.to_string())
        }
        [2, 16, rest @ ..] | [2, rest @ ..] if rest.len() == 16 => {
            let b: [u8; 16] = bytes(rest)?.try_into().ok()?;
            Some(Ipv6Addr::from(b).to_string())
        }
        _ => None,
    }
}

pub fn ip_addresses_from(t: &Table) -> Vec<SnmpIpAddress> {
    let legacy: Vec<SnmpIpAddress> = t
        .indexes(IP_AD_ENT_IF_INDEX)
        .into_iter()
        .filter_map(|i| {
            Some(SnmpIpAddress {
                ip: ipv4_index(&i)?.to_string(),
                if_index: t.u32(IP_AD_ENT_IF_INDEX, &i),
                netmask: t.get(IP_AD_ENT_NET_MASK, &i).and_then(Value::as_text),
            })
        })
        .collect();
    if !legacy.is_empty() {
        return legacy;
    }
    t.indexes(IP_ADDRESS_IF_INDEX)
        .into_iter()
        .filter_map(|i| {
            Some(SnmpIpAddress {
                ip: inet_index(&i)?,
                if_index: t.u32(IP_ADDRESS_IF_INDEX, &i),
                netmask: None,
            })
        })
        .collect()
}

pub fn printer_from(t: &Table) -> Option<PrinterInfo> {
    let first = |col: &'static [u32]| {
        t.indexes(col)
            .into_iter()
            .find_map(|i| t.get(col, &i).cloned())
    };
    let serial = first(PRT_SERIAL).and_then(|v| v.as_text());
    let page_count = first(PRT_MARKER_LIFE_COUNT).and_then(|v| v.as_u64());
    let printer_device = t.indexes(HR_DEVICE_TYPE).into_iter().find(|i| {
        t.get(HR_DEVICE_TYPE, i)
            .and_then(Value::as_oid)
            .map(Oid::arcs)
            == Some(HR_DEVICE_PRINTER)
    });
    let model = printer_device.and_then(|i| t.text(HR_DEVICE_DESCR, &i));
    let supplies: Vec<PrinterSupply> = t
        .indexes(PRT_SUPPLY_DESCR)
        .into_iter()
        .chain(t.indexes(PRT_SUPPLY_LEVEL))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|i| PrinterSupply {
            description: t.text(PRT_SUPPLY_DESCR, &i),
            level: t.i64(PRT_SUPPLY_LEVEL, &i),
            max: t.i64(PRT_SUPPLY_MAX, &i),
        })
        .collect();
    if serial.is_none() && page_count.is_none() && supplies.is_empty() {
        return None;
    }
    Some(PrinterInfo {
        serial,
        model,
        page_count,
        supplies,
    })
}

pub fn storage_from(t: &Table) -> Vec<HostStorage> {
    t.indexes(HR_STORAGE_DESCR)
        .into_iter()
        .map(|i| {
            let units = t
                .get(HR_STORAGE_UNITS, &i)
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let scaled = |col| {
                t.get(col, &i)
                    .and_then(Value::as_u64)
                    .and_then(|n| n.checked_mul(units))
            };
            HostStorage {
                descr: t.text(HR_STORAGE_DESCR, &i),
                storage_type: t
                    .get(HR_STORAGE_TYPE, &i)
                    .and_then(Value::as_oid)
                    .map(Oid::to_string),
                size_bytes: scaled(HR_STORAGE_SIZE),
                used_bytes: scaled(HR_STORAGE_USED),
            }
        })
        .collect()
}

fn mac_index(arcs: &[u32]) -> Option<String> {
    let bytes: Option<Vec<u8>> = arcs.iter().map(|&a| u8::try_from(a).ok()).collect();
    let bytes = bytes?;
    (bytes.len() == 6).then(|| format_mac(&bytes))
}

pub fn forwarding_from(t: &Table) -> Vec<FdbEntry> {
    let port_if = |port: u32| t.u32(DOT1D_BASE_PORT_IF_INDEX, &[port]);
    let q: Vec<FdbEntry> = t
        .indexes(DOT1Q_TP_FDB_PORT)
        .into_iter()
        .filter_map(|i| {
            let (vlan, mac) = i.split_first()?;
            let port = t.u32(DOT1Q_TP_FDB_PORT, &i).filter(|&p| p > 0)?;
            Some(FdbEntry {
                mac: mac_index(mac)?,
                bridge_port: port,
                if_index: port_if(port),
                vlan: Some(*vlan),
            })
        })
        .collect();
    if !q.is_empty() {
        return q;
    }
    t.indexes(DOT1D_TP_FDB_PORT)
        .into_iter()
        .filter_map(|i| {
            let port = t.u32(DOT1D_TP_FDB_PORT, &i).filter(|&p| p > 0)?;
            Some(FdbEntry {
                mac: mac_index(&i)?,
                bridge_port: port,
                if_index: port_if(port),
                vlan: None,
            })
        })
        .collect()
}

pub fn lldp_from(t: &Table) -> Vec<LldpNeighbor> {
    t.all_indexes()
        .into_iter()
        .filter(|i| i.len() == 3)
        .map(|i| {
            let id = |col| {
                t.get(col, &i)
                    .and_then(|v| {
                        if let Value::Bytes(b) = v {
                            (b.len() == 6).then(|| format_mac(b))
                        } else {
                            None
                        }
                    })
                    .or_else(|| t.text(col, &i))
            };
            LldpNeighbor {
                local_port: i[1],
                chassis_id: id(LLDP_REM_CHASSIS_ID),
                port_id: id(LLDP_REM_PORT_ID),
                port_descr: t.text(LLDP_REM_PORT_DESC, &i),
                system_name: t.text(LLDP_REM_SYS_NAME, &i),
                system_descr: t.text(LLDP_REM_SYS_DESC, &i),
            }
        })
        .collect()
}

pub fn cdp_from(t: &Table) -> Vec<CdpNeighbor> {
    t.all_indexes()
        .into_iter()
        .filter(|i| i.len() == 2)
        .map(|i| CdpNeighbor {
            if_index: i[0],
            device_id: t.text(CDP_CACHE_DEVICE_ID, &i),
            port: t.text(CDP_CACHE_DEVICE_PORT, &i),
            platform: t.text(CDP_CACHE_PLATFORM, &i),
            address: match t.get(CDP_CACHE_ADDRESS, &i) {
                Some(Value::Bytes(b)) if b.len() == 4 => {
                    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string())
                }
                _ => None,
            },
        })
        .collect()
}

pub fn arp_from(t: &Table) -> Vec<ArpEntry> {
    let media: Vec<ArpEntry> = t
        .indexes(IP_NET_TO_MEDIA_PHYS)
        .into_iter()
        .filter_map(|i| {
            let (if_index, ip) = i.split_first()?;
            Some(ArpEntry {
                ip: ipv4_index(ip)?.to_string(),
                mac: t.get(IP_NET_TO_MEDIA_PHYS, &i)?.as_mac()?,
                if_index: *if_index,
            })
        })
        .collect();
    if !media.is_empty() {
        return media;
    }
    t.indexes(IP_NET_TO_PHYSICAL_PHYS)
        .into_iter()
        .filter_map(|i| {
            let (if_index, addr) = i.split_first()?;
            Some(ArpEntry {
                ip: inet_index(addr)?,
                mac: t.get(IP_NET_TO_PHYSICAL_PHYS, &i)?.as_mac()?,
                if_index: *if_index,
            })
        })
        .collect()
}

/// Longest text each vendor field may hold; a longer value is refused, not cut, because a
/// 5,000-character "serial" is not a serial.
fn vendor_text_limit(field: VendorField) -> usize {
    match field {
        VendorField::Serial => 64,
        VendorField::ManufactureDate => 32,
        _ => 128,
    }
}

/// What one vendor field got.
#[derive(Debug, Clone, PartialEq)]
pub enum VendorValue {
    Text(String),
    Number(u32),
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "an INTEGER",
        Value::Bytes(_) => "an OCTET STRING",
        Value::Oid(_) => "an OBJECT IDENTIFIER",
        Value::Ip(_) => "an IpAddress",
        Value::Counter32(_) => "a Counter32",
        Value::Gauge32(_) => "a Gauge32",
        Value::Ticks(_) => "TimeTicks",
        Value::Counter64(_) => "a Counter64",
        Value::Unsupported => "an unsupported type",
        _ => "nothing",
    }
}

/// "mm/dd/yy" or "mm/dd/yyyy" (APC's dates of manufacture) as "yyyy-mm-dd". Two-digit years
/// are 20yy: no managed UPS or PDU predates 2000 by that much.
pub fn month_day_year(text: &str) -> Option<String> {
    let mut parts = text.trim().split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let num = |s: &str, digits: &[usize]| -> Option<u32> {
        (digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (m, d, y) = (num(m, &[1, 2])?, num(d, &[1, 2])?, num(y, &[2, 4])?);
    let y = if y < 100 { 2000 + y } else { y };
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// Checks and converts one value a maker's MIB returned. `Ok(None)` when there is nothing
/// usable (absent, empty, a placeholder, a code the map does not list); `Err` says why a value
/// that is there was refused (wrong type, too long, binary, out of range). Pure.
pub fn vendor_value(get: &VendorGet, value: &Value) -> Result<Option<VendorValue>, String> {
    if value.is_absent() {
        return Ok(None);
    }
    let field = get.field;
    if field.is_text() {
        let Value::Bytes(bytes) = value else {
            return Err(format!(
                "expected an OCTET STRING, got {}",
                value_kind(value)
            ));
        };
        let limit = vendor_text_limit(field);
        // Bytes bound characters from above: a reply far over the limit is refused before
        // it is decoded.
        if bytes.len() > limit * 4 {
            return Err(format!(
                "{} bytes, longer than the {limit} characters allowed",
                bytes.len()
            ));
        }
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |e| e + 1);
        let text = std::str::from_utf8(&bytes[..end])
            .ok()
            .filter(|t| t.chars().all(|c| !c.is_control() || c == ' '))
            .ok_or_else(|| "binary data, not text".to_string())?
            .trim();
        let chars = text.chars().count();
        if chars > limit {
            return Err(format!(
                "{chars} characters, longer than the {limit} allowed"
            ));
        }
        if text.is_empty() || parc_shared::is_junk_serial(text) {
            return Ok(None);
        }
        return match &get.transform {
            Transform::MonthDayYear => month_day_year(text)
                .map(|d| Some(VendorValue::Text(d)))
                .ok_or_else(|| format!("{text:?} is not a mm/dd/yy date")),
            _ => Ok(Some(VendorValue::Text(text.to_string()))),
        };
    }
    let n = match value {
        Value::Int(_) | Value::Counter32(_) | Value::Gauge32(_) | Value::Ticks(_) => {
            value.as_i64().expect("an integer type")
        }
        other => return Err(format!("expected an integer, got {}", value_kind(other))),
    };
    let n = match &get.transform {
        Transform::Map(codes) => return Ok(codes.get(&n).map(|&c| VendorValue::Number(c))),
        Transform::TicksToSeconds => n.div_euclid(100),
        _ => n,
    };
    let n = u32::try_from(n).map_err(|_| format!("{n} is out of range"))?;
    if field == VendorField::BatteryCharge && n > 100 {
        return Err(format!("{n} is not a percentage"));
    }
    Ok(Some(VendorValue::Number(n)))
}

/// The maker's facts from one GET's answers: per field, the first usable value in the rules'
/// order. Refused values are returned as section errors naming the field and the object. Pure.
pub fn vendor_facts(
    enterprise: u32,
    asked: &[&VendorGet],
    answers: &Scalars,
) -> (Option<VendorMibFacts>, Vec<SectionError>) {
    let mut facts = VendorMibFacts {
        enterprise,
        ..Default::default()
    };
    let mut errors = Vec::new();
    let mut found = false;
    for get in asked {
        let Some(value) = answers.get(get.oid.arcs()) else {
            continue;
        };
        let value = match vendor_value(get, value) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(why) => {
                errors.push(SectionError {
                    section: "vendor_mib".into(),
                    message: format!("{} ({}): {why}", get.field.as_str(), get.oid),
                });
                continue;
            }
        };
        let (text, number) = match value {
            VendorValue::Text(t) => (Some(t), None),
            VendorValue::Number(n) => (None, Some(n)),
        };
        let slot_text = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = text.clone();
            }
        };
        let slot_number = |slot: &mut Option<u32>| {
            if slot.is_none() {
                *slot = number;
            }
        };
        match get.field {
            VendorField::Manufacturer => slot_text(&mut facts.manufacturer),
            VendorField::Model => slot_text(&mut facts.model),
            VendorField::Serial => slot_text(&mut facts.serial),
            VendorField::Firmware => slot_text(&mut facts.firmware),
            VendorField::ManufactureDate => slot_text(&mut facts.manufacture_date),
            VendorField::BatteryStatus => slot_number(&mut facts.battery_status),
            VendorField::BatteryCharge => slot_number(&mut facts.battery_charge),
            VendorField::BatteryRuntime => slot_number(&mut facts.battery_runtime_seconds),
        }
        found = true;
    }
    (found.then_some(facts), errors)
}

/// Runs every section against an open session whose system group already answered, then
/// asks the maker's MIB for what the standard ones left empty.
pub async fn collect(session: &mut Session, device: &mut SnmpDevice, depth: Depth) {
    collect_standard(session, device, depth).await;
    collect_vendor(session, device, Rules::builtin()).await;
}

/// One GET of the maker's objects for the fields still empty, when sysObjectID names a maker
/// the rules list; nothing at all otherwise.
async fn collect_vendor(session: &mut Session, device: &mut SnmpDevice, rules: &Rules) {
    let asked = rules.vendor_requests(device);
    let Some(enterprise) = asked.first().map(|g| g.enterprise) else {
        return;
    };
    let mut run = Run {
        session,
        errors: Vec::new(),
    };
    let oids: Vec<&[u32]> = asked.iter().map(|g| g.oid.arcs()).collect();
    let answers = run.get("vendor_mib", &oids).await;
    let (facts, errors) = vendor_facts(enterprise, &asked, &answers);
    device.vendor_mib = facts;
    device.errors.extend(run.errors);
    device.errors.extend(errors);
}

async fn collect_standard(session: &mut Session, device: &mut SnmpDevice, depth: Depth) {
    let full = depth == Depth::Full;
    let mut run = Run {
        session,
        errors: Vec::new(),
    };

    let probes = [
        IP_FORWARDING,
        HR_SYSTEM_UPTIME,
        HR_MEMORY_SIZE,
        DOT1D_BASE_NUM_PORTS,
        UPS_MANUFACTURER,
        UPS_MODEL,
        UPS_SOFTWARE,
        UPS_BATTERY_STATUS,
        UPS_MINUTES_REMAINING,
        UPS_CHARGE,
    ];
    let scalars = run.get("probes", &probes).await;
    device.ip_forwarding = scalars.u32(IP_FORWARDING).map(|f| f == 1);
    device.ups = ups_from(&scalars);

    // ENTITY-MIB chassis.
    let classes = run.columns("entity", &[ENT_CLASS]).await;
    if let Some(index) = chassis_index(&classes) {
        let cols: Vec<Vec<u32>> = [2, 8, 9, 10, 11, 12, 13]
            .iter()
            .map(|c| [ENT_PHYSICAL, &[*c, index]].concat())
            .collect();
        let refs: Vec<&[u32]> = cols.iter().map(Vec::as_slice).collect();
        let s = run.get("entity", &refs).await;
        device.chassis = chassis_from(&s, index);
    }

    let ifs = if full {
        run.columns(
            "interfaces",
            &[
                IF_DESCR,
                IF_TYPE,
                IF_SPEED,
                IF_PHYS_ADDRESS,
                IF_ADMIN_STATUS,
                IF_OPER_STATUS,
                IF_NAME,
                IF_HIGH_SPEED,
                IF_ALIAS,
            ],
        )
        .await
    } else {
        // Types tell radios and routers apart; MACs let the CMDB merge the device.
        run.columns("interfaces", &[IF_TYPE, IF_PHYS_ADDRESS]).await
    };
    device.interfaces = interfaces_from(&ifs);
    if !full {
        return identify_only_rest(&mut run, device, &scalars).await;
    }

    let mut ips = run
        .columns("ip_addresses", &[IP_AD_ENT_IF_INDEX, IP_AD_ENT_NET_MASK])
        .await;
    if ips.indexes(IP_AD_ENT_IF_INDEX).is_empty() {
        ips = run.columns("ip_addresses", &[IP_ADDRESS_IF_INDEX]).await;
    }
    device.ip_addresses = ip_addresses_from(&ips);

    let mut printer = run
        .columns(
            "printer",
            &[
                PRT_MARKER_LIFE_COUNT,
                PRT_SERIAL,
                PRT_SUPPLY_DESCR,
                PRT_SUPPLY_MAX,
                PRT_SUPPLY_LEVEL,
            ],
        )
        .await;
    let is_printer = !printer.all_indexes().is_empty();
    if is_printer {
        let devices = run
            .columns("printer", &[HR_DEVICE_TYPE, HR_DEVICE_DESCR])
            .await;
        printer.columns.extend(devices.columns);
    }
    device.printer = printer_from(&printer);

    let has_host_resources =
        scalars.get(HR_SYSTEM_UPTIME).is_some() || scalars.get(HR_MEMORY_SIZE).is_some();
    if has_host_resources {
        let storage = run
            .columns(
                "host_resources",
                &[
                    HR_STORAGE_DESCR,
                    HR_STORAGE_TYPE,
                    HR_STORAGE_UNITS,
                    HR_STORAGE_SIZE,
                    HR_STORAGE_USED,
                ],
            )
            .await;
        device.host = Some(HostResources {
            memory_kib: scalars.get(HR_MEMORY_SIZE).and_then(Value::as_u64),
            storage: storage_from(&storage),
        });
    }

    if let Some(ports) = scalars.u32(DOT1D_BASE_NUM_PORTS) {
        let mut fdb = run
            .independent("bridge", &[DOT1D_BASE_PORT_IF_INDEX, DOT1Q_TP_FDB_PORT])
            .await;
        if fdb.indexes(DOT1Q_TP_FDB_PORT).is_empty() {
            let d = run.columns("bridge", &[DOT1D_TP_FDB_PORT]).await;
            fdb.columns.extend(d.columns);
        }
        device.bridge = Some(BridgeInfo {
            num_ports: Some(ports),
            forwarding: forwarding_from(&fdb),
        });
    }

    let lldp = run
        .columns(
            "lldp",
            &[
                LLDP_REM_SYS_NAME,
                LLDP_REM_CHASSIS_ID,
                LLDP_REM_PORT_ID,
                LLDP_REM_PORT_DESC,
                LLDP_REM_SYS_DESC,
            ],
        )
        .await;
    device.lldp_neighbors = lldp_from(&lldp);

    let cisco = device
        .system
        .object_id
        .as_deref()
        .and_then(|o| o.parse::<Oid>().ok())
        .and_then(|o| o.enterprise())
        == Some(9);
    if cisco {
        let cdp = run
            .columns(
                "cdp",
                &[
                    CDP_CACHE_DEVICE_ID,
                    CDP_CACHE_DEVICE_PORT,
                    CDP_CACHE_PLATFORM,
                    CDP_CACHE_ADDRESS,
                ],
            )
            .await;
        device.cdp_neighbors = cdp_from(&cdp);
    }

    let mut arp = run.columns("arp", &[IP_NET_TO_MEDIA_PHYS]).await;
    if arp.indexes(IP_NET_TO_MEDIA_PHYS).is_empty() {
        arp = run.columns("arp", &[IP_NET_TO_PHYSICAL_PHYS]).await;
    }
    device.arp = arp_from(&arp);

    device.errors.extend(run.errors);
}

/// The rest of a [`Depth::Identify`] query: which MIBs answer (one short walk or none each), not
/// their tables.
async fn identify_only_rest(run: &mut Run<'_>, device: &mut SnmpDevice, scalars: &Scalars) {
    let mut printer = run
        .columns("printer", &[PRT_MARKER_LIFE_COUNT, PRT_SERIAL])
        .await;
    if !printer.all_indexes().is_empty() {
        let devices = run
            .columns("printer", &[HR_DEVICE_TYPE, HR_DEVICE_DESCR])
            .await;
        printer.columns.extend(devices.columns);
    }
    device.printer = printer_from(&printer);
    if scalars.get(HR_SYSTEM_UPTIME).is_some() || scalars.get(HR_MEMORY_SIZE).is_some() {
        device.host = Some(HostResources {
            memory_kib: scalars.get(HR_MEMORY_SIZE).and_then(Value::as_u64),
            storage: Vec::new(),
        });
    }
    if let Some(ports) = scalars.u32(DOT1D_BASE_NUM_PORTS) {
        device.bridge = Some(BridgeInfo {
            num_ports: Some(ports),
            forwarding: Vec::new(),
        });
    }
    let lldp = run.columns("lldp", &[LLDP_REM_SYS_NAME]).await;
    device.lldp_neighbors = lldp_from(&lldp);
    device.errors.append(&mut run.errors);
}

struct Run<'a> {
    session: &'a mut Session,
    errors: Vec<SectionError>,
}

impl Run<'_> {
    fn error(&mut self, section: &str, message: String) {
        self.errors.push(SectionError {
            section: section.to_string(),
            message,
        });
    }

    async fn get(&mut self, section: &str, oids: &[&[u32]]) -> Scalars {
        let oids: Vec<Oid> = oids.iter().map(|o| Oid::new(o)).collect();
        match self.session.get(&oids).await {
            Ok(varbinds) => Scalars::from_varbinds(varbinds),
            Err(e) => {
                self.error(section, e.to_string());
                Scalars::default()
            }
        }
    }

    /// Walks columns of one table together. An empty first column means the table is absent,
    /// and the remaining columns are not read further.
    async fn columns(&mut self, section: &str, columns: &[&'static [u32]]) -> Table {
        self.walk(section, columns, true).await
    }

    /// Walks columns that may belong to different tables together; each is read whatever the
    /// others hold.
    async fn independent(&mut self, section: &str, columns: &[&'static [u32]]) -> Table {
        self.walk(section, columns, false).await
    }

    async fn walk(
        &mut self,
        section: &str,
        columns: &[&'static [u32]],
        first_decides: bool,
    ) -> Table {
        let roots: Vec<Oid> = columns.iter().map(|c| Oid::new(c)).collect();
        let results = self.session.walk_columns(&roots, first_decides).await;
        let mut table = Table::default();
        for ((column, root), (rows, end)) in columns.iter().zip(&roots).zip(results) {
            table.insert_rows(column, rows);
            if let Some(problem) = end.problem(root) {
                self.error(section, problem);
            }
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(column: &[u32], entries: &[(&[u32], Value)]) -> Vec<VarBind> {
        entries
            .iter()
            .map(|(i, v)| (Oid::new(column).child(i), v.clone()))
            .collect()
    }

    fn text(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn interfaces_merge_columns_and_prefer_high_speed() {
        let mut t = Table::default();
        t.insert_rows(
            IF_DESCR,
            rows(IF_DESCR, &[(&[1], text("lo")), (&[2], text("eth0"))]),
        );
        t.insert_rows(
            IF_TYPE,
            rows(IF_TYPE, &[(&[1], Value::Int(24)), (&[2], Value::Int(6))]),
        );
        t.insert_rows(
            IF_SPEED,
            rows(IF_SPEED, &[(&[2], Value::Gauge32(u32::MAX))]),
        );
        t.insert_rows(
            IF_HIGH_SPEED,
            rows(
                IF_HIGH_SPEED,
                &[(&[1], Value::Gauge32(0)), (&[2], Value::Gauge32(10_000))],
            ),
        );
        t.insert_rows(IF_NAME, rows(IF_NAME, &[(&[2], text("Te1/0/1"))]));
        t.insert_rows(
            IF_PHYS_ADDRESS,
            rows(
                IF_PHYS_ADDRESS,
                &[
                    (&[1], Value::Bytes(vec![])),
                    (&[2], Value::Bytes(vec![0, 0x1b, 0x21, 1, 2, 3])),
                ],
            ),
        );
        let ifs = interfaces_from(&t);
        assert_eq!(ifs.len(), 2);
        assert_eq!(
            ifs[0].name.as_deref(),
            Some("lo"),
            "ifDescr stands in for a missing ifName"
        );
        assert_eq!(ifs[0].mac, None);
        assert_eq!(ifs[0].speed_bps, None);
        assert_eq!(ifs[1].name.as_deref(), Some("Te1/0/1"));
        assert_eq!(ifs[1].speed_bps, Some(10_000_000_000));
        assert_eq!(ifs[1].mac.as_deref(), Some("00:1b:21:01:02:03"));
        assert_eq!(ifs[1].if_type, Some(6));
    }

    #[test]
    fn chassis_is_the_class_3_entity() {
        let mut t = Table::default();
        t.insert_rows(
            ENT_CLASS,
            rows(
                ENT_CLASS,
                &[
                    (&[1], Value::Int(11)),
                    (&[1001], Value::Int(3)),
                    (&[2001], Value::Int(3)),
                ],
            ),
        );
        assert_eq!(chassis_index(&t), Some(1001));
        let mut none = Table::default();
        none.insert_rows(
            ENT_CLASS,
            rows(ENT_CLASS, &[(&[7], Value::Int(11)), (&[9], Value::Int(10))]),
        );
        assert_eq!(chassis_index(&none), Some(7));
        assert_eq!(chassis_index(&Table::default()), None);
    }

    #[test]
    fn forwarding_prefers_q_bridge_and_maps_ports() {
        let mut t = Table::default();
        t.insert_rows(
            DOT1D_BASE_PORT_IF_INDEX,
            rows(DOT1D_BASE_PORT_IF_INDEX, &[(&[3], Value::Int(10003))]),
        );
        t.insert_rows(
            DOT1Q_TP_FDB_PORT,
            rows(
                DOT1Q_TP_FDB_PORT,
                &[
                    (&[20, 0, 27, 33, 1, 2, 3], Value::Int(3)),
                    (&[20, 0, 27, 33, 1, 2, 4], Value::Int(0)), // the switch itself: no port
                    (&[20, 0, 27, 33, 1, 2, 999], Value::Int(3)), // not a MAC
                ],
            ),
        );
        t.insert_rows(
            DOT1D_TP_FDB_PORT,
            rows(DOT1D_TP_FDB_PORT, &[(&[0, 27, 33, 9, 9, 9], Value::Int(3))]),
        );
        let fdb = forwarding_from(&t);
        assert_eq!(
            fdb,
            vec![FdbEntry {
                mac: "00:1b:21:01:02:03".into(),
                bridge_port: 3,
                if_index: Some(10003),
                vlan: Some(20)
            }]
        );
    }

    #[test]
    fn arp_from_both_tables() {
        let mac = Value::Bytes(vec![0xaa, 0xbb, 0xcc, 0, 0, 1]);
        let mut legacy = Table::default();
        legacy.insert_rows(
            IP_NET_TO_MEDIA_PHYS,
            rows(
                IP_NET_TO_MEDIA_PHYS,
                &[
                    (&[2, 10, 0, 0, 1], mac.clone()),
                    (&[2, 10, 0, 0], mac.clone()),
                ],
            ),
        );
        assert_eq!(
            arp_from(&legacy),
            vec![ArpEntry {
                ip: "10.0.0.1".into(),
                mac: "aa:bb:cc:00:00:01".into(),
                if_index: 2
            }]
        );
        let mut modern = Table::default();
        modern.insert_rows(
            IP_NET_TO_PHYSICAL_PHYS,
            rows(
                IP_NET_TO_PHYSICAL_PHYS,
                &[(&[2, 1, 4, 10, 0, 0, 2], mac.clone())],
            ),
        );
        assert_eq!(arp_from(&modern)[0].ip, "10.0.0.2");
    }

    #[test]
    fn printer_collects_serial_counter_supplies_and_model() {
        let mut t = Table::default();
        t.insert_rows(PRT_SERIAL, rows(PRT_SERIAL, &[(&[1], text("CNB1234567"))]));
        t.insert_rows(
            PRT_MARKER_LIFE_COUNT,
            rows(PRT_MARKER_LIFE_COUNT, &[(&[1, 1], Value::Counter32(48213))]),
        );
        t.insert_rows(
            PRT_SUPPLY_DESCR,
            rows(
                PRT_SUPPLY_DESCR,
                &[(&[1, 1], text("Black Toner")), (&[1, 2], text("Drum"))],
            ),
        );
        t.insert_rows(
            PRT_SUPPLY_LEVEL,
            rows(
                PRT_SUPPLY_LEVEL,
                &[(&[1, 1], Value::Int(40)), (&[1, 2], Value::Int(-3))],
            ),
        );
        t.insert_rows(
            PRT_SUPPLY_MAX,
            rows(PRT_SUPPLY_MAX, &[(&[1, 1], Value::Int(100))]),
        );
        t.insert_rows(
            HR_DEVICE_TYPE,
            rows(
                HR_DEVICE_TYPE,
                &[
                    (&[1], Value::Oid(Oid::new(&[1, 3, 6, 1, 2, 1, 25, 3, 1, 6]))),
                    (&[2], Value::Oid(Oid::new(HR_DEVICE_PRINTER))),
                ],
            ),
        );
        t.insert_rows(
            HR_DEVICE_DESCR,
            rows(
                HR_DEVICE_DESCR,
                &[(&[1], text("disk")), (&[2], text("HP LaserJet M507"))],
            ),
        );
        let p = printer_from(&t).unwrap();
        assert_eq!(p.serial.as_deref(), Some("CNB1234567"));
        assert_eq!(p.model.as_deref(), Some("HP LaserJet M507"));
        assert_eq!(p.page_count, Some(48213));
        assert_eq!(p.supplies.len(), 2);
        assert_eq!((p.supplies[1].level, p.supplies[1].max), (Some(-3), None));
        assert_eq!(printer_from(&Table::default()), None);
    }

    #[test]
    fn storage_scales_by_allocation_units() {
        let mut t = Table::default();
        t.insert_rows(
            HR_STORAGE_DESCR,
            rows(HR_STORAGE_DESCR, &[(&[31], text("/"))]),
        );
        t.insert_rows(
            HR_STORAGE_UNITS,
            rows(HR_STORAGE_UNITS, &[(&[31], Value::Int(4096))]),
        );
        t.insert_rows(
            HR_STORAGE_SIZE,
            rows(HR_STORAGE_SIZE, &[(&[31], Value::Int(1000))]),
        );
        t.insert_rows(
            HR_STORAGE_USED,
            rows(HR_STORAGE_USED, &[(&[31], Value::Int(i64::from(u32::MAX)))]),
        );
        let s = storage_from(&t);
        assert_eq!(s[0].size_bytes, Some(4_096_000));
        assert_eq!(s[0].used_bytes, Some(u64::from(u32::MAX) * 4096));
    }

    #[test]
    fn lldp_and_ip_addresses() {
        let mut t = Table::default();
        t.insert_rows(
            LLDP_REM_SYS_NAME,
            rows(LLDP_REM_SYS_NAME, &[(&[0, 12, 1], text("dist-sw2"))]),
        );
        t.insert_rows(
            LLDP_REM_CHASSIS_ID,
            rows(
                LLDP_REM_CHASSIS_ID,
                &[(&[0, 12, 1], Value::Bytes(vec![0, 1, 2, 3, 4, 5]))],
            ),
        );
        let n = lldp_from(&t);
        assert_eq!(
            (
                n[0].local_port,
                n[0].system_name.as_deref(),
                n[0].chassis_id.as_deref()
            ),
            (12, Some("dist-sw2"), Some("00:01:02:03:04:05"))
        );

        let mut ip = Table::default();
        ip.insert_rows(
            IP_ADDRESS_IF_INDEX,
            rows(
                IP_ADDRESS_IF_INDEX,
                &[
                    (&[1, 4, 192, 0, 2, 1], Value::Int(2)),
                    (
                        &[2, 16, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                        Value::Int(2),
                    ),
                ],
            ),
        );
        let a = ip_addresses_from(&ip);
        assert_eq!(
            a.iter().map(|a| a.ip.as_str()).collect::<Vec<_>>(),
            vec!["192.0.2.1", "fe80::1"]
        );
    }

    fn get(field: VendorField, transform: Transform) -> VendorGet {
        VendorGet {
            enterprise: 318,
            field,
            oid: Oid::new(&[1, 3, 6, 1, 4, 1, 318, 9, 0]),
            object_id_prefix: vec![],
            transform,
        }
    }

    /// A case of the vendor value table: name, object, value returned, what must come out.
    type VendorCase = (
        &'static str,
        VendorGet,
        Value,
        Result<Option<VendorValue>, &'static str>,
    );

    #[test]
    fn vendor_values_are_checked_per_field() {
        use VendorField::*;
        let text_ok = |s: &str| Ok(Some(VendorValue::Text(s.into())));
        let map: std::collections::BTreeMap<i64, u32> = [(1, 1), (2, 2), (3, 3)].into();
        let cases: Vec<VendorCase> = vec![
            (
                "serial, padded with NULs and blanks",
                get(Serial, Transform::None),
                Value::Bytes(b"AS2211341275  \0\0".to_vec()),
                text_ok("AS2211341275"),
            ),
            (
                "serial of 64 characters is the limit",
                get(Serial, Transform::None),
                text(&"A1".repeat(32)),
                text_ok(&"A1".repeat(32)),
            ),
            (
                "serial one character over",
                get(Serial, Transform::None),
                text(&format!("{}X", "A1".repeat(32))),
                Err("65 characters, longer than the 64 allowed"),
            ),
            (
                "a 60 kB string is refused before it is decoded",
                get(Model, Transform::None),
                text(&"x".repeat(60_000)),
                Err("60000 bytes, longer than the 128 characters allowed"),
            ),
            (
                "serial as an INTEGER",
                get(Serial, Transform::None),
                Value::Int(12345),
                Err("expected an OCTET STRING, got an INTEGER"),
            ),
            (
                "model as binary",
                get(Model, Transform::None),
                Value::Bytes(vec![0x01, 0xff, 0x80, 0x41]),
                Err("binary data, not text"),
            ),
            (
                "placeholder serial",
                get(Serial, Transform::None),
                text("0000000000"),
                Ok(None),
            ),
            (
                "empty model",
                get(Model, Transform::None),
                text(""),
                Ok(None),
            ),
            (
                "absent object",
                get(Firmware, Transform::None),
                Value::NoSuchObject,
                Ok(None),
            ),
            (
                "APC date of manufacture",
                get(ManufactureDate, Transform::MonthDayYear),
                text("11/03/22"),
                text_ok("2022-11-03"),
            ),
            (
                "impossible date",
                get(ManufactureDate, Transform::MonthDayYear),
                text("13/45/22"),
                Err("\"13/45/22\" is not a mm/dd/yy date"),
            ),
            (
                "runtime in TimeTicks",
                get(BatteryRuntime, Transform::TicksToSeconds),
                Value::Ticks(246_000),
                Ok(Some(VendorValue::Number(2460))),
            ),
            (
                "runtime in seconds",
                get(BatteryRuntime, Transform::None),
                Value::Int(1860),
                Ok(Some(VendorValue::Number(1860))),
            ),
            (
                "negative runtime",
                get(BatteryRuntime, Transform::None),
                Value::Int(-5),
                Err("-5 is out of range"),
            ),
            (
                "runtime as a string",
                get(BatteryRuntime, Transform::None),
                text("1860"),
                Err("expected an integer, got an OCTET STRING"),
            ),
            (
                "charge as a Gauge32",
                get(BatteryCharge, Transform::None),
                Value::Gauge32(97),
                Ok(Some(VendorValue::Number(97))),
            ),
            (
                "charge over 100 %",
                get(BatteryCharge, Transform::None),
                Value::Int(250),
                Err("250 is not a percentage"),
            ),
            (
                "charge in a Counter64",
                get(BatteryCharge, Transform::None),
                Value::Counter64(97),
                Err("expected an integer, got a Counter64"),
            ),
            (
                "status mapped",
                get(BatteryStatus, Transform::Map(map.clone())),
                Value::Int(3),
                Ok(Some(VendorValue::Number(3))),
            ),
            (
                "status code the map leaves out",
                get(BatteryStatus, Transform::Map(map)),
                Value::Int(4),
                Ok(None),
            ),
        ];
        let mut failures = Vec::new();
        for (name, get, value, want) in cases {
            let got = vendor_value(&get, &value);
            let want = want.map_err(str::to_string);
            if got != want {
                failures.push(format!("{name}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn dates_month_day_year() {
        for (raw, want) in [
            ("11/03/22", Some("2022-11-03")),
            ("1/5/2019", Some("2019-01-05")),
            (" 02/29/24 ", Some("2024-02-29")),
            ("02/29/23", None),
            ("2022-11-03", None),
            ("11/03", None),
            ("11/03/22/1", None),
            ("+1/03/22", None),
            ("", None),
        ] {
            assert_eq!(month_day_year(raw).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn vendor_facts_take_the_first_usable_value_and_report_refusals() {
        let oid = |last: u32| Oid::new(&[1, 3, 6, 1, 4, 1, 641, last, 0]);
        let entry = |field, last| VendorGet {
            oid: oid(last),
            ..get(field, Transform::None)
        };
        let asked = [
            entry(VendorField::Serial, 1),
            entry(VendorField::Serial, 2),
            entry(VendorField::Serial, 3),
            entry(VendorField::Model, 4),
            entry(VendorField::Firmware, 5),
            entry(VendorField::BatteryCharge, 6),
        ];
        let refs: Vec<&VendorGet> = asked.iter().collect();
        let answers = Scalars::from_varbinds(vec![
            (oid(1), text("")),
            (oid(2), text("LX4101A77")),
            (oid(3), text("LATER-ONE")),
            (oid(4), Value::Int(7)),
            (oid(5), Value::NoSuchInstance),
            (oid(6), Value::Gauge32(55)),
        ]);
        let (facts, errors) = vendor_facts(641, &refs, &answers);
        let facts = facts.expect("facts");
        assert_eq!(facts.enterprise, 641);
        assert_eq!(facts.serial.as_deref(), Some("LX4101A77"));
        assert_eq!(facts.model, None);
        assert_eq!(facts.firmware, None);
        assert_eq!(facts.battery_charge, Some(55));
        assert_eq!(
            errors,
            vec![SectionError {
                section: "vendor_mib".into(),
                message: "model (1.3.6.1.4.1.641.4.0): expected an OCTET STRING, got an INTEGER"
                    .into()
            }]
        );
        let (none, errors) = vendor_facts(641, &refs, &Scalars::default());
        assert_eq!((none, errors.len()), (None, 0));
    }
}
