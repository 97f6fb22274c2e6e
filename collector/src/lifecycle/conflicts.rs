//! Where an automatic source disagrees with a locked manual value. The manual value stays; the
//! disagreement is shown so that someone can decide which one is wrong (the PC moved, the
//! owner left, the switch's sysLocation is outdated).

use parc_shared::Inventory;
use serde::Serialize;
use serde_json::Value;

/// Manual values that automatic sources can contradict (location by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locked {
    pub asset_tag: Option<String>,
    pub owner: Option<String>,
    pub location: Option<String>,
}

/// One value an automatic source reported for a lockable field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// "owner", "location" or "asset_tag".
    pub field: &'static str,
    pub value: String,
    /// Source kind: agent_inventory, snmp.
    pub source: &'static str,
    pub observed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub field: &'static str,
    pub manual: String,
    /// What the source says; several logged-in users are listed together.
    pub automatic: String,
    pub source: &'static str,
    pub observed_at: Option<String>,
}

/// What the latest inventory and SNMP record say about lockable fields: the users logged in
/// (owner) and the device's sysLocation (location). No source collects an asset tag yet (DMI
/// chassis asset tags are not in the inventory), so nothing contradicts one.
pub fn observations(
    inv: Option<&Inventory>,
    inv_at: Option<&str>,
    snmp: Option<&Value>,
    snmp_at: Option<&str>,
) -> Vec<Observation> {
    let mut out = Vec::new();
    if let Some(inv) = inv {
        for s in &inv.users.logged_in {
            let user = s.user.trim();
            if !user.is_empty() {
                out.push(Observation {
                    field: "owner",
                    value: user.to_string(),
                    source: "agent_inventory",
                    observed_at: inv_at.map(str::to_string),
                });
            }
        }
    }
    let location = snmp
        .and_then(|s| s.pointer("/system/location"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if let Some(location) = location {
        out.push(Observation {
            field: "location",
            value: location.to_string(),
            source: "snmp",
            observed_at: snmp_at.map(str::to_string),
        });
    }
    out
}

/// Case, spacing and (for accounts) the Windows domain or Kerberos realm do not count as
/// differences: "HOSP\\JDupont" is the owner "jdupont".
fn normalise(field: &str, v: &str) -> String {
    let v = v.trim().to_lowercase();
    let v = if field == "owner" {
        let v = v.rsplit('\\').next().unwrap_or(&v);
        v.split('@').next().unwrap_or(v).to_string()
    } else {
        v
    };
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The conflicts between locked values and observations. For a field reported several times
/// by one source (several users logged in), the manual value agreeing with any of them is no
/// conflict.
pub fn conflicts(locked: &Locked, observed: &[Observation]) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (field, manual) in [
        ("asset_tag", &locked.asset_tag),
        ("owner", &locked.owner),
        ("location", &locked.location),
    ] {
        let Some(manual) = manual else { continue };
        let mut sources: Vec<&'static str> = observed
            .iter()
            .filter(|o| o.field == field)
            .map(|o| o.source)
            .collect();
        sources.sort_unstable();
        sources.dedup();
        for source in sources {
            let seen: Vec<&Observation> = observed
                .iter()
                .filter(|o| o.field == field && o.source == source)
                .collect();
            let want = normalise(field, manual);
            if seen.iter().any(|o| normalise(field, &o.value) == want) {
                continue;
            }
            out.push(Conflict {
                field,
                manual: manual.clone(),
                automatic: seen
                    .iter()
                    .map(|o| o.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                source,
                observed_at: seen.iter().filter_map(|o| o.observed_at.clone()).max(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs(field: &'static str, value: &str, source: &'static str) -> Observation {
        Observation {
            field,
            value: value.into(),
            source,
            observed_at: Some("2026-11-23T08:00:00.000000Z".into()),
        }
    }

    fn locked(tag: Option<&str>, owner: Option<&str>, location: Option<&str>) -> Locked {
        Locked {
            asset_tag: tag.map(str::to_string),
            owner: owner.map(str::to_string),
            location: location.map(str::to_string),
        }
    }

    /// Name, locked values, observations, expected (field, automatic) conflicts.
    type Case = (
        &'static str,
        Locked,
        Vec<Observation>,
        Vec<(&'static str, &'static str)>,
    );

    #[test]
    fn table() {
        let cases: Vec<Case> = vec![
            (
                "nothing locked: nothing to contradict",
                locked(None, None, None),
                vec![obs("owner", "mmartin", "agent_inventory")],
                vec![],
            ),
            (
                "owner differs from the logged-in user",
                locked(None, Some("jdupont"), None),
                vec![obs("owner", "mmartin", "agent_inventory")],
                vec![("owner", "mmartin")],
            ),
            (
                "domain and case do not count",
                locked(None, Some("JDupont"), None),
                vec![obs("owner", "HOSP\\jdupont", "agent_inventory")],
                vec![],
            ),
            (
                "one of several sessions is the owner",
                locked(None, Some("jdupont"), None),
                vec![
                    obs("owner", "admin", "agent_inventory"),
                    obs("owner", "jdupont@hosp.example", "agent_inventory"),
                ],
                vec![],
            ),
            (
                "several sessions, none the owner: listed together",
                locked(None, Some("jdupont"), None),
                vec![
                    obs("owner", "a", "agent_inventory"),
                    obs("owner", "b", "agent_inventory"),
                ],
                vec![("owner", "a, b")],
            ),
            (
                "owner set, nobody logged in: no evidence against it",
                locked(None, Some("jdupont"), None),
                vec![],
                vec![],
            ),
            (
                "location vs sysLocation, spacing ignored",
                locked(None, None, Some("Bâtiment A  étage 2")),
                vec![obs("location", "bâtiment a étage 2", "snmp")],
                vec![],
            ),
            (
                "location vs another sysLocation",
                locked(None, None, Some("Bâtiment A")),
                vec![obs("location", "Salle serveur B", "snmp")],
                vec![("location", "Salle serveur B")],
            ),
            (
                "asset tag vs a collected one",
                locked(Some("INV-1"), None, None),
                vec![obs("asset_tag", "INV-2", "agent_inventory")],
                vec![("asset_tag", "INV-2")],
            ),
        ];
        for (name, locked, observed, want) in cases {
            let got: Vec<(&str, String)> = conflicts(&locked, &observed)
                .into_iter()
                .map(|c| (c.field, c.automatic))
                .collect();
            let want: Vec<(&str, String)> =
                want.into_iter().map(|(f, a)| (f, a.to_string())).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn observations_from_inventory_and_snmp() {
        let mut inv = Inventory::default();
        inv.users.logged_in.push(parc_shared::inventory::Session {
            user: "mmartin".into(),
            ..Default::default()
        });
        let snmp = json!({"system": {"location": " Local technique 3 "}});
        let got = observations(Some(&inv), Some("t1"), Some(&snmp), Some("t2"));
        assert_eq!(
            got,
            vec![
                Observation {
                    field: "owner",
                    value: "mmartin".into(),
                    source: "agent_inventory",
                    observed_at: Some("t1".into())
                },
                Observation {
                    field: "location",
                    value: "Local technique 3".into(),
                    source: "snmp",
                    observed_at: Some("t2".into())
                },
            ]
        );
        assert!(observations(None, None, Some(&json!({"system": {}})), None).is_empty());
    }
}
