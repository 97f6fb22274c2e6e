//! Windows programs from the registry Uninstall keys (what "Apps & features" lists): the
//! 64-bit and 32-bit views of `HKLM`, and the per-user installs (Teams, Zoom, VS Code user
//! setup) of every user hive loaded in `HKU`.
//!
//! Read through the registry API (winreg), so names are Unicode as stored. Known limit: the
//! hive of a user who is not logged on is not loaded, and that user's own installs are not
//! listed until they log on again. Deciding what one key's values make is pure
//! ([`program`]) and tested on every platform; only [`gather`] touches the registry.

use chrono::{DateTime, NaiveDate, Utc};
use parc_shared::inventory::Software;

/// The Uninstall key, under `HKLM\SOFTWARE` (both views) and under each `HKU\<SID>\Software`.
pub const UNINSTALL: &str = r"Microsoft\Windows\CurrentVersion\Uninstall";

/// One registry value of an Uninstall entry, in the two types the entries use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegData {
    /// REG_SZ and REG_EXPAND_SZ.
    Text(String),
    /// REG_DWORD.
    Number(u32),
}

/// The program one Uninstall entry describes, or None for entries Windows hides too: no
/// DisplayName, system components, and updates (ParentKeyName). `arch` is the view the key
/// was read from; None for per-user entries, which do not say.
pub fn program(values: &[(String, RegData)], arch: Option<&str>) -> Option<Software> {
    let get = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text = |name: &str| match get(name)? {
        RegData::Text(t) => Some(t.trim()).filter(|t| !t.is_empty()),
        RegData::Number(_) => None,
    };
    // Some installers write numbers as strings ("1", "0x1640"): accept both.
    let number = |name: &str| match get(name)? {
        RegData::Number(n) => Some(u64::from(*n)),
        RegData::Text(t) => {
            let t = t.trim();
            match t.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            }
        }
    };
    if number("SystemComponent") == Some(1) || text("ParentKeyName").is_some() {
        return None;
    }
    Some(Software {
        name: text("DisplayName")?.to_string(),
        version: text("DisplayVersion").map(str::to_string),
        arch: arch.map(str::to_string),
        publisher: text("Publisher").map(str::to_string),
        size_bytes: number("EstimatedSize").map(|kib| kib.saturating_mul(1024)),
        install_date: text("InstallDate").and_then(install_date),
        source: "registry".into(),
    })
}

/// InstallDate is meant to be YYYYMMDD; some installers write it with separators.
fn install_date(text: &str) -> Option<DateTime<Utc>> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let date = NaiveDate::parse_from_str(&digits, "%Y%m%d").ok()?;
    Some(DateTime::<Utc>::from_naive_utc_and_offset(
        date.and_hms_opt(0, 0, 0)?,
        Utc,
    ))
}

/// Drops repeats: on 32-bit Windows both views are the same key, and a program installed for
/// the machine and for a user is listed once per place.
pub fn dedup(mut all: Vec<Software>) -> Vec<Software> {
    let mut seen = std::collections::HashSet::new();
    all.retain(|s| seen.insert((s.name.clone(), s.version.clone(), s.arch.clone())));
    all
}

/// The loaded user hives worth reading: real accounts (S-1-5-21-…, and Azure AD's S-1-12-1-…),
/// not the `_Classes` companions nor the service accounts.
pub fn is_user_hive(name: &str) -> bool {
    (name.starts_with("S-1-5-21-") || name.starts_with("S-1-12-1-")) && !name.ends_with("_Classes")
}

#[cfg(windows)]
pub fn gather() -> Vec<Software> {
    use winreg::enums::{
        HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_32KEY, KEY_WOW64_64KEY,
    };
    use winreg::RegKey;

    let machine = RegKey::predef(HKEY_LOCAL_MACHINE);
    let machine_key = format!(r"SOFTWARE\{UNINSTALL}");
    let mut all = Vec::new();
    for (view, arch) in [(KEY_WOW64_64KEY, "x86_64"), (KEY_WOW64_32KEY, "x86")] {
        match machine.open_subkey_with_flags(&machine_key, KEY_READ | view) {
            Ok(key) => all.extend(entries(&key, Some(arch))),
            // No 32-bit view: 32-bit Windows, or Wine.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!(key = %machine_key, arch, "no Uninstall key in this view")
            }
            Err(e) => {
                tracing::warn!(key = %machine_key, arch, error = %e, "cannot open the Uninstall key")
            }
        }
    }
    let users = RegKey::predef(HKEY_USERS);
    for sid in users
        .enum_keys()
        .filter_map(Result::ok)
        .filter(|s| is_user_hive(s))
    {
        let path = format!(r"{sid}\Software\{UNINSTALL}");
        match users.open_subkey_with_flags(&path, KEY_READ) {
            Ok(key) => all.extend(entries(&key, None)),
            // Most users have installed nothing for themselves: no key at all.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(key = %path, error = %e, "cannot open a user's Uninstall key"),
        }
    }
    dedup(all)
}

#[cfg(windows)]
fn entries(uninstall: &winreg::RegKey, arch: Option<&str>) -> Vec<Software> {
    use winreg::enums::{RegType, KEY_READ};
    use winreg::types::FromRegValue;

    let mut out = Vec::new();
    for name in uninstall.enum_keys().filter_map(Result::ok) {
        let Ok(entry) = uninstall.open_subkey_with_flags(&name, KEY_READ) else {
            continue;
        };
        let values: Vec<(String, RegData)> = entry
            .enum_values()
            .filter_map(Result::ok)
            .filter_map(|(n, v)| {
                let data = match v.vtype {
                    RegType::REG_SZ | RegType::REG_EXPAND_SZ => {
                        String::from_reg_value(&v).ok().map(RegData::Text)
                    }
                    RegType::REG_DWORD => u32::from_reg_value(&v).ok().map(RegData::Number),
                    _ => None,
                }?;
                Some((n, data))
            })
            .collect();
        out.extend(program(&values, arch));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, RegData)]) -> Vec<(String, RegData)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }

    fn t(s: &str) -> RegData {
        RegData::Text(s.into())
    }

    #[test]
    fn uninstall_entries() {
        let seven_zip = entry(&[
            ("DisplayName", t("7-Zip 23.01 (x64)")),
            ("DisplayVersion", t("23.01")),
            ("Publisher", t("Igor Pavlov")),
            ("EstimatedSize", RegData::Number(0x1640)),
            ("NoModify", RegData::Number(1)),
        ]);
        let got = program(&seven_zip, Some("x86_64")).unwrap();
        assert_eq!(got.name, "7-Zip 23.01 (x64)");
        assert_eq!(got.size_bytes, Some(0x1640 * 1024));
        assert_eq!(got.publisher.as_deref(), Some("Igor Pavlov"));
        assert_eq!(
            (got.arch.as_deref(), got.source.as_str()),
            (Some("x86_64"), "registry")
        );

        let per_user = entry(&[
            ("displayname", t("Zoom Workplace (64-bit)")),
            ("DisplayVersion", t("6.2.11")),
            ("InstallDate", t("2024-01-15")),
            ("Publisher", t("")),
        ]);
        let got = program(&per_user, None).unwrap();
        assert_eq!(got.arch, None, "a per-user key does not say");
        assert_eq!(got.publisher, None, "an empty REG_SZ is absent, not blank");
        assert_eq!(
            got.install_date.unwrap().format("%Y-%m-%d").to_string(),
            "2024-01-15"
        );
    }

    #[test]
    fn hidden_entries() {
        let cases = [
            entry(&[
                (
                    "DisplayName",
                    t("Office 16 Click-to-Run Extensibility Component"),
                ),
                ("SystemComponent", RegData::Number(1)),
            ]),
            entry(&[
                ("DisplayName", t("Security Update for Windows (KB5034441)")),
                ("ParentKeyName", t("OperatingSystem")),
            ]),
            entry(&[("SystemComponent", RegData::Number(0))]),
            entry(&[("DisplayName", t("  "))]),
            entry(&[("DisplayName", t("Legacy")), ("SystemComponent", t("1"))]),
        ];
        for values in cases {
            assert_eq!(program(&values, Some("x86")), None, "{values:?}");
        }
        let shown = entry(&[
            ("DisplayName", t("Shown")),
            ("SystemComponent", RegData::Number(0)),
            ("EstimatedSize", t("0x10")),
            ("InstallDate", t("garbage")),
        ]);
        let got = program(&shown, Some("x86")).unwrap();
        assert_eq!((got.size_bytes, got.install_date), (Some(16 * 1024), None));
    }

    #[test]
    fn repeats_are_listed_once() {
        let sw = |name: &str, arch: Option<&str>| Software {
            name: name.into(),
            arch: arch.map(str::to_string),
            source: "registry".into(),
            ..Default::default()
        };
        let all = dedup(vec![
            sw("A", Some("x86")),
            sw("A", Some("x86")),
            sw("A", Some("x86_64")),
            sw("B", None),
            sw("B", None),
        ]);
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn user_hives() {
        let cases = [
            ("S-1-5-21-1004336348-1177238915-682003330-1001", true),
            (
                "S-1-5-21-1004336348-1177238915-682003330-1001_Classes",
                false,
            ),
            ("S-1-12-1-1234-5678-91011-1213", true),
            ("S-1-5-18", false),
            (".DEFAULT", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_user_hive(name), want, "{name}");
        }
    }
}
