//! Feeds arbitrary datagrams to the NetBIOS node status parser: a sweep asks every live host
//! without a DNS name on UDP 137 and reads whatever comes back.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The sweep modules are compiled in by path (names.rs names `super::rate`): the fuzz crate
// stays outside the workspace and needs nothing else of the agent.
#[allow(dead_code)]
#[path = "../../src/sweep/rate.rs"]
mod rate;
#[allow(dead_code)]
#[path = "../../src/sweep/names.rs"]
mod names;

fuzz_target!(|data: &[u8]| {
    // The id is the datagram's own first two bytes half of the time, so the fuzzer reaches the
    // body parser instead of stopping at the id check.
    let id = match data {
        [a, b, rest @ ..] if rest.first().is_some_and(|c| c & 1 == 0) => u16::from_be_bytes([*a, *b]),
        _ => 0x5a5a,
    };
    if let Some(name) = names::parse_node_status(data, id) {
        assert!(!name.is_empty() && name.len() <= 15);
        assert!(name.chars().all(|c| c.is_ascii_graphic()));
    }
});
