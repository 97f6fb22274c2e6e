//! Turning a request body into a checked document, before anything touches the database:
//! bounded decompression, JSON parsing that names the offending path, schema version and
//! source checks, and the count and length limits of `parc_shared::limits`.
//!
//! Everything here is in memory and synchronous; the HTTP layer runs it off the async runtime.

use std::io::Read;
use std::net::IpAddr;

use parc_shared::limits::*;
use parc_shared::snmp::SnmpDevice;
use parc_shared::{Discovery, Document, Inventory, SourceKind, SCHEMA_VERSION};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("Content-Encoding {0:?} is not supported (use gzip or none)")]
    UnsupportedEncoding(String),
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    #[error("document does not match the schema at {path}: {message}")]
    Schema { path: String, message: String },
    #[error("header.schema_version {got} is not supported: this collector accepts schema_version {expected}")]
    SchemaVersion { got: u64, expected: u32 },
    #[error("header.source is {got:?} but this endpoint accepts only {expected:?} documents")]
    WrongSource { got: String, expected: &'static str },
    #[error("{0}")]
    Limit(String),
}

/// How the body was encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// Parses a `Content-Encoding` header value (absent means identity).
    pub fn from_header(value: Option<&str>) -> Result<Encoding, IntakeError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("identity") => Ok(Encoding::Identity),
            Some("gzip") | Some("x-gzip") => Ok(Encoding::Gzip),
            Some(other) => Err(IntakeError::UnsupportedEncoding(other.to_string())),
        }
    }

    /// Largest body accepted on the wire in this encoding.
    pub fn wire_limit(self, max_document_bytes: usize) -> usize {
        match self {
            Encoding::Identity => max_document_bytes,
            Encoding::Gzip => MAX_COMPRESSED_BYTES.min(max_document_bytes),
        }
    }
}

/// Decompresses a gzip body into at most `limit` bytes. The buffer never grows past the limit,
/// so a gzip bomb costs at most `limit` bytes of memory before it is refused.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, IntakeError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut out: Vec<u8> = Vec::with_capacity((compressed.len() * 4).min(limit));
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| IntakeError::BadGzip(e.to_string()))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(IntakeError::TooLarge {
                what: "decompressed document",
                limit,
            });
        }
        if out.capacity() < out.len() + n {
            // Doubling as Vec would, but capped at the limit.
            let want = (out.capacity() * 2).max(out.len() + n).min(limit);
            out.reserve_exact(want - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// A document body type: which source it must come with and which limits apply.
pub trait Body: DeserializeOwned {
    const SOURCE: SourceKind;
    fn check_limits(&self) -> Result<(), String>;
}

/// Parses and checks a (decompressed) document.
///
/// A well-formed document is read straight into its type, and its strings are checked on the
/// raw text: no string literal in it is longer than the limit, escapes counted as written,
/// which bounds every decoded string. Anything else (an error, a version or source to
/// refuse, a long literal) goes through [`parse_checked`], which builds the JSON tree to name
/// the problem. The tree costs about as much as the rest of intake together on an inventory
/// of 800 packages, and almost every document is well-formed.
pub fn parse<T: Body>(bytes: &[u8]) -> Result<Document<T>, IntakeError> {
    // Text checked as UTF-8 once, whole: parsed from bytes, serde_json checks each string on
    // its own, which cost more (2.6 % of a storm's CPU) than the whole document in one pass.
    let parsed = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| serde_json::from_str::<Document<T>>(text).ok());
    if let Some(doc) = parsed {
        if doc.header.schema_version == SCHEMA_VERSION
            && doc.header.source == T::SOURCE
            && literals_within(bytes, MAX_FIELD_CHARS)
        {
            doc.body.check_limits().map_err(IntakeError::Limit)?;
            return Ok(doc);
        }
    }
    parse_checked(bytes)
}

/// True when no string literal in the JSON text has more than `max_chars` characters as
/// written (an escape such as `\u00e9` counts as several, so decoded strings are no longer).
fn literals_within(json: &[u8], max_chars: usize) -> bool {
    quotes_are_close(json, max_chars) || each_literal_within(json, max_chars)
}

/// A sufficient condition for [`literals_within`], checked in a few dozen short searches: when
/// no quote in the text is escaped (a `\"` after an odd run of backslashes; `C:\\` ends in an
/// even one), every quote byte opens or closes a literal, so a literal of more than `max_chars`
/// bytes would hold, between its quotes, a whole aligned block of half that length with no
/// quote byte in it. A typical inventory passes; anything else is scanned whole.
fn quotes_are_close(json: &[u8], max_chars: usize) -> bool {
    let block = (max_chars / 2).max(1);
    let escaped_quote = memchr::memmem::find_iter(json, b"\\\"").any(|at| {
        let run = json[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        run % 2 == 1
    });
    !escaped_quote
        && json
            .chunks_exact(block)
            .all(|b| memchr::memchr(b'"', b).is_some())
}

/// [`literals_within`] by finding every literal.
fn each_literal_within(json: &[u8], max_chars: usize) -> bool {
    // One memchr pass over the quotes and backslashes (a byte-by-byte walk of the whole
    // document was intake's largest cost after JSON parsing; memchr called afresh for each
    // short literal was not much better); characters are counted only in a literal with more
    // bytes than `max_chars`.
    let within = |literal: &[u8]| {
        // Characters, not bytes: UTF-8 continuation bytes are not counted; an escape counts
        // as the characters it is written with.
        literal.len() <= max_chars
            || literal.iter().filter(|&&b| b & 0xC0 != 0x80).count() <= max_chars
    };
    let (mut open, mut escaped_until) = (None, 0);
    for pos in memchr::memchr2_iter(b'"', b'\\', json) {
        if pos < escaped_until {
            continue;
        }
        match (json[pos], open) {
            (b'\\', Some(_)) => escaped_until = pos + 2,
            (b'"', Some(start)) => {
                if !within(&json[start..pos]) {
                    return false;
                }
                open = None;
            }
            (b'"', None) => open = Some(pos + 1),
            // A backslash outside a literal is not JSON; serde_json has refused it already.
            _ => {}
        }
    }
    // Unterminated: the literal runs to the end.
    open.is_none_or(|start| within(&json[start.min(json.len())..]))
}

/// [`parse`] through the JSON tree: the same result, with errors that name the problem.
fn parse_checked<T: Body>(bytes: &[u8]) -> Result<Document<T>, IntakeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| IntakeError::Malformed(e.to_string()))?;
    // The version is checked before the shape: a newer agent's document may well not fit this
    // collector's types, and "upgrade the collector" is the useful message then.
    if let Some(got) = value
        .get("header")
        .and_then(|h| h.get("schema_version"))
        .and_then(Value::as_u64)
    {
        if got != u64::from(SCHEMA_VERSION) {
            return Err(IntakeError::SchemaVersion {
                got,
                expected: SCHEMA_VERSION,
            });
        }
    }
    // The source too: an inventory posted to the sweep endpoint deserves "wrong endpoint",
    // not a list of missing sweep fields.
    if let Some(got) = value
        .get("header")
        .and_then(|h| h.get("source"))
        .and_then(Value::as_str)
    {
        if got != T::SOURCE.as_str() {
            return Err(IntakeError::WrongSource {
                got: got.chars().take(64).collect(),
                expected: T::SOURCE.as_str(),
            });
        }
    }
    let doc: Document<T> = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        IntakeError::Schema {
            path: if path == "." {
                "the document".into()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    })?;
    if doc.header.source != T::SOURCE {
        return Err(IntakeError::WrongSource {
            got: doc.header.source.as_str().to_string(),
            expected: T::SOURCE.as_str(),
        });
    }
    check_strings(&value, &mut String::new()).map_err(IntakeError::Limit)?;
    doc.body.check_limits().map_err(IntakeError::Limit)?;
    Ok(doc)
}

/// Every string anywhere in the document, known field or not, is held to MAX_FIELD_CHARS.
fn check_strings(value: &Value, path: &mut String) -> Result<(), String> {
    match value {
        Value::String(s) if s.len() > MAX_FIELD_CHARS && s.chars().count() > MAX_FIELD_CHARS => {
            return Err(format!(
                "{path} is {} characters long, more than the limit of {MAX_FIELD_CHARS}",
                s.chars().count()
            ));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_strings(item, path)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                check_strings(item, path)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn at_most(path: &str, count: usize, limit: usize) -> Result<(), String> {
    if count > limit {
        Err(format!(
            "{path} has {count} entries, more than the limit of {limit}"
        ))
    } else {
        Ok(())
    }
}

impl Body for Inventory {
    const SOURCE: SourceKind = SourceKind::AgentInventory;

    fn check_limits(&self) -> Result<(), String> {
        if self.host.hostname.trim().is_empty() {
            return Err("body.host.hostname is empty: an inventory must name its host".into());
        }
        at_most("body.software", self.software.len(), MAX_SOFTWARE)?;
        if let Some(claimed) = &self.software_unchanged {
            if !parc_shared::is_software_digest(claimed) {
                return Err(format!(
                    "body.software_unchanged must be a software list digest (64 lowercase \
                     hexadecimal characters), not {:?}",
                    claimed.chars().take(80).collect::<String>()
                ));
            }
            if !self.software.is_empty() {
                return Err(
                    "body.software_unchanged says the software list is left out, but \
                     body.software is not empty: send one or the other"
                        .into(),
                );
            }
        }
        if let Some(delta) = &self.software_delta {
            for (field, value) in [("base", &delta.base), ("digest", &delta.digest)] {
                if !parc_shared::is_software_digest(value) {
                    return Err(format!(
                        "body.software_delta.{field} must be a software list digest (64 \
                         lowercase hexadecimal characters), not {:?}",
                        value.chars().take(80).collect::<String>()
                    ));
                }
            }
            at_most("body.software_delta.added", delta.added.len(), MAX_SOFTWARE)?;
            at_most(
                "body.software_delta.removed",
                delta.removed.len(),
                MAX_SOFTWARE,
            )?;
            if !self.software.is_empty() || self.software_unchanged.is_some() {
                return Err(
                    "body.software_delta sends the software list as changes, but \
                     body.software or body.software_unchanged is set too: send one of the three"
                        .into(),
                );
            }
        }
        at_most("body.cpus", self.cpus.len(), MAX_CPUS)?;
        at_most("body.disks", self.disks.len(), MAX_DISKS)?;
        at_most("body.filesystems", self.filesystems.len(), MAX_FILESYSTEMS)?;
        let interfaces = &self.network.interfaces;
        at_most("body.network.interfaces", interfaces.len(), MAX_INTERFACES)?;
        for (i, interface) in interfaces.iter().enumerate() {
            at_most(
                &format!("body.network.interfaces[{i}].addresses"),
                interface.addresses.len(),
                MAX_ADDRESSES_PER_INTERFACE,
            )?;
        }
        at_most(
            "body.network.gateways",
            self.network.gateways.len(),
            MAX_ADDRESSES_PER_INTERFACE,
        )?;
        at_most(
            "body.network.dns_servers",
            self.network.dns_servers.len(),
            MAX_ADDRESSES_PER_INTERFACE,
        )?;
        at_most("body.users.local", self.users.local.len(), MAX_USERS)?;
        at_most("body.users.groups", self.users.groups.len(), MAX_USERS)?;
        at_most(
            "body.users.logged_in",
            self.users.logged_in.len(),
            MAX_USERS,
        )?;
        for (i, group) in self.users.groups.iter().enumerate() {
            at_most(
                &format!("body.users.groups[{i}].members"),
                group.members.len(),
                MAX_USERS,
            )?;
        }
        Ok(())
    }
}

impl Body for Discovery {
    const SOURCE: SourceKind = SourceKind::Sweep;

    fn check_limits(&self) -> Result<(), String> {
        at_most("body.hosts", self.hosts.len(), MAX_DISCOVERED_HOSTS)?;
        at_most("body.targets", self.targets.len(), MAX_DISCOVERED_HOSTS)?;
        for (i, host) in self.hosts.iter().enumerate() {
            if host.ip.trim().parse::<IpAddr>().is_err() {
                return Err(format!(
                    "body.hosts[{i}].ip: {:?} is not an IP address",
                    host.ip
                ));
            }
            at_most(&format!("body.hosts[{i}].methods"), host.methods.len(), 16)?;
            at_most(
                &format!("body.hosts[{i}].open_ports"),
                host.open_ports.len(),
                65_536,
            )?;
        }
        Ok(())
    }
}

/// Most failed sections one SNMP document may list: there are a dozen sections, so anything
/// near this is a broken agent.
pub const MAX_SNMP_SECTION_ERRORS: usize = 256;
/// Most rule names an identification may give as evidence.
pub const MAX_SNMP_EVIDENCE: usize = 256;

impl Body for SnmpDevice {
    const SOURCE: SourceKind = SourceKind::Snmp;

    fn check_limits(&self) -> Result<(), String> {
        if self.ip.trim().parse::<IpAddr>().is_err() {
            return Err(format!("body.ip: {:?} is not an IP address", self.ip));
        }
        at_most(
            "body.interfaces",
            self.interfaces.len(),
            MAX_SNMP_INTERFACES,
        )?;
        at_most(
            "body.ip_addresses",
            self.ip_addresses.len(),
            MAX_SNMP_ADDRESSES,
        )?;
        if let Some(bridge) = &self.bridge {
            at_most(
                "body.bridge.forwarding",
                bridge.forwarding.len(),
                MAX_FDB_ENTRIES,
            )?;
        }
        at_most(
            "body.lldp_neighbors",
            self.lldp_neighbors.len(),
            MAX_NEIGHBORS,
        )?;
        at_most(
            "body.cdp_neighbors",
            self.cdp_neighbors.len(),
            MAX_NEIGHBORS,
        )?;
        at_most("body.arp", self.arp.len(), MAX_ARP_ENTRIES)?;
        if let Some(host) = &self.host {
            at_most("body.host.storage", host.storage.len(), MAX_SNMP_STORAGE)?;
        }
        if let Some(printer) = &self.printer {
            at_most(
                "body.printer.supplies",
                printer.supplies.len(),
                MAX_PRINTER_SUPPLIES,
            )?;
        }
        at_most("body.errors", self.errors.len(), MAX_SNMP_SECTION_ERRORS)?;
        at_most(
            "body.identification.evidence",
            self.identification.evidence.len(),
            MAX_SNMP_EVIDENCE,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inventory_json(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-1".into();
        let doc = Document {
            header: parc_shared::DocumentHeader::new(
                uuid::Uuid::new_v4(),
                SourceKind::AgentInventory,
                chrono::Utc::now(),
            ),
            body: inv,
        };
        let mut v = serde_json::to_value(doc).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn gunzip_round_trip_and_bomb() {
        let data = vec![b'a'; 100_000];
        assert_eq!(gunzip(&gzip(&data), 100_000).unwrap(), data);
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        assert_eq!(
            gunzip(&bomb, 1 << 20),
            Err(IntakeError::TooLarge {
                what: "decompressed document",
                limit: 1 << 20
            })
        );
        assert!(matches!(
            gunzip(b"not gzip", 1 << 20),
            Err(IntakeError::BadGzip(_))
        ));
    }

    #[test]
    fn encodings() {
        assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("GZIP")), Ok(Encoding::Gzip));
        assert!(matches!(
            Encoding::from_header(Some("br")),
            Err(IntakeError::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn refusals_name_the_problem() {
        let long = "x".repeat(MAX_FIELD_CHARS + 1);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "truncated JSON",
                b"{\"header\": ".to_vec(),
                "not valid JSON",
            ),
            (
                "wrong type",
                inventory_json(|v| v["body"]["memory"]["total_bytes"] = "lots".into()),
                "body.memory.total_bytes",
            ),
            (
                "future version",
                inventory_json(|v| v["header"]["schema_version"] = 2.into()),
                "schema_version 2 is not supported: this collector accepts schema_version 1",
            ),
            (
                "sweep posted as inventory",
                inventory_json(|v| v["header"]["source"] = "sweep".into()),
                "header.source is \"sweep\"",
            ),
            (
                "empty hostname",
                inventory_json(|v| v["body"]["host"]["hostname"] = " ".into()),
                "body.host.hostname is empty",
            ),
            (
                "long string",
                inventory_json(|v| v["body"]["os"]["kernel"] = long.clone().into()),
                "body.os.kernel is 4097 characters long",
            ),
            (
                "unknown header field",
                inventory_json(|v| v["header"]["extra"] = 1.into()),
                "unknown field `extra`",
            ),
            (
                "software left out with a bad digest",
                inventory_json(|v| v["body"]["software_unchanged"] = "abc".into()),
                "body.software_unchanged must be a software list digest",
            ),
            (
                "software left out and sent",
                inventory_json(|v| {
                    v["body"]["software_unchanged"] = "0".repeat(64).into();
                    v["body"]["software"] = serde_json::json!([{"name": "x", "version": null, "arch": null,
                            "publisher": null, "size_bytes": null, "install_date": null,
                            "source": "dpkg"}]);
                }),
                "body.software is not empty",
            ),
            (
                "software delta with a bad base",
                inventory_json(|v| {
                    v["body"]["software_delta"] =
                        serde_json::json!({"base": "x", "digest": "0".repeat(64)});
                }),
                "body.software_delta.base must be a software list digest",
            ),
            (
                "software delta without its digest",
                inventory_json(|v| {
                    v["body"]["software_delta"] = serde_json::json!({"base": "0".repeat(64)});
                }),
                "missing field `digest`",
            ),
            (
                "software delta and a list",
                inventory_json(|v| {
                    v["body"]["software_delta"] =
                        serde_json::json!({"base": "0".repeat(64), "digest": "1".repeat(64)});
                    v["body"]["software_unchanged"] = "0".repeat(64).into();
                }),
                "send one of the three",
            ),
        ];
        for (name, bytes, want) in cases {
            let err = parse::<Inventory>(&bytes).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    #[test]
    fn software_count_limit() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc".into();
        inv.software = vec![Default::default(); MAX_SOFTWARE + 1];
        assert!(inv
            .check_limits()
            .unwrap_err()
            .contains("body.software has 50001 entries"));
    }

    #[test]
    fn literal_lengths_on_the_raw_text() {
        let at = |s: &str| format!(r#"{{"a":"{s}","b":["x"]}}"#);
        let cases: Vec<(String, usize, bool)> = vec![
            (at("abcd"), 4, true),
            (at("abcde"), 4, false),
            // Characters, not bytes: four accented letters are eight bytes.
            (at("éééé"), 4, true),
            // An escaped quote does not end the literal.
            (at(r#"ab\"cd"#), 4, false),
            (at(r#"a\\"#), 4, true),
            // Keys are literals too.
            (r#"{"abcde":1}"#.to_string(), 4, false),
        ];
        for (json, max, want) in cases {
            assert_eq!(literals_within(json.as_bytes(), max), want, "{json}");
        }
    }

    #[test]
    fn close_quotes_are_enough_only_without_escaped_quotes() {
        let at = |s: &str| format!(r#"{{"a":"{s}","b":["x"]}}"#);
        for (json, max, close, within) in [
            (at("abcd"), 8, true, true),
            // A run of escaped quotes has quote bytes everywhere and is still one long literal.
            (at(&r#"\""#.repeat(8)), 8, false, false),
            // An escaped backslash before a closing quote escapes nothing (a mount point).
            (at(r#"C:\\"#), 8, true, true),
            (
                at(&format!("{}{}", r#"\\\""#, "x".repeat(8))),
                8,
                false,
                false,
            ),
            // Long whitespace is no literal, but it is scanned.
            (format!("[{}\"x\"]", " ".repeat(40)), 8, false, true),
        ] {
            assert_eq!(quotes_are_close(json.as_bytes(), max), close, "{json}");
            assert_eq!(literals_within(json.as_bytes(), max), within, "{json}");
        }
    }

    /// The byte-by-byte walk `literals_within` replaced, as the oracle of its property test.
    fn literals_within_walk(json: &[u8], max_chars: usize) -> bool {
        let (mut in_string, mut escaped, mut chars) = (false, false, 0usize);
        for &b in json {
            if !in_string {
                if b == b'"' {
                    in_string = true;
                    chars = 0;
                }
                continue;
            }
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                continue;
            }
            if b & 0xC0 != 0x80 {
                chars += 1;
                if chars > max_chars {
                    return false;
                }
            }
        }
        true
    }

    proptest::proptest! {
        #[test]
        fn literal_scan_agrees_with_the_byte_walk(
            text in "[\"\\\\aé{}:,\\[\\] ]{0,64}",
            max in 0usize..8,
        ) {
            let walk = literals_within_walk(text.as_bytes(), max);
            proptest::prop_assert_eq!(literals_within(text.as_bytes(), max), walk, "{:?} max {}", text, max);
            proptest::prop_assert_eq!(each_literal_within(text.as_bytes(), max), walk, "{:?} max {}", text, max);
            if quotes_are_close(text.as_bytes(), max) {
                proptest::prop_assert!(walk, "{:?} max {}", text, max);
            }
        }
    }

    #[test]
    fn both_paths_read_the_same_document() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-\u{e9}\"1".into();
        inv.software = vec![
            parc_shared::inventory::Software {
                name: "x".repeat(MAX_FIELD_CHARS),
                source: "dpkg".into(),
                ..Default::default()
            };
            3
        ];
        let doc = Document {
            header: parc_shared::DocumentHeader::new(
                uuid::Uuid::new_v4(),
                SourceKind::AgentInventory,
                chrono::Utc::now(),
            ),
            body: inv,
        };
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert_eq!(parse::<Inventory>(&bytes).unwrap(), doc);
        assert_eq!(parse_checked::<Inventory>(&bytes).unwrap(), doc);
        // A literal at the limit but with an escape takes the slow path, still accepted.
        let mut escaped = doc.clone();
        escaped.body.software[0].name = format!("{}\n", "x".repeat(MAX_FIELD_CHARS - 1));
        let bytes = serde_json::to_vec(&escaped).unwrap();
        assert!(!literals_within(&bytes, MAX_FIELD_CHARS));
        assert_eq!(parse::<Inventory>(&bytes).unwrap(), escaped);
    }

    #[test]
    fn accepted() {
        let doc = parse::<Inventory>(&inventory_json(|_| {})).unwrap();
        assert_eq!(doc.body.host.hostname, "pc-1");
    }

    #[test]
    fn snmp_limits_name_the_field_and_the_bound() {
        use parc_shared::snmp::{BridgeInfo, PrinterInfo};
        let ok = SnmpDevice {
            ip: "198.18.0.2".into(),
            ..Default::default()
        };
        assert_eq!(ok.check_limits(), Ok(()));
        let cases: Vec<(SnmpDevice, String)> = vec![
            (
                SnmpDevice {
                    ip: "switch-1".into(),
                    ..Default::default()
                },
                "body.ip: \"switch-1\" is not an IP address".into(),
            ),
            (
                SnmpDevice {
                    interfaces: vec![Default::default(); MAX_SNMP_INTERFACES + 1],
                    ..ok.clone()
                },
                format!("body.interfaces has 16385 entries, more than the limit of {MAX_SNMP_INTERFACES}"),
            ),
            (
                SnmpDevice {
                    bridge: Some(BridgeInfo {
                        num_ports: None,
                        forwarding: vec![Default::default(); MAX_FDB_ENTRIES + 1],
                    }),
                    ..ok.clone()
                },
                format!("body.bridge.forwarding has {} entries, more than the limit of {MAX_FDB_ENTRIES}", MAX_FDB_ENTRIES + 1),
            ),
            (
                SnmpDevice {
                    lldp_neighbors: vec![Default::default(); MAX_NEIGHBORS + 1],
                    ..ok.clone()
                },
                format!("body.lldp_neighbors has 4097 entries, more than the limit of {MAX_NEIGHBORS}"),
            ),
            (
                SnmpDevice {
                    arp: vec![Default::default(); MAX_ARP_ENTRIES + 1],
                    ..ok.clone()
                },
                format!("body.arp has {} entries, more than the limit of {MAX_ARP_ENTRIES}", MAX_ARP_ENTRIES + 1),
            ),
            (
                SnmpDevice {
                    printer: Some(PrinterInfo {
                        supplies: vec![Default::default(); MAX_PRINTER_SUPPLIES + 1],
                        ..Default::default()
                    }),
                    ..ok.clone()
                },
                format!("body.printer.supplies has 257 entries, more than the limit of {MAX_PRINTER_SUPPLIES}"),
            ),
        ];
        for (device, want) in cases {
            assert_eq!(device.check_limits(), Err(want));
        }
    }
}
