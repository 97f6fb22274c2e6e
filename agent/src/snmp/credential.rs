//! Credentials and limits: what the caller configures for a query, and the memory of which
//! credential answered each device.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// One way of talking to a device. A list is tried in order per device.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "version", rename_all = "snake_case", deny_unknown_fields)]
pub enum SnmpCredential {
    V1 {
        community: String,
    },
    V2c {
        community: String,
    },
    V3 {
        user: String,
        #[serde(default)]
        auth: Option<V3Auth>,
        #[serde(default)]
        privacy: Option<V3Privacy>,
    },
}

// Secrets stay out of logs and error messages.
impl std::fmt::Debug for SnmpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SnmpCredential {
    pub fn v2c(community: &str) -> Self {
        SnmpCredential::V2c {
            community: community.to_string(),
        }
    }

    pub fn version_name(&self) -> &'static str {
        match self {
            SnmpCredential::V1 { .. } => "v1",
            SnmpCredential::V2c { .. } => "v2c",
            SnmpCredential::V3 { .. } => "v3",
        }
    }

    /// A description that names the credential without revealing a secret.
    pub fn describe(&self) -> String {
        match self {
            SnmpCredential::V1 { .. } | SnmpCredential::V2c { .. } => {
                format!("{} community", self.version_name())
            }
            SnmpCredential::V3 {
                user,
                auth,
                privacy,
                ..
            } => {
                let level = match (auth, privacy) {
                    (Some(_), Some(_)) => "authPriv",
                    (Some(_), None) => "authNoPriv",
                    _ => "noAuthNoPriv",
                };
                format!("v3 user {user:?} {level}")
            }
        }
    }

    /// The snmp2 security parameters of a v3 credential.
    pub(crate) fn security(&self) -> Result<snmp2::v3::Security, String> {
        let SnmpCredential::V3 {
            user,
            auth,
            privacy,
        } = self
        else {
            return Err("not a v3 credential".into());
        };
        let Some(auth) = auth else {
            if privacy.is_some() {
                return Err("SNMPv3 privacy needs authentication too".into());
            }
            return Ok(snmp2::v3::Security::new(user.as_bytes(), b"")
                .with_auth(snmp2::v3::Auth::NoAuthNoPriv));
        };
        if auth.password.len() < 8 {
            return Err("SNMPv3 passwords must be at least 8 characters (RFC 3414)".into());
        }
        let level = match privacy {
            None => snmp2::v3::Auth::AuthNoPriv,
            Some(p) => {
                if p.password.len() < 8 {
                    return Err("SNMPv3 passwords must be at least 8 characters (RFC 3414)".into());
                }
                snmp2::v3::Auth::AuthPriv {
                    cipher: p.protocol.cipher(),
                    privacy_password: p.password.as_bytes().to_vec(),
                }
            }
        };
        let mut security = snmp2::v3::Security::new(user.as_bytes(), auth.password.as_bytes())
            .with_auth_protocol(auth.protocol.snmp2())
            .with_auth(level);
        if privacy.as_ref().is_some_and(|p| {
            p.protocol
                .cipher()
                .priv_key_needs_extension(&auth.protocol.snmp2())
        }) {
            // Net-SNMP and most vendors extend short keys the Blumenthal way (RFC draft for
            // AES-192/256); Cisco uses Reeder, tried by the client when this fails.
            security = security.with_key_extension_method(snmp2::v3::KeyExtension::Blumenthal);
        }
        Ok(security)
    }
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V3Auth {
    pub protocol: AuthProtocol,
    pub password: String,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V3Privacy {
    pub protocol: PrivProtocol,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProtocol {
    fn snmp2(self) -> snmp2::v3::AuthProtocol {
        use snmp2::v3::AuthProtocol as P;
        match self {
            AuthProtocol::Md5 => P::Md5,
            AuthProtocol::Sha => P::Sha1,
            AuthProtocol::Sha224 => P::Sha224,
            AuthProtocol::Sha256 => P::Sha256,
            AuthProtocol::Sha384 => P::Sha384,
            AuthProtocol::Sha512 => P::Sha512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}

impl PrivProtocol {
    fn cipher(self) -> snmp2::v3::Cipher {
        use snmp2::v3::Cipher as C;
        match self {
            PrivProtocol::Des => C::Des,
            PrivProtocol::Aes => C::Aes128,
            PrivProtocol::Aes192 => C::Aes192,
            PrivProtocol::Aes256 => C::Aes256,
        }
    }
}

/// Bounds on one device's query, so a huge, slow or hostile agent cannot stall a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpLimits {
    /// Wait for one reply.
    pub timeout: Duration,
    /// Resends after a timeout.
    pub retries: u32,
    /// GETBULK max-repetitions.
    pub max_repetitions: u32,
    /// Rows kept per table walk; the walk stops (and says so) beyond it.
    pub max_rows_per_walk: usize,
    /// Time allowed for one table walk.
    pub walk_time: Duration,
    /// Time allowed for the whole device, all credentials and sections included.
    pub device_time: Duration,
    /// Malformed, stale or foreign datagrams tolerated while waiting for one reply.
    pub max_bad_replies: u32,
}

impl Default for SnmpLimits {
    fn default() -> Self {
        SnmpLimits {
            timeout: Duration::from_millis(1500),
            retries: 1,
            max_repetitions: 25,
            max_rows_per_walk: 4096,
            walk_time: Duration::from_secs(15),
            device_time: Duration::from_secs(60),
            max_bad_replies: 16,
        }
    }
}

/// Which credential answered each device, so the next query tries it first.
#[derive(Debug, Default)]
pub struct CredentialMemory {
    by_device: Mutex<HashMap<IpAddr, usize>>,
}

impl CredentialMemory {
    /// Credential indexes in the order to try them: the remembered one first, then the rest in
    /// configuration order.
    pub fn order(&self, addr: IpAddr, count: usize) -> Vec<usize> {
        let remembered = self
            .by_device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&addr)
            .copied()
            .filter(|&i| i < count);
        remembered
            .into_iter()
            .chain((0..count).filter(|&i| Some(i) != remembered))
            .collect()
    }

    pub fn remember(&self, addr: IpAddr, index: usize) {
        self.by_device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr, index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_credential_goes_first() {
        let memory = CredentialMemory::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(memory.order(a, 3), vec![0, 1, 2]);
        memory.remember(a, 2);
        assert_eq!(memory.order(a, 3), vec![2, 0, 1]);
        assert_eq!(memory.order(b, 3), vec![0, 1, 2]);
        // The list shrank since: the stale index is ignored.
        assert_eq!(memory.order(a, 2), vec![0, 1]);
    }

    #[test]
    fn credentials_parse_from_toml_and_hide_secrets() {
        #[derive(Deserialize)]
        struct Creds {
            snmp: Vec<SnmpCredential>,
        }
        let creds: Creds = toml::from_str(
            r#"
            [[snmp]]
            version = "v3"
            user = "parc"
            auth = { protocol = "sha", password = "authsecret1" }
            privacy = { protocol = "aes", password = "privsecret1" }
            [[snmp]]
            version = "v2c"
            community = "hospital-ro"
            "#,
        )
        .unwrap();
        assert_eq!(creds.snmp.len(), 2);
        let shown = format!("{:?}", creds.snmp);
        assert!(shown.contains("authPriv"), "{shown}");
        assert!(
            !shown.contains("secret") && !shown.contains("hospital-ro"),
            "{shown}"
        );
        assert!(creds.snmp[0].security().is_ok());
    }

    #[test]
    fn short_v3_passwords_are_refused() {
        let cred = SnmpCredential::V3 {
            user: "u".into(),
            auth: Some(V3Auth {
                protocol: AuthProtocol::Sha,
                password: "short".into(),
            }),
            privacy: None,
        };
        assert!(cred.security().unwrap_err().contains("8 characters"));
    }
}
