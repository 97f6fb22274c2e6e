//! Password hashes (argon2id with the crate's defaults: 19 MiB, 2 passes, which OWASP
//! recommends) and the rules for new passwords. Hashing is slow on purpose: callers run it on
//! the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 accepts any password up to its length limits")
        .to_string()
}

/// Whether `password` matches `phc` (a stored hash). A malformed stored hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Runs a verification against a fixed hash, so that a login for an unknown user costs what a
/// wrong password costs and timing does not reveal which logins exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("parc dummy password for unknown logins"));
    let _ = verify(password, phc);
}

/// The policy for a new password: long enough, bounded (argon2 cost grows with it), no
/// control characters (they come from copy-paste accidents).
pub fn check_new(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(format!(
            "the password must have at least {MIN_LENGTH} characters"
        ));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("the password must be at most {MAX_LENGTH} bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err("the password must not contain control characters".into());
    }
    Ok(())
}

/// A random password for the bootstrap admin: 20 characters from an alphabet without
/// look-alikes (about 115 bits).
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("correct horse battery", "not a hash"));
        assert_ne!(h, hash("correct horse battery"), "salted");
    }

    #[test]
    fn new_password_policy() {
        let table = [
            ("short", false),
            ("twelve chars", true),
            ("with\ttab and more", false),
            (&"x".repeat(MAX_LENGTH + 1) as &str, false),
        ];
        for (pw, ok) in table {
            assert_eq!(check_new(pw).is_ok(), ok, "{pw:?}");
        }
        let g = generate();
        assert_eq!(g.len(), 20);
        assert!(check_new(&g).is_ok());
        assert_ne!(g, generate());
    }
}
