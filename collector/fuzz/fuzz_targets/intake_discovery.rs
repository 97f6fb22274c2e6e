//! Feeds arbitrary bodies to the collector's intake of discovery documents, exactly as
//! `POST` delivers them after decompression: JSON parse, schema version and source, every
//! string length and element count. A document that passes must re-serialise.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The collector's intake module, compiled in by path: it is pure (no I/O, no database), so
// the fuzz crate needs none of the collector's server dependencies.
#[allow(dead_code)]
#[path = "../../src/intake.rs"]
mod intake;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = intake::parse::<parc_shared::Discovery>(data) {
        assert_eq!(doc.header.schema_version, parc_shared::SCHEMA_VERSION);
        assert!(serde_json::to_vec(&doc).is_ok());
    }
});
