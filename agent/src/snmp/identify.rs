//! Identification: what a device is (type, vendor, model, serial, firmware), decided by a pure
//! function over the collected values and the rules in `agent/data/snmp-rules.toml`.
//!
//! The rules are data, not code branches, so they can be read and tuned without touching Rust.
//! They are parsed into raw types, then checked into compiled ones (regexes built, types
//! resolved), with every problem reported at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use parc_shared::snmp::{DeviceType, Identification, SnmpDevice};
use regex::Regex;
use serde::Deserialize;

use super::oid::Oid;

const RULES_TOML: &str = include_str!("../../data/snmp-rules.toml");
const ENTERPRISES_TSV: &str = include_str!("../../data/enterprise-numbers.tsv");

/// Ethernet-like IANAifTypes: ethernetCsmacd, gigabitEthernet (obsolete), ieee8023adLag is
/// excluded on purpose (one LAG is not a port).
const DEFAULT_PORT_TYPES: &[u32] = &[6, 62, 117];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    threshold: u32,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    vendor: Vec<RawVendor>,
    #[serde(default)]
    model: Vec<RawExtract>,
    #[serde(default)]
    firmware: Vec<RawExtract>,
    #[serde(default)]
    vendor_get: Vec<RawVendorGet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendorGet {
    enterprise: u32,
    field: String,
    oid: String,
    #[serde(default)]
    object_id_prefix: Vec<String>,
    transform: Option<String>,
    map: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(rename = "type")]
    device_type: String,
    score: u32,
    #[serde(default)]
    sections: Vec<String>,
    #[serde(default)]
    enterprise: Vec<u32>,
    #[serde(default)]
    object_id_prefix: Vec<String>,
    descr: Option<String>,
    model: Option<String>,
    min_bridge_ports: Option<u32>,
    ip_forwarding: Option<bool>,
    min_ip_interfaces: Option<usize>,
    #[serde(default)]
    if_types: Vec<u32>,
    min_ports: Option<usize>,
    port_types: Option<Vec<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVendor {
    name: String,
    descr: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtract {
    descr: String,
}

/// Sections a rule may require.
const SECTIONS: &[&str] = &[
    "printer",
    "ups",
    "host_resources",
    "bridge",
    "entity",
    "lldp",
    "cdp",
];

/// Most `[[vendor_get]]` objects one maker may list: they all go in one GET, which must stay
/// well inside a reply's size.
pub const MAX_VENDOR_GETS_PER_ENTERPRISE: usize = 24;

/// Checked, compiled rules.
#[derive(Debug)]
pub struct Rules {
    threshold: u32,
    rules: Vec<Rule>,
    vendors: Vec<(String, Regex)>,
    models: Vec<Regex>,
    firmwares: Vec<Regex>,
    enterprises: HashMap<u32, String>,
    vendor_gets: Vec<VendorGet>,
}

/// A value the standard MIBs may lack that a maker's MIB carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VendorField {
    Manufacturer,
    Model,
    Serial,
    Firmware,
    ManufactureDate,
    BatteryStatus,
    BatteryCharge,
    BatteryRuntime,
}

impl VendorField {
    pub const ALL: [VendorField; 8] = [
        VendorField::Manufacturer,
        VendorField::Model,
        VendorField::Serial,
        VendorField::Firmware,
        VendorField::ManufactureDate,
        VendorField::BatteryStatus,
        VendorField::BatteryCharge,
        VendorField::BatteryRuntime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VendorField::Manufacturer => "manufacturer",
            VendorField::Model => "model",
            VendorField::Serial => "serial",
            VendorField::Firmware => "firmware",
            VendorField::ManufactureDate => "manufacture_date",
            VendorField::BatteryStatus => "battery_status",
            VendorField::BatteryCharge => "battery_charge",
            VendorField::BatteryRuntime => "battery_runtime_seconds",
        }
    }

    /// Text fields take an OCTET STRING; the others an integer.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            VendorField::Manufacturer
                | VendorField::Model
                | VendorField::Serial
                | VendorField::Firmware
                | VendorField::ManufactureDate
        )
    }

    /// True when the standard MIBs already gave this value, so the maker's MIB is not asked.
    pub fn standard_has(self, d: &SnmpDevice) -> bool {
        let chassis = d.chassis.as_ref();
        let printer = d.printer.as_ref();
        let ups = d.ups.as_ref();
        match self {
            VendorField::Manufacturer => {
                usable_serial(chassis.and_then(|c| c.manufacturer.as_deref())).is_some()
                    || usable_serial(ups.and_then(|u| u.manufacturer.as_deref())).is_some()
            }
            VendorField::Model => {
                usable_serial(chassis.and_then(|c| c.model.as_deref())).is_some()
                    || usable_serial(printer.and_then(|p| p.model.as_deref())).is_some()
                    || usable_serial(ups.and_then(|u| u.model.as_deref())).is_some()
            }
            VendorField::Serial => {
                usable_serial(chassis.and_then(|c| c.serial.as_deref())).is_some()
                    || usable_serial(printer.and_then(|p| p.serial.as_deref())).is_some()
            }
            VendorField::Firmware => {
                usable_serial(chassis.and_then(|c| c.software_rev.as_deref())).is_some()
                    || usable_serial(chassis.and_then(|c| c.firmware_rev.as_deref())).is_some()
                    || usable_serial(ups.and_then(|u| u.firmware.as_deref())).is_some()
            }
            // ENTITY-MIB's entPhysicalMfgDate is not collected; UPS-MIB has none.
            VendorField::ManufactureDate => false,
            VendorField::BatteryStatus => ups.is_some_and(|u| u.battery_status.is_some()),
            VendorField::BatteryCharge => ups.is_some_and(|u| u.battery_charge.is_some()),
            VendorField::BatteryRuntime => ups.is_some_and(|u| u.battery_runtime_seconds.is_some()),
        }
    }
}

/// How a raw vendor value becomes the field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    /// Text as it is (trimmed), integers as they are.
    None,
    /// TimeTicks (hundredths of a second) to seconds.
    TicksToSeconds,
    /// "mm/dd/yy" or "mm/dd/yyyy" to "yyyy-mm-dd".
    MonthDayYear,
    /// The vendor's integer codes to the field's; codes not listed are dropped.
    Map(BTreeMap<i64, u32>),
}

/// One object of a maker's MIB to GET when the standard value is missing.
#[derive(Debug, Clone)]
pub struct VendorGet {
    pub enterprise: u32,
    pub field: VendorField,
    pub oid: Oid,
    /// sysObjectID prefixes this object applies to (any of); empty for every product.
    pub object_id_prefix: Vec<String>,
    pub transform: Transform,
}

impl VendorGet {
    fn applies_to(&self, object_id: &str) -> bool {
        self.object_id_prefix.is_empty()
            || self
                .object_id_prefix
                .iter()
                .any(|p| object_id == p.trim_end_matches('.') || object_id.starts_with(p.as_str()))
    }
}

/// A value worth keeping: trimmed, not empty, not a placeholder ("To be filled by O.E.M.",
/// "0000000"), the test identification applies to every text it reports.
fn usable_serial(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && !parc_shared::is_junk_serial(s))
        .map(str::to_string)
}

/// Checks one `[[vendor_get]]` entry, pushing every problem found.
fn vendor_get(raw: RawVendorGet, problems: &mut Vec<String>) -> Option<VendorGet> {
    let what = format!(
        "vendor_get {} {:?} {:?}",
        raw.enterprise, raw.field, raw.oid
    );
    let before = problems.len();
    let field = VendorField::ALL
        .into_iter()
        .find(|f| f.as_str() == raw.field);
    if field.is_none() {
        let known: Vec<&str> = VendorField::ALL.iter().map(|f| f.as_str()).collect();
        problems.push(format!(
            "{what}: unknown field (known: {})",
            known.join(", ")
        ));
    }
    let oid = match raw.oid.parse::<Oid>() {
        Ok(o) if o.enterprise() == Some(raw.enterprise) => Some(o),
        Ok(_) => {
            problems.push(format!(
                "{what}: not under 1.3.6.1.4.1.{}, the enterprise it is listed for",
                raw.enterprise
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    };
    for p in &raw.object_id_prefix {
        if !p.starts_with(&format!("1.3.6.1.4.1.{}.", raw.enterprise))
            && p != &format!("1.3.6.1.4.1.{}", raw.enterprise)
        {
            problems.push(format!(
                "{what}: object_id_prefix {p:?} is not under enterprise {}",
                raw.enterprise
            ));
        }
    }
    let transform = match (raw.transform.as_deref(), raw.map) {
        (None, None) => Transform::None,
        (Some("ticks_to_seconds"), None) => Transform::TicksToSeconds,
        (Some("month_day_year"), None) => Transform::MonthDayYear,
        (None, Some(map)) => {
            let mut codes = BTreeMap::new();
            for (k, v) in map {
                match k.parse::<i64>() {
                    Ok(k) => {
                        codes.insert(k, v);
                    }
                    Err(_) => problems.push(format!("{what}: map key {k:?} is not an integer")),
                }
            }
            Transform::Map(codes)
        }
        (Some(t), None) => {
            problems.push(format!(
                "{what}: unknown transform {t:?} (known: ticks_to_seconds, month_day_year)"
            ));
            Transform::None
        }
        (Some(_), Some(_)) => {
            problems.push(format!("{what}: give a transform or a map, not both"));
            Transform::None
        }
    };
    if let Some(field) = field {
        let fits = match (&transform, field) {
            (Transform::None, VendorField::BatteryStatus) => {
                problems.push(format!(
                    "{what}: battery_status needs a map from the vendor's codes to UPS-MIB's"
                ));
                true
            }
            (Transform::None, _) => true,
            (Transform::TicksToSeconds, VendorField::BatteryRuntime) => true,
            (Transform::MonthDayYear, VendorField::ManufactureDate) => true,
            (Transform::Map(_), f) => !f.is_text(),
            _ => false,
        };
        if !fits {
            problems.push(format!(
                "{what}: this transform does not apply to {}",
                field.as_str()
            ));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(VendorGet {
        enterprise: raw.enterprise,
        field: field?,
        oid: oid?,
        object_id_prefix: raw.object_id_prefix,
        transform,
    })
}

#[derive(Debug)]
struct Rule {
    name: String,
    device_type: DeviceType,
    score: u32,
    sections: Vec<String>,
    enterprise: Vec<u32>,
    object_id_prefix: Vec<String>,
    descr: Option<Regex>,
    model: Option<Regex>,
    min_bridge_ports: Option<u32>,
    ip_forwarding: Option<bool>,
    min_ip_interfaces: Option<usize>,
    if_types: Vec<u32>,
    min_ports: Option<usize>,
    port_types: Vec<u32>,
}

impl Rules {
    /// Parses and checks rules and the enterprise table, listing every problem found.
    pub fn parse(rules_toml: &str, enterprises_tsv: &str) -> Result<Rules, Vec<String>> {
        let raw: RawRules = toml::from_str(rules_toml).map_err(|e| vec![format!("rules: {e}")])?;
        let mut problems = Vec::new();
        let regex =
            |what: &str, pattern: &str, problems: &mut Vec<String>| match Regex::new(pattern) {
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(format!("{what}: bad regex {pattern:?}: {e}"));
                    None
                }
            };
        let mut rules = Vec::new();
        for r in raw.rule {
            let what = format!("rule {:?}", r.name);
            let device_type = DeviceType::ALL
                .into_iter()
                .find(|t| t.as_str() == r.device_type);
            if device_type.is_none() {
                problems.push(format!("{what}: unknown type {:?}", r.device_type));
            }
            for s in &r.sections {
                if !SECTIONS.contains(&s.as_str()) {
                    problems.push(format!(
                        "{what}: unknown section {s:?} (known: {})",
                        SECTIONS.join(", ")
                    ));
                }
            }
            let descr = r
                .descr
                .as_deref()
                .and_then(|p| regex(&what, p, &mut problems));
            let model = r
                .model
                .as_deref()
                .and_then(|p| regex(&what, p, &mut problems));
            let has_condition = !r.sections.is_empty()
                || !r.enterprise.is_empty()
                || !r.object_id_prefix.is_empty()
                || r.descr.is_some()
                || r.model.is_some()
                || r.min_bridge_ports.is_some()
                || r.ip_forwarding.is_some()
                || r.min_ip_interfaces.is_some()
                || !r.if_types.is_empty()
                || r.min_ports.is_some();
            if !has_condition {
                problems.push(format!("{what}: no condition, it would match everything"));
            }
            if let Some(device_type) = device_type {
                rules.push(Rule {
                    name: r.name,
                    device_type,
                    score: r.score,
                    sections: r.sections,
                    enterprise: r.enterprise,
                    object_id_prefix: r.object_id_prefix,
                    descr,
                    model,
                    min_bridge_ports: r.min_bridge_ports,
                    ip_forwarding: r.ip_forwarding,
                    min_ip_interfaces: r.min_ip_interfaces,
                    if_types: r.if_types,
                    min_ports: r.min_ports,
                    port_types: r.port_types.unwrap_or_else(|| DEFAULT_PORT_TYPES.to_vec()),
                });
            }
        }
        let vendors = raw
            .vendor
            .into_iter()
            .filter_map(|v| {
                let what = format!("vendor {:?}", v.name);
                regex(&what, &v.descr, &mut problems).map(|r| (v.name, r))
            })
            .collect();
        let extracts = |list: Vec<RawExtract>, what: &str, problems: &mut Vec<String>| {
            list.into_iter()
                .filter_map(|e| {
                    let r = regex(what, &e.descr, problems)?;
                    if r.capture_names().flatten().all(|n| n != "value") {
                        problems.push(format!("{what} {:?}: needs a (?P<value>…) group", e.descr));
                        return None;
                    }
                    Some(r)
                })
                .collect::<Vec<_>>()
        };
        let models = extracts(raw.model, "model", &mut problems);
        let firmwares = extracts(raw.firmware, "firmware", &mut problems);
        let vendor_gets: Vec<VendorGet> = raw
            .vendor_get
            .into_iter()
            .filter_map(|g| vendor_get(g, &mut problems))
            .collect();
        let mut per_enterprise: BTreeMap<u32, usize> = BTreeMap::new();
        for g in &vendor_gets {
            *per_enterprise.entry(g.enterprise).or_default() += 1;
        }
        for (enterprise, n) in per_enterprise {
            if n > MAX_VENDOR_GETS_PER_ENTERPRISE {
                problems.push(format!(
                    "vendor_get: {n} objects for enterprise {enterprise}, over the \
                     {MAX_VENDOR_GETS_PER_ENTERPRISE} one GET may carry"
                ));
            }
        }
        let mut enterprises = HashMap::new();
        for (n, line) in enterprises_tsv.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('\t') {
                Some((num, name))
                    if num.trim().parse::<u32>().is_ok() && !name.trim().is_empty() =>
                {
                    let num = num.trim().parse::<u32>().expect("checked");
                    if enterprises.insert(num, name.trim().to_string()).is_some() {
                        problems.push(format!(
                            "enterprise numbers line {}: {num} listed twice",
                            n + 1
                        ));
                    }
                }
                _ => problems.push(format!(
                    "enterprise numbers line {}: expected \"number<TAB>vendor\", got {line:?}",
                    n + 1
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Rules {
            threshold: raw.threshold,
            rules,
            vendors,
            models,
            firmwares,
            enterprises,
            vendor_gets,
        })
    }

    /// The rules shipped with the agent (checked by a unit test, so this cannot fail in a
    /// released build).
    pub fn builtin() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| {
            Rules::parse(RULES_TOML, ENTERPRISES_TSV)
                .unwrap_or_else(|p| panic!("built-in SNMP rules are invalid: {}", p.join("; ")))
        })
    }

    pub fn vendor_of(&self, enterprise: u32) -> Option<&str> {
        self.enterprises.get(&enterprise).map(String::as_str)
    }

    pub fn enterprise_count(&self) -> usize {
        self.enterprises.len()
    }

    /// The maker's objects worth a GET for this device: its sysObjectID names their
    /// enterprise (and product prefix, when one is given), and the standard MIBs left their
    /// field empty. In the file's order, which is the order of preference within a field.
    /// Pure.
    pub fn vendor_requests(&self, device: &SnmpDevice) -> Vec<&VendorGet> {
        let Some(object_id) = device.system.object_id.as_deref() else {
            return Vec::new();
        };
        let Some(enterprise) = object_id.parse::<Oid>().ok().and_then(|o| o.enterprise()) else {
            return Vec::new();
        };
        self.vendor_gets
            .iter()
            .filter(|g| g.enterprise == enterprise && g.applies_to(object_id))
            .filter(|g| !g.field.standard_has(device))
            .collect()
    }
}

/// What the rules look at, computed once per device.
struct Evidence<'a> {
    sections: BTreeSet<&'static str>,
    enterprise: Option<u32>,
    object_id: Option<&'a str>,
    descr: &'a str,
    models: Vec<&'a str>,
    bridge_ports: Option<u32>,
    ip_forwarding: Option<bool>,
    ip_interfaces: usize,
    if_types: Vec<u32>,
}

impl<'a> Evidence<'a> {
    fn of(d: &'a SnmpDevice) -> Self {
        let mut sections = BTreeSet::new();
        for (name, present) in [
            ("printer", d.printer.is_some()),
            ("ups", d.ups.is_some()),
            ("host_resources", d.host.is_some()),
            ("bridge", d.bridge.is_some()),
            ("entity", d.chassis.is_some()),
            ("lldp", !d.lldp_neighbors.is_empty()),
            ("cdp", !d.cdp_neighbors.is_empty()),
        ] {
            if present {
                sections.insert(name);
            }
        }
        let object_id = d.system.object_id.as_deref();
        let enterprise = object_id
            .and_then(|o| o.parse::<Oid>().ok())
            .and_then(|o| o.enterprise());
        let models = [
            d.chassis.as_ref().and_then(|c| c.model.as_deref()),
            d.chassis.as_ref().and_then(|c| c.descr.as_deref()),
            d.printer.as_ref().and_then(|p| p.model.as_deref()),
            d.ups.as_ref().and_then(|u| u.model.as_deref()),
            d.vendor_mib.as_ref().and_then(|v| v.model.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let ip_interfaces = d
            .ip_addresses
            .iter()
            .filter(|a| !a.ip.starts_with("127.") && a.ip != "::1")
            .filter_map(|a| a.if_index)
            .collect::<BTreeSet<_>>()
            .len();
        Evidence {
            sections,
            enterprise,
            object_id,
            descr: d.system.descr.as_deref().unwrap_or(""),
            models,
            bridge_ports: d.bridge.as_ref().and_then(|b| b.num_ports),
            ip_forwarding: d.ip_forwarding,
            ip_interfaces,
            if_types: d.interfaces.iter().filter_map(|i| i.if_type).collect(),
        }
    }
}

impl Rule {
    fn matches(&self, e: &Evidence<'_>) -> bool {
        self.sections
            .iter()
            .all(|s| e.sections.contains(s.as_str()))
            && (self.enterprise.is_empty()
                || e.enterprise.is_some_and(|n| self.enterprise.contains(&n)))
            && (self.object_id_prefix.is_empty()
                || e.object_id.is_some_and(|o| {
                    self.object_id_prefix
                        .iter()
                        .any(|p| o == p.trim_end_matches('.') || o.starts_with(p.as_str()))
                }))
            && self.descr.as_ref().is_none_or(|r| r.is_match(e.descr))
            && self
                .model
                .as_ref()
                .is_none_or(|r| e.models.iter().any(|m| r.is_match(m)))
            && self
                .min_bridge_ports
                .is_none_or(|n| e.bridge_ports.is_some_and(|p| p >= n))
            && self
                .ip_forwarding
                .is_none_or(|f| e.ip_forwarding == Some(f))
            && self.min_ip_interfaces.is_none_or(|n| e.ip_interfaces >= n)
            && (self.if_types.is_empty() || e.if_types.iter().any(|t| self.if_types.contains(t)))
            && self.min_ports.is_none_or(|n| {
                e.if_types
                    .iter()
                    .filter(|t| self.port_types.contains(t))
                    .count()
                    >= n
            })
    }
}

/// Identifies a device with the built-in rules.
pub fn identify(device: &SnmpDevice) -> Identification {
    identify_with(Rules::builtin(), device)
}

/// Identifies a device with the given rules. Pure.
pub fn identify_with(rules: &Rules, device: &SnmpDevice) -> Identification {
    let evidence = Evidence::of(device);
    let mut scores: Vec<(DeviceType, u32, usize)> = Vec::new();
    let mut matched: Vec<&Rule> = Vec::new();
    for (order, rule) in rules.rules.iter().enumerate() {
        if rule.matches(&evidence) {
            matched.push(rule);
            match scores.iter_mut().find(|(t, _, _)| *t == rule.device_type) {
                Some(entry) => entry.1 += rule.score,
                None => scores.push((rule.device_type, rule.score, order)),
            }
        }
    }
    // Highest score; on a tie, the type whose first rule comes first in the file.
    scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let device_type = scores
        .first()
        .filter(|(_, score, _)| *score >= rules.threshold)
        .map_or(DeviceType::Other, |(t, _, _)| *t);
    let evidence_names = matched
        .iter()
        .filter(|r| r.device_type == device_type)
        .map(|r| r.name.clone())
        .collect();

    let usable = usable_serial;
    let chassis = device.chassis.as_ref();
    // Standard MIBs first; the maker's MIB only fills what they left empty.
    let vendor_mib = device.vendor_mib.as_ref();
    let descr = evidence.descr;
    let extract = |list: &[Regex]| {
        list.iter().find_map(|r| {
            r.captures(descr)
                .and_then(|c| c.name("value"))
                .map(|m| m.as_str().trim().to_string())
                .filter(|s| !s.is_empty())
        })
    };

    let vendor = evidence
        .enterprise
        .and_then(|n| rules.vendor_of(n))
        .map(str::to_string)
        .or_else(|| usable(chassis.and_then(|c| c.manufacturer.as_deref())))
        .or_else(|| usable(device.ups.as_ref().and_then(|u| u.manufacturer.as_deref())))
        .or_else(|| usable(vendor_mib.and_then(|v| v.manufacturer.as_deref())))
        .or_else(|| {
            rules
                .vendors
                .iter()
                .find(|(_, r)| r.is_match(descr))
                .map(|(name, _)| name.clone())
        });
    let model = usable(chassis.and_then(|c| c.model.as_deref()))
        .or_else(|| usable(device.printer.as_ref().and_then(|p| p.model.as_deref())))
        .or_else(|| usable(device.ups.as_ref().and_then(|u| u.model.as_deref())))
        .or_else(|| usable(vendor_mib.and_then(|v| v.model.as_deref())))
        .or_else(|| extract(&rules.models));
    let serial = usable(chassis.and_then(|c| c.serial.as_deref()))
        .or_else(|| usable(device.printer.as_ref().and_then(|p| p.serial.as_deref())))
        .or_else(|| usable(vendor_mib.and_then(|v| v.serial.as_deref())));
    let firmware = usable(chassis.and_then(|c| c.software_rev.as_deref()))
        .or_else(|| usable(chassis.and_then(|c| c.firmware_rev.as_deref())))
        .or_else(|| usable(device.ups.as_ref().and_then(|u| u.firmware.as_deref())))
        .or_else(|| usable(vendor_mib.and_then(|v| v.firmware.as_deref())))
        .or_else(|| extract(&rules.firmwares));

    Identification {
        device_type,
        vendor,
        model,
        serial,
        firmware,
        enterprise: evidence.enterprise,
        evidence: evidence_names,
    }
}

#[cfg(test)]
mod tests;
