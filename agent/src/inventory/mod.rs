//! Host inventory: this machine's facts as a [`parc_shared::Inventory`].
//!
//! - [`source`]: the root facts are read from (`/`, or a fake tree in tests) and the readers
//!   that turn a missing file into `None` plus a debug log.
//! - `sys` (Unix): the only `unsafe` code, libc calls with no file behind them (uname,
//!   statvfs, getifaddrs).
//! - [`host`]: hostname, FQDN and domain, machine id, virtualization.
//! - [`os`]: os-release, kernel, architecture, boot time, time zone, install date.
//! - [`hardware`]: DMI/SMBIOS identity and chassis.
//! - [`cpu`], [`memory`]: /proc/cpuinfo and /proc/meminfo.
//! - [`storage`]: disks from /sys/block, filesystems from mountinfo.
//! - [`network`]: interfaces, addresses, gateways, DNS servers.
//! - [`software`]: dpkg, rpm and the Windows registry.
//! - [`users`]: local users and groups, open sessions.
//! - [`wmi_map`]: Windows facts, WMI rows to the wire model (pure, tested everywhere).
//! - `windows`: the Windows collection, WMI queries and the registry (Windows only).
//! - [`fit`]: trims the result to the collector's limits, so one odd fact cannot get the whole
//!   document refused.
//!
//! Every module parses text with pure functions (`&str` in, model out) that the tests feed
//! with sample files; reading happens once per file, at the edges.

// The Linux readers are compiled everywhere so their parsers stay tested on every CI, but
// Windows only calls a few of them.
#![cfg_attr(windows, allow(dead_code))]

pub mod cpu;
pub mod fit;
pub mod hardware;
pub mod host;
pub mod memory;
pub mod network;
pub mod os;
pub mod software;
pub mod source;
pub mod storage;
#[cfg(unix)]
mod sys;
pub mod users;
#[cfg(windows)]
mod windows;
pub mod wmi_map;

use parc_shared::Inventory;

#[cfg(unix)]
use self::source::Root;

/// Collects every fact this platform exposes. Blocking: call from `spawn_blocking`.
///
/// A fact that cannot be read is left empty and logged; only the absence of a hostname,
/// without which the document cannot name the machine, is an error.
pub fn collect() -> anyhow::Result<Inventory> {
    #[cfg(unix)]
    return collect_from(&Root::system());
    #[cfg(windows)]
    return windows::collect();
}

/// Collects from `root`. Facts that come from system calls rather than files (uname,
/// addresses, filesystem sizes) are only taken when `root` is the real `/`.
#[cfg(unix)]
pub fn collect_from(root: &Root) -> anyhow::Result<Inventory> {
    let uname = root.is_system().then(sys::uname).flatten();
    let addresses: Vec<(String, String)> = if root.is_system() {
        sys::interface_addresses()
            .into_iter()
            .map(|a| (a.interface, format!("{}/{}", a.addr, a.prefix)))
            .collect()
    } else {
        Vec::new()
    };
    let (hostname, kernel, machine) = match uname {
        Some(u) => (Some(u.nodename), Some(u.release), Some(u.machine)),
        None => (None, None, None),
    };

    let hardware = hardware::gather(root);
    let cpuinfo = root.read("/proc/cpuinfo");
    let host = host::gather(root, hostname.as_deref(), &hardware, cpuinfo.as_deref())?;
    let os = os::gather(root, kernel, machine);
    let cpus = cpuinfo
        .map(|t| cpu::parse_cpuinfo(&t, &os.arch))
        .unwrap_or_default();
    let memory = root
        .read("/proc/meminfo")
        .and_then(|t| memory::parse_meminfo(&t));
    if memory.is_none() {
        tracing::warn!("no memory size: /proc/meminfo unreadable or without MemTotal");
    }
    let mut inventory = Inventory {
        hardware,
        cpus,
        memory: memory.unwrap_or_default(),
        disks: storage::disks(root),
        filesystems: storage::filesystems(root),
        network: network::gather(root, &addresses),
        software: software::gather(root),
        software_unchanged: None,
        software_delta: None,
        users: users::gather(root),
        host,
        os,
    };
    fit::fit_to_limits(&mut inventory);
    tracing::debug!(
        software = inventory.software.len(),
        interfaces = inventory.network.interfaces.len(),
        users = inventory.users.local.len(),
        "inventory collected"
    );
    Ok(inventory)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs on the machine the tests run on and checks what must hold on any Linux host.
    #[test]
    fn collect_on_this_machine() {
        let inv = collect().expect("collect on a Linux host");

        assert!(!inv.host.hostname.is_empty());
        assert!(
            !inv.host.hostname.contains('.'),
            "hostname is the short name"
        );
        assert_eq!(inv.os.family, "linux");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(inv.os.kernel.as_deref(), Some(release.trim()));
        // FusionInventory 2.6 reports CPU ARCH=i386 on this x86_64 host: Parc takes the
        // architecture from uname for the OS and every CPU.
        if cfg!(target_arch = "x86_64") {
            assert_eq!(inv.os.arch, "x86_64");
            assert!(!inv.cpus.is_empty() && inv.cpus.iter().all(|c| c.arch == "x86_64"));
        }
        assert!(
            inv.os.boot_time.is_some(),
            "/proc/stat has btime on every Linux"
        );

        // DMI: either absent as a whole, or present; never a blank string.
        let hw = &inv.hardware;
        if !std::path::Path::new("/sys/class/dmi/id").exists() {
            assert!(!hw.dmi_available);
            assert_eq!(hw, &parc_shared::inventory::Hardware::default());
        } else {
            assert!(hw.dmi_available);
        }
        for field in [&hw.manufacturer, &hw.model, &hw.chassis_type] {
            assert_ne!(field.as_deref(), Some(""));
        }

        let threads: u32 = inv.cpus.iter().map(|c| c.threads).sum();
        // available_parallelism honours affinity and cgroup quotas, so it can only be lower.
        let usable = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        assert!(
            threads as usize >= usable,
            "{threads} threads in cpuinfo, {usable} usable"
        );
        assert!(inv.memory.total_bytes > 0);
        assert!(
            inv.filesystems.iter().any(|f| f.mount_point == "/"),
            "{:?}",
            inv.filesystems
        );

        let lo = inv
            .network
            .interfaces
            .iter()
            .find(|i| i.name == "lo")
            .expect("lo exists");
        assert!(lo.is_virtual);
        assert!(
            lo.addresses.iter().any(|a| a == "127.0.0.1/8"),
            "{:?}",
            lo.addresses
        );

        assert!(inv
            .users
            .local
            .iter()
            .any(|u| u.name == "root" && u.uid == Some(0)));
        assert!(inv
            .users
            .groups
            .iter()
            .any(|g| g.name == "root" && g.gid == Some(0)));

        if let Some(count) = dpkg_query_installed_count() {
            let dpkg = inv.software.iter().filter(|s| s.source == "dpkg").count();
            assert_eq!(
                dpkg, count,
                "must count exactly what dpkg-query counts as 'ii'"
            );
        }
    }

    /// `dpkg-query -W -f='${db:Status-Abbrev}\n' | grep -c '^ii'`, when dpkg is installed.
    fn dpkg_query_installed_count() -> Option<usize> {
        let out = std::process::Command::new("dpkg-query")
            .args(["-W", "-f=${db:Status-Abbrev}\n"])
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "dpkg-query failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("ii"))
                .count(),
        )
    }

    proptest::proptest! {
        /// Whatever a file contains (truncated, binary, another format), parsing it returns
        /// something or nothing; it never panics and so never costs the rest of the inventory.
        #[test]
        fn parsers_never_panic(
            text in "(?s).{0,400}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
        ) {
            let lossy = String::from_utf8_lossy(&bytes);
            for t in [text.as_str(), &*lossy] {
                os::parse_os_release(t);
                os::boot_time(t);
                cpu::parse_cpuinfo(t, "x86_64");
                memory::parse_meminfo(t);
                storage::parse_mountinfo(t);
                network::ipv4_gateways(t);
                network::ipv6_gateways(t);
                network::dns_servers(t);
                host::fqdn_from_hosts(t, "pc");
                host::domain_from_resolv_conf(t);
                software::dpkg::parse_status(t);
                software::rpm::parse_query(t);
                wmi_map::cim_datetime(t);
                wmi_map::cpuid_signature(t);
                wmi_map::with_prefix(t, Some(t));
                users::parse_passwd(t);
                users::parse_group(t);
            }
            host::environ_var(&bytes, "container");
            let mut records = bytes.clone();
            records.resize(users::UTMP_RECORD * 3, 7);
            users::parse_utmp(&records);
        }
    }

    #[test]
    fn a_fake_root_without_dmi_or_packages_still_inventories() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, s: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, s).unwrap();
        };
        write("etc/hostname", "pc-0042\n");
        write("proc/meminfo", "MemTotal: 8000000 kB\nSwapTotal: 0 kB\n");
        let inv = collect_from(&Root::at(dir.path())).unwrap();
        assert_eq!(inv.host.hostname, "pc-0042");
        assert_eq!(inv.memory.total_bytes, 8_000_000 * 1024);
        assert!(!inv.hardware.dmi_available);
        assert!(
            inv.software.is_empty() && inv.cpus.is_empty() && inv.network.interfaces.is_empty()
        );
    }
}
