//! Local users (/etc/passwd), groups (/etc/group) and open sessions (utmp).
//!
//! utmp is a binary file of fixed-size `struct utmp` records. Its layout is the glibc one on
//! 64-bit Linux (x86_64, aarch64: 384 bytes, 32-bit time fields kept for compatibility with
//! 32-bit programs); it is parsed here in safe Rust from offsets rather than through libc's
//! non-reentrant getutent. Other layouts (musl has none, 32-bit glibc differs) are skipped
//! by the size check.

use chrono::{TimeZone, Utc};
use parc_shared::inventory::{LocalGroup, LocalUser, Session, Users};

use super::source::Root;

pub fn gather(root: &Root) -> Users {
    Users {
        local: root
            .read("/etc/passwd")
            .map(|t| parse_passwd(&t))
            .unwrap_or_default(),
        groups: root
            .read("/etc/group")
            .map(|t| parse_group(&t))
            .unwrap_or_default(),
        logged_in: root
            .read_bytes("/run/utmp")
            .or_else(|| root.read_bytes("/var/run/utmp"))
            .map(|b| parse_utmp(&b))
            .unwrap_or_default(),
    }
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string)
}

/// name:password:uid:gid:gecos:home:shell. The full name is the first comma-separated part
/// of GECOS (the rest is room, phone numbers). NIS "+"/"-" lines are not local users.
pub fn parse_passwd(text: &str) -> Vec<LocalUser> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with(['+', '-']))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                tracing::debug!(line = l, "malformed passwd line");
                return None;
            }
            Some(LocalUser {
                name: non_empty(f[0])?,
                uid: f[2].parse().ok(),
                gid: f[3].parse().ok(),
                full_name: f[4].split(',').next().and_then(non_empty),
                home: non_empty(f[5]),
                shell: non_empty(f[6]),
            })
        })
        .collect()
}

/// name:password:gid:member,member
pub fn parse_group(text: &str) -> Vec<LocalGroup> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with(['+', '-']))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                tracing::debug!(line = l, "malformed group line");
                return None;
            }
            Some(LocalGroup {
                name: non_empty(f[0])?,
                gid: f[2].parse().ok(),
                members: f[3].split(',').filter_map(non_empty).collect(),
            })
        })
        .collect()
}

/// glibc `struct utmp` on 64-bit Linux.
pub const UTMP_RECORD: usize = 384;
const USER_PROCESS: i16 = 7;
const OFF_TYPE: usize = 0;
const OFF_LINE: usize = 8;
const LINE_LEN: usize = 32;
const OFF_USER: usize = 44;
const USER_LEN: usize = 32;
const OFF_HOST: usize = 76;
const HOST_LEN: usize = 256;
const OFF_TV_SEC: usize = 340;

/// Sessions of logged-in users (records of type USER_PROCESS). A file that is not a whole
/// number of records has another layout and is ignored rather than misread.
pub fn parse_utmp(bytes: &[u8]) -> Vec<Session> {
    if !bytes.len().is_multiple_of(UTMP_RECORD) {
        tracing::warn!(
            len = bytes.len(),
            "utmp size is not a multiple of {UTMP_RECORD}: unknown layout, sessions skipped"
        );
        return Vec::new();
    }
    bytes
        .chunks_exact(UTMP_RECORD)
        .filter(|r| i16::from_ne_bytes([r[OFF_TYPE], r[OFF_TYPE + 1]]) == USER_PROCESS)
        .filter_map(|r| {
            let text = |off: usize, len: usize| {
                let raw = &r[off..off + len];
                let end = raw.iter().position(|&b| b == 0).unwrap_or(len);
                non_empty(&String::from_utf8_lossy(&raw[..end]))
            };
            let secs = i32::from_ne_bytes(r[OFF_TV_SEC..OFF_TV_SEC + 4].try_into().ok()?);
            Some(Session {
                user: text(OFF_USER, USER_LEN)?,
                terminal: text(OFF_LINE, LINE_LEN),
                host: text(OFF_HOST, HOST_LEN),
                since: (secs > 0)
                    .then(|| Utc.timestamp_opt(i64::from(secs), 0).single())
                    .flatten(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_table() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
jdupont:x:1000:1000:Jeanne Dupont,Bureau 12,0102030405,:/home/jdupont:/bin/bash\n\
svc-backup:x:998:998::/var/lib/backup:\n\
# a comment\n\
+nisuser::::::\n\
broken:x:1001\n\
\n";
        let got = parse_passwd(text);
        let want = vec![
            LocalUser {
                name: "root".into(),
                uid: Some(0),
                gid: Some(0),
                full_name: Some("root".into()),
                home: Some("/root".into()),
                shell: Some("/bin/bash".into()),
            },
            LocalUser {
                name: "daemon".into(),
                uid: Some(1),
                gid: Some(1),
                full_name: Some("daemon".into()),
                home: Some("/usr/sbin".into()),
                shell: Some("/usr/sbin/nologin".into()),
            },
            LocalUser {
                name: "jdupont".into(),
                uid: Some(1000),
                gid: Some(1000),
                full_name: Some("Jeanne Dupont".into()),
                home: Some("/home/jdupont".into()),
                shell: Some("/bin/bash".into()),
            },
            LocalUser {
                name: "svc-backup".into(),
                uid: Some(998),
                gid: Some(998),
                full_name: None,
                home: Some("/var/lib/backup".into()),
                shell: None,
            },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn group_table() {
        let text = "root:x:0:\nsudo:x:27:jdupont,admin-it\ndocker:x:999: jdupont \nbad-line\n";
        let got = parse_group(text);
        let summary: Vec<(&str, Option<u32>, Vec<&str>)> = got
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.gid,
                    g.members.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("root", Some(0), vec![]),
                ("sudo", Some(27), vec!["jdupont", "admin-it"]),
                ("docker", Some(999), vec!["jdupont"])
            ]
        );
    }

    fn utmp_record(kind: i16, line: &str, user: &str, host: &str, secs: i32) -> Vec<u8> {
        let mut r = vec![0u8; UTMP_RECORD];
        r[OFF_TYPE..OFF_TYPE + 2].copy_from_slice(&kind.to_ne_bytes());
        r[4..8].copy_from_slice(&4242i32.to_ne_bytes());
        r[OFF_LINE..OFF_LINE + line.len()].copy_from_slice(line.as_bytes());
        r[OFF_USER..OFF_USER + user.len()].copy_from_slice(user.as_bytes());
        r[OFF_HOST..OFF_HOST + host.len()].copy_from_slice(host.as_bytes());
        r[OFF_TV_SEC..OFF_TV_SEC + 4].copy_from_slice(&secs.to_ne_bytes());
        r
    }

    #[test]
    fn utmp_sessions() {
        const BOOT_TIME: i16 = 2;
        const LOGIN_PROCESS: i16 = 6;
        let mut file = utmp_record(BOOT_TIME, "~", "reboot", "6.1.0-18-amd64", 1_763_800_000);
        file.extend(utmp_record(
            LOGIN_PROCESS,
            "tty1",
            "LOGIN",
            "",
            1_763_800_010,
        ));
        file.extend(utmp_record(
            USER_PROCESS,
            "pts/0",
            "jdupont",
            "10.20.30.41",
            1_763_801_234,
        ));
        file.extend(utmp_record(USER_PROCESS, "tty2", "admin-it", "", 0));
        // A full-width user name has no NUL terminator.
        file.extend(utmp_record(
            USER_PROCESS,
            "pts/1",
            &"u".repeat(USER_LEN),
            "",
            1_763_801_300,
        ));
        let got = parse_utmp(&file);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].user, "jdupont");
        assert_eq!(got[0].terminal.as_deref(), Some("pts/0"));
        assert_eq!(got[0].host.as_deref(), Some("10.20.30.41"));
        assert_eq!(got[0].since.unwrap().timestamp(), 1_763_801_234);
        assert_eq!((got[1].host.as_deref(), got[1].since), (None, None));
        assert_eq!(got[2].user.len(), USER_LEN);
    }

    #[test]
    fn utmp_with_another_layout_is_ignored() {
        assert!(parse_utmp(&[0u8; 383]).is_empty());
        assert!(parse_utmp(&[]).is_empty());
    }
}
