//! `parc-agent sweep` of IPv6 targets: ICMPv6 echo and TCP `connect()` probes.
//!
//! - On `::1`, for any user: the loopback answers TCP (a listener here, an RST elsewhere).
//! - In two network namespaces built here (root only): a scanner and a segment of ULA hosts
//!   (fd00:6::/64, which exists only inside them), one of which drops ICMPv6 echo as a Windows
//!   firewall does, and dead addresses that never answer neighbour discovery. Every packet
//!   stays inside the namespaces.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Command, Output};

use parc_shared::{Discovery, ProbeMethod};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn discovery(out: &Output) -> Discovery {
    assert!(
        out.status.success(),
        "sweep failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sweep --format json prints a Discovery")
}

#[test]
fn ipv6_loopback_is_found_with_its_open_port() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipping: no IPv6 loopback here");
        return;
    };
    let open = listener.local_addr().unwrap().port();
    let closed = TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = tempfile::tempdir().unwrap();
    let ports = format!("{open},{closed}");
    let out = parc_tests::agent(
        state.path(),
        &[
            "sweep",
            "::1",
            "--ports",
            &ports,
            "--format",
            "json",
            "--quiet",
            "--no-names",
        ],
    )
    .unwrap();
    let d = discovery(&out);
    assert_eq!(d.hosts.len(), 1, "{:#?}", d.hosts);
    let h = &d.hosts[0];
    assert_eq!(h.ip, "::1");
    assert_eq!(h.open_ports, [open]);
    assert!(h.methods.contains(&ProbeMethod::TcpOpen), "{:?}", h.methods);
    if is_root() {
        // Root sends ICMPv6 echo on a raw socket, which needs no sysctl.
        assert!(
            h.methods.contains(&ProbeMethod::IcmpEcho),
            "{:?}",
            h.methods
        );
    }
}

/// A scanner namespace and a host namespace joined by a veth pair; removed on drop.
struct Segment {
    scan: String,
    hosts: String,
}

impl Segment {
    fn up() -> Segment {
        let id = std::process::id();
        let seg = Segment {
            scan: format!("parc6s-{id}"),
            hosts: format!("parc6h-{id}"),
        };
        let script = format!(
            "set -e
             ip netns add {s}
             ip netns add {h}
             # No duplicate address detection: until it ends, the link-local address that
             # neighbour discovery needs is unusable and the first probes wait a second.
             for ns in {s} {h}; do
               ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
               ip -n $ns link set lo up
             done
             ip link add p6s netns {s} type veth peer name p6h netns {h}
             ip -n {s} addr add fd00:6::1/64 dev p6s nodad
             ip -n {h} addr add fd00:6::10/64 dev p6h nodad
             ip -n {h} addr add fd00:6::11/64 dev p6h nodad
             ip -n {s} link set p6s up
             ip -n {h} link set p6h up
             ip netns exec {h} nft -f - <<'NFT'
table ip6 fw {{
  chain input {{
    type filter hook input priority 0;
    ip6 daddr fd00:6::11 icmpv6 type echo-request drop
  }}
}}
NFT",
            s = seg.scan,
            h = seg.hosts
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "namespace setup failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        seg
    }

    fn sweep(&self, args: &[&str]) -> Output {
        let state = tempfile::tempdir().unwrap();
        let config = state.path().join("agent.toml");
        std::fs::write(&config, "").unwrap();
        Command::new("ip")
            .args(["netns", "exec", &self.scan])
            .arg(parc_tests::agent_bin())
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(state.path())
            .args(["sweep", "--quiet", "--no-names", "--format", "json"])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in [&self.scan, &self.hosts] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn ipv6_segment_finds_echo_and_firewalled_hosts() {
    if !is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("ipv6_segment_finds_echo_and_firewalled_hosts needs root");
        }
        eprintln!("skipping ipv6_segment_finds_echo_and_firewalled_hosts: needs root");
        return;
    }
    let seg = Segment::up();
    // A small prefix and a host list: fd00:6::10-1f holds both hosts and 14 dead addresses.
    let out = seg.sweep(&["fd00:6::10/124", "fd00:6::20", "--ports", "22,445"]);
    let d = discovery(&out);
    let found: BTreeSet<&str> = d.hosts.iter().map(|h| h.ip.as_str()).collect();
    assert_eq!(
        found,
        BTreeSet::from(["fd00:6::10", "fd00:6::11"]),
        "{:#?}",
        d.hosts
    );
    assert_eq!(d.addresses_probed, 17);
    for h in &d.hosts {
        // The echo-blocking host is found only by its kernel's RST (nothing listens). The echo
        // host's RST may come after the probe timeout: its first packets wait for neighbour
        // discovery (~1 s RTT seen), so for it echo alone is required.
        if h.ip == "fd00:6::11" {
            assert!(h.methods.contains(&ProbeMethod::TcpClosed), "{h:?}");
        }
        assert!(h.open_ports.is_empty(), "{h:?}");
        let echo = h.methods.contains(&ProbeMethod::IcmpEcho);
        assert_eq!(echo, h.ip == "fd00:6::10", "ICMPv6 echo of {}", h.ip);
    }

    // Unprivileged: a ping socket where the sysctl allows it (not by default), connect() always.
    let out = seg.sweep(&[
        "fd00:6::10",
        "fd00:6::11",
        "--unprivileged",
        "--ports",
        "22",
    ]);
    let d = discovery(&out);
    assert_eq!(d.hosts.len(), 2, "{:#?}", d.hosts);
}
