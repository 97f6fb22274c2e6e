//! Who is calling and what they may do.
//!
//! - [`principal`]: [`Role`], [`Principal`] (a user's group-wide and per-entity roles, capped
//!   by an API token's role) and [`Scope`] (the entities a list may show).
//! - [`bootstrap`]: the first admin, created at the first start.
//! - [`extract`]: `Principal` as an axum extractor: the `parc_session` cookie (plus the
//!   `X-Requested-With: parc` CSRF header on writes) or an `Authorization: Bearer parc_api_…`
//!   token; 401 otherwise.
//! - [`password`]: argon2id hashes and the policy for new passwords.
//! - [`secret`]: session ids and API tokens: random, shown once, stored as SHA-256.
//! - [`throttle`]: failed-login counting per login and per client address.
//!
//! Rules the handlers follow: every endpoint but `healthz`, `openapi.json` and the agents' own
//! (which take site tokens) takes a `Principal`; lists are filtered with [`Scope`]; reading one
//! record of another entity answers 404, never 403, so that ids do not reveal what exists.

pub mod bootstrap;
pub mod extract;
pub mod password;
pub mod principal;
pub mod secret;
pub mod throttle;

pub use extract::{ClientIp, SESSION_COOKIE};
pub use principal::{AuthMethod, Principal, Role, Scope};

use std::time::Duration as StdDuration;

/// Settings of user authentication the handlers share (part of [`crate::http::AppState`]).
#[derive(Debug)]
pub struct AuthSettings {
    /// A session unused for this long is over.
    pub session_idle: chrono::Duration,
    /// Mark the session cookie `Secure` (the collector serves HTTPS).
    pub secure_cookie: bool,
    pub throttle: throttle::Throttle,
}

/// Default idle expiry of a session.
pub const DEFAULT_SESSION_IDLE: StdDuration = StdDuration::from_secs(12 * 3600);

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_idle: chrono::Duration::from_std(DEFAULT_SESSION_IDLE).expect("in range"),
            secure_cookie: false,
            throttle: throttle::Throttle::new(throttle::Policy::default()),
        }
    }
}
