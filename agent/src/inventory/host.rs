//! Host identity: hostname, FQDN and domain, machine id, virtualization.
//!
//! The FQDN comes from /etc/hosts the way `hostname -f` finds it with the `files` NSS source
//! (the canonical name is the first name on the line that lists the hostname), never from a
//! DNS query: an inventory must not depend on, or leak to, the network.

use parc_shared::inventory::{Hardware, Host};

use super::source::Root;

/// `hardware` and `cpuinfo` are what the caller already read: they are evidence of
/// virtualization too, and each source is read once.
pub fn gather(
    root: &Root,
    kernel_hostname: Option<&str>,
    hardware: &Hardware,
    cpuinfo: Option<&str>,
) -> anyhow::Result<Host> {
    let hostname = kernel_hostname
        .map(str::to_string)
        .into_iter()
        .chain(root.read_trimmed("/proc/sys/kernel/hostname"))
        .chain(root.read_trimmed("/etc/hostname"))
        // "(none)" is what the kernel reports before anything set a name.
        .find(|h| !h.is_empty() && h != "(none)")
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no hostname: uname, /proc/sys/kernel/hostname and /etc/hostname all failed"
            )
        })?;
    let short = hostname.split('.').next().unwrap_or(&hostname).to_string();

    let fqdn = if hostname.contains('.') {
        Some(hostname.clone())
    } else {
        root.read("/etc/hosts")
            .and_then(|hosts| fqdn_from_hosts(&hosts, &hostname))
    };
    let domain = fqdn
        .as_deref()
        .and_then(|f| f.split_once('.'))
        .map(|(_, d)| d.to_string())
        .or_else(|| {
            root.read("/etc/resolv.conf")
                .and_then(|r| domain_from_resolv_conf(&r))
        });

    let machine_id = root
        .read_trimmed("/etc/machine-id")
        .or_else(|| root.read_trimmed("/var/lib/dbus/machine-id"))
        .filter(|id| is_machine_id(id));
    if machine_id.is_none() {
        tracing::debug!("no usable machine id");
    }

    Ok(Host {
        hostname: short,
        fqdn,
        domain,
        machine_id,
        virtualization: detect_virtualization(&VirtEvidence::read(root, hardware, cpuinfo)),
    })
}

/// The canonical name of `hostname` in an /etc/hosts file, when it has a domain part.
pub fn fqdn_from_hosts(hosts: &str, hostname: &str) -> Option<String> {
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            fields.next()?; // the address
            let names: Vec<&str> = fields.collect();
            names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(hostname) || n.split('.').next() == Some(hostname))
                .then(|| names[0].to_string())
        })
        .find(|canonical| canonical.contains('.') && !canonical.ends_with(".localdomain"))
}

/// The `domain` of resolv.conf, else the first `search` entry (what the resolver appends).
pub fn domain_from_resolv_conf(text: &str) -> Option<String> {
    let mut search = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("domain") => return fields.next().map(str::to_string),
            Some("search") if search.is_none() => search = fields.next().map(str::to_string),
            _ => {}
        }
    }
    search
}

/// /etc/machine-id is 32 lower-case hex digits; "uninitialized" (first boot) and empty values
/// identify nothing.
fn is_machine_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What systemd-detect-virt looks at, read once so the decision is a pure function.
#[derive(Debug, Default, Clone)]
pub struct VirtEvidence {
    /// The `container=` variable of PID 1's environment (systemd-nspawn, podman, lxc set it).
    pub pid1_container: Option<String>,
    pub dockerenv: bool,
    pub podman_containerenv: bool,
    /// DMI system vendor, product name and BIOS vendor.
    pub dmi: Vec<String>,
    /// /sys/hypervisor/type ("xen").
    pub hypervisor_type: Option<String>,
    /// The `hypervisor` CPU flag; None when /proc/cpuinfo has no flags line (non-x86).
    pub cpu_hypervisor_flag: Option<bool>,
}

impl VirtEvidence {
    fn read(root: &Root, hardware: &Hardware, cpuinfo: Option<&str>) -> Self {
        let bios_vendor = hardware.bios.as_ref().and_then(|b| b.vendor.as_ref());
        let dmi = [
            hardware.manufacturer.as_ref(),
            hardware.model.as_ref(),
            bios_vendor,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        VirtEvidence {
            pid1_container: root
                .read_bytes("/proc/1/environ")
                .and_then(|env| environ_var(&env, "container")),
            dockerenv: root.exists("/.dockerenv"),
            podman_containerenv: root.exists("/run/.containerenv"),
            dmi,
            hypervisor_type: root.read_trimmed("/sys/hypervisor/type"),
            cpu_hypervisor_flag: cpuinfo.and_then(cpu_has_hypervisor_flag),
        }
    }
}

/// A variable of a NUL-separated environment block such as /proc/PID/environ.
pub fn environ_var(environ: &[u8], name: &str) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .filter_map(|entry| entry.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

pub fn cpu_has_hypervisor_flag(cpuinfo: &str) -> Option<bool> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, flags)| flags.split_whitespace().any(|f| f == "hypervisor"))
}

/// Containers first (a container inside a VM is managed as a container), then VMs from DMI
/// vendor strings, then the generic CPU flag. "physical" only when there is positive evidence
/// (DMI present or an x86 flags line without the hypervisor bit), else None.
pub fn detect_virtualization(ev: &VirtEvidence) -> Option<String> {
    if let Some(c) = &ev.pid1_container {
        return Some(normalise_container(c));
    }
    if ev.dockerenv {
        return Some("docker".into());
    }
    if ev.podman_containerenv {
        return Some("podman".into());
    }
    // Ordered: "Microsoft Corporation" alone is also a Surface laptop, so Hyper-V needs the
    // "Virtual Machine" product name that comes with it.
    const DMI_VMS: &[(&str, &str)] = &[
        ("vmware", "vmware"),
        ("virtualbox", "oracle"),
        ("innotek", "oracle"),
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("bochs", "bochs"),
        ("xen", "xen"),
        ("parallels", "parallels"),
        ("amazon ec2", "amazon"),
        ("google compute engine", "google"),
        ("virtual machine", "microsoft"),
        ("openstack", "kvm"),
        ("bhyve", "bhyve"),
    ];
    let dmi = ev.dmi.join(" ").to_ascii_lowercase();
    if let Some((_, name)) = DMI_VMS.iter().find(|(needle, _)| dmi.contains(needle)) {
        return Some((*name).into());
    }
    if let Some(t) = &ev.hypervisor_type {
        return Some(t.to_ascii_lowercase());
    }
    match ev.cpu_hypervisor_flag {
        // A hypervisor that hides its name from DMI (Firecracker, cloud-hypervisor).
        Some(true) => Some("vm".into()),
        Some(false) => Some("physical".into()),
        None if !ev.dmi.is_empty() => Some("physical".into()),
        None => None,
    }
}

fn normalise_container(value: &str) -> String {
    match value {
        "systemd-nspawn" => "systemd-nspawn".into(),
        "lxc" | "lxc-libvirt" => "lxc".into(),
        "oci" => "container-other".into(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "\
127.0.0.1\tlocalhost
127.0.1.1\tpc-0042.chu-exemple.fr pc-0042   # added by the installer
# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
";

    #[test]
    fn fqdn_from_hosts_cases() {
        let cases = [
            (HOSTS, "pc-0042", Some("pc-0042.chu-exemple.fr")),
            (HOSTS, "PC-0042", Some("pc-0042.chu-exemple.fr")),
            (HOSTS, "other", None),
            // Docker writes the short name only: no FQDN to be had.
            ("172.17.0.2\tab12cd34ef56\n", "ab12cd34ef56", None),
            // Commented-out lines do not count.
            ("#10.0.0.1 srv.example.org srv\n", "srv", None),
            // RHEL's default line must not make every host "localhost.localdomain"-like.
            ("127.0.0.1 myhost.localdomain myhost\n", "myhost", None),
        ];
        for (hosts, name, want) in cases {
            assert_eq!(
                fqdn_from_hosts(hosts, name).as_deref(),
                want,
                "{name} in {hosts:?}"
            );
        }
    }

    #[test]
    fn resolv_conf_domain() {
        let cases = [
            (
                "nameserver 10.1.1.1\ndomain chu.local\nsearch a.b\n",
                Some("chu.local"),
            ),
            (
                "search sante.fr chu.local\nnameserver 10.1.1.1\n",
                Some("sante.fr"),
            ),
            ("nameserver 10.1.1.1\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(domain_from_resolv_conf(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn machine_id_validation() {
        assert!(is_machine_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_machine_id("uninitialized"));
        assert!(!is_machine_id(""));
    }

    #[test]
    fn pid1_environ_container_var() {
        let env = b"PATH=/usr/bin\0container=podman\0HOME=/\0";
        assert_eq!(environ_var(env, "container").as_deref(), Some("podman"));
        assert_eq!(environ_var(b"PATH=/bin\0", "container"), None);
        assert_eq!(environ_var(b"container=\0", "container"), None);
    }

    #[test]
    fn virtualization_decisions() {
        let dmi = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (
                VirtEvidence {
                    pid1_container: Some("lxc".into()),
                    dockerenv: true,
                    ..Default::default()
                },
                Some("lxc"),
            ),
            (
                VirtEvidence {
                    dockerenv: true,
                    cpu_hypervisor_flag: Some(true),
                    ..Default::default()
                },
                Some("docker"),
            ),
            (
                VirtEvidence {
                    podman_containerenv: true,
                    ..Default::default()
                },
                Some("podman"),
            ),
            (
                VirtEvidence {
                    dmi: dmi(&["VMware, Inc.", "VMware Virtual Platform"]),
                    cpu_hypervisor_flag: Some(true),
                    ..Default::default()
                },
                Some("vmware"),
            ),
            (
                VirtEvidence {
                    dmi: dmi(&["QEMU", "Standard PC (Q35 + ICH9, 2009)"]),
                    ..Default::default()
                },
                Some("qemu"),
            ),
            (
                VirtEvidence {
                    dmi: dmi(&["innotek GmbH", "VirtualBox"]),
                    ..Default::default()
                },
                Some("oracle"),
            ),
            (
                VirtEvidence {
                    dmi: dmi(&["Microsoft Corporation", "Virtual Machine"]),
                    ..Default::default()
                },
                Some("microsoft"),
            ),
            // A Surface laptop is not a VM.
            (
                VirtEvidence {
                    dmi: dmi(&["Microsoft Corporation", "Surface Laptop 5"]),
                    cpu_hypervisor_flag: Some(false),
                    ..Default::default()
                },
                Some("physical"),
            ),
            (
                VirtEvidence {
                    dmi: dmi(&["Dell Inc.", "OptiPlex 7090"]),
                    cpu_hypervisor_flag: Some(false),
                    ..Default::default()
                },
                Some("physical"),
            ),
            (
                VirtEvidence {
                    hypervisor_type: Some("xen".into()),
                    ..Default::default()
                },
                Some("xen"),
            ),
            (
                VirtEvidence {
                    cpu_hypervisor_flag: Some(true),
                    ..Default::default()
                },
                Some("vm"),
            ),
            (VirtEvidence::default(), None),
        ];
        for (ev, want) in cases {
            assert_eq!(detect_virtualization(&ev).as_deref(), want, "{ev:?}");
        }
    }

    #[test]
    fn cpu_flags() {
        assert_eq!(
            cpu_has_hypervisor_flag("flags\t\t: fpu vme hypervisor lahf_lm\n"),
            Some(true)
        );
        assert_eq!(
            cpu_has_hypervisor_flag("flags\t\t: fpu vme lahf_lm\n"),
            Some(false)
        );
        assert_eq!(cpu_has_hypervisor_flag("Features\t: fp asimd\n"), None);
    }

    #[test]
    fn missing_hostname_is_an_error_naming_the_sources() {
        let dir = tempfile::tempdir().unwrap();
        let err = gather(&Root::at(dir.path()), None, &Hardware::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no hostname") && err.contains("/etc/hostname"),
            "{err}"
        );
    }

    #[test]
    fn unset_kernel_hostname_falls_back_to_etc_hostname() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/hostname"), "pc-0042.chu-exemple.fr\n").unwrap();
        let host = gather(
            &Root::at(dir.path()),
            Some("(none)"),
            &Hardware::default(),
            None,
        )
        .unwrap();
        assert_eq!(host.hostname, "pc-0042");
        assert_eq!(host.fqdn.as_deref(), Some("pc-0042.chu-exemple.fr"));
        assert_eq!(host.domain.as_deref(), Some("chu-exemple.fr"));
    }

    #[test]
    fn gather_from_a_fake_root() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, s: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, s).unwrap();
        };
        write("etc/hostname", "pc-0042\n");
        write("etc/hosts", HOSTS);
        write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        write(".dockerenv", "");
        let host = gather(&Root::at(dir.path()), None, &Hardware::default(), None).unwrap();
        assert_eq!(host.hostname, "pc-0042");
        assert_eq!(host.fqdn.as_deref(), Some("pc-0042.chu-exemple.fr"));
        assert_eq!(host.domain.as_deref(), Some("chu-exemple.fr"));
        assert_eq!(
            host.machine_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(host.virtualization.as_deref(), Some("docker"));
    }
}
