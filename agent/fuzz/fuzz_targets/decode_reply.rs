//! Feeds arbitrary datagrams to the v1/v2c reply decoder and to snmp2's v3 decoder (with an
//! authPriv SHA/AES security context), as the agent does with whatever arrives on its socket.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The codec and OID modules are compiled in by path: the fuzz crate stays outside the
// workspace and needs nothing else of the agent.
#[allow(dead_code)]
#[path = "../../src/snmp/oid.rs"]
mod oid;
#[allow(dead_code)]
#[path = "../../src/snmp/codec.rs"]
mod codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = codec::decode_reply(data, b"public", 64) {
        assert!(reply.varbinds.len() <= 64);
        for (_, value) in &reply.varbinds {
            let _ = value.as_text();
            let _ = value.as_mac();
        }
    }
    let mut security = snmp2::v3::Security::new(b"parcv3", b"authpass123")
        .with_auth_protocol(snmp2::v3::AuthProtocol::Sha1)
        .with_auth(snmp2::v3::Auth::AuthPriv {
            cipher: snmp2::v3::Cipher::Aes128,
            privacy_password: b"privpass123".to_vec(),
        });
    let _ = snmp2::Pdu::from_bytes_with_security(data, Some(&mut security));
});
