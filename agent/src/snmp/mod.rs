//! SNMP discovery: identify network gear, printers, UPSes and computers that answer SNMP.
//!
//! - [`credential`]: credentials (v1, v2c, v3 USM), limits, and the memory of which credential
//!   answered each device.
//! - [`oid`]: owned object identifiers.
//! - [`codec`]: v1/v2c messages over snmp2's BER codec; every byte from the network is checked
//!   here (property-tested against garbage).
//! - [`client`]: sessions with timeouts, retries, garbage caps and bounded walks.
//! - [`walk`]: the pure walk state machine (loop detection, row limits).
//! - [`collect`]: what is asked of a device and how rows become an [`SnmpDevice`].
//! - [`identify`]: type, vendor, model, serial and firmware from the collected values, by the
//!   rules in `agent/data/snmp-rules.toml` and `agent/data/enterprise-numbers.tsv`.
//! - [`many`]: many devices at once, with bounded concurrency, a packet-rate cap, a deadline
//!   and cancellation (the sweep's SNMP stage and `parc-agent snmp TARGET...`).
//! - [`fit`]: trims a device to the collector's limits before it is spooled.
//! - [`cli`]: `parc-agent snmp TARGET...`, a manual query.
//!
//! The entry points are [`query_device`] and [`many::query_many`] (I/O) and [`identify()`]
//! (pure).

pub mod cli;
pub mod client;
pub mod codec;
pub mod collect;
pub mod credential;
pub mod fit;
pub mod identify;
pub mod many;
pub mod oid;
pub mod walk;

#[cfg(test)]
mod hostile_tests;

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use parc_shared::snmp::SnmpDevice;
use tokio::time::Instant;

pub use client::SnmpError;
pub use credential::{CredentialMemory, Depth, SnmpCredential, SnmpLimits};
pub use identify::identify;

/// Queries one device: finds a credential that answers (the remembered one first), collects
/// every section within `limits`, and identifies the device.
///
/// Errors only when no credential got an answer; a section that fails is recorded in the
/// device's `errors` instead.
pub async fn query_device(
    addr: IpAddr,
    port: u16,
    creds: &[SnmpCredential],
    limits: &SnmpLimits,
) -> Result<SnmpDevice, SnmpError> {
    // Callers without a memory of their own share the process's; batches (sweeps,
    // `parc-agent snmp`) pass the one persisted in the state directory instead.
    static MEMORY: OnceLock<CredentialMemory> = OnceLock::new();
    query_device_with(
        addr,
        port,
        creds,
        limits,
        MEMORY.get_or_init(Default::default),
    )
    .await
}

/// [`query_device`] with an explicit credential memory.
pub async fn query_device_with(
    addr: IpAddr,
    port: u16,
    creds: &[SnmpCredential],
    limits: &SnmpLimits,
    memory: &CredentialMemory,
) -> Result<SnmpDevice, SnmpError> {
    query_device_paced(addr, port, creds, limits, memory, None).await
}

/// [`query_device_with`] whose requests wait for a shared packet-rate cap.
#[tracing::instrument(skip(creds, limits, memory, pacer), fields(%addr, port))]
pub async fn query_device_paced(
    addr: IpAddr,
    port: u16,
    creds: &[SnmpCredential],
    limits: &SnmpLimits,
    memory: &CredentialMemory,
    pacer: Option<Arc<many::Pacer>>,
) -> Result<SnmpDevice, SnmpError> {
    if creds.is_empty() {
        return Err(SnmpError::NoCredentials);
    }
    let deadline = Instant::now() + limits.device_time;
    let mut failures = Vec::new();
    for index in memory.order(addr, creds.len()) {
        let credential = &creds[index];
        match try_credential(addr, port, credential, limits, deadline, pacer.clone()).await {
            Ok((mut session, system)) => {
                memory.remember(addr, index);
                let mut device = SnmpDevice {
                    ip: addr.to_string(),
                    port,
                    version: credential.version_name().to_string(),
                    credential_index: index,
                    system,
                    ..Default::default()
                };
                collect::collect(&mut session, &mut device, limits.depth).await;
                device.identification = identify(&device);
                return Ok(device);
            }
            // Neither gets better with another credential.
            Err(e @ (SnmpError::DeviceDeadline(_) | SnmpError::PortUnreachable)) => {
                failures.push(format!("{}: {e}", credential.describe()));
                break;
            }
            Err(e) => {
                tracing::debug!(credential = %credential.describe(), error = %e, "credential failed");
                failures.push(format!("{}: {e}", credential.describe()));
            }
        }
    }
    Err(SnmpError::AllCredentialsFailed(failures.join("; ")))
}

/// Opens a session and reads the system group; a credential "works" when that answers.
async fn try_credential(
    addr: IpAddr,
    port: u16,
    credential: &SnmpCredential,
    limits: &SnmpLimits,
    deadline: Instant,
    pacer: Option<Arc<many::Pacer>>,
) -> Result<(client::Session, parc_shared::snmp::SnmpSystem), SnmpError> {
    use collect::oids::*;
    let mut session =
        client::Session::open(addr, port, credential, limits, deadline, pacer).await?;
    let oids: Vec<oid::Oid> = [
        SYS_DESCR,
        SYS_OBJECT_ID,
        SYS_UPTIME,
        SYS_CONTACT,
        SYS_NAME,
        SYS_LOCATION,
    ]
    .iter()
    .map(|o| oid::Oid::new(o))
    .collect();
    let varbinds = session.get(&oids).await?;
    if varbinds.is_empty() {
        // An agent that answers but shows nothing of the system group is a view that hides
        // it: useless for identification, and likely the wrong credential.
        return Err(SnmpError::NothingVisible);
    }
    let system = collect::system_from(&collect::Scalars::from_varbinds(varbinds));
    Ok((session, system))
}
