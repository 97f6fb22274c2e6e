//! RPM packages, from one `rpm -qa` run with a tab-separated query format.
//!
//! The rpm database format changed (Berkeley DB, NDB, SQLite) and is not meant to be read by
//! anything but librpm, so the CLI is the stable interface here.

use chrono::{TimeZone, Utc};
use parc_shared::inventory::Software;

pub const QUERY_FORMAT: &str =
    "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{VENDOR}\\t%{SIZE}\\t%{INSTALLTIME}\\n";

pub fn gather() -> Vec<Software> {
    let output = std::process::Command::new("/usr/bin/rpm")
        .args(["-qa", "--queryformat", QUERY_FORMAT])
        .output();
    match output {
        Ok(out) if out.status.success() => parse_query(&String::from_utf8_lossy(&out.stdout)),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            tracing::warn!(status = %out.status, stderr = %stderr.trim(), "rpm -qa failed");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot run /usr/bin/rpm");
            Vec::new()
        }
    }
}

/// Parses the output of [`QUERY_FORMAT`]. rpm prints "(none)" for absent tags.
pub fn parse_query(text: &str) -> Vec<Software> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, version, arch, vendor, size, installed] = f.as_slice() else {
                tracing::debug!(line, "unexpected rpm output line");
                return None;
            };
            let tag = |v: &str| {
                Some(v.trim())
                    .filter(|v| !v.is_empty() && *v != "(none)")
                    .map(str::to_string)
            };
            Some(Software {
                name: tag(name)?,
                version: tag(version),
                arch: tag(arch),
                publisher: tag(vendor),
                size_bytes: size.trim().parse().ok(),
                install_date: installed
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|s| Utc.timestamp_opt(s, 0).single()),
                source: "rpm".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let text = "bash\t5.1.8-9.el9\tx86_64\tRed Hat, Inc.\t7738634\t1715172123\n\
gpg-pubkey\t8483c65d-5ccc5b19\t(none)\t(none)\t0\t1715172000\n\
shadow-utils\t2:4.9-8.el9\tx86_64\tRed Hat, Inc.\t3958219\t1715172130\n\
truncated line\n";
        let got = parse_query(text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "bash");
        assert_eq!(got[0].publisher.as_deref(), Some("Red Hat, Inc."));
        assert_eq!(got[0].size_bytes, Some(7738634));
        assert_eq!(got[0].install_date.unwrap().timestamp(), 1715172123);
        assert_eq!(
            (got[1].arch.as_deref(), got[1].publisher.as_deref()),
            (None, None)
        );
        assert_eq!(got[2].version.as_deref(), Some("2:4.9-8.el9"));
        assert!(got.iter().all(|s| s.source == "rpm"));
    }
}
