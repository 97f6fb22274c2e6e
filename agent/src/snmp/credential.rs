//! Credentials and limits: what the caller configures for a query, and the memory of which
//! credential answered each device (kept across runs in the state directory).
//!
//! The configuration crate has its own credential types (it must not depend on the agent);
//! the `From` impls here are the one place they become what the client uses.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use parc_config::snmp as config;
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
    /// GETBULK max-repetitions (the cap; a multi-column walk asks fewer per column).
    pub max_repetitions: u32,
    /// Varbinds a GETBULK reply is sized for, all columns together. net-snmp's snmpd answers
    /// at most 100 (its `maxGetbulkResponses` default) and cuts the rest, so asking for more
    /// only makes it compute rows it then drops.
    pub bulk_budget: u32,
    /// Rows kept per table walk; the walk stops (and says so) beyond it.
    pub max_rows_per_walk: usize,
    /// Time allowed for one table walk.
    pub walk_time: Duration,
    /// Time allowed for the whole device, all credentials and sections included.
    pub device_time: Duration,
    /// Malformed, stale or foreign datagrams tolerated while waiting for one reply.
    pub max_bad_replies: u32,
    /// How much of each device is read.
    pub depth: Depth,
}

/// How much of a device a query reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Depth {
    /// Everything Parc records: tables of interfaces, addresses, storage, forwarding entries,
    /// neighbours and ARP included.
    #[default]
    Full,
    /// What identification needs (system group, chassis, interface types and MACs, which MIBs
    /// answer) and no large table: a quick survey of many devices, as
    /// fusioninventory-netdiscovery does before its netinventory pass. Its result is partial and
    /// is never sent to the collector, where an empty forwarding table would erase placements.
    Identify,
}

impl Default for SnmpLimits {
    fn default() -> Self {
        SnmpLimits {
            timeout: Duration::from_millis(1500),
            retries: 1,
            max_repetitions: 25,
            bulk_budget: 100,
            max_rows_per_walk: 4096,
            walk_time: Duration::from_secs(15),
            device_time: Duration::from_secs(60),
            max_bad_replies: 16,
            depth: Depth::Full,
        }
    }
}

impl From<&config::Credential> for SnmpCredential {
    fn from(c: &config::Credential) -> Self {
        match c {
            config::Credential::V1 { community } => SnmpCredential::V1 {
                community: community.expose().to_string(),
            },
            config::Credential::V2c { community } => SnmpCredential::V2c {
                community: community.expose().to_string(),
            },
            config::Credential::V3 {
                user,
                auth,
                privacy,
            } => SnmpCredential::V3 {
                user: user.clone(),
                auth: auth.as_ref().map(|(protocol, password)| V3Auth {
                    protocol: (*protocol).into(),
                    password: password.expose().to_string(),
                }),
                privacy: privacy.as_ref().map(|(protocol, password)| V3Privacy {
                    protocol: (*protocol).into(),
                    password: password.expose().to_string(),
                }),
            },
        }
    }
}

impl From<config::AuthProtocol> for AuthProtocol {
    fn from(p: config::AuthProtocol) -> Self {
        match p {
            config::AuthProtocol::Md5 => AuthProtocol::Md5,
            config::AuthProtocol::Sha => AuthProtocol::Sha,
            config::AuthProtocol::Sha224 => AuthProtocol::Sha224,
            config::AuthProtocol::Sha256 => AuthProtocol::Sha256,
            config::AuthProtocol::Sha384 => AuthProtocol::Sha384,
            config::AuthProtocol::Sha512 => AuthProtocol::Sha512,
        }
    }
}

impl From<config::PrivProtocol> for PrivProtocol {
    fn from(p: config::PrivProtocol) -> Self {
        match p {
            config::PrivProtocol::Des => PrivProtocol::Des,
            config::PrivProtocol::Aes => PrivProtocol::Aes,
            config::PrivProtocol::Aes192 => PrivProtocol::Aes192,
            config::PrivProtocol::Aes256 => PrivProtocol::Aes256,
        }
    }
}

impl SnmpLimits {
    /// The limits of the `[snmp]` section; what the file does not set keeps these defaults.
    pub fn from_config(c: &config::SnmpConfig) -> Self {
        SnmpLimits {
            timeout: c.timeout,
            retries: c.retries,
            max_repetitions: c.max_repetitions,
            max_rows_per_walk: c.max_rows,
            walk_time: c.walk_timeout,
            device_time: c.device_timeout,
            ..SnmpLimits::default()
        }
    }
}

/// The configured credentials, in order.
pub fn credentials_from_config(c: &config::SnmpConfig) -> Vec<SnmpCredential> {
    c.credentials.iter().map(SnmpCredential::from).collect()
}

/// Name of the memory file in the agent's state directory.
pub const MEMORY_FILE: &str = "snmp-credentials.json";
/// A memory file larger than this is not ours (or is damaged): it is ignored, not parsed.
/// 16 MiB is ~500,000 devices, far beyond a hospital group.
const MAX_MEMORY_BYTES: u64 = 16 << 20;

/// Which credential answered each device, so the next query tries it first.
#[derive(Debug, Default)]
pub struct CredentialMemory {
    by_device: Mutex<HashMap<IpAddr, usize>>,
}

/// The file's shape: address -> index in the configured list. Indexes only: no secret, and not
/// even which kind of credential, is ever written to disk.
#[derive(serde::Serialize, Deserialize)]
struct MemoryFile {
    devices: BTreeMap<IpAddr, usize>,
}

impl CredentialMemory {
    /// The memory kept in `state_dir`. A missing file is an empty memory; a damaged one is
    /// reported and then treated as empty (it only orders attempts, so nothing is lost but a
    /// few extra timeouts), and it is replaced at the next [`CredentialMemory::save`].
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join(MEMORY_FILE);
        match read_memory(&path) {
            Ok(by_device) => CredentialMemory {
                by_device: Mutex::new(by_device),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "SNMP credential memory unreadable: starting afresh");
                Self::default()
            }
        }
    }

    /// Writes the memory to `state_dir` atomically (temporary file, fsync, rename), so a crash
    /// leaves either the old file or the new one.
    pub fn save(&self, state_dir: &Path) -> std::io::Result<PathBuf> {
        let file = MemoryFile {
            devices: self
                .by_device
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(a, i)| (*a, *i))
                .collect(),
        };
        let body = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join(MEMORY_FILE);
        let tmp = state_dir.join(format!("{MEMORY_FILE}.tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    pub fn len(&self) -> usize {
        self.by_device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

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

fn read_memory(path: &Path) -> std::io::Result<HashMap<IpAddr, usize>> {
    let f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if size > MAX_MEMORY_BYTES {
        return Err(std::io::Error::other(format!(
            "{size} bytes, more than the {MAX_MEMORY_BYTES} a memory file can be"
        )));
    }
    let file: MemoryFile = serde_json::from_reader(std::io::BufReader::new(f))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(file.devices.into_iter().collect())
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
    fn memory_survives_a_restart_and_damage_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        assert!(CredentialMemory::load(dir.path()).is_empty());
        let memory = CredentialMemory::default();
        memory.remember(a, 2);
        memory.remember(b, 1);
        let path = memory.save(dir.path()).unwrap();
        assert!(!dir.path().join(format!("{MEMORY_FILE}.tmp")).exists());
        let back = CredentialMemory::load(dir.path());
        assert_eq!(back.order(a, 3), vec![2, 0, 1]);
        assert_eq!(back.order(b, 3), vec![1, 0, 2]);
        // Damaged file: an empty memory, and the next save replaces it.
        std::fs::write(&path, b"{\"devices\": {\"127.0.0.1\": ").unwrap();
        let damaged = CredentialMemory::load(dir.path());
        assert!(damaged.is_empty());
        damaged.remember(a, 1);
        damaged.save(dir.path()).unwrap();
        assert_eq!(CredentialMemory::load(dir.path()).order(a, 2), vec![1, 0]);
    }

    #[test]
    fn configured_credentials_convert_in_order() {
        let c = parc_config::AgentConfig::parse(
            r#"
            [snmp]
            timeout = "700ms"
            retries = 3
            max_rows = 99
            [[snmp.credentials]]
            version = "v3"
            user = "parc"
            auth_protocol = "sha256"
            auth_password = "authsecret1"
            priv_protocol = "aes256"
            priv_password = "privsecret1"
            [[snmp.credentials]]
            version = "v1"
            community = "old-ro"
            "#,
            "agent.toml",
        )
        .unwrap();
        let creds = credentials_from_config(&c.snmp);
        assert_eq!(
            creds,
            vec![
                SnmpCredential::V3 {
                    user: "parc".into(),
                    auth: Some(V3Auth {
                        protocol: AuthProtocol::Sha256,
                        password: "authsecret1".into()
                    }),
                    privacy: Some(V3Privacy {
                        protocol: PrivProtocol::Aes256,
                        password: "privsecret1".into()
                    }),
                },
                SnmpCredential::V1 {
                    community: "old-ro".into()
                },
            ]
        );
        assert!(creds[0].security().is_ok());
        let limits = SnmpLimits::from_config(&c.snmp);
        assert_eq!(limits.timeout, Duration::from_millis(700));
        assert_eq!(limits.retries, 3);
        assert_eq!(limits.max_rows_per_walk, 99);
        assert_eq!(limits.device_time, c.snmp.device_timeout);
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
