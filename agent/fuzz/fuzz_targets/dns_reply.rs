//! Feeds arbitrary datagrams to the DNS message decoder the agent's reverse lookups use
//! (hickory-proto, through hickory-resolver): a sweep asks the site's DNS server about every
//! live host, and anything on the path can answer.
#![no_main]

use hickory_resolver::proto::op::Message;
use hickory_resolver::proto::serialize::binary::BinEncodable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_vec(data) {
        // What the resolver does with an answer: read its records (PTR names), and it may
        // re-encode a message (caching); neither may panic.
        for answer in message.answers() {
            let _ = answer.data().map(|d| d.to_string());
            let _ = answer.name().to_string();
        }
        let _ = message.to_bytes();
    }
});
