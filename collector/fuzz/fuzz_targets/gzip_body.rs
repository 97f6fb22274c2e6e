//! Feeds arbitrary compressed bodies to the collector's bounded gunzip, then the result to the
//! inventory intake: a gzip bomb must be refused at the limit, never decompressed past it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/intake.rs"]
mod intake;

/// Small, so that the fuzzer finds inputs that cross it (the production limit is 16 MiB).
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    match intake::gunzip(data, LIMIT) {
        Ok(plain) => {
            assert!(plain.len() <= LIMIT);
            let _ = intake::parse::<parc_shared::Inventory>(&plain);
        }
        Err(intake::IntakeError::TooLarge { limit, .. }) => assert_eq!(limit, LIMIT),
        Err(_) => {}
    }
});
