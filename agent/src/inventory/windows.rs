//! The Windows collection. MINIMAL: host name, domain, architecture and the registry's
//! installed programs, from environment variables and `reg query`; hardware, disks, network
//! and users need WMI and are left empty until a Windows build and test host exist.

use parc_shared::inventory::{Host, OperatingSystem};
use parc_shared::Inventory;

pub fn collect() -> anyhow::Result<Inventory> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let hostname = env("COMPUTERNAME")
        .ok_or_else(|| anyhow::anyhow!("no hostname: COMPUTERNAME is not set"))?;
    let domain = env("USERDNSDOMAIN").map(|d| d.to_ascii_lowercase());
    let arch = match env("PROCESSOR_ARCHITEW6432")
        .or_else(|| env("PROCESSOR_ARCHITECTURE"))
        .as_deref()
    {
        Some("AMD64") => "x86_64".to_string(),
        Some("ARM64") => "aarch64".to_string(),
        Some("x86") => "x86".to_string(),
        Some(other) => other.to_ascii_lowercase(),
        None => std::env::consts::ARCH.to_string(),
    };
    let mut inventory = Inventory {
        host: Host {
            fqdn: domain
                .as_ref()
                .map(|d| format!("{}.{d}", hostname.to_ascii_lowercase())),
            hostname,
            domain,
            ..Default::default()
        },
        os: OperatingSystem {
            family: "windows".into(),
            arch,
            ..Default::default()
        },
        software: super::software::windows::gather(),
        ..Default::default()
    };
    super::fit::fit_to_limits(&mut inventory);
    Ok(inventory)
}
