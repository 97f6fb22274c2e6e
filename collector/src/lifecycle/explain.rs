//! Why a source is on its asset. At each document the store records, on the source's row, the
//! keys that agreed between the document and the asset it was merged into (with their
//! values), and the identity keys the document carried. The first explains the merge to an
//! admin; the second lets a split tell which MACs and addresses belong to which source.

use serde::{Deserialize, Serialize};

use crate::reconcile::{DeviceCandidate, DeviceKeys, HostCandidate, Keys, SeenHost};

/// One key shared by the document and the asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedKey {
    /// serial, uuid, agent_id, mac, hostname, ip.
    pub key: String,
    pub value: String,
}

fn key(key: &str, value: &str) -> MatchedKey {
    MatchedKey {
        key: key.into(),
        value: value.into(),
    }
}

/// The identity keys one source reported last, normalised as matching uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default)]
    pub macs: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
}

impl ReportedKeys {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("keys serialise")
    }

    /// Unreadable or absent (sources older than this column): nothing known.
    pub fn from_json(text: Option<&str>) -> ReportedKeys {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

pub fn to_json(keys: &[MatchedKey]) -> String {
    serde_json::to_string(keys).expect("keys serialise")
}

pub fn from_json(text: Option<&str>) -> Vec<MatchedKey> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// Every key an inventory shares with the asset it was merged into (`None`: a new asset,
/// nothing matched). The decisive one is the source's rule; the others corroborate.
pub fn inventory(incoming: &Keys, asset: Option<&Keys>) -> Vec<MatchedKey> {
    let Some(asset) = asset else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(x), Some(y)) if x == y => Some(x.clone()),
        _ => None,
    };
    if let Some(v) = same(&incoming.serial, &asset.serial) {
        out.push(key("serial", &v));
    }
    if let Some(v) = same(&incoming.uuid, &asset.uuid) {
        out.push(key("uuid", &v));
    }
    for a in incoming
        .agent_ids
        .iter()
        .filter(|a| asset.agent_ids.contains(a))
    {
        out.push(key("agent_id", a));
    }
    for m in incoming.macs.iter().filter(|m| asset.macs.contains(m)) {
        out.push(key("mac", m));
    }
    if incoming.site_id == asset.site_id {
        if let Some(v) = same(&incoming.name, &asset.name) {
            out.push(key("hostname", &v));
        }
    }
    out
}

/// What a swept host shares with the asset it was merged into.
pub fn host(seen: &SeenHost, asset: Option<&HostCandidate>) -> Vec<MatchedKey> {
    let Some(asset) = asset else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(mac) = seen.mac.as_ref().filter(|m| asset.macs.contains(m)) {
        out.push(key("mac", mac));
    }
    if asset.addresses.contains(&seen.ip) {
        out.push(key("ip", &seen.ip));
    }
    out
}

/// What an SNMP device shares with the asset it was merged into.
pub fn device(dev: &DeviceKeys, asset: Option<&DeviceCandidate>) -> Vec<MatchedKey> {
    let Some(asset) = asset else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (&dev.serial, &asset.serial) {
        if a == b {
            out.push(key("serial", a));
        }
    }
    for m in dev.macs.iter().filter(|m| asset.macs.contains(m)) {
        out.push(key("mac", m));
    }
    if asset.addresses.contains(&dev.ip) {
        out.push(key("ip", &dev.ip));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(serial: Option<&str>, macs: &[&str], agent: &str, name: &str, site: i64) -> Keys {
        Keys {
            serial: serial.map(str::to_string),
            uuid: None,
            macs: macs.iter().map(|m| m.to_string()).collect(),
            agent_ids: vec![agent.to_string()],
            machine_id: None,
            name: Some(name.to_string()),
            site_id: site,
        }
    }

    fn pairs(keys: Vec<MatchedKey>) -> Vec<(String, String)> {
        keys.into_iter().map(|k| (k.key, k.value)).collect()
    }

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn inventory_keys() {
        let m1 = "00:1a:2b:3c:4d:01";
        let m2 = "00:1a:2b:3c:4d:02";
        let cases = [
            (
                "new asset: nothing matched",
                keys(Some("SN1"), &[m1], "a1", "pc1", 1),
                None,
                owned(&[]),
            ),
            (
                "serial, agent, one of two MACs and the name",
                keys(Some("SN1"), &[m1, m2], "a1", "pc1", 1),
                Some(keys(Some("SN1"), &[m1], "a1", "pc1", 1)),
                owned(&[
                    ("serial", "SN1"),
                    ("agent_id", "a1"),
                    ("mac", m1),
                    ("hostname", "pc1"),
                ]),
            ),
            (
                "a name in another site is no match",
                keys(None, &[], "a2", "pc1", 2),
                Some(keys(Some("SN1"), &[m1], "a1", "pc1", 1)),
                owned(&[]),
            ),
        ];
        for (name, incoming, asset, want) in cases {
            assert_eq!(pairs(inventory(&incoming, asset.as_ref())), want, "{name}");
        }
    }

    #[test]
    fn host_and_device_keys() {
        let seen = SeenHost {
            mac: Some("m1".into()),
            ip: "198.18.0.5".into(),
            site_id: 1,
        };
        let asset = HostCandidate {
            asset_id: 1,
            site_id: 1,
            macs: vec!["m1".into()],
            addresses: vec!["198.18.0.5".into()],
        };
        assert_eq!(
            pairs(host(&seen, Some(&asset))),
            owned(&[("mac", "m1"), ("ip", "198.18.0.5")])
        );
        assert!(host(&seen, None).is_empty());

        let dev = DeviceKeys {
            serial: Some("FOC1".into()),
            macs: vec!["m1".into(), "m2".into()],
            ip: "198.18.0.1".into(),
            site_id: 1,
        };
        let asset = DeviceCandidate {
            asset_id: 1,
            site_id: 1,
            serial: Some("FOC1".into()),
            macs: vec!["m2".into()],
            addresses: vec![],
        };
        assert_eq!(
            pairs(device(&dev, Some(&asset))),
            owned(&[("serial", "FOC1"), ("mac", "m2")])
        );
    }

    #[test]
    fn json_round_trip_and_old_rows() {
        let k = ReportedKeys {
            name: Some("pc1".into()),
            macs: vec!["m1".into()],
            ..Default::default()
        };
        assert_eq!(ReportedKeys::from_json(Some(&k.to_json())), k);
        assert_eq!(ReportedKeys::from_json(None), ReportedKeys::default());
        assert_eq!(
            ReportedKeys::from_json(Some("not json")),
            ReportedKeys::default()
        );
        assert!(from_json(None).is_empty());
    }
}
