//! A computer as a GLPI native inventory document (the JSON format of glpi-project/inventory_format
//! that GLPI 10+ accepts on its inventory endpoint), so that a group can feed an existing GLPI.
//!
//! The schema is strict (`additionalProperties: false`, patterns on architectures, interface
//! types and dates), so the mapping never writes nulls or empty strings and leaves out what Parc
//! does not know (per-DIMM memories, timezone offset, storage interfaces) rather than guess.
//! Sizes are in MiB, which is what GLPI's own agents send as "MB".

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Utc};
use parc_shared::inventory::{Cpu, Filesystem, NetworkInterface, Software};
use parc_shared::{HardwareId, Inventory};
use serde_json::{json, Map, Value};

/// What GLPI shows as the agent's version; the shape of "GLPI-Agent_v1.7".
pub const VERSION_CLIENT: &str = concat!("Parc-Collector_v", env!("CARGO_PKG_VERSION"));

const MIB: u64 = 1024 * 1024;

/// Everything the document is made of: the asset row's identity and its latest agent facts.
#[derive(Debug, Clone, Copy)]
pub struct Computer<'a> {
    pub asset_id: i64,
    /// The asset's name in Parc, used when the inventory has no hostname.
    pub name: Option<&'a str>,
    /// Becomes the document's `tag`: GLPI's entity rules commonly place assets by tag.
    pub site: &'a str,
    /// The Parc agent that reported the inventory, when known.
    pub agent_id: Option<&'a str>,
    pub inventory: &'a Inventory,
    /// The asset's stored software list (stored facts carry no software).
    pub software: &'a [Software],
}

/// The GLPI document of one computer.
pub fn computer(c: &Computer<'_>) -> Value {
    let inv = c.inventory;
    let mut content = Map::new();
    content.insert("versionclient".into(), json!(VERSION_CLIENT));
    content.insert("hardware".into(), hardware(c));
    put_object(&mut content, "bios", bios(inv));
    content.insert("operatingsystem".into(), operating_system(inv));
    put_array(
        &mut content,
        "cpus",
        inv.cpus.iter().flat_map(cpus).collect(),
    );
    put_array(
        &mut content,
        "storages",
        inv.disks
            .iter()
            .map(|d| {
                let mut m = Map::new();
                put(&mut m, "name", nonempty(&d.name));
                put(&mut m, "model", d.model.as_deref());
                put(&mut m, "manufacturer", d.vendor.as_deref());
                put(&mut m, "serial", d.serial.as_deref());
                put(&mut m, "description", d.kind.as_deref());
                m.insert("type".into(), json!("disk"));
                m.insert("disksize".into(), json!(d.size_bytes / MIB));
                Value::Object(m)
            })
            .collect(),
    );
    let windows = inv.os.family.eq_ignore_ascii_case("windows");
    put_array(
        &mut content,
        "drives",
        inv.filesystems.iter().map(|f| drive(f, windows)).collect(),
    );
    put_array(
        &mut content,
        "networks",
        inv.network.interfaces.iter().flat_map(networks).collect(),
    );
    put_array(
        &mut content,
        "softwares",
        c.software.iter().map(software).collect(),
    );
    let mut logins: Vec<&str> = inv
        .users
        .logged_in
        .iter()
        .map(|s| s.user.as_str())
        .filter(|u| !u.is_empty())
        .collect();
    logins.sort_unstable();
    logins.dedup();
    put_array(
        &mut content,
        "users",
        logins.iter().map(|l| json!({"login": l})).collect(),
    );
    put_array(
        &mut content,
        "local_users",
        inv.users
            .local
            .iter()
            .map(|u| {
                let mut m = Map::new();
                // `id` is required: the uid, or the name where the platform has none.
                m.insert(
                    "id".into(),
                    json!(u.uid.map_or_else(|| u.name.clone(), |n| n.to_string())),
                );
                put(&mut m, "login", nonempty(&u.name));
                put(&mut m, "name", u.full_name.as_deref());
                put(&mut m, "home", u.home.as_deref());
                put(&mut m, "shell", u.shell.as_deref());
                Value::Object(m)
            })
            .collect(),
    );
    put_array(
        &mut content,
        "local_groups",
        inv.users
            .groups
            .iter()
            .map(|g| {
                json!({
                    "id": g.gid.map_or_else(|| g.name.clone(), |n| n.to_string()),
                    "name": g.name,
                    "members": g.members,
                })
            })
            .collect(),
    );

    json!({
        "action": "inventory",
        "itemtype": "Computer",
        "deviceid": device_id(c),
        "tag": c.site,
        "content": content,
    })
}

/// GLPI keys its agents by `deviceid`; the Parc agent id is stable across renames and
/// re-imaging, unlike the hostname GLPI's own agents start theirs with.
fn device_id(c: &Computer<'_>) -> String {
    match c.agent_id {
        Some(agent) => format!("parc-{agent}"),
        None => format!("parc-asset-{}", c.asset_id),
    }
}

fn hardware(c: &Computer<'_>) -> Value {
    let inv = c.inventory;
    let mut m = Map::new();
    put(
        &mut m,
        "name",
        nonempty(&inv.host.hostname).or(c.name.filter(|n| !n.is_empty())),
    );
    put(&mut m, "uuid", real_id(inv.hardware.uuid.as_ref()));
    if inv.memory.total_bytes > 0 {
        m.insert("memory".into(), json!(inv.memory.total_bytes / MIB));
    }
    if inv.memory.swap_bytes > 0 {
        m.insert("swap".into(), json!(inv.memory.swap_bytes / MIB));
    }
    put(&mut m, "workgroup", inv.host.domain.as_deref());
    put(&mut m, "chassis_type", inv.hardware.chassis_type.as_deref());
    put(
        &mut m,
        "vmsystem",
        inv.host.virtualization.as_deref().map(vm_system),
    );
    if !inv.network.dns_servers.is_empty() {
        m.insert("dns".into(), json!(inv.network.dns_servers.join("/")));
    }
    put(
        &mut m,
        "defaultgateway",
        inv.network.gateways.first().map(String::as_str),
    );
    put(
        &mut m,
        "lastloggeduser",
        inv.users.logged_in.first().map(|s| s.user.as_str()),
    );
    Value::Object(m)
}

/// GLPI treats "Physical" as the one non-virtual value; others are shown as they come.
fn vm_system(v: &str) -> &str {
    if v.eq_ignore_ascii_case("physical") || v.eq_ignore_ascii_case("none") {
        "Physical"
    } else {
        v
    }
}

fn bios(inv: &Inventory) -> Map<String, Value> {
    let hw = &inv.hardware;
    let mut m = Map::new();
    put(&mut m, "smanufacturer", hw.manufacturer.as_deref());
    put(&mut m, "smodel", hw.model.as_deref());
    put(&mut m, "ssn", real_id(hw.serial.as_ref()));
    if let Some(b) = &hw.bios {
        put(&mut m, "bmanufacturer", b.vendor.as_deref());
        put(&mut m, "bversion", b.version.as_deref());
        put(
            &mut m,
            "bdate",
            b.date.as_deref().and_then(bios_date).as_deref(),
        );
    }
    m
}

/// A junk serial or UUID ("To be filled by O.E.M.") would make GLPI's own rules merge
/// unrelated machines; it is left out as GLPI's agents leave out what they do not know.
fn real_id(id: Option<&HardwareId>) -> Option<&str> {
    id.filter(|i| !i.junk).map(|i| i.value.as_str())
}

/// SMBIOS dates are "MM/DD/YYYY"; the schema wants "YYYY-MM-DD". Anything else is dropped.
fn bios_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%m/%d/%Y"))
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

fn datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn operating_system(inv: &Inventory) -> Value {
    let os = &inv.os;
    let mut m = Map::new();
    put(&mut m, "name", os.name.as_deref().or(nonempty(&os.family)));
    put(&mut m, "version", os.version.as_deref());
    put(
        &mut m,
        "full_name",
        os.pretty_name.as_deref().or(os.name.as_deref()),
    );
    put(&mut m, "kernel_name", nonempty(&os.family));
    put(&mut m, "kernel_version", os.kernel.as_deref());
    put(&mut m, "arch", nonempty(&os.arch));
    put(&mut m, "fqdn", inv.host.fqdn.as_deref());
    put(&mut m, "dns_domain", inv.host.domain.as_deref());
    if let Some(t) = os.boot_time {
        m.insert("boot_time".into(), json!(datetime(t)));
    }
    if let Some(t) = os.install_date {
        m.insert("install_date".into(), json!(datetime(t)));
    }
    Value::Object(m)
}

/// The schema's architecture names; others (a Windows "AMD64") are mapped or left out.
fn cpu_arch(arch: &str) -> Option<&'static str> {
    const KNOWN: [&str; 12] = [
        "mips",
        "mips64",
        "alpha",
        "sparc",
        "sparc64",
        "m68k",
        "i386",
        "x86_64",
        "powerpc",
        "powerpc64",
        "aarch64",
        "arm",
    ];
    let a = arch.trim().to_ascii_lowercase();
    let a = match a.as_str() {
        "amd64" | "x64" | "x86-64" => "x86_64",
        "x86" | "i486" | "i586" | "i686" => "i386",
        "arm64" => "aarch64",
        "ppc64" | "ppc64le" => "powerpc64",
        other if other.starts_with("arm") => "arm",
        other => other,
    };
    KNOWN.iter().copied().find(|k| *k == a)
}

/// GLPI has one processor item per socket, with cores per socket and threads per core; Parc
/// counts a model's sockets, cores and threads in total.
fn cpus(c: &Cpu) -> Vec<Value> {
    let sockets = c.sockets.max(1);
    let cores = (c.cores / sockets).max(1);
    let threads = (c.threads / c.cores.max(1)).max(1);
    let mut m = Map::new();
    put(&mut m, "name", c.model.as_deref());
    put(&mut m, "manufacturer", c.vendor.as_deref());
    put(&mut m, "arch", cpu_arch(&c.arch));
    m.insert("core".into(), json!(cores));
    m.insert("corecount".into(), json!(cores));
    m.insert("thread".into(), json!(threads));
    if let Some(mhz) = c.frequency_mhz {
        m.insert("speed".into(), json!(mhz));
    }
    if let Some(f) = c.family {
        m.insert("familynumber".into(), json!(f.to_string()));
    }
    if let Some(n) = c.model_number {
        m.insert("model".into(), json!(n.to_string()));
    }
    if let Some(s) = c.stepping {
        m.insert("stepping".into(), json!(s));
    }
    vec![Value::Object(m); sockets as usize]
}

fn drive(f: &Filesystem, windows: bool) -> Value {
    let mut m = Map::new();
    let mount = f.mount_point.trim_end_matches('\\');
    // Windows volumes are letters ("C:"); elsewhere the schema's `type` is the mount point.
    if windows && mount.len() == 2 && mount.ends_with(':') {
        m.insert("letter".into(), json!(mount));
    } else {
        put(&mut m, "type", nonempty(&f.mount_point));
    }
    put(&mut m, "volumn", f.device.as_deref());
    put(&mut m, "filesystem", nonempty(&f.fs_type));
    m.insert("total".into(), json!(f.total_bytes / MIB));
    m.insert("free".into(), json!(f.free_bytes / MIB));
    Value::Object(m)
}

/// One entry per address, as GLPI's agents send them (GLPI builds its network ports and IP
/// addresses from these), or one without an address for an interface that has none.
fn networks(i: &NetworkInterface) -> Vec<Value> {
    let mut base = Map::new();
    base.insert("description".into(), json!(i.name));
    put(&mut base, "mac", i.mac.as_deref());
    put(
        &mut base,
        "status",
        match i.state.as_str() {
            "up" => Some("up"),
            "down" => Some("down"),
            _ => None,
        },
    );
    base.insert("virtualdev".into(), json!(i.is_virtual));
    put(&mut base, "type", interface_type(i));
    if let Some(speed) = i.speed_mbps {
        base.insert("speed".into(), json!(speed.to_string()));
    }
    if let Some(mtu) = i.mtu {
        base.insert("mtu".into(), json!(mtu));
    }
    put(&mut base, "driver", i.driver.as_deref());

    let mut out: Vec<Value> = i
        .addresses
        .iter()
        .filter_map(|a| parse_cidr(a))
        .map(|(ip, prefix)| {
            let mut m = base.clone();
            let (key, mask_key, subnet_key) = match ip {
                IpAddr::V4(_) => ("ipaddress", "ipmask", "ipsubnet"),
                IpAddr::V6(_) => ("ipaddress6", "ipmask6", "ipsubnet6"),
            };
            let (mask, subnet) = mask_and_subnet(ip, prefix);
            m.insert(key.into(), json!(ip.to_string()));
            m.insert(mask_key.into(), json!(mask.to_string()));
            m.insert(subnet_key.into(), json!(subnet.to_string()));
            Value::Object(m)
        })
        .collect();
    if out.is_empty() {
        out.push(Value::Object(base));
    }
    out
}

fn interface_type(i: &NetworkInterface) -> Option<&'static str> {
    let loopback = i.name == "lo"
        || (!i.addresses.is_empty()
            && i.addresses
                .iter()
                .filter_map(|a| parse_cidr(a))
                .all(|(ip, _)| ip.is_loopback()));
    if loopback {
        Some("loopback")
    } else if i.name.starts_with("wl") {
        Some("wifi")
    } else if i.mac.is_some() && !i.is_virtual {
        Some("ethernet")
    } else {
        None
    }
}

/// "192.0.2.10/24" → (192.0.2.10, 24); a bare address gets a host prefix.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((ip, prefix))
}

fn mask_and_subnet(ip: IpAddr, prefix: u8) -> (IpAddr, IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            (
                IpAddr::from((mask).to_be_bytes()),
                IpAddr::from((u32::from(v4) & mask).to_be_bytes()),
            )
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            (
                IpAddr::from(mask.to_be_bytes()),
                IpAddr::from((u128::from(v6) & mask).to_be_bytes()),
            )
        }
    }
}

fn software(s: &Software) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(s.name));
    put(&mut m, "version", s.version.as_deref());
    put(&mut m, "arch", s.arch.as_deref());
    put(&mut m, "publisher", s.publisher.as_deref());
    put(&mut m, "from", nonempty(&s.source));
    if let Some(size) = s.size_bytes {
        m.insert("filesize".into(), json!(size));
    }
    if let Some(t) = s.install_date {
        m.insert("install_date".into(), json!(datetime(t)));
    }
    Value::Object(m)
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// Inserts a string only when there is one: the schema has no nullable fields.
fn put(m: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        m.insert(key.into(), json!(v));
    }
}

fn put_object(m: &mut Map<String, Value>, key: &str, value: Map<String, Value>) {
    if !value.is_empty() {
        m.insert(key.into(), Value::Object(value));
    }
}

fn put_array(m: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        m.insert(key.into(), Value::Array(items));
    }
}

#[cfg(test)]
mod tests {
    use parc_shared::inventory::{Bios, Disk, LocalUser, Session};

    use super::*;

    fn doc(inv: &Inventory, software: &[Software]) -> Value {
        computer(&Computer {
            asset_id: 7,
            name: Some("asset-name"),
            site: "chu-nord",
            agent_id: Some("00000000-0000-0000-0000-000000000001"),
            inventory: inv,
            software,
        })
    }

    #[test]
    fn envelope_names_the_item_the_agent_and_the_site() {
        let d = doc(&Inventory::default(), &[]);
        assert_eq!(d["itemtype"], "Computer");
        assert_eq!(d["action"], "inventory");
        assert_eq!(d["deviceid"], "parc-00000000-0000-0000-0000-000000000001");
        assert_eq!(d["tag"], "chu-nord");
        assert_eq!(d["content"]["versionclient"], VERSION_CLIENT);
        assert!(VERSION_CLIENT.starts_with("Parc-"));
        // No hostname in the facts: the asset's name stands in.
        assert_eq!(d["content"]["hardware"]["name"], "asset-name");
        // Nothing known, nothing written: no empty sections, no nulls.
        for absent in [
            "bios",
            "cpus",
            "storages",
            "drives",
            "networks",
            "softwares",
        ] {
            assert!(d["content"].get(absent).is_none(), "{absent}: {d}");
        }
        let without_agent = computer(&Computer {
            asset_id: 7,
            name: None,
            site: "s",
            agent_id: None,
            inventory: &Inventory::default(),
            software: &[],
        });
        assert_eq!(without_agent["deviceid"], "parc-asset-7");
    }

    #[test]
    fn junk_identifiers_are_left_out() {
        let mut inv = Inventory::default();
        inv.hardware.serial = HardwareId::serial("To be filled by O.E.M.");
        inv.hardware.uuid = HardwareId::uuid("4c4c4544-0042-3510-8052-b4c04f4a4e32");
        inv.hardware.manufacturer = Some("HP".into());
        let d = doc(&inv, &[]);
        assert!(d["content"]["bios"].get("ssn").is_none(), "{d}");
        assert_eq!(d["content"]["bios"]["smanufacturer"], "HP");
        assert_eq!(
            d["content"]["hardware"]["uuid"],
            "4c4c4544-0042-3510-8052-b4c04f4a4e32"
        );
        inv.hardware.serial = HardwareId::serial("5CG1234XYZ");
        assert_eq!(doc(&inv, &[])["content"]["bios"]["ssn"], "5CG1234XYZ");
    }

    #[test]
    fn bios_dates() {
        for (raw, want) in [
            ("03/15/2021", Some("2021-03-15")),
            ("2021-03-15", Some("2021-03-15")),
            (" 12/31/2019 ", Some("2019-12-31")),
            ("15/03/2021", None),
            ("Version 1.2", None),
            ("", None),
        ] {
            assert_eq!(bios_date(raw).as_deref(), want, "{raw:?}");
        }
        let mut inv = Inventory::default();
        inv.hardware.bios = Some(Bios {
            vendor: Some("Dell Inc.".into()),
            version: Some("1.2.3".into()),
            date: Some("not a date".into()),
        });
        let bios = &doc(&inv, &[])["content"]["bios"];
        assert_eq!(bios["bmanufacturer"], "Dell Inc.");
        assert!(bios.get("bdate").is_none());
    }

    #[test]
    fn cpu_architectures() {
        for (raw, want) in [
            ("x86_64", Some("x86_64")),
            ("AMD64", Some("x86_64")),
            ("i686", Some("i386")),
            ("aarch64", Some("aarch64")),
            ("arm64", Some("aarch64")),
            ("armv7l", Some("arm")),
            ("riscv64", None),
            ("", None),
        ] {
            assert_eq!(cpu_arch(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn processors_are_one_per_socket_with_per_socket_counts() {
        for (sockets, cores, threads, want_items, want_core, want_thread) in [
            (1, 4, 8, 1, 4, 2),
            (2, 16, 32, 2, 8, 2),
            (1, 2, 2, 1, 2, 1),
            // A kernel that reports nothing: still one processor, not zero.
            (0, 0, 0, 1, 1, 1),
        ] {
            let c = Cpu {
                model: Some("Intel(R) Core(TM) i5".into()),
                arch: "x86_64".into(),
                sockets,
                cores,
                threads,
                ..Default::default()
            };
            let items = cpus(&c);
            assert_eq!(items.len(), want_items, "{sockets}/{cores}/{threads}");
            assert_eq!(items[0]["core"], want_core);
            assert_eq!(items[0]["thread"], want_thread);
        }
    }

    #[test]
    fn network_entries_per_address() {
        let eth = NetworkInterface {
            name: "eth0".into(),
            mac: Some("00:1a:2b:3c:4d:01".into()),
            addresses: vec![
                "198.18.0.10/21".into(),
                "fe80::1/64".into(),
                "garbage".into(),
            ],
            state: "up".into(),
            speed_mbps: Some(1000),
            ..Default::default()
        };
        let out = networks(&eth);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["ipaddress"], "198.18.0.10");
        assert_eq!(out[0]["ipmask"], "255.255.248.0");
        assert_eq!(out[0]["ipsubnet"], "198.18.0.0");
        assert_eq!(out[0]["status"], "up");
        assert_eq!(out[0]["type"], "ethernet");
        assert_eq!(out[0]["speed"], "1000");
        assert_eq!(out[1]["ipaddress6"], "fe80::1");
        assert_eq!(out[1]["ipmask6"], "ffff:ffff:ffff:ffff::");
        assert_eq!(out[1]["ipsubnet6"], "fe80::");

        let lo = NetworkInterface {
            name: "lo".into(),
            addresses: vec!["127.0.0.1/8".into()],
            state: "unknown".into(),
            ..Default::default()
        };
        let out = networks(&lo);
        assert_eq!(out[0]["type"], "loopback");
        assert!(
            out[0].get("status").is_none(),
            "unknown is not a GLPI status"
        );

        let tun = NetworkInterface {
            name: "tun0".into(),
            state: "down".into(),
            is_virtual: true,
            ..Default::default()
        };
        let out = networks(&tun);
        assert_eq!(out.len(), 1, "an interface without address is still listed");
        assert!(out[0].get("type").is_none());
        assert_eq!(out[0]["virtualdev"], true);
    }

    #[test]
    fn prefixes() {
        for (s, want) in [
            ("10.0.0.1/0", Some(("0.0.0.0", "0.0.0.0"))),
            ("10.1.2.3/32", Some(("255.255.255.255", "10.1.2.3"))),
            ("10.1.2.3", Some(("255.255.255.255", "10.1.2.3"))),
            ("10.1.2.3/33", None),
            (
                "::1/128",
                Some(("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1")),
            ),
        ] {
            let got = parse_cidr(s).map(|(ip, p)| {
                let (m, n) = mask_and_subnet(ip, p);
                (m.to_string(), n.to_string())
            });
            assert_eq!(
                got,
                want.map(|(m, n)| (m.to_string(), n.to_string())),
                "{s}"
            );
        }
    }

    #[test]
    fn drives_sizes_users_and_software() {
        let mut inv = Inventory::default();
        inv.os.family = "windows".into();
        inv.filesystems = vec![Filesystem {
            mount_point: "C:\\".into(),
            device: None,
            fs_type: "NTFS".into(),
            total_bytes: 100 * MIB + 5,
            free_bytes: 40 * MIB,
        }];
        inv.disks = vec![Disk {
            name: "\\\\.\\PHYSICALDRIVE0".into(),
            size_bytes: 512 * 1024 * MIB,
            kind: Some("ssd".into()),
            ..Default::default()
        }];
        inv.users.local = vec![LocalUser {
            name: "admin".into(),
            ..Default::default()
        }];
        inv.users.logged_in = vec![
            Session {
                user: "jdoe".into(),
                ..Default::default()
            },
            Session {
                user: "jdoe".into(),
                ..Default::default()
            },
        ];
        let sw = [Software {
            name: "Firefox".into(),
            version: Some("115.1".into()),
            install_date: Some("2024-05-01T10:20:30Z".parse().unwrap()),
            size_bytes: Some(1234),
            source: "registry".into(),
            ..Default::default()
        }];
        let c = &doc(&inv, &sw)["content"];
        assert_eq!(c["drives"][0]["letter"], "C:");
        assert_eq!(c["drives"][0]["total"], 100);
        assert_eq!(c["drives"][0]["free"], 40);
        assert_eq!(c["storages"][0]["disksize"], 512 * 1024);
        assert_eq!(c["local_users"][0]["id"], "admin");
        assert_eq!(c["users"], json!([{"login": "jdoe"}]));
        assert_eq!(c["hardware"]["lastloggeduser"], "jdoe");
        assert_eq!(
            c["softwares"][0],
            json!({
                "name": "Firefox",
                "version": "115.1",
                "from": "registry",
                "filesize": 1234,
                "install_date": "2024-05-01 10:20:30",
            })
        );
        inv.os.family = "linux".into();
        inv.filesystems[0].mount_point = "/".into();
        let c = &doc(&inv, &sw)["content"];
        assert_eq!(c["drives"][0]["type"], "/");
        assert!(c["drives"][0].get("letter").is_none());
    }
}
