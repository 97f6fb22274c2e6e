//! Debian packages from /var/lib/dpkg/status.
//!
//! A package counts as installed exactly when `dpkg-query` would abbreviate its status as
//! `ii`: wanted "install" and status "installed", whatever the error flag. Held ("hi"),
//! removed-with-config ("rc") and half-installed ("iH") entries are not installed software.

use chrono::{DateTime, Utc};
use parc_shared::inventory::Software;

use crate::inventory::source::Root;

pub fn gather(root: &Root) -> Vec<Software> {
    let Some(status) = root.read("/var/lib/dpkg/status") else {
        return Vec::new();
    };
    let mut packages = parse_status(&status);
    for p in &mut packages {
        p.install_date = install_date(root, &p.name, p.arch.as_deref());
    }
    packages
}

/// dpkg records no install date; the mtime of the package's file list is when it was last
/// unpacked (installed or upgraded), which is what the peers report too. Multi-Arch: same
/// packages keep theirs under "name:arch.list".
fn install_date(root: &Root, name: &str, arch: Option<&str>) -> Option<DateTime<Utc>> {
    let plain = format!("/var/lib/dpkg/info/{name}.list");
    root.mtime(&plain)
        .or_else(|| arch.and_then(|a| root.mtime(&format!("/var/lib/dpkg/info/{name}:{a}.list"))))
        .map(DateTime::<Utc>::from)
}

pub fn parse_status(text: &str) -> Vec<Software> {
    let mut out = Vec::new();
    let mut record = Record::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            record.finish(&mut out);
            continue;
        }
        // Continuation lines (long descriptions, conffiles) start with a space.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Package" => record.package = Some(value),
            "Status" => record.status = Some(value),
            "Version" => record.version = Some(value),
            "Architecture" => record.arch = Some(value),
            "Maintainer" => record.maintainer = Some(value),
            "Installed-Size" => record.installed_size = value.parse::<u64>().ok(),
            _ => {}
        }
    }
    record.finish(&mut out);
    out
}

#[derive(Default)]
struct Record<'a> {
    package: Option<&'a str>,
    status: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    maintainer: Option<&'a str>,
    installed_size: Option<u64>,
}

impl Record<'_> {
    fn finish(&mut self, out: &mut Vec<Software>) {
        let r = std::mem::take(self);
        let (Some(name), Some(status)) = (r.package, r.status) else {
            return;
        };
        if !is_installed(status) {
            return;
        }
        let some = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        out.push(Software {
            name: name.to_string(),
            version: some(r.version),
            arch: some(r.arch),
            publisher: some(r.maintainer),
            size_bytes: r.installed_size.map(|kib| kib * 1024),
            install_date: None,
            source: "dpkg".into(),
        });
    }
}

/// `Status: <want> <error flag> <status>`.
fn is_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_whitespace().collect();
    matches!(words.as_slice(), ["install", _, "installed"])
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12980
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u9
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 Package: this-is-a-description-line-not-a-package
Homepage: https://www.gnu.org/software/libc/libc.html

Package: libc6
Status: install ok installed
Installed-Size: 11840
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u9

Package: firefox-esr
Status: deinstall ok config-files
Priority: optional
Installed-Size: 254780
Maintainer: Maintainers of Mozilla-related packages <team+pkg-mozilla@tracker.debian.org>
Architecture: amd64
Version: 115.12.0esr-1~deb12u1
Conffiles:
 /etc/firefox-esr/firefox-esr.js 1fd9a1b8e7a1e1c62e7e4b3e5a4e2f10

Package: broken-thing
Status: install reinstreq half-installed
Architecture: all
Version: 1.0-1

Package: held-pkg
Status: hold ok installed
Architecture: all
Version: 3.2-1

Package: needs-reinstall
Status: install reinstreq installed
Architecture: all
Version: 0.9-2

Package: tzdata
Status: install ok installed
Priority: required
Installed-Size: 3287
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 2024a-0+deb12u1
";

    #[test]
    fn only_ii_entries_with_their_fields() {
        let got = parse_status(STATUS);
        type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<u64>);
        let summary: Vec<Row> = got
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.version.as_deref(),
                    s.arch.as_deref(),
                    s.size_bytes,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "libc6",
                    Some("2.36-9+deb12u9"),
                    Some("amd64"),
                    Some(12980 * 1024)
                ),
                (
                    "libc6",
                    Some("2.36-9+deb12u9"),
                    Some("i386"),
                    Some(11840 * 1024)
                ),
                ("needs-reinstall", Some("0.9-2"), Some("all"), None),
                (
                    "tzdata",
                    Some("2024a-0+deb12u1"),
                    Some("all"),
                    Some(3287 * 1024)
                ),
            ]
        );
        assert_eq!(
            got[0].publisher.as_deref(),
            Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>")
        );
        assert!(got
            .iter()
            .all(|s| s.source == "dpkg" && s.install_date.is_none()));
    }

    #[test]
    fn status_words() {
        let cases = [
            ("install ok installed", true),
            ("install reinstreq installed", true),
            ("hold ok installed", false),
            ("deinstall ok config-files", false),
            ("install ok half-installed", false),
            ("install ok unpacked", false),
            ("purge ok not-installed", false),
            ("", false),
        ];
        for (status, want) in cases {
            assert_eq!(is_installed(status), want, "{status}");
        }
    }

    #[test]
    fn crlf_and_missing_trailing_newline() {
        let text = "Package: a\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\nPackage: b\nStatus: install ok installed";
        let names: Vec<String> = parse_status(text).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn install_date_from_the_list_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg/info")).unwrap();
        std::fs::write(dir.path().join("var/lib/dpkg/status"), STATUS).unwrap();
        std::fs::write(
            dir.path().join("var/lib/dpkg/info/libc6:amd64.list"),
            "/.\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("var/lib/dpkg/info/tzdata.list"), "/.\n").unwrap();
        let got = gather(&Root::at(dir.path()));
        let dated: Vec<(&str, Option<&str>)> = got
            .iter()
            .filter(|s| s.install_date.is_some())
            .map(|s| (s.name.as_str(), s.arch.as_deref()))
            .collect();
        assert_eq!(dated, [("libc6", Some("amd64")), ("tzdata", Some("all"))]);
    }
}
