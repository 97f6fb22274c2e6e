//! Windows programs from the registry Uninstall keys (what "Apps & features" lists).
//!
//! MINIMAL IMPLEMENTATION: it runs `reg query <key> /s` once per registry view instead of
//! calling the registry API, to add no Windows-only dependency that cannot be built or tested
//! on the Linux CI. Known limits: reg.exe prints in the console code page, so non-ASCII names
//! may be mangled; per-user (HKCU) installs are not listed. The parser is pure and tested on
//! every platform; only [`gather`] is Windows-only.

use chrono::{DateTime, NaiveDate, Utc};
use parc_shared::inventory::Software;

/// (key, architecture of the programs it lists) on 64-bit Windows.
pub const UNINSTALL_KEYS: &[(&str, &str)] = &[
    (
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        "x86_64",
    ),
    (
        r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
        "x86",
    ),
];

#[cfg(windows)]
pub fn gather() -> Vec<Software> {
    let mut all = Vec::new();
    for (key, arch) in UNINSTALL_KEYS {
        match std::process::Command::new("reg")
            .args(["query", key, "/s"])
            .output()
        {
            Ok(out) if out.status.success() => {
                all.extend(parse_reg_query(&String::from_utf8_lossy(&out.stdout), arch))
            }
            Ok(out) => {
                tracing::debug!(key, status = %out.status, "reg query failed (no such view?)")
            }
            Err(e) => tracing::warn!(key, error = %e, "cannot run reg.exe"),
        }
    }
    all
}

/// Parses `reg query ... /s` output: a key line ("HKEY_LOCAL_MACHINE\...\{GUID}") followed by
/// indented "    Name    REG_TYPE    data" lines. Entries without a DisplayName, system
/// components and updates (ParentKeyName) are hidden by Windows too.
pub fn parse_reg_query(text: &str, arch: &str) -> Vec<Software> {
    let mut out = Vec::new();
    let mut values: Vec<(String, String)> = Vec::new();
    let flush = |values: &mut Vec<(String, String)>, out: &mut Vec<Software>| {
        if let Some(s) = program(values, arch) {
            out.push(s);
        }
        values.clear();
    };
    for line in text.lines() {
        if line.starts_with("HKEY_") {
            flush(&mut values, &mut out);
        } else if let Some((name, rest)) = line.trim_start().split_once("    REG_") {
            let data = rest.split_once("    ").map(|(_, d)| d.trim()).unwrap_or("");
            values.push((name.trim().to_string(), data.to_string()));
        }
    }
    flush(&mut values, &mut out);
    out
}

fn program(values: &[(String, String)], arch: &str) -> Option<Software> {
    let get = |name: &str| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let dword = |name: &str| {
        get(name).and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
    };
    if dword("SystemComponent") == Some(1) || get("ParentKeyName").is_some() {
        return None;
    }
    Some(Software {
        name: get("DisplayName")?.to_string(),
        version: get("DisplayVersion").map(str::to_string),
        arch: Some(arch.to_string()),
        publisher: get("Publisher").map(str::to_string),
        size_bytes: dword("EstimatedSize").map(|kib| kib * 1024),
        install_date: get("InstallDate")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|dt| DateTime::<Utc>::from_naive_utc_and_offset(dt, Utc)),
        source: "registry".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "
HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip
    DisplayName    REG_SZ    7-Zip 23.01 (x64)
    DisplayVersion    REG_SZ    23.01
    Publisher    REG_SZ    Igor Pavlov
    EstimatedSize    REG_DWORD    0x1640
    NoModify    REG_DWORD    0x1

HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{90160000-008C-0000-1000-0000000FF1CE}
    DisplayName    REG_SZ    Office 16 Click-to-Run Extensibility Component
    SystemComponent    REG_DWORD    0x1

HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\KB5034441
    DisplayName    REG_SZ    Security Update for Windows (KB5034441)
    ParentKeyName    REG_SZ    OperatingSystem

HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{A1B2}
    DisplayName    REG_SZ    DxO   Viewer    Pro
    DisplayVersion    REG_SZ    2.1
    InstallDate    REG_SZ    20240115
    Publisher    REG_SZ

HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Connection Manager
    SystemComponent    REG_DWORD    0x0
";

    #[test]
    fn uninstall_entries() {
        let got = parse_reg_query(REG, "x86_64");
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["7-Zip 23.01 (x64)", "DxO   Viewer    Pro"]);
        assert_eq!(got[0].size_bytes, Some(0x1640 * 1024));
        assert_eq!(got[0].publisher.as_deref(), Some("Igor Pavlov"));
        assert_eq!(
            got[1].publisher, None,
            "an empty REG_SZ is absent, not blank"
        );
        assert_eq!(
            got[1].install_date.unwrap().format("%Y-%m-%d").to_string(),
            "2024-01-15"
        );
        assert!(got
            .iter()
            .all(|s| s.source == "registry" && s.arch.as_deref() == Some("x86_64")));
    }
}
