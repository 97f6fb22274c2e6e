//! The SNMP message layer for community-based versions (v1, v2c): encoding requests, decoding
//! replies into owned values. BER parsing itself is snmp2's; this module is where every byte
//! that came off the network is checked before the rest of the agent sees it, so it is the
//! part the property tests hammer.

use snmp2::{MessageType, Pdu};

use super::oid::Oid;

/// A decoded variable value, owned so it outlives the receive buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    Oid(Oid),
    Ip([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    Ticks(u32),
    Counter64(u64),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// A type SNMP replies have no business carrying (BOOLEAN, nested sequences, PDUs).
    Unsupported,
}

impl Value {
    /// True for the v2 exceptions and NULL: "there is nothing here".
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::Counter32(u) | Value::Gauge32(u) | Value::Ticks(u) => Some(i64::from(u)),
            Value::Counter64(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Counter64(u) => Some(u),
            _ => self.as_i64().and_then(|i| u64::try_from(i).ok()),
        }
    }

    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|u| u32::try_from(u).ok())
    }

    /// Display text: printable strings as they are (trailing NULs and blanks dropped, which
    /// embedded agents pad with), binary strings as hex, numbers and OIDs in decimal. `None`
    /// when empty or absent.
    pub fn as_text(&self) -> Option<String> {
        let text = match self {
            Value::Bytes(b) => bytes_to_text(b),
            Value::Oid(o) => o.to_string(),
            Value::Ip(ip) => std::net::Ipv4Addr::from(*ip).to_string(),
            v if v.is_absent() => return None,
            v => v.as_i64().map(|i| i.to_string())?,
        };
        (!text.is_empty()).then_some(text)
    }

    /// A 6-byte MAC as "aa:bb:cc:dd:ee:ff"; `None` for anything else (some agents return the
    /// MAC as text, which is accepted when it parses).
    pub fn as_mac(&self) -> Option<String> {
        match self {
            Value::Bytes(b) if b.len() == 6 => Some(format_mac(b)),
            Value::Bytes(b) => parc_shared::normalize_mac(std::str::from_utf8(b).ok()?),
            _ => None,
        }
    }

    pub fn as_oid(&self) -> Option<&Oid> {
        match self {
            Value::Oid(o) => Some(o),
            _ => None,
        }
    }

    fn from_ber(value: snmp2::Value<'_>) -> Value {
        use snmp2::Value as V;
        match value {
            V::Integer(i) => Value::Int(i),
            V::OctetString(b) | V::Opaque(b) => Value::Bytes(b.to_vec()),
            V::ObjectIdentifier(o) => Oid::from_ber(&o).map_or(Value::Unsupported, Value::Oid),
            V::IpAddress(ip) => Value::Ip(ip),
            V::Counter32(c) => Value::Counter32(c),
            V::Unsigned32(g) => Value::Gauge32(g),
            V::Timeticks(t) => Value::Ticks(t),
            V::Counter64(c) => Value::Counter64(c),
            V::Null => Value::Null,
            V::NoSuchObject => Value::NoSuchObject,
            V::NoSuchInstance => Value::NoSuchInstance,
            V::EndOfMibView => Value::EndOfMibView,
            _ => Value::Unsupported,
        }
    }
}

pub fn format_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn bytes_to_text(b: &[u8]) -> String {
    let trimmed = match b.iter().rposition(|&c| c != 0) {
        Some(end) => &b[..=end],
        None => return String::new(),
    };
    match std::str::from_utf8(trimmed) {
        Ok(s) if s.chars().all(|c| !c.is_control() || c.is_whitespace()) => s.trim().to_string(),
        _ if trimmed
            .iter()
            .all(|&c| c >= 0x20 || c == b'\t' || c == b'\r' || c == b'\n') =>
        {
            // Latin-1 from older printers.
            trimmed
                .iter()
                .map(|&c| c as char)
                .collect::<String>()
                .trim()
                .to_string()
        }
        _ => format_mac(trimmed),
    }
}

pub type VarBind = (Oid, Value);

/// Which request a message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Get(Vec<Oid>),
    GetNext(Oid),
    /// Non-repeaters 0: every OID is repeated.
    GetBulk {
        oids: Vec<Oid>,
        max_repetitions: u32,
    },
}

impl Request {
    /// The most variables a correct reply can carry: more is a hostile or broken agent.
    pub fn max_varbinds(&self) -> usize {
        match self {
            Request::Get(oids) => oids.len(),
            Request::GetNext(_) => 1,
            Request::GetBulk {
                oids,
                max_repetitions,
            } => oids.len().saturating_mul(*max_repetitions as usize),
        }
    }
}

/// Community-based protocol versions (the wire numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommunityVersion {
    V1 = 0,
    V2c = 1,
}

/// What a decoded reply says.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub request_id: i32,
    pub error_status: u32,
    pub error_index: u32,
    pub varbinds: Vec<VarBind>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed reply: {0}")]
    Ber(String),
    #[error("reply is a {0:?}, not a response")]
    NotAResponse(MessageType),
    #[error("reply carries {0} variables, more than the {1} allowed")]
    TooManyVarbinds(usize, usize),
    #[error("reply variable has an invalid name")]
    BadName,
    #[error("reply is for another community")]
    WrongCommunity,
}

/// Decodes a v1/v2c reply. At most `max_varbinds` are accepted so that a reply claiming a huge
/// count cannot make us allocate for it (a datagram is at most 64 KiB anyway, but a caller's
/// limit is tighter).
pub fn decode_reply(
    bytes: &[u8],
    community: &[u8],
    max_varbinds: usize,
) -> Result<Reply, DecodeError> {
    let pdu = Pdu::from_bytes(bytes).map_err(|e| DecodeError::Ber(e.to_string()))?;
    if pdu.message_type != MessageType::Response {
        return Err(DecodeError::NotAResponse(pdu.message_type));
    }
    if pdu.community != community {
        return Err(DecodeError::WrongCommunity);
    }
    let varbinds = owned_varbinds(pdu.varbinds, max_varbinds)?;
    Ok(Reply {
        request_id: pdu.req_id,
        error_status: pdu.error_status,
        error_index: pdu.error_index,
        varbinds,
    })
}

/// Copies varbinds out of a decoded PDU, bounded.
pub fn owned_varbinds(
    varbinds: snmp2::Varbinds<'_>,
    max_varbinds: usize,
) -> Result<Vec<VarBind>, DecodeError> {
    let mut out = Vec::new();
    for (name, value) in varbinds {
        if out.len() >= max_varbinds {
            return Err(DecodeError::TooManyVarbinds(out.len() + 1, max_varbinds));
        }
        let oid = Oid::from_ber(&name).ok_or(DecodeError::BadName)?;
        out.push((oid, Value::from_ber(value)));
    }
    Ok(out)
}

/// Encodes a v1/v2c request.
pub fn encode_request(
    version: CommunityVersion,
    community: &[u8],
    request_id: i32,
    request: &Request,
) -> Vec<u8> {
    let (ident, oids, a, b) = match request {
        Request::Get(oids) => (snmp2::snmp::MSG_GET, oids.clone(), 0, 0),
        Request::GetNext(oid) => (snmp2::snmp::MSG_GET_NEXT, vec![oid.clone()], 0, 0),
        Request::GetBulk {
            oids,
            max_repetitions,
        } => (snmp2::snmp::MSG_GET_BULK, oids.clone(), 0, *max_repetitions),
    };
    let varbinds: Vec<VarBind> = oids.into_iter().map(|o| (o, Value::Null)).collect();
    encode_message(
        version as i64,
        community,
        ident,
        request_id,
        a,
        b,
        &varbinds,
    )
}

/// Encodes any community message. Exposed for tests that play the agent's side.
pub fn encode_message(
    version: i64,
    community: &[u8],
    ident: u8,
    request_id: i32,
    error_status_or_non_repeaters: u32,
    error_index_or_max_repetitions: u32,
    varbinds: &[VarBind],
) -> Vec<u8> {
    let mut list = Vec::new();
    for (oid, value) in varbinds {
        let mut pair = ber::oid(oid.arcs());
        pair.extend(encode_value(value));
        list.extend(ber::tlv(ber::SEQUENCE, &pair));
    }
    let mut pdu = ber::integer(i64::from(request_id));
    pdu.extend(ber::integer(error_status_or_non_repeaters.into()));
    pdu.extend(ber::integer(error_index_or_max_repetitions.into()));
    pdu.extend(ber::tlv(ber::SEQUENCE, &list));
    let mut message = ber::integer(version);
    message.extend(ber::tlv(ber::OCTET_STRING, community));
    message.extend(ber::tlv(ident, &pdu));
    ber::tlv(ber::SEQUENCE, &message)
}

fn encode_value(value: &Value) -> Vec<u8> {
    use snmp2::snmp as t;
    let unsigned = |tag: u8, n: u64| {
        // Unsigned types are INTEGER-encoded: a leading zero keeps the top bit clear.
        let bytes = n.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
        let mut content = bytes[first..].to_vec();
        if content[0] & 0x80 != 0 {
            content.insert(0, 0);
        }
        ber::tlv(tag, &content)
    };
    match value {
        Value::Int(i) => ber::integer(*i),
        Value::Bytes(b) => ber::tlv(ber::OCTET_STRING, b),
        Value::Oid(o) => ber::oid(o.arcs()),
        Value::Ip(ip) => ber::tlv(t::TYPE_IPADDRESS, ip),
        Value::Counter32(c) => unsigned(t::TYPE_COUNTER32, u64::from(*c)),
        Value::Gauge32(g) => unsigned(t::TYPE_UNSIGNED32, u64::from(*g)),
        Value::Ticks(tt) => unsigned(t::TYPE_TIMETICKS, u64::from(*tt)),
        Value::Counter64(c) => unsigned(t::TYPE_COUNTER64, *c),
        Value::NoSuchObject => ber::tlv(t::SNMP_NOSUCHOBJECT, &[]),
        Value::NoSuchInstance => ber::tlv(t::SNMP_NOSUCHINSTANCE, &[]),
        Value::EndOfMibView => ber::tlv(t::SNMP_ENDOFMIBVIEW, &[]),
        Value::Null | Value::Unsupported => ber::tlv(ber::NULL, &[]),
    }
}

/// The few BER encodings requests need (decoding is snmp2's).
mod ber {
    pub const SEQUENCE: u8 = 0x30;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    const INTEGER: u8 = 0x02;
    const OBJECT_IDENTIFIER: u8 = 0x06;

    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let first = bytes
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(bytes.len() - 1);
            out.push(0x80 | (bytes.len() - first) as u8);
            out.extend_from_slice(&bytes[first..]);
        }
        out.extend_from_slice(content);
        out
    }

    pub fn integer(n: i64) -> Vec<u8> {
        let bytes = n.to_be_bytes();
        // Drop leading bytes that only repeat the sign.
        let mut start = 0;
        while start < 7
            && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
                || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
        {
            start += 1;
        }
        tlv(INTEGER, &bytes[start..])
    }

    /// Arcs as BER; the first two arcs share one subidentifier (40 × a + b).
    pub fn oid(arcs: &[u32]) -> Vec<u8> {
        let mut content = Vec::new();
        let mut sub = |mut n: u64| {
            let mut chunk = vec![(n & 0x7f) as u8];
            n >>= 7;
            while n > 0 {
                chunk.push(0x80 | (n & 0x7f) as u8);
                n >>= 7;
            }
            chunk.reverse();
            content.extend(chunk);
        };
        match arcs {
            [a, b, rest @ ..] => {
                sub(u64::from(*a) * 40 + u64::from(*b));
                for &arc in rest {
                    sub(u64::from(arc));
                }
            }
            [a] => sub(u64::from(*a) * 40),
            [] => {}
        }
        tlv(OBJECT_IDENTIFIER, &content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oid(s: &str) -> Oid {
        s.parse().unwrap()
    }

    fn sample_reply() -> Vec<u8> {
        encode_message(
            1,
            b"public",
            snmp2::snmp::MSG_RESPONSE,
            42,
            0,
            0,
            &[
                (
                    oid("1.3.6.1.2.1.1.1.0"),
                    Value::Bytes(b"Linux box".to_vec()),
                ),
                (
                    oid("1.3.6.1.2.1.1.2.0"),
                    Value::Oid(oid("1.3.6.1.4.1.8072.3.2.10")),
                ),
                (oid("1.3.6.1.2.1.1.3.0"), Value::Ticks(12345)),
                (oid("1.3.6.1.2.1.2.2.1.5.1"), Value::Gauge32(1_000_000_000)),
                (oid("1.3.6.1.2.1.31.1.1.1.6.1"), Value::Counter64(u64::MAX)),
                (
                    oid("1.3.6.1.2.1.4.20.1.1.10.0.0.1"),
                    Value::Ip([10, 0, 0, 1]),
                ),
                (oid("1.3.6.1.2.1.43.5.1.1.17.1"), Value::NoSuchObject),
                (oid("1.3.6.1.2.1.99"), Value::EndOfMibView),
            ],
        )
    }

    #[test]
    fn round_trips_a_reply() {
        let reply = decode_reply(&sample_reply(), b"public", 100).unwrap();
        assert_eq!(reply.request_id, 42);
        assert_eq!(reply.varbinds.len(), 8);
        assert_eq!(reply.varbinds[0].1.as_text().as_deref(), Some("Linux box"));
        assert_eq!(
            reply.varbinds[1].1.as_oid().map(Oid::to_string).as_deref(),
            Some("1.3.6.1.4.1.8072.3.2.10")
        );
        assert_eq!(reply.varbinds[2].1, Value::Ticks(12345));
        assert_eq!(reply.varbinds[3].1.as_u64(), Some(1_000_000_000));
        assert_eq!(reply.varbinds[4].1, Value::Counter64(u64::MAX));
        assert_eq!(reply.varbinds[5].1.as_text().as_deref(), Some("10.0.0.1"));
        assert!(reply.varbinds[6].1.is_absent());
        assert_eq!(reply.varbinds[7].1, Value::EndOfMibView);
    }

    #[test]
    fn rejects_what_is_not_our_reply() {
        let bytes = sample_reply();
        assert_eq!(
            decode_reply(&bytes, b"private", 100),
            Err(DecodeError::WrongCommunity)
        );
        assert!(matches!(
            decode_reply(&bytes, b"public", 3),
            Err(DecodeError::TooManyVarbinds(4, 3))
        ));
        let request = encode_request(
            CommunityVersion::V2c,
            b"public",
            1,
            &Request::GetNext(oid("1.3.6.1")),
        );
        assert!(matches!(
            decode_reply(&request, b"public", 10),
            Err(DecodeError::NotAResponse(_))
        ));
        assert!(matches!(
            decode_reply(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], b"public", 10),
            Err(DecodeError::Ber(_))
        ));
    }

    #[test]
    fn text_values() {
        for (bytes, want) in [
            (&b"HP LaserJet\0\0"[..], Some("HP LaserJet")),
            (b"  padded  ", Some("padded")),
            (b"\0\0", None),
            (b"", None),
            (b"\x00\x1b\x21\x3c\x4d\x5e", Some("00:1b:21:3c:4d:5e")),
            (b"caf\xe9", Some("caf\u{e9}")),
        ] {
            assert_eq!(
                Value::Bytes(bytes.to_vec()).as_text().as_deref(),
                want,
                "{bytes:?}"
            );
        }
        assert_eq!(
            Value::Bytes(vec![0, 0x1b, 0x21, 0x3c, 0x4d, 0x5e])
                .as_mac()
                .as_deref(),
            Some("00:1b:21:3c:4d:5e")
        );
        assert_eq!(Value::Bytes(vec![1, 2, 3]).as_mac(), None);
        assert_eq!(Value::Int(-2).as_u64(), None);
        assert_eq!(Value::Int(-2).as_i64(), Some(-2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Random bytes never panic the decoder, and whatever it accepts respects the limit.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(reply) = decode_reply(&bytes, b"public", 16) {
                prop_assert!(reply.varbinds.len() <= 16);
            }
        }

        /// Valid replies with bytes flipped, inserted or cut never panic the decoder.
        #[test]
        fn mutated_replies_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = sample_reply();
            for (at, byte, kind) in edits {
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => { bytes.remove(i); }
                }
                if bytes.is_empty() { break; }
            }
            if bytes.len() > 2 && cut.index(4) == 0 {
                let n = cut.index(bytes.len());
                bytes.truncate(n);
            }
            if let Ok(reply) = decode_reply(&bytes, b"public", 16) {
                prop_assert!(reply.varbinds.len() <= 16);
            }
        }

        /// The v3 decoder (authentication, decryption) survives garbage too.
        #[test]
        fn v3_random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            // A plausible v3 header so the fuzzing reaches the USM parsing.
            let mut bytes = vec![0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03];
            bytes.extend_from_slice(&tail);
            let mut security = snmp2::v3::Security::new(b"user", b"authpassword")
                .with_auth_protocol(snmp2::v3::AuthProtocol::Sha1)
                .with_auth(snmp2::v3::Auth::AuthPriv {
                    cipher: snmp2::v3::Cipher::Aes128,
                    privacy_password: b"privpassword".to_vec(),
                });
            let _ = Pdu::from_bytes_with_security(&bytes, Some(&mut security));
        }

        /// Any OID we can encode comes back identical.
        #[test]
        fn oids_round_trip(tail in proptest::collection::vec(any::<u32>(), 0..40)) {
            let name = oid("1.3.6.1").child(&tail);
            let bytes = encode_message(1, b"c", snmp2::snmp::MSG_RESPONSE, 7, 0, 0,
                &[(name.clone(), Value::Int(1))]);
            let reply = decode_reply(&bytes, b"c", 4).unwrap();
            prop_assert_eq!(&reply.varbinds[0].0, &name);
        }
    }
}
