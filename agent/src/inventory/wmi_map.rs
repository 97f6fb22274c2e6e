//! Windows facts: WMI rows in, the wire [`Inventory`] out. Pure, so it is compiled and tested
//! on every platform; only the queries themselves (`windows`, Windows only) touch WMI.
//!
//! Each `Win32_*` struct holds the properties Parc reads from one class, named as WMI names
//! them. The query edge hands every row over as JSON to [`from_row`], so a property an
//! implementation does not provide (Wine's WMI has only part of each class) is `None` rather
//! than a failed row, names match whatever their case (WMI's are case-insensitive: Wine says
//! "DeviceId" where Windows says "DeviceID"), and numbers arrive as numbers or strings (WMI
//! sends uint64 as text).
//!
//! The mapping reuses the Linux rules wherever the fact is the same: SMBIOS identity goes
//! through [`hardware::from_dmi`] (placeholders dropped, junk serials and UUIDs flagged) and
//! virtualization through [`host::detect_virtualization`], so a PC reads the same whichever
//! operating system it boots.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use parc_shared::identity::is_junk_serial;
use parc_shared::inventory::{
    Cpu, Disk, Filesystem, Host, LocalUser, Memory, Network, NetworkInterface, OperatingSystem,
    Session, Software, Users,
};
use parc_shared::Inventory;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{hardware, host};

/// The properties read from `Win32_BIOS`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32Bios {
    pub manufacturer: Option<String>,
    pub serial_number: Option<String>,
    #[serde(rename = "SMBIOSBIOSVersion")]
    pub smbios_bios_version: Option<String>,
    /// A CIM datetime ("20220913000000.000000+000").
    pub release_date: Option<String>,
}

/// `Win32_ComputerSystemProduct`: the SMBIOS system (type 1) identity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32ComputerSystemProduct {
    #[serde(rename = "UUID")]
    pub uuid: Option<String>,
    pub identifying_number: Option<String>,
    pub vendor: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32ComputerSystem {
    pub name: Option<String>,
    #[serde(rename = "DNSHostName")]
    pub dns_host_name: Option<String>,
    /// The AD domain's DNS name when joined, else the workgroup.
    pub domain: Option<String>,
    pub part_of_domain: Option<bool>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    #[serde(deserialize_with = "number")]
    pub total_physical_memory: Option<u64>,
    /// The user of the console session ("CHU\jdupont"); absent when nobody is logged on at
    /// the console (remote desktop sessions are not listed here).
    pub user_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32SystemEnclosure {
    #[serde(deserialize_with = "list")]
    pub chassis_types: Vec<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32OperatingSystem {
    /// "Microsoft Windows 11 Pro".
    pub caption: Option<String>,
    /// "10.0.22631".
    pub version: Option<String>,
    pub build_number: Option<String>,
    pub install_date: Option<String>,
    pub last_boot_up_time: Option<String>,
    /// "64-bit", or localised ("64 bits") on some editions: a hint only.
    #[serde(rename = "OSArchitecture")]
    pub os_architecture: Option<String>,
    /// KiB.
    #[serde(deserialize_with = "number")]
    pub size_stored_in_paging_files: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32Processor {
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    #[serde(deserialize_with = "number")]
    pub number_of_cores: Option<u64>,
    #[serde(deserialize_with = "number")]
    pub number_of_logical_processors: Option<u64>,
    #[serde(deserialize_with = "number")]
    pub max_clock_speed: Option<u64>,
    /// CPUID leaf 1 (EDX then EAX, hex): "BFEBFBFF000906EA".
    pub processor_id: Option<String>,
    /// 0 x86, 5 ARM, 9 x64, 12 ARM64.
    #[serde(deserialize_with = "number")]
    pub architecture: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32DiskDrive {
    /// `\\.\PHYSICALDRIVE0`.
    #[serde(rename = "DeviceID")]
    pub device_id: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub serial_number: Option<String>,
    #[serde(deserialize_with = "number")]
    pub size: Option<u64>,
    /// "Fixed hard disk media", "Removable Media", "External hard disk media".
    pub media_type: Option<String>,
    /// "IDE", "SCSI", "USB".
    pub interface_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32LogicalDisk {
    /// "C:".
    #[serde(rename = "DeviceID")]
    pub device_id: Option<String>,
    /// 3 is a local fixed disk; 2 removable, 4 network, 5 optical.
    #[serde(deserialize_with = "number")]
    pub drive_type: Option<u64>,
    pub file_system: Option<String>,
    #[serde(deserialize_with = "number")]
    pub size: Option<u64>,
    #[serde(deserialize_with = "number")]
    pub free_space: Option<u64>,
    pub volume_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32NetworkAdapterConfiguration {
    /// Joins the configuration to its `Win32_NetworkAdapter`.
    #[serde(deserialize_with = "number")]
    pub index: Option<u64>,
    pub description: Option<String>,
    #[serde(rename = "MACAddress")]
    pub mac_address: Option<String>,
    #[serde(rename = "IPEnabled")]
    pub ip_enabled: Option<bool>,
    /// IPv4 and IPv6 addresses, in the same order as `ip_subnet`.
    #[serde(rename = "IPAddress", deserialize_with = "list")]
    pub ip_address: Vec<String>,
    /// Masks for IPv4 ("255.255.255.0"), prefix lengths for IPv6 ("64").
    #[serde(rename = "IPSubnet", deserialize_with = "list")]
    pub ip_subnet: Vec<String>,
    #[serde(rename = "DefaultIPGateway", deserialize_with = "list")]
    pub default_ip_gateway: Vec<String>,
    #[serde(rename = "DNSServerSearchOrder", deserialize_with = "list")]
    pub dns_server_search_order: Vec<String>,
    #[serde(rename = "DHCPEnabled")]
    pub dhcp_enabled: Option<bool>,
    #[serde(rename = "MTU", deserialize_with = "number")]
    pub mtu: Option<u64>,
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32NetworkAdapter {
    #[serde(deserialize_with = "number")]
    pub index: Option<u64>,
    pub name: Option<String>,
    /// The name in "Network Connections" ("Ethernet", "Wi-Fi"); only adapters a user can see
    /// there have one, which leaves out WAN miniports and filter drivers.
    #[serde(rename = "NetConnectionID")]
    pub net_connection_id: Option<String>,
    #[serde(rename = "MACAddress")]
    pub mac_address: Option<String>,
    /// Bits per second.
    #[serde(deserialize_with = "number")]
    pub speed: Option<u64>,
    pub physical_adapter: Option<bool>,
    /// 2 connected, 7 media disconnected, 0 disconnected.
    #[serde(deserialize_with = "number")]
    pub net_connection_status: Option<u64>,
    pub service_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Win32UserAccount {
    pub name: Option<String>,
    pub full_name: Option<String>,
    #[serde(rename = "SID")]
    pub sid: Option<String>,
    pub local_account: Option<bool>,
    pub disabled: Option<bool>,
}

/// Every row the agent read, one list per class: empty when the class could not be queried.
#[derive(Debug, Clone, Default)]
pub struct WmiFacts {
    pub bios: Vec<Win32Bios>,
    pub product: Vec<Win32ComputerSystemProduct>,
    pub system: Vec<Win32ComputerSystem>,
    pub enclosure: Vec<Win32SystemEnclosure>,
    pub os: Vec<Win32OperatingSystem>,
    pub processors: Vec<Win32Processor>,
    pub disk_drives: Vec<Win32DiskDrive>,
    pub logical_disks: Vec<Win32LogicalDisk>,
    pub adapter_configs: Vec<Win32NetworkAdapterConfiguration>,
    pub adapters: Vec<Win32NetworkAdapter>,
    pub accounts: Vec<Win32UserAccount>,
}

/// What does not come from WMI: the process environment and the registry.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    /// `%COMPUTERNAME%`, the fallback when `Win32_ComputerSystem` is unavailable.
    pub computer_name: Option<String>,
    /// `%PROCESSOR_ARCHITEW6432%`, else `%PROCESSOR_ARCHITECTURE%` (the OS's, not this
    /// process's, when a 32-bit process runs on 64-bit Windows).
    pub processor_architecture: Option<String>,
    /// `HKLM\SOFTWARE\Microsoft\Cryptography\MachineGuid`.
    pub machine_guid: Option<String>,
}

/// The whole inventory. Only a machine without any name is an error: the document has to
/// name the host it describes.
pub fn inventory(
    facts: &WmiFacts,
    env: &HostEnv,
    software: Vec<Software>,
) -> anyhow::Result<Inventory> {
    let system = facts.system.first();
    let hardware = hardware(
        facts.bios.first(),
        facts.product.first(),
        system,
        facts.enclosure.first(),
    );
    let processor_arch = facts.processors.first().and_then(|p| p.architecture);
    let os = operating_system(facts.os.first(), env, processor_arch);
    let host = host(system, env, &hardware)?;
    Ok(Inventory {
        cpus: cpus(&facts.processors, &os.arch),
        memory: memory(system, facts.os.first()),
        disks: disks(&facts.disk_drives),
        filesystems: filesystems(&facts.logical_disks),
        network: network(&facts.adapter_configs, &facts.adapters),
        users: users(&facts.accounts, system),
        software,
        host,
        software_unchanged: None,
        software_delta: None,
        os,
        hardware,
    })
}

/// SMBIOS identity, through the Linux DMI rules. `dmi_available` is false only when neither
/// the BIOS nor the product class answered.
pub fn hardware(
    bios: Option<&Win32Bios>,
    product: Option<&Win32ComputerSystemProduct>,
    system: Option<&Win32ComputerSystem>,
    enclosure: Option<&Win32SystemEnclosure>,
) -> parc_shared::inventory::Hardware {
    if bios.is_none() && product.is_none() {
        return Default::default();
    }
    let mut fields: hardware::DmiFields = Vec::new();
    let mut put = |name: &'static str, value: Option<&String>| {
        if let Some(v) = value {
            fields.push((name, v.clone()));
        }
    };
    // Win32_ComputerSystem's names are the SMBIOS type 1 strings Linux calls sys_vendor and
    // product_name; the product class repeats them on the few machines where the first is empty.
    put(
        "sys_vendor",
        first_text(&[
            system.and_then(|s| s.manufacturer.as_ref()),
            product.and_then(|p| p.vendor.as_ref()),
        ]),
    );
    put(
        "product_name",
        first_text(&[
            system.and_then(|s| s.model.as_ref()),
            product.and_then(|p| p.name.as_ref()),
        ]),
    );
    put(
        "product_serial",
        serial(
            product.and_then(|p| p.identifying_number.as_deref()),
            bios.and_then(|b| b.serial_number.as_deref()),
        )
        .as_ref(),
    );
    put("product_uuid", product.and_then(|p| p.uuid.as_ref()));
    if let Some(b) = bios {
        put("bios_vendor", b.manufacturer.as_ref());
        put("bios_version", b.smbios_bios_version.as_ref());
        put(
            "bios_date",
            b.release_date
                .as_deref()
                .and_then(cim_date)
                .map(|d| d.format("%m/%d/%Y").to_string())
                .as_ref(),
        );
    }
    let chassis = enclosure
        .and_then(|e| e.chassis_types.iter().find(|&&c| c != 2))
        .map(u16::to_string);
    put("chassis_type", chassis.as_ref());
    hardware::from_dmi(&fields)
}

fn first_text<'a>(candidates: &[Option<&'a String>]) -> Option<&'a String> {
    candidates
        .iter()
        .flatten()
        .copied()
        .find(|v| !v.trim().is_empty())
}

/// The system serial: the SMBIOS type 1 serial (IdentifyingNumber, what Linux reads as
/// product_serial) unless it is a placeholder and the BIOS class has a real one. A placeholder
/// is still returned when nothing better exists, to be flagged junk rather than hidden.
pub fn serial(identifying_number: Option<&str>, bios_serial: Option<&str>) -> Option<String> {
    let present: Vec<&str> = [identifying_number, bios_serial]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    present
        .iter()
        .find(|v| !is_junk_serial(v))
        .or(present.first())
        .map(|v| v.to_string())
}

pub fn operating_system(
    os: Option<&Win32OperatingSystem>,
    env: &HostEnv,
    processor_arch: Option<u64>,
) -> OperatingSystem {
    fn text(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let caption = os.and_then(|o| text(&o.caption));
    let version = os.and_then(|o| text(&o.version));
    let build = os.and_then(|o| text(&o.build_number));
    OperatingSystem {
        family: "windows".into(),
        // The product without the vendor, as Linux reports "Debian GNU/Linux".
        name: caption.map(|c| c.strip_prefix("Microsoft ").unwrap_or(c).to_string()),
        version: version.map(str::to_string),
        pretty_name: caption.map(|c| match build {
            Some(b) => format!("{c} (build {b})"),
            None => c.to_string(),
        }),
        // NT's kernel carries the OS version number.
        kernel: version.map(str::to_string),
        arch: architecture(
            env.processor_architecture.as_deref(),
            processor_arch,
            os.and_then(|o| o.os_architecture.as_deref()),
        ),
        install_date: os
            .and_then(|o| o.install_date.as_deref())
            .and_then(cim_datetime),
        boot_time: os
            .and_then(|o| o.last_boot_up_time.as_deref())
            .and_then(cim_datetime),
        timezone: None,
    }
}

/// The OS architecture in Linux's names: from the environment (exact), else the processor's
/// architecture code, else "64-bit"/"32-bit" from the OS class.
pub fn architecture(env: Option<&str>, processor: Option<u64>, os_arch: Option<&str>) -> String {
    match env.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) if e.eq_ignore_ascii_case("AMD64") => return "x86_64".into(),
        Some(e) if e.eq_ignore_ascii_case("ARM64") => return "aarch64".into(),
        Some(e) if e.eq_ignore_ascii_case("x86") => return "x86".into(),
        Some(other) => return other.to_ascii_lowercase(),
        None => {}
    }
    match processor {
        Some(9) => return "x86_64".into(),
        Some(12) => return "aarch64".into(),
        Some(0) => return "x86".into(),
        Some(5) => return "arm".into(),
        _ => {}
    }
    match os_arch {
        Some(a) if a.contains("ARM") => "aarch64".into(),
        Some(a) if a.contains("64") => "x86_64".into(),
        Some(a) if a.contains("32") => "x86".into(),
        _ => std::env::consts::ARCH.into(),
    }
}

/// A CIM datetime, "yyyymmddHHMMSS.ffffff+UUU" (UUU: minutes east of UTC), as UTC. Fields
/// WMI does not know are asterisks: such a value is no date.
pub fn cim_datetime(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if t.len() < 25 || !t.is_ascii() {
        return None;
    }
    let (stamp, offset) = t.split_at(21);
    let local = chrono::NaiveDateTime::parse_from_str(&stamp[..14], "%Y%m%d%H%M%S").ok()?;
    let minutes: i32 = offset.parse().ok()?;
    let offset = FixedOffset::east_opt(minutes.checked_mul(60)?)?;
    Some(
        local
            .and_local_timezone(offset)
            .single()?
            .with_timezone(&Utc),
    )
}

/// The calendar date of a CIM datetime as written (BIOS release dates carry no real time).
pub fn cim_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    NaiveDate::parse_from_str(t.get(..8)?, "%Y%m%d").ok()
}

pub fn host(
    system: Option<&Win32ComputerSystem>,
    env: &HostEnv,
    hardware: &parc_shared::inventory::Hardware,
) -> anyhow::Result<Host> {
    let text = |v: Option<&String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let hostname = system
        .and_then(|s| text(s.dns_host_name.as_ref()).or_else(|| text(s.name.as_ref())))
        .or_else(|| text(env.computer_name.as_ref()))
        .ok_or_else(|| {
            anyhow::anyhow!("no hostname: Win32_ComputerSystem unavailable and COMPUTERNAME unset")
        })?;
    let joined = system.and_then(|s| s.part_of_domain) == Some(true);
    let domain = system.and_then(|s| text(s.domain.as_ref())).map(|d| {
        if joined {
            d.to_ascii_lowercase()
        } else {
            d
        }
    });
    let fqdn = domain
        .as_ref()
        .filter(|_| joined)
        .map(|d| format!("{}.{d}", hostname.to_ascii_lowercase()));
    let bios_vendor = hardware.bios.as_ref().and_then(|b| b.vendor.clone());
    let evidence = host::VirtEvidence {
        dmi: [
            hardware.manufacturer.clone(),
            hardware.model.clone(),
            bios_vendor,
        ]
        .into_iter()
        .flatten()
        .collect(),
        ..Default::default()
    };
    Ok(Host {
        hostname,
        fqdn,
        domain,
        machine_id: text(env.machine_guid.as_ref()).map(|g| g.to_ascii_lowercase()),
        virtualization: host::detect_virtualization(&evidence),
    })
}

/// One entry per processor model, as on Linux: sockets are the rows, cores and threads their
/// sums.
pub fn cpus(rows: &[Win32Processor], arch: &str) -> Vec<Cpu> {
    let mut models: BTreeMap<Option<String>, Cpu> = BTreeMap::new();
    for row in rows {
        let model = row
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let (family, model_number, stepping) = row
            .processor_id
            .as_deref()
            .and_then(cpuid_signature)
            .map_or((None, None, None), |(f, m, s)| (Some(f), Some(m), Some(s)));
        let cpu = models.entry(model.clone()).or_insert_with(|| Cpu {
            model,
            vendor: row
                .manufacturer
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            arch: arch.to_string(),
            frequency_mhz: row.max_clock_speed.filter(|&m| m > 0),
            family,
            model_number,
            stepping,
            ..Default::default()
        });
        let threads = row.number_of_logical_processors.unwrap_or(0) as u32;
        let cores = row.number_of_cores.map_or(threads, |c| c as u32);
        cpu.sockets += 1;
        cpu.cores += cores.max(1);
        cpu.threads += threads.max(cores).max(1);
    }
    models.into_values().collect()
}

/// Family, model and stepping as /proc/cpuinfo shows them, from the CPUID leaf 1 EAX that
/// ends `ProcessorId` (extended family and model folded in the way Intel and AMD define).
pub fn cpuid_signature(processor_id: &str) -> Option<(u32, u32, u32)> {
    let id = processor_id.trim();
    let eax = u32::from_str_radix(id.get(id.len().checked_sub(8)?..)?, 16).ok()?;
    if eax == 0 {
        return None;
    }
    let stepping = eax & 0xf;
    let base_model = (eax >> 4) & 0xf;
    let base_family = (eax >> 8) & 0xf;
    let ext_model = (eax >> 16) & 0xf;
    let ext_family = (eax >> 20) & 0xff;
    let family = if base_family == 0xf {
        base_family + ext_family
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        (ext_model << 4) | base_model
    } else {
        base_model
    };
    Some((family, model, stepping))
}

pub fn memory(system: Option<&Win32ComputerSystem>, os: Option<&Win32OperatingSystem>) -> Memory {
    Memory {
        total_bytes: system.and_then(|s| s.total_physical_memory).unwrap_or(0),
        swap_bytes: os
            .and_then(|o| o.size_stored_in_paging_files)
            .map_or(0, |kib| kib.saturating_mul(1024)),
    }
}

pub fn disks(rows: &[Win32DiskDrive]) -> Vec<Disk> {
    rows.iter()
        .filter_map(|d| {
            // `\\.\PHYSICALDRIVE0`; Wine doubles the backslashes, so the name is what
            // follows the last one.
            let name = d.device_id.as_deref()?.trim().rsplit('\\').next()?;
            if name.is_empty() {
                return None;
            }
            let model = meaningful(d.model.as_deref());
            Some(Disk {
                name: name.to_string(),
                kind: disk_kind(d, model.as_deref()),
                // "(Standard disk drives)" is the generic driver's name, not a vendor.
                vendor: meaningful(d.manufacturer.as_deref()).filter(|v| !v.starts_with('(')),
                serial: meaningful(d.serial_number.as_deref()),
                size_bytes: d.size.unwrap_or(0),
                model,
            })
        })
        .collect()
}

fn disk_kind(d: &Win32DiskDrive, model: Option<&str>) -> Option<String> {
    let media = d.media_type.as_deref().unwrap_or("").to_ascii_lowercase();
    let model = model.unwrap_or("").to_ascii_lowercase();
    let interface = d.interface_type.as_deref().unwrap_or("");
    let kind = if media.contains("removable")
        || media.contains("external")
        || interface.eq_ignore_ascii_case("USB")
    {
        "removable"
    } else if model.contains("nvme") {
        "nvme"
    } else if ["virtual", "vmware", "qemu", "vbox", "msft "]
        .iter()
        .any(|v| model.contains(v))
    {
        "virtual"
    } else if model.contains("ssd") {
        "ssd"
    } else {
        return None;
    };
    Some(kind.into())
}

/// Local fixed disks only: removable, network and optical drives come and go.
pub fn filesystems(rows: &[Win32LogicalDisk]) -> Vec<Filesystem> {
    const LOCAL_DISK: u64 = 3;
    rows.iter()
        .filter(|d| d.drive_type == Some(LOCAL_DISK))
        .filter_map(|d| {
            Some(Filesystem {
                mount_point: meaningful(d.device_id.as_deref())?,
                device: meaningful(d.volume_name.as_deref()),
                fs_type: meaningful(d.file_system.as_deref()).unwrap_or_else(|| "unknown".into()),
                total_bytes: d.size?,
                free_bytes: d.free_space.unwrap_or(0),
            })
        })
        .collect()
}

/// Interfaces are the adapters listed in "Network Connections" plus any other adapter with IP
/// enabled; their addresses, gateways and DNS servers come from the matching configuration.
pub fn network(
    configs: &[Win32NetworkAdapterConfiguration],
    adapters: &[Win32NetworkAdapter],
) -> Network {
    let config_of =
        |index: Option<u64>| index.and_then(|i| configs.iter().find(|c| c.index == Some(i)));
    let mut interfaces = Vec::new();
    let mut seen = Vec::new();
    for a in adapters {
        let config = config_of(a.index);
        let ip_enabled = config.and_then(|c| c.ip_enabled) == Some(true);
        if a.net_connection_id.is_none() && !ip_enabled {
            continue;
        }
        seen.extend(a.index);
        interfaces.push(interface(Some(a), config.filter(|_| ip_enabled)));
    }
    // Configurations without an adapter row (the adapter class failed, or an odd driver).
    for c in configs {
        if c.ip_enabled == Some(true) && !c.index.is_some_and(|i| seen.contains(&i)) {
            interfaces.push(interface(None, Some(c)));
        }
    }
    let mut net = Network {
        interfaces,
        ..Default::default()
    };
    for c in configs.iter().filter(|c| c.ip_enabled == Some(true)) {
        for g in &c.default_ip_gateway {
            push_unique(&mut net.gateways, g);
        }
        for d in &c.dns_server_search_order {
            push_unique(&mut net.dns_servers, d);
        }
    }
    net
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    let v = value.trim();
    if !v.is_empty() && !list.iter().any(|x| x == v) {
        list.push(v.to_string());
    }
}

fn interface(
    adapter: Option<&Win32NetworkAdapter>,
    config: Option<&Win32NetworkAdapterConfiguration>,
) -> NetworkInterface {
    let description = config
        .and_then(|c| c.description.as_deref())
        .or(adapter.and_then(|a| a.name.as_deref()));
    let name = adapter
        .and_then(|a| meaningful(a.net_connection_id.as_deref()))
        .or_else(|| meaningful(description))
        .unwrap_or_else(|| {
            format!(
                "adapter {}",
                adapter
                    .and_then(|a| a.index)
                    .or(config.and_then(|c| c.index))
                    .unwrap_or(0)
            )
        });
    let mac = adapter
        .and_then(|a| a.mac_address.as_deref())
        .or(config.and_then(|c| c.mac_address.as_deref()))
        .and_then(parc_shared::identity::normalize_mac);
    let addresses = config
        .map(|c| {
            c.ip_address
                .iter()
                .enumerate()
                .filter_map(|(i, addr)| with_prefix(addr, c.ip_subnet.get(i).map(String::as_str)))
                .collect()
        })
        .unwrap_or_default();
    // Drivers report "unknown" as the largest signed 64-bit value.
    let speed_mbps = adapter
        .and_then(|a| a.speed)
        .filter(|&s| s > 0 && s < i64::MAX as u64)
        .map(|bps| bps / 1_000_000);
    let state = match adapter.and_then(|a| a.net_connection_status) {
        Some(2) => "up",
        Some(0 | 7) => "down",
        _ if adapter.is_none() && config.is_some() => "up",
        _ => "unknown",
    };
    NetworkInterface {
        is_virtual: adapter.and_then(|a| a.physical_adapter) == Some(false)
            || description.is_some_and(is_virtual_adapter),
        name,
        mac,
        addresses,
        speed_mbps,
        mtu: config
            .and_then(|c| c.mtu)
            .and_then(|m| u32::try_from(m).ok()),
        state: state.into(),
        driver: adapter
            .and_then(|a| meaningful(a.service_name.as_deref()))
            .or_else(|| config.and_then(|c| meaningful(c.service_name.as_deref()))),
    }
}

/// Adapters Windows counts as physical although their MAC belongs to software: a host's
/// Hyper-V switch ports, VPN clients, VM host-only networks.
fn is_virtual_adapter(description: &str) -> bool {
    const SOFTWARE: &[&str] = &[
        "hyper-v virtual ethernet adapter",
        "virtualbox host-only",
        "vmware virtual ethernet adapter",
        "tap-windows",
        "wintun",
        "wireguard",
        "anyconnect",
        "fortinet",
        "globalprotect",
        "npcap loopback",
        "loopback adapter",
        "wan miniport",
    ];
    let d = description.to_ascii_lowercase();
    SOFTWARE.iter().any(|s| d.contains(s))
}

/// "192.0.2.10" with "255.255.255.0" → "192.0.2.10/24"; IPv6 subnets are prefix lengths.
pub fn with_prefix(addr: &str, subnet: Option<&str>) -> Option<String> {
    let ip: std::net::IpAddr = addr.trim().parse().ok()?;
    let subnet = subnet.map(str::trim).unwrap_or("");
    let prefix = if let Ok(len) = subnet.parse::<u8>() {
        len
    } else if let Ok(mask) = subnet.parse::<Ipv4Addr>() {
        let bits = u32::from(mask);
        // A non-contiguous mask is no prefix; the address alone is still worth reporting.
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Some(format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }));
        }
        bits.leading_ones() as u8
    } else if ip.is_ipv4() {
        32
    } else {
        128
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    Some(format!("{ip}/{}", prefix.min(max)))
}

pub fn users(accounts: &[Win32UserAccount], system: Option<&Win32ComputerSystem>) -> Users {
    let local = accounts
        .iter()
        // The query asks for local accounts only; Wine may not honour the WHERE clause.
        .filter(|a| a.local_account != Some(false))
        .filter_map(|a| {
            Some(LocalUser {
                name: meaningful(a.name.as_deref())?,
                // The RID: 500 is the built-in Administrator, as 0 is root.
                uid: a
                    .sid
                    .as_deref()
                    .and_then(|s| s.rsplit('-').next())
                    .and_then(|rid| rid.parse().ok()),
                full_name: meaningful(a.full_name.as_deref()),
                ..Default::default()
            })
        })
        .collect();
    let logged_in = system
        .and_then(|s| meaningful(s.user_name.as_deref()))
        .map(|user| Session {
            user,
            terminal: Some("console".into()),
            host: None,
            since: None,
        })
        .into_iter()
        .collect();
    Users {
        local,
        groups: Vec::new(),
        logged_in,
    }
}

fn meaningful(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// One WMI row (property name → value) as `T`. Property names are matched to `T`'s
/// case-insensitively, as WMI itself matches them.
pub fn from_row<T: DeserializeOwned>(row: Map<String, Value>) -> Result<T, serde_json::Error> {
    let fields = field_names::<T>();
    let row = row
        .into_iter()
        .map(|(name, value)| {
            let name = fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&name))
                .map_or(name, |f| f.to_string());
            (name, value)
        })
        .collect();
    serde_json::from_value(Value::Object(row))
}

/// The names a struct's `Deserialize` asks for, caught by a deserializer that only records
/// them (serde hands them to `deserialize_struct`).
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only structs are probed"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// A number that WMI may send as a number or as text (uint64 is a string in COM); anything
/// else is an absent value rather than a failed row.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Float(f64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Int(n)) => Some(n),
        Some(Raw::Float(f)) if f >= 0.0 && f.is_finite() => Some(f as u64),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An array property; WMI sends NULL rather than an empty array.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row<T: DeserializeOwned>(value: Value) -> T {
        match value {
            Value::Object(map) => from_row(map).expect("a WMI row deserializes"),
            other => panic!("a row is an object: {other}"),
        }
    }

    /// A Dell OptiPlex on a domain, as Windows 11's WMI returns it (property names and types
    /// as the wmi crate hands them over: uint64 as text, arrays, NULLs).
    fn optiplex() -> WmiFacts {
        WmiFacts {
            bios: vec![row(json!({
                "Manufacturer": "Dell Inc.",
                "SerialNumber": "5CG1234XYZ",
                "SMBIOSBIOSVersion": "1.14.0",
                "ReleaseDate": "20220913000000.000000+000",
                "Caption": "1.14.0",
            }))],
            product: vec![row(json!({
                "UUID": "4C4C4544-0042-3510-8052-B4C04F4A4E32",
                "IdentifyingNumber": "5CG1234XYZ",
                "Vendor": "Dell Inc.",
                "Name": "OptiPlex 7090",
            }))],
            system: vec![row(json!({
                "Name": "PC-0042",
                "DNSHostName": "pc-0042",
                "Domain": "CHU.example",
                "PartOfDomain": true,
                "Manufacturer": "Dell Inc.",
                "Model": "OptiPlex 7090",
                "TotalPhysicalMemory": "17010114560",
                "UserName": "CHU\\jdupont",
            }))],
            enclosure: vec![row(json!({"ChassisTypes": [3]}))],
            os: vec![row(json!({
                "Caption": "Microsoft Windows 11 Pro",
                "Version": "10.0.22631",
                "BuildNumber": "22631",
                "InstallDate": "20240115093000.000000+060",
                "LastBootUpTime": "20241120071502.500000+060",
                "OSArchitecture": "64-bit",
                "SizeStoredInPagingFiles": "2490368",
            }))],
            processors: vec![row(json!({
                "Name": "11th Gen Intel(R) Core(TM) i7-11700 @ 2.50GHz",
                "Manufacturer": "GenuineIntel",
                "NumberOfCores": 8,
                "NumberOfLogicalProcessors": 16,
                "MaxClockSpeed": 2496,
                "ProcessorId": "BFEBFBFF000A0671",
                "Architecture": 9,
            }))],
            disk_drives: vec![row(json!({
                "DeviceID": "\\\\.\\PHYSICALDRIVE0",
                "Model": "PC SN730 NVMe WDC 512GB",
                "Manufacturer": "(Standard disk drives)",
                "SerialNumber": "E823_8FA6_BF53_0001_001B_448B_49C5_3A1E.",
                "Size": "512105932800",
                "MediaType": "Fixed hard disk media",
                "InterfaceType": "SCSI",
            }))],
            logical_disks: vec![
                row(
                    json!({"DeviceID": "C:", "DriveType": 3, "FileSystem": "NTFS",
                           "Size": "511275802624", "FreeSpace": "301989888000", "VolumeName": "OS"}),
                ),
                row(json!({"DeviceID": "D:", "DriveType": 5, "FileSystem": null, "Size": null})),
                row(
                    json!({"DeviceID": "H:", "DriveType": 4, "FileSystem": "NTFS",
                           "Size": "1099511627776", "FreeSpace": "1"}),
                ),
            ],
            adapter_configs: vec![
                row(json!({
                    "Index": 1, "Description": "Intel(R) Ethernet Connection (14) I219-LM",
                    "MACAddress": "B0:4F:13:0A:BC:DE", "IPEnabled": true,
                    "IPAddress": ["10.12.4.57", "fe80::1c2b:3a4d:5e6f:7a8b"],
                    "IPSubnet": ["255.255.252.0", "64"],
                    "DefaultIPGateway": ["10.12.4.1"],
                    "DNSServerSearchOrder": ["10.12.0.10", "10.12.0.11"],
                    "DHCPEnabled": true, "MTU": null, "ServiceName": "e1dexpress",
                })),
                row(
                    json!({"Index": 2, "Description": "WAN Miniport (IP)", "IPEnabled": false,
                           "IPAddress": null, "IPSubnet": null}),
                ),
                row(json!({
                    "Index": 7, "Description": "Hyper-V Virtual Ethernet Adapter",
                    "MACAddress": "00:15:5D:01:02:03", "IPEnabled": true,
                    "IPAddress": ["172.28.96.1"], "IPSubnet": ["255.255.240.0"],
                    "DefaultIPGateway": null, "DNSServerSearchOrder": null,
                })),
            ],
            adapters: vec![
                row(json!({
                    "Index": 1, "Name": "Intel(R) Ethernet Connection (14) I219-LM",
                    "NetConnectionID": "Ethernet", "MACAddress": "B0:4F:13:0A:BC:DE",
                    "Speed": "1000000000", "PhysicalAdapter": true, "NetConnectionStatus": 2,
                    "ServiceName": "e1dexpress",
                })),
                row(
                    json!({"Index": 2, "Name": "WAN Miniport (IP)", "NetConnectionID": null,
                           "PhysicalAdapter": false}),
                ),
                row(json!({
                    "Index": 7, "Name": "Hyper-V Virtual Ethernet Adapter",
                    "NetConnectionID": "vEthernet (Default Switch)",
                    "MACAddress": "00:15:5D:01:02:03", "Speed": "10000000000",
                    "PhysicalAdapter": true, "NetConnectionStatus": 2,
                })),
                row(json!({
                    "Index": 3, "Name": "Intel(R) Wi-Fi 6 AX201 160MHz",
                    "NetConnectionID": "Wi-Fi", "MACAddress": "8C:C6:81:11:22:33",
                    "Speed": "9223372036854775807", "PhysicalAdapter": true,
                    "NetConnectionStatus": 7,
                })),
            ],
            accounts: vec![
                row(json!({"Name": "Administrator", "SID": "S-1-5-21-1-2-3-500",
                           "LocalAccount": true, "Disabled": true, "FullName": ""})),
                row(json!({"Name": "support", "SID": "S-1-5-21-1-2-3-1001",
                           "LocalAccount": true, "FullName": "Support IT"})),
                row(json!({"Name": "jdupont", "SID": "S-1-5-21-9-9-9-1107",
                           "LocalAccount": false})),
            ],
        }
    }

    fn env() -> HostEnv {
        HostEnv {
            computer_name: Some("PC-0042".into()),
            processor_architecture: Some("AMD64".into()),
            machine_guid: Some("6F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0".into()),
        }
    }

    #[test]
    fn a_domain_pc_maps_to_the_same_document_as_linux() {
        let inv = inventory(&optiplex(), &env(), Vec::new()).unwrap();

        assert_eq!(inv.host.hostname, "pc-0042");
        assert_eq!(inv.host.domain.as_deref(), Some("chu.example"));
        assert_eq!(inv.host.fqdn.as_deref(), Some("pc-0042.chu.example"));
        assert_eq!(
            inv.host.machine_id.as_deref(),
            Some("6f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        );
        assert_eq!(inv.host.virtualization.as_deref(), Some("physical"));

        let hw = &inv.hardware;
        assert!(hw.dmi_available);
        assert_eq!(hw.manufacturer.as_deref(), Some("Dell Inc."));
        assert_eq!(hw.model.as_deref(), Some("OptiPlex 7090"));
        let serial = hw.serial.as_ref().unwrap();
        assert_eq!((serial.value.as_str(), serial.junk), ("5CG1234XYZ", false));
        let uuid = hw.uuid.as_ref().unwrap();
        assert_eq!(uuid.value, "4c4c4544-0042-3510-8052-b4c04f4a4e32");
        assert_eq!(hw.chassis_type.as_deref(), Some("Desktop"));
        let bios = hw.bios.as_ref().unwrap();
        // The format Linux reads from /sys/class/dmi/id/bios_date.
        assert_eq!(bios.date.as_deref(), Some("09/13/2022"));
        assert_eq!(bios.version.as_deref(), Some("1.14.0"));

        let os = &inv.os;
        assert_eq!(os.family, "windows");
        assert_eq!(os.name.as_deref(), Some("Windows 11 Pro"));
        assert_eq!(os.version.as_deref(), Some("10.0.22631"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Microsoft Windows 11 Pro (build 22631)")
        );
        assert_eq!(os.arch, "x86_64");
        // +060 is Paris in winter: one hour east of UTC.
        assert_eq!(
            os.install_date.unwrap().to_rfc3339(),
            "2024-01-15T08:30:00+00:00"
        );
        assert_eq!(
            os.boot_time.unwrap().to_rfc3339(),
            "2024-11-20T06:15:02+00:00"
        );

        assert_eq!(inv.memory.total_bytes, 17_010_114_560);
        assert_eq!(inv.memory.swap_bytes, 2_490_368 * 1024);
        let cpu = &inv.cpus[..];
        assert_eq!(cpu.len(), 1);
        assert_eq!((cpu[0].sockets, cpu[0].cores, cpu[0].threads), (1, 8, 16));
        // Rocket Lake: family 6, model 0xA7 (167), stepping 1, as /proc/cpuinfo says.
        assert_eq!(
            (cpu[0].family, cpu[0].model_number, cpu[0].stepping),
            (Some(6), Some(167), Some(1))
        );
        assert_eq!(cpu[0].frequency_mhz, Some(2496));
        assert_eq!(cpu[0].arch, "x86_64");

        let disk = &inv.disks[0];
        assert_eq!(disk.name, "PHYSICALDRIVE0");
        assert_eq!(disk.size_bytes, 512_105_932_800);
        assert_eq!(disk.kind.as_deref(), Some("nvme"));
        assert_eq!(disk.vendor, None, "the generic driver is no vendor");
        let fs: Vec<&str> = inv
            .filesystems
            .iter()
            .map(|f| f.mount_point.as_str())
            .collect();
        assert_eq!(fs, ["C:"], "fixed disks only");
        assert_eq!(inv.filesystems[0].free_bytes, 301_989_888_000);

        let names: Vec<&str> = inv
            .network
            .interfaces
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(names, ["Ethernet", "vEthernet (Default Switch)", "Wi-Fi"]);
        let eth = &inv.network.interfaces[0];
        assert_eq!(eth.mac.as_deref(), Some("b0:4f:13:0a:bc:de"));
        assert_eq!(
            eth.addresses,
            ["10.12.4.57/22", "fe80::1c2b:3a4d:5e6f:7a8b/64"]
        );
        assert_eq!(
            (eth.speed_mbps, eth.state.as_str(), eth.is_virtual),
            (Some(1000), "up", false)
        );
        assert_eq!(eth.driver.as_deref(), Some("e1dexpress"));
        let vswitch = &inv.network.interfaces[1];
        assert!(vswitch.is_virtual, "a Hyper-V switch port says physical");
        let wifi = &inv.network.interfaces[2];
        assert_eq!((wifi.state.as_str(), wifi.speed_mbps), ("down", None));
        assert!(wifi.addresses.is_empty());
        assert_eq!(
            inv.physical_macs(),
            ["8c:c6:81:11:22:33", "b0:4f:13:0a:bc:de"]
        );
        assert_eq!(inv.network.gateways, ["10.12.4.1"]);
        assert_eq!(inv.network.dns_servers, ["10.12.0.10", "10.12.0.11"]);

        let users: Vec<(&str, Option<u32>)> = inv
            .users
            .local
            .iter()
            .map(|u| (u.name.as_str(), u.uid))
            .collect();
        assert_eq!(
            users,
            [("Administrator", Some(500)), ("support", Some(1001))]
        );
        assert_eq!(inv.users.local[0].full_name, None);
        assert_eq!(inv.users.logged_in[0].user, "CHU\\jdupont");
    }

    /// What Wine 8 answers: no product, enclosure, disk drive, adapter or account class, a
    /// BIOS and system with placeholders. Every missing class leaves its section empty.
    #[test]
    fn partial_wmi_leaves_sections_empty_and_never_fails() {
        let facts = WmiFacts {
            bios: vec![row(
                json!({"Manufacturer": "The Wine Project", "SerialNumber": "0",
                                  "SMBIOSBIOSVersion": "Wine", "ReleaseDate": "20120608000000.000000+000"}),
            )],
            system: vec![row(json!({"Name": "WINEPC", "Domain": "WORKGROUP",
                                    "Manufacturer": "The Wine Project", "Model": "Wine",
                                    "TotalPhysicalMemory": 4294967296u64, "UserName": "WINEPC\\me"}))],
            os: vec![row(
                json!({"Caption": "Microsoft Windows 10 Pro", "Version": "10.0.19043",
                                "BuildNumber": "19043", "InstallDate": "20140101000000.000000+000",
                                "LastBootUpTime": "2024********.******+***"}),
            )],
            processors: vec![row(json!({"Name": "Intel(R) Xeon(R)", "NumberOfCores": 2,
                                        "NumberOfLogicalProcessors": 2, "ProcessorId": "0000000000000000"}))],
            ..Default::default()
        };
        let env = HostEnv {
            processor_architecture: Some("AMD64".into()),
            ..Default::default()
        };
        let inv = inventory(&facts, &env, Vec::new()).unwrap();
        assert_eq!(inv.host.hostname, "WINEPC");
        assert_eq!(
            inv.host.domain.as_deref(),
            Some("WORKGROUP"),
            "workgroup kept as written"
        );
        assert_eq!(inv.host.fqdn, None, "a workgroup is no DNS domain");
        let serial = inv.hardware.serial.unwrap();
        assert!(serial.junk, "{serial:?}");
        assert_eq!(inv.hardware.uuid, None);
        assert_eq!(inv.os.boot_time, None, "asterisks are unknown fields");
        assert_eq!(inv.os.version.as_deref(), Some("10.0.19043"));
        assert_eq!(
            inv.cpus[0].family, None,
            "an all-zero signature is no CPUID"
        );
        assert_eq!(inv.memory.total_bytes, 4_294_967_296);
        assert!(inv.disks.is_empty() && inv.filesystems.is_empty());
        assert!(inv.network.interfaces.is_empty() && inv.users.local.is_empty());
    }

    #[test]
    fn no_wmi_at_all_still_names_the_machine_and_nothing_else() {
        let inv = inventory(&WmiFacts::default(), &env(), Vec::new()).unwrap();
        assert_eq!(inv.host.hostname, "PC-0042");
        assert!(!inv.hardware.dmi_available);
        assert_eq!(inv.hardware, Default::default());
        assert_eq!(
            (inv.os.family.as_str(), inv.os.arch.as_str()),
            ("windows", "x86_64")
        );
        assert_eq!(inv.os.name, None);
        assert_eq!(inv.host.virtualization, None, "no evidence, no verdict");

        let nameless = HostEnv::default();
        let err = inventory(&WmiFacts::default(), &nameless, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("no hostname"), "{err}");
    }

    #[test]
    fn hyper_v_guest_and_serial_choice() {
        let hw = hardware(
            Some(&row(
                json!({"SerialNumber": "1234-5678-9012-3456-7890-1234-56",
                             "Manufacturer": "Microsoft Corporation"}),
            )),
            Some(&row(json!({"IdentifyingNumber": "To be filled by O.E.M.",
                             "UUID": "00000000-0000-0000-0000-000000000000"}))),
            Some(&row(
                json!({"Manufacturer": "Microsoft Corporation", "Model": "Virtual Machine"}),
            )),
            None,
        );
        let serial = hw.serial.as_ref().unwrap();
        assert_eq!(
            (serial.value.as_str(), serial.junk),
            ("1234-5678-9012-3456-7890-1234-56", false),
            "a junk IdentifyingNumber gives way to the BIOS serial"
        );
        assert!(hw.uuid.as_ref().unwrap().junk);
        let host = host(Some(&row(json!({"Name": "VM1"}))), &HostEnv::default(), &hw).unwrap();
        assert_eq!(host.virtualization.as_deref(), Some("microsoft"));
    }

    #[test]
    fn serial_choice_table() {
        let cases = [
            (Some("ABC"), Some("XYZ"), Some("ABC")),
            (Some("Default string"), Some("XYZ"), Some("XYZ")),
            (Some(" "), Some("XYZ"), Some("XYZ")),
            (Some("Default string"), Some("0"), Some("Default string")),
            (None, None, None),
        ];
        for (ident, bios, want) in cases {
            assert_eq!(serial(ident, bios).as_deref(), want, "{ident:?} {bios:?}");
        }
    }

    #[test]
    fn cim_datetimes() {
        let cases = [
            (
                "20240115093000.000000+060",
                Some("2024-01-15T08:30:00+00:00"),
            ),
            (
                "20240115093000.000000-300",
                Some("2024-01-15T14:30:00+00:00"),
            ),
            (
                "20240115093000.000000+000",
                Some("2024-01-15T09:30:00+00:00"),
            ),
            ("2024****093000.000000+000", None),
            ("20241341093000.000000+000", None),
            ("20240115", None),
            ("", None),
            ("20240115093000.000000+0é0", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                cim_datetime(text).map(|d| d.to_rfc3339()).as_deref(),
                want,
                "{text}"
            );
        }
        assert_eq!(
            cim_date("20220913000000.000000+000"),
            NaiveDate::from_ymd_opt(2022, 9, 13)
        );
        assert_eq!(cim_date("2022"), None);
    }

    #[test]
    fn addresses_with_masks_and_prefixes() {
        let cases = [
            ("192.0.2.10", Some("255.255.255.0"), Some("192.0.2.10/24")),
            ("192.0.2.10", Some("255.255.252.0"), Some("192.0.2.10/22")),
            ("192.0.2.10", Some("255.0.255.0"), Some("192.0.2.10/32")),
            ("192.0.2.10", None, Some("192.0.2.10/32")),
            ("fe80::1", Some("64"), Some("fe80::1/64")),
            ("2001:db8::5", Some("200"), Some("2001:db8::5/128")),
            ("192.0.2.10", Some("40"), Some("192.0.2.10/32")),
            ("not an address", Some("24"), None),
        ];
        for (addr, subnet, want) in cases {
            assert_eq!(
                with_prefix(addr, subnet).as_deref(),
                want,
                "{addr} {subnet:?}"
            );
        }
    }

    #[test]
    fn architectures() {
        let cases = [
            (Some("AMD64"), None, None, "x86_64"),
            (Some("ARM64"), Some(9), None, "aarch64"),
            (None, Some(12), None, "aarch64"),
            (None, Some(9), None, "x86_64"),
            (None, None, Some("64-bit"), "x86_64"),
            (None, None, Some("ARM 64-bit Processor"), "aarch64"),
            (None, None, Some("32 bits"), "x86"),
            (Some(" "), Some(0), None, "x86"),
        ];
        for (env, cpu, os, want) in cases {
            assert_eq!(architecture(env, cpu, os), want, "{env:?} {cpu:?} {os:?}");
        }
    }

    #[test]
    fn cpuid_signatures() {
        let cases = [
            // Intel Core i7-8700 (Coffee Lake): family 6, model 158, stepping 10.
            ("BFEBFBFF000906EA", Some((6, 158, 10))),
            // AMD Ryzen 7 5800X (Zen 3): family 0x19 = 25, model 0x21 = 33, stepping 0.
            ("178BFBFF00A20F10", Some((25, 33, 0))),
            ("0000000000000000", None),
            ("XYZ", None),
            ("", None),
        ];
        for (id, want) in cases {
            assert_eq!(cpuid_signature(id), want, "{id}");
        }
    }

    #[test]
    fn two_socket_server_sums_cores_and_threads() {
        let socket = json!({"Name": "Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz",
                            "NumberOfCores": 10, "NumberOfLogicalProcessors": 20});
        let cpus = cpus(&[row(socket.clone()), row(socket)], "x86_64");
        assert_eq!(cpus.len(), 1);
        assert_eq!(
            (cpus[0].sockets, cpus[0].cores, cpus[0].threads),
            (2, 20, 40)
        );
    }

    /// Wine 8's answers for its two drives, as its `wmic` prints them: "DeviceId", not
    /// "DeviceID".
    #[test]
    fn property_names_match_whatever_their_case() {
        let disk: Win32LogicalDisk = row(json!({
            "DeviceId": "C:", "DRIVETYPE": 3, "filesystem": "NTFS", "Size": "82252800000",
            "FreeSpace": "51855552512", "Unrelated": [1, 2],
        }));
        assert_eq!(disk.device_id.as_deref(), Some("C:"));
        assert_eq!(
            (disk.drive_type, disk.size, disk.file_system.as_deref()),
            (Some(3), Some(82_252_800_000), Some("NTFS"))
        );
        let bios: Win32Bios = row(json!({"smbiosbiosversion": "Wine"}));
        assert_eq!(bios.smbios_bios_version.as_deref(), Some("Wine"));
        assert!(field_names::<Win32NetworkAdapterConfiguration>().contains(&"IPAddress"));
    }

    #[test]
    fn rows_with_odd_types_degrade_to_absent_values() {
        let sys: Win32ComputerSystem = row(json!({
            "TotalPhysicalMemory": "lots", "PartOfDomain": null, "Name": "X",
        }));
        assert_eq!(sys.total_physical_memory, None);
        let cfg: Win32NetworkAdapterConfiguration = row(json!({"IPAddress": null, "Index": 4.0}));
        assert!(cfg.ip_address.is_empty());
        assert_eq!(cfg.index, Some(4));
        let wine = disks(&[row(json!({"DeviceId": "\\\\\\\\.\\\\PHYSICALDRIVE1"}))]);
        assert_eq!(wine[0].name, "PHYSICALDRIVE1");
        let disk: Win32LogicalDisk = row(json!({"Size": -5, "DriveType": [3]}));
        assert_eq!((disk.size, disk.drive_type), (None, None));
    }
}
