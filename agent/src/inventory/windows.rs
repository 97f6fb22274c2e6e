//! The Windows collection: one WMI connection, one query per class, the registry for the
//! machine GUID and the installed programs; the mapping itself is [`super::wmi_map`].
//!
//! Every query that fails (a class the WMI implementation lacks, a broken repository, access
//! denied) is logged and leaves its section empty: a PC with a half-broken WMI still reports
//! what it can. Each row is turned into JSON and read back into the class's struct by
//! [`wmi_map::from_row`], so missing properties become `None` instead of failing the row.

use std::collections::HashMap;

use parc_shared::Inventory;
use serde::de::DeserializeOwned;
use wmi::{Variant, WMIConnection};

use super::wmi_map::{self, HostEnv, WmiFacts};

pub fn collect() -> anyhow::Result<Inventory> {
    let connection = match WMIConnection::new() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "cannot connect to WMI: hardware, OS details, disks, network and users left empty");
            None
        }
    };
    let wmi = Wmi(connection.as_ref());
    let facts = WmiFacts {
        bios: wmi.rows("SELECT * FROM Win32_BIOS"),
        product: wmi.rows("SELECT * FROM Win32_ComputerSystemProduct"),
        system: wmi.rows("SELECT * FROM Win32_ComputerSystem"),
        enclosure: wmi.rows("SELECT * FROM Win32_SystemEnclosure"),
        os: wmi.rows("SELECT * FROM Win32_OperatingSystem"),
        processors: wmi.rows("SELECT * FROM Win32_Processor"),
        disk_drives: wmi.rows("SELECT * FROM Win32_DiskDrive"),
        // Network drives are left out by the query: a disconnected one stalls it.
        logical_disks: wmi.rows("SELECT * FROM Win32_LogicalDisk WHERE DriveType = 3"),
        adapter_configs: wmi.rows("SELECT * FROM Win32_NetworkAdapterConfiguration"),
        adapters: wmi.rows("SELECT * FROM Win32_NetworkAdapter"),
        // Without the WHERE clause a domain member enumerates every account of the domain.
        accounts: wmi.rows("SELECT * FROM Win32_UserAccount WHERE LocalAccount = TRUE"),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let host_env = HostEnv {
        computer_name: env("COMPUTERNAME"),
        processor_architecture: env("PROCESSOR_ARCHITEW6432")
            .or_else(|| env("PROCESSOR_ARCHITECTURE")),
        machine_guid: machine_guid(),
    };
    let mut inventory = wmi_map::inventory(&facts, &host_env, super::software::windows::gather())?;
    super::fit::fit_to_limits(&mut inventory);
    tracing::debug!(
        software = inventory.software.len(),
        interfaces = inventory.network.interfaces.len(),
        users = inventory.users.local.len(),
        "inventory collected"
    );
    Ok(inventory)
}

struct Wmi<'a>(Option<&'a WMIConnection>);

impl Wmi<'_> {
    fn rows<T: DeserializeOwned>(&self, query: &str) -> Vec<T> {
        let Some(connection) = self.0 else {
            return Vec::new();
        };
        let rows = match connection.raw_query::<HashMap<String, Variant>>(query) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(query, error = %e, "WMI query failed: its section is left empty");
                return Vec::new();
            }
        };
        rows.into_iter()
            .filter_map(|row| {
                serde_json::to_value(&row)
                    .and_then(|value| match value {
                        serde_json::Value::Object(map) => wmi_map::from_row(map),
                        other => Err(serde::de::Error::custom(format!("not an object: {other}"))),
                    })
                    .map_err(
                        |e| tracing::warn!(query, error = %e, "WMI row not understood: skipped"),
                    )
                    .ok()
            })
            .collect()
    }
}

/// `HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid`, written at setup (and, like
/// /etc/machine-id, copied by clones that skip sysprep).
fn machine_guid() -> Option<String> {
    use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, KEY_WOW64_64KEY};
    let key = winreg::RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(
        r"SOFTWARE\Microsoft\Cryptography",
        KEY_READ | KEY_WOW64_64KEY,
    );
    match key.and_then(|k| k.get_value::<String, _>("MachineGuid")) {
        Ok(guid) => Some(guid),
        Err(e) => {
            tracing::debug!(error = %e, "no MachineGuid");
            None
        }
    }
}
