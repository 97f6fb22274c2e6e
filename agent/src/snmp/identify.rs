//! Identification: what a device is (type, vendor, model, serial, firmware), decided by a pure
//! function over the collected values and the rules in `agent/data/snmp-rules.toml`.
//!
//! The rules are data, not code branches, so they can be read and tuned without touching Rust.
//! They are parsed into raw types, then checked into compiled ones (regexes built, types
//! resolved), with every problem reported at once.

use std::collections::{BTreeSet, HashMap};
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

/// Checked, compiled rules.
#[derive(Debug)]
pub struct Rules {
    threshold: u32,
    rules: Vec<Rule>,
    vendors: Vec<(String, Regex)>,
    models: Vec<Regex>,
    firmwares: Vec<Regex>,
    enterprises: HashMap<u32, String>,
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

    let usable = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty() && !parc_shared::is_junk_serial(s))
            .map(str::to_string)
    };
    let chassis = device.chassis.as_ref();
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
        .or_else(|| extract(&rules.models));
    let serial = usable(chassis.and_then(|c| c.serial.as_deref()))
        .or_else(|| usable(device.printer.as_ref().and_then(|p| p.serial.as_deref())));
    let firmware = usable(chassis.and_then(|c| c.software_rev.as_deref()))
        .or_else(|| usable(chassis.and_then(|c| c.firmware_rev.as_deref())))
        .or_else(|| usable(device.ups.as_ref().and_then(|u| u.firmware.as_deref())))
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
