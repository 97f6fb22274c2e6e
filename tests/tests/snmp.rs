//! SNMP discovery end to end: a real net-snmp `snmpd` on 127.0.0.1 with a generated
//! configuration (v2c community and a v3 authPriv SHA/AES user), queried by the agent's
//! `parc-agent snmp` command exactly as a user runs it.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use parc_shared::snmp::{DeviceType, SnmpDevice};
use parc_tests::snmpd::Snmpd;

const COMMUNITY: &str = "parc-e2e-ro";
const V3_USER: &str = "parcv3";
const V3_AUTH: &str = "auth-pass-123";
const V3_PRIV: &str = "priv-pass-456";
const SYS_NAME: &str = "parc-e2e-node";
const SYS_LOCATION: &str = "Building C, ward 4, rack 2";
const SYS_CONTACT: &str = "biomed-it@hospital.example";

/// `snmpd` on 127.0.0.1 with the v2c community, the v3 user and the system group checked below.
fn start_snmpd() -> Result<Snmpd> {
    Snmpd::start(
        "127.0.0.1",
        &format!(
            "rocommunity {COMMUNITY} 127.0.0.1\n\
             createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}\n\
             rouser {V3_USER} priv\n\
             sysName {SYS_NAME}\n\
             sysLocation {SYS_LOCATION}\n\
             sysContact {SYS_CONTACT}\n"
        ),
    )
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

/// `parc-agent snmp 127.0.0.1 --port PORT ARGS` against `snmpd`, `args` split at spaces.
fn snmp_at(snmpd: &Snmpd, args: &str) -> Result<Output> {
    let port = snmpd.port.to_string();
    let mut all = vec!["127.0.0.1", "--port", &port];
    all.extend(args.split_whitespace());
    snmp(&all)
}

/// The device [`snmp_at`] prints as JSON.
fn query_at(snmpd: &Snmpd, args: &str) -> Result<SnmpDevice> {
    let output = snmp_at(snmpd, &format!("{args} --format json"))?;
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

/// Queried with `args`, a fresh snmpd answers over SNMP `version` with everything
/// [`check_net_snmp_host`] expects.
fn identifies_net_snmp_host(version: &str, args: &str) -> Result<()> {
    let snmpd = start_snmpd()?;
    let device = query_at(&snmpd, args)?;
    assert_eq!(device.version, version);
    check_net_snmp_host(&device);
    Ok(())
}

#[test]
fn v2c_query_identifies_a_net_snmp_host() -> Result<()> {
    identifies_net_snmp_host("v2c", &format!("--community {COMMUNITY}"))
}

#[test]
fn identify_only_reads_no_tables_and_identifies_the_same() -> Result<()> {
    let snmpd = start_snmpd()?;
    let base = format!("--community {COMMUNITY}");
    let full = query_at(&snmpd, &base)?;
    let quick = query_at(&snmpd, &format!("{base} --identify-only"))?;
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
    let refused = snmp_at(&snmpd, &format!("{base} --identify-only --push"))?;
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
    identifies_net_snmp_host("v1", &format!("--community {COMMUNITY} --snmp-version v1"))
}

#[test]
fn v3_auth_priv_sha_aes_query() -> Result<()> {
    identifies_net_snmp_host(
        "v3",
        &format!(
            "--v3-user {V3_USER} --v3-auth-protocol sha --v3-auth-password {V3_AUTH} \
             --v3-priv-protocol aes --v3-priv-password {V3_PRIV}"
        ),
    )
}

#[test]
fn credentials_are_tried_in_order_until_one_answers() -> Result<()> {
    let snmpd = start_snmpd()?;
    let device = query_at(
        &snmpd,
        &format!("--timeout-ms 300 --community not-this-one --community {COMMUNITY}"),
    )?;
    assert_eq!(device.credential_index, 1);
    assert_eq!(device.system.name.as_deref(), Some(SYS_NAME));
    Ok(())
}

#[test]
fn wrong_community_is_a_clear_error_within_the_timeout() -> Result<()> {
    let snmpd = start_snmpd()?;
    let started = Instant::now();
    let output = snmp_at(
        &snmpd,
        "--community wrong-community --timeout-ms 300 --retries 1",
    )?;
    let took = started.elapsed();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", snmpd.port))
            && stderr.contains("no answer within 300 ms after 2 attempts"),
        "{stderr}"
    );
    // Two 300 ms waits plus process start; far from a hang.
    assert!(took < Duration::from_secs(5), "{took:?}");
    Ok(())
}

#[test]
fn wrong_v3_password_is_a_clear_error() -> Result<()> {
    let snmpd = start_snmpd()?;
    let output = snmp_at(
        &snmpd,
        &format!(
            "--v3-user {V3_USER} --v3-auth-password not-the-password \
             --v3-priv-password {V3_PRIV} --timeout-ms 300"
        ),
    )?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password"),
        "secrets stay out of errors"
    );
    Ok(())
}
