//! Network: interfaces from /sys/class/net, their addresses, default gateways, DNS servers.
//!
//! An interface is virtual when sysfs gives it no `device` link (bridges, veth, tun, bonds,
//! VPNs, loopback): those MACs are made up by software and do not identify the machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use parc_shared::inventory::{Network, NetworkInterface};
use parc_shared::normalize_mac;

use super::source::Root;

/// `addresses` are (interface, "addr/prefix") pairs, from getifaddrs on a real host.
pub fn gather(root: &Root, addresses: &[(String, String)]) -> Network {
    let interfaces = root
        .list_dir("/sys/class/net")
        .into_iter()
        .filter(|name| !name.starts_with("bonding_masters"))
        .map(|name| interface(root, name, addresses))
        .collect();
    let mut gateways: Vec<String> = root
        .read("/proc/net/route")
        .map(|t| ipv4_gateways(&t))
        .unwrap_or_default();
    gateways.extend(
        root.read("/proc/net/ipv6_route")
            .map(|t| ipv6_gateways(&t))
            .unwrap_or_default(),
    );
    dedup_in_order(&mut gateways);
    Network {
        interfaces,
        gateways,
        dns_servers: root
            .read("/etc/resolv.conf")
            .map(|t| dns_servers(&t))
            .unwrap_or_default(),
    }
}

fn interface(root: &Root, name: String, addresses: &[(String, String)]) -> NetworkInterface {
    let base = format!("/sys/class/net/{name}");
    let text = |rel: &str| root.read_trimmed(&format!("{base}/{rel}"));
    let has_device = root.exists(&format!("{base}/device"));
    NetworkInterface {
        mac: text("address").and_then(|m| normalize_mac(&m)),
        addresses: addresses
            .iter()
            .filter(|(i, _)| *i == name)
            .map(|(_, a)| a.clone())
            .collect(),
        // -1 (no link, or a virtual NIC that does not know) and EINVAL (loopback) are unknown.
        speed_mbps: text("speed")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .map(|s| s as u64),
        mtu: text("mtu").and_then(|m| m.parse().ok()),
        state: text("operstate").unwrap_or_else(|| "unknown".into()),
        is_virtual: !has_device || name == "lo",
        driver: root.link_name(&format!("{base}/device/driver")),
        name,
    }
}

/// Gateways of /proc/net/route: rows with the RTF_GATEWAY flag. The kernel prints the
/// network-order address as a host-order integer, so its native bytes are the octets.
pub fn ipv4_gateways(text: &str) -> Vec<String> {
    const RTF_GATEWAY: u32 = 0x2;
    let mut out: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let gateway = u32::from_str_radix(f.get(2)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            (flags & RTF_GATEWAY != 0 && gateway != 0)
                .then(|| Ipv4Addr::from(gateway.to_ne_bytes()).to_string())
        })
        .collect();
    dedup_in_order(&mut out);
    out
}

/// Next hops of /proc/net/ipv6_route (fifth column, 32 hex digits; all zeros means on-link).
pub fn ipv6_gateways(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let next_hop = u128::from_str_radix(line.split_whitespace().nth(4)?, 16).ok()?;
            (next_hop != 0).then(|| Ipv6Addr::from(next_hop).to_string())
        })
        .collect();
    dedup_in_order(&mut out);
    out
}

pub fn dns_servers(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        // A zone suffix ("fe80::1%eth0") is kept out of the parse but not out of the value.
        .filter(|a| {
            a.split('%')
                .next()
                .is_some_and(|ip| ip.parse::<IpAddr>().is_ok())
        })
        .map(str::to_string)
        .collect()
}

fn dedup_in_order(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|x| seen.insert(x.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_route() {
        let route =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
wlan0\t00000000\t FE01A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
eth0\t0000000A\t FE01A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n\
tun0\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(ipv4_gateways(route), ["192.0.2.1", "192.168.1.254"]);
        assert!(ipv4_gateways("Iface\tDestination\n").is_empty());
    }

    #[test]
    fn proc_net_ipv6_route() {
        let route = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003    wlan0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
";
        assert_eq!(ipv6_gateways(route), ["fd00::1", "fe80::1"]);
    }

    #[test]
    fn resolv_conf_servers() {
        let text = "# Generated by NetworkManager\nsearch chu.local\nnameserver 10.10.1.53\nnameserver  10.10.2.53 \n\
nameserver fe80::1%eth0\n#nameserver 8.8.8.8\nnameserver not-an-ip\noptions edns0 trust-ad\n";
        assert_eq!(
            dns_servers(text),
            ["10.10.1.53", "10.10.2.53", "fe80::1%eth0"]
        );
        assert!(dns_servers("").is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn interfaces_from_a_fake_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, s: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, s).unwrap();
        };
        write("sys/class/net/eno1/address", "3C:52:82:0A:BC:DE\n");
        write("sys/class/net/eno1/operstate", "up\n");
        write("sys/class/net/eno1/mtu", "1500\n");
        write("sys/class/net/eno1/speed", "1000\n");
        std::fs::create_dir_all(dir.path().join("sys/devices/pci0000:00/0000:00:1f.6")).unwrap();
        std::fs::create_dir_all(dir.path().join("sys/bus/pci/drivers/e1000e")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("sys/devices/pci0000:00/0000:00:1f.6"),
            dir.path().join("sys/class/net/eno1/device"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("sys/bus/pci/drivers/e1000e"),
            dir.path()
                .join("sys/devices/pci0000:00/0000:00:1f.6/driver"),
        )
        .unwrap();
        write("sys/class/net/docker0/address", "02:42:8c:11:22:33\n");
        write("sys/class/net/docker0/operstate", "down\n");
        write("sys/class/net/docker0/speed", "-1\n");
        write("sys/class/net/lo/address", "00:00:00:00:00:00\n");
        write("sys/class/net/lo/operstate", "unknown\n");
        write("etc/resolv.conf", "nameserver 10.10.1.53\n");
        let addrs = vec![
            ("eno1".to_string(), "10.20.30.40/24".to_string()),
            ("lo".to_string(), "127.0.0.1/8".to_string()),
        ];
        let net = gather(&Root::at(dir.path()), &addrs);
        let names: Vec<&str> = net.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["docker0", "eno1", "lo"]);
        let eno1 = &net.interfaces[1];
        assert_eq!(eno1.mac.as_deref(), Some("3c:52:82:0a:bc:de"));
        assert_eq!(eno1.addresses, ["10.20.30.40/24"]);
        assert_eq!(
            (eno1.speed_mbps, eno1.mtu, eno1.state.as_str()),
            (Some(1000), Some(1500), "up")
        );
        assert!(!eno1.is_virtual);
        assert_eq!(eno1.driver.as_deref(), Some("e1000e"));
        let docker0 = &net.interfaces[0];
        assert!(docker0.is_virtual);
        assert_eq!(docker0.speed_mbps, None);
        let lo = &net.interfaces[2];
        assert!(lo.is_virtual);
        assert_eq!(lo.mac, None, "the all-zero MAC identifies nothing");
        assert_eq!(net.dns_servers, ["10.10.1.53"]);
    }
}
