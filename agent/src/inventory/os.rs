//! Operating system: os-release, kernel and architecture, boot time, time zone, install date.
//!
//! Install date: Linux records none, so it is the oldest of three witnesses, each created at
//! or after the installation: the birth time of `/` (mkfs, on filesystems that keep it), the
//! d-i log directory /var/log/installer, and dpkg's file list of `base-files` (rewritten when
//! base-files is upgraded, hence only a fallback). Birth times before 1990 are discarded:
//! overlay and some virtual disks report the epoch.

use chrono::{DateTime, TimeZone, Utc};
use parc_shared::inventory::OperatingSystem;

use super::source::Root;

pub fn gather(root: &Root, kernel: Option<String>, arch: Option<String>) -> OperatingSystem {
    let release = root
        .read("/etc/os-release")
        .or_else(|| root.read("/usr/lib/os-release"))
        .map(|t| parse_os_release(&t))
        .unwrap_or_default();
    let boot_time = root.read("/proc/stat").and_then(|s| boot_time(&s));
    let timezone = root
        .link_target("/etc/localtime")
        .and_then(|t| timezone_from_localtime_link(&t.to_string_lossy()))
        .or_else(|| root.read_trimmed("/etc/timezone"));
    let install_date = install_date(root);
    OperatingSystem {
        family: "linux".into(),
        name: release.name,
        version: release.version,
        pretty_name: release.pretty_name,
        kernel: kernel.or_else(|| root.read_trimmed("/proc/sys/kernel/osrelease")),
        arch: arch
            .or_else(|| root.read_trimmed("/proc/sys/kernel/arch"))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        install_date,
        boot_time,
        timezone,
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct OsRelease {
    pub name: Option<String>,
    pub version: Option<String>,
    pub pretty_name: Option<String>,
}

/// Parses os-release(5): KEY=value lines, values optionally quoted with shell escapes.
/// `version` is VERSION_ID ("12"), falling back to VERSION for distributions without it.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    let mut version = None;
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value);
        if value.is_empty() {
            continue;
        }
        match key {
            "NAME" => out.name = Some(value),
            "VERSION_ID" => out.version = Some(value),
            "VERSION" => version = Some(value),
            "PRETTY_NAME" => out.pretty_name = Some(value),
            _ => {}
        }
    }
    out.version = out.version.or(version);
    out
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    let inner = match v.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if v.len() >= 2 => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The `btime` line of /proc/stat: boot time in seconds since the epoch.
pub fn boot_time(proc_stat: &str) -> Option<DateTime<Utc>> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|secs| Utc.timestamp_opt(secs, 0).single())
}

/// "/usr/share/zoneinfo/Europe/Paris" or "../usr/share/zoneinfo/Europe/Paris" gives
/// "Europe/Paris".
pub fn timezone_from_localtime_link(target: &str) -> Option<String> {
    target
        .split_once("zoneinfo/")
        .map(|(_, tz)| tz.trim_start_matches("posix/").to_string())
        .filter(|tz| !tz.is_empty())
}

fn install_date(root: &Root) -> Option<DateTime<Utc>> {
    let birth = std::fs::metadata(root.path("/"))
        .and_then(|m| m.created())
        .ok();
    let witnesses = [
        birth,
        root.mtime("/var/log/installer"),
        root.mtime("/var/lib/dpkg/info/base-files.list"),
    ];
    oldest_plausible(witnesses.into_iter().flatten().map(DateTime::<Utc>::from))
}

/// The oldest timestamp after 1990-01-01: older ones are unset birth times, not installs.
pub fn oldest_plausible(times: impl IntoIterator<Item = DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let floor = Utc.with_ymd_and_hms(1990, 1, 1, 0, 0, 0).single()?;
    times.into_iter().filter(|t| *t >= floor).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_variants() {
        let debian = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;
        let ubuntu = "NAME=\"Ubuntu\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nID=ubuntu\n\
PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nVERSION_ID=\"22.04\"\n";
        // Arch has no VERSION_ID; a quoted value with an escaped quote; single quotes.
        let arch =
            "NAME=\"Arch Linux\"\nPRETTY_NAME='Arch \\\"rolling\\\"'\nID=arch\nBUILD_ID=rolling\n";
        let debian_testing = "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"\"\n";
        let cases = [
            (
                debian,
                OsRelease {
                    name: Some("Debian GNU/Linux".into()),
                    version: Some("12".into()),
                    pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
                },
            ),
            (
                ubuntu,
                OsRelease {
                    name: Some("Ubuntu".into()),
                    version: Some("22.04".into()),
                    pretty_name: Some("Ubuntu 22.04.4 LTS".into()),
                },
            ),
            (
                arch,
                OsRelease {
                    name: Some("Arch Linux".into()),
                    version: None,
                    pretty_name: Some("Arch \"rolling\"".into()),
                },
            ),
            (
                debian_testing,
                OsRelease {
                    name: Some("Debian GNU/Linux".into()),
                    version: None,
                    pretty_name: Some("Debian GNU/Linux trixie/sid".into()),
                },
            ),
            ("", OsRelease::default()),
        ];
        for (text, want) in cases {
            assert_eq!(parse_os_release(text), want, "{text}");
        }
    }

    #[test]
    fn proc_stat_btime() {
        let stat = "cpu  2255 34 2290 22625563 6290 127 456 0 0 0\ncpu0 1132 34 1441 11311718 3675 127 438 0 0 0\n\
intr 114930548 113199788 3 0 5 263 0 0 0 0\nctxt 1990473\nbtime 1763840690\nprocesses 2915\n";
        assert_eq!(boot_time(stat).unwrap().timestamp(), 1763840690);
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
        assert_eq!(boot_time("btime garbage\n"), None);
    }

    #[test]
    fn localtime_link_targets() {
        let cases = [
            ("/usr/share/zoneinfo/Europe/Paris", Some("Europe/Paris")),
            ("../usr/share/zoneinfo/Etc/UTC", Some("Etc/UTC")),
            (
                "/usr/share/zoneinfo/posix/America/New_York",
                Some("America/New_York"),
            ),
            ("/etc/some-copy", None),
        ];
        for (target, want) in cases {
            assert_eq!(
                timezone_from_localtime_link(target).as_deref(),
                want,
                "{target}"
            );
        }
    }

    #[test]
    fn install_date_ignores_epoch_birth_times() {
        let t = |secs| Utc.timestamp_opt(secs, 0).unwrap();
        assert_eq!(
            oldest_plausible([t(0), t(1_700_000_000), t(1_650_000_000)]),
            Some(t(1_650_000_000))
        );
        assert_eq!(oldest_plausible([t(0)]), None);
        assert_eq!(oldest_plausible([]), None);
    }
}
