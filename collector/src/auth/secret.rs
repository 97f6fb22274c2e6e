//! Session ids and API tokens: 32 random bytes from the OS, shown to their owner once, stored
//! only as SHA-256 (high-entropy secrets need no salt or slow hash, and the hash stays an
//! index seek). API tokens read `parc_api_<64 hex>` so that logs, secret scanners and the
//! extractor tell them apart from agents' site tokens (`parc_<64 hex>`).

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const API_TOKEN_PREFIX: &str = "parc_api_";

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn new_session_id() -> String {
    random_hex()
}

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_hex())
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `s` has the shape of a session id or token body (64 lower-case hex digits): anything
/// else is refused before touching the database.
pub fn well_formed(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_well_formed_and_hashed() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_ne!(a, b);
        assert!(well_formed(&a));
        let t = new_api_token();
        assert!(well_formed(t.strip_prefix(API_TOKEN_PREFIX).unwrap()));
        assert_eq!(hash(&t).len(), 64);
        assert_ne!(hash(&t), hash(&a));
        for bad in ["", "zz", &a.to_uppercase(), &format!("{a}0")] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
