//! Feeds arbitrary packets to the sweep's reply parsers: IPv4 + ICMP echo replies (raw and
//! datagram sockets), IPv4 + TCP SYN-ACK/RST answers, and Ethernet ARP replies. Every host of a
//! swept subnet can send these.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;

// Compiled in by path at the crate root, where their `super::probe` resolves.
#[allow(dead_code)]
#[path = "../../src/sweep/arp.rs"]
mod arp;
#[allow(dead_code)]
#[path = "../../src/sweep/icmp.rs"]
mod icmp;
#[allow(dead_code)]
#[path = "../../src/sweep/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "../../src/sweep/tcp.rs"]
mod tcp;

fuzz_target!(|data: &[u8]| {
    let cookies = probe::Cookies::new();
    let now_us = 1_000_000;
    let _ = icmp::parse_raw(&cookies, 0x1234, data, now_us);
    let _ = icmp::parse_dgram(&cookies, Ipv4Addr::new(198, 18, 0, 1), data, now_us);
    if let Some(answer) = tcp::parse_raw(&cookies, 40000, data, now_us) {
        // Only an open port's SYN-ACK carries a round-trip time.
        assert!(answer.rtt.is_none() || answer.state == tcp::PortState::Open);
    }
    if let Some(reply) = arp::parse_reply(data, Ipv4Addr::new(198, 18, 0, 1)) {
        let _ = arp::format_mac(&reply.mac);
    }
    let _ = probe::parse_ipv4(data);
});
