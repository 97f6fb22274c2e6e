//! SNMP discovery end to end: a real net-snmp `snmpd` on 127.0.0.1 with a generated
//! configuration (v2c community and a v3 authPriv SHA/AES user), queried by the agent's
//! `parc-agent snmp` command exactly as a user runs it.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use parc_shared::snmp::{DeviceType, SnmpDevice};

const COMMUNITY: &str = "parc-e2e-ro";
const V3_USER: &str = "parcv3";
const V3_AUTH: &str = "auth-pass-123";
const V3_PRIV: &str = "priv-pass-456";
const SYS_NAME: &str = "parc-e2e-node";
const SYS_LOCATION: &str = "Building C, ward 4, rack 2";
const SYS_CONTACT: &str = "biomed-it@hospital.example";

/// `snmpd` in the foreground on 127.0.0.1, its own config and state directory; killed on drop.
struct Snmpd {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

fn snmpd_path() -> Result<PathBuf> {
    for p in ["/usr/sbin/snmpd", "/usr/local/sbin/snmpd"] {
        if Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    bail!("snmpd not found: install the Debian package snmpd (scripts/test.sh does)")
}

impl Snmpd {
    fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        // A free port: bind, note it, release; snmpd binds it right after.
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(
            &conf,
            format!(
                "agentAddress udp:127.0.0.1:{port}\n\
                 rocommunity {COMMUNITY} 127.0.0.1\n\
                 createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}\n\
                 rouser {V3_USER} priv\n\
                 sysName {SYS_NAME}\n\
                 sysLocation {SYS_LOCATION}\n\
                 sysContact {SYS_CONTACT}\n"
            ),
        )?;
        let mut child = Command::new(snmpd_path()?)
            // -f foreground, -Lo log to stdout, -C ignore system configs, -c ours only.
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .env("SNMP_PERSISTENT_DIR", dir.path().join("state"))
            .env("MIBS", "")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start snmpd")?;
        // snmpd logs its banner once its sockets are open: wait for that line, not a delay.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("NET-SNMP version") {
                    let _ = tx.send(());
                }
            }
        });
        let mut snmpd = Snmpd {
            child,
            port,
            _dir: dir,
        };
        if rx.recv_timeout(Duration::from_secs(15)).is_err() {
            let status = snmpd.child.try_wait()?;
            bail!("snmpd did not start on 127.0.0.1:{port} (exit status {status:?})");
        }
        Ok(snmpd)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn snmp(args: &[&str]) -> Result<Output> {
    // Its own state dir and an empty config: the command remembers which credential answered,
    // and must neither write into nor read from the machine's /var/lib/parc and /etc/parc.
    static STATE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(|| tempfile::tempdir().expect("temp state dir"));
    let config = state.path().join("agent.toml");
    if !config.exists() {
        std::fs::write(&config, "")?;
    }
    let output = Command::new(parc_tests::agent_bin())
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(state.path())
        .arg("snmp")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("run the snmp command")?;
    Ok(output)
}

fn query_json(args: &[&str]) -> Result<SnmpDevice> {
    let output = snmp(&[args, &["--format", "json"]].concat())?;
    if !output.status.success() {
        bail!(
            "snmp command failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "parse the device JSON: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn check_net_snmp_host(device: &SnmpDevice) {
    assert_eq!(device.system.name.as_deref(), Some(SYS_NAME));
    assert_eq!(device.system.location.as_deref(), Some(SYS_LOCATION));
    assert_eq!(device.system.contact.as_deref(), Some(SYS_CONTACT));
    assert_eq!(
        device.system.object_id.as_deref(),
        Some("1.3.6.1.4.1.8072.3.2.10")
    );
    assert!(
        device
            .interfaces
            .iter()
            .any(|i| i.name.as_deref() == Some("lo") && i.if_type == Some(24)),
        "loopback interface missing: {:?}",
        device.interfaces
    );
    assert!(device.ip_addresses.iter().any(|a| a.ip == "127.0.0.1"));
    let host = device.host.as_ref().expect("HOST-RESOURCES answered");
    assert!(host.memory_kib.unwrap_or(0) > 0);
    assert!(!host.storage.is_empty());
    let id = &device.identification;
    assert_eq!(id.device_type, DeviceType::Computer, "{id:?}");
    assert_eq!(id.vendor.as_deref(), Some("Net-SNMP"));
    assert_eq!(id.enterprise, Some(8072));
    assert!(id.evidence.iter().any(|e| e == "host-resources"), "{id:?}");
}

#[test]
fn v2c_query_identifies_a_net_snmp_host() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let device = query_json(&["127.0.0.1", "--port", &port, "--community", COMMUNITY])?;
    assert_eq!(device.version, "v2c");
    check_net_snmp_host(&device);
    Ok(())
}

#[test]
fn identify_only_reads_no_tables_and_identifies_the_same() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let base = ["127.0.0.1", "--port", &port, "--community", COMMUNITY];
    let full = query_json(&base)?;
    let quick = query_json(&[&base[..], &["--identify-only"]].concat())?;
    assert_eq!(quick.identification, full.identification);
    assert!(quick.ip_addresses.is_empty() && quick.arp.is_empty());
    let host = quick.host.as_ref().expect("HOST-RESOURCES answered");
    assert!(host.storage.is_empty() && host.memory_kib == full.host.as_ref().unwrap().memory_kib);
    // MACs are still read, so the CMDB could merge the device.
    let macs = |d: &SnmpDevice| {
        d.interfaces
            .iter()
            .map(|i| i.mac.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(macs(&quick), macs(&full));

    // A partial record never reaches the collector (it would erase forwarding tables).
    let refused = snmp(&[&base[..], &["--identify-only", "--push"]].concat())?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--push") && stderr.contains("--identify-only"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn v1_query_walks_with_getnext() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let device = query_json(&[
        "127.0.0.1",
        "--port",
        &port,
        "--community",
        COMMUNITY,
        "--snmp-version",
        "v1",
    ])?;
    assert_eq!(device.version, "v1");
    check_net_snmp_host(&device);
    Ok(())
}

#[test]
fn v3_auth_priv_sha_aes_query() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let device = query_json(&[
        "127.0.0.1",
        "--port",
        &port,
        "--v3-user",
        V3_USER,
        "--v3-auth-protocol",
        "sha",
        "--v3-auth-password",
        V3_AUTH,
        "--v3-priv-protocol",
        "aes",
        "--v3-priv-password",
        V3_PRIV,
    ])?;
    assert_eq!(device.version, "v3");
    check_net_snmp_host(&device);
    Ok(())
}

#[test]
fn credentials_are_tried_in_order_until_one_answers() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let device = query_json(&[
        "127.0.0.1",
        "--port",
        &port,
        "--timeout-ms",
        "300",
        "--community",
        "not-this-one",
        "--community",
        COMMUNITY,
    ])?;
    assert_eq!(device.credential_index, 1);
    assert_eq!(device.system.name.as_deref(), Some(SYS_NAME));
    Ok(())
}

#[test]
fn wrong_community_is_a_clear_error_within_the_timeout() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let started = Instant::now();
    let output = snmp(&[
        "127.0.0.1",
        "--port",
        &port,
        "--community",
        "wrong-community",
        "--timeout-ms",
        "300",
        "--retries",
        "1",
    ])?;
    let took = started.elapsed();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}"))
            && stderr.contains("no answer within 300 ms after 2 attempts"),
        "{stderr}"
    );
    // Two 300 ms waits plus process start; far from a hang.
    assert!(took < Duration::from_secs(5), "{took:?}");
    Ok(())
}

#[test]
fn wrong_v3_password_is_a_clear_error() -> Result<()> {
    let snmpd = Snmpd::start()?;
    let port = snmpd.port.to_string();
    let output = snmp(&[
        "127.0.0.1",
        "--port",
        &port,
        "--v3-user",
        V3_USER,
        "--v3-auth-password",
        "not-the-password",
        "--v3-priv-password",
        V3_PRIV,
        "--timeout-ms",
        "300",
    ])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password"),
        "secrets stay out of errors"
    );
    Ok(())
}
