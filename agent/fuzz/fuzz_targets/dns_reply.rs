//! Feeds arbitrary datagrams to the DNS message decoder the agent's reverse lookups use
//! (hickory-proto, through hickory-resolver): a sweep asks the site's DNS server about every
//! live host, and anything on the path can answer.
#![no_main]

use hickory_resolver::proto::op::Message;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::proto::serialize::binary::BinEncodable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::from_vec(data) {
        // What the resolver and the agent do with an answer: the agent formats PTR names only
        // (sweep/names.rs); any other record is at most inspected (Debug), and the message may
        // be re-encoded (caching); none of it may panic. RData's Display is not called on other
        // kinds: hickory-proto 0.24's Display of an OPT record in the answer section returns
        // fmt::Error, which `to_string` turns into a panic (found by this harness, 2026-11-23;
        // the input is kept in seeds/dns_reply/opt-record-in-answers). Parc never reaches it.
        for answer in message.answers() {
            match answer.data() {
                Some(RData::PTR(ptr)) => {
                    let _ = ptr.to_string();
                }
                other => {
                    let _ = format!("{other:?}");
                }
            }
            let _ = answer.name().to_string();
        }
        let _ = message.to_bytes();
    }
});
