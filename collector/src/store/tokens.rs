//! Sites and the tokens agents authenticate with.
//!
//! A token is `parc_` followed by 32 random bytes in hex. Only its SHA-256 is stored: a token is
//! high-entropy, so an unsalted fast hash is enough, and it lets the lookup be an index seek.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{ts, Store};

pub const TOKEN_PREFIX: &str = "parc_";

/// The site a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub site: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already,
    NoSuchToken,
}

pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Site names are shown to admins and used in filters: keep them short and printable.
pub fn check_site_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("site name is empty".into());
    }
    if name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(format!(
            "site name {name:?} must be at most 128 printable characters"
        ));
    }
    Ok(name)
}

impl Store {
    /// Creates the site if needed and a new token for it; returns the token's id and the token,
    /// which is never retrievable again.
    pub async fn create_token(&self, site: &str) -> anyhow::Result<(i64, String)> {
        let site = check_site_name(site).map_err(anyhow::Error::msg)?;
        let now = ts(Utc::now());
        let token = generate_token();
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO sites (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(site)
        .bind(&now)
        .execute(&mut *w.tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (site_id, hash, created_at)
             SELECT id, $1, $2 FROM sites WHERE name = $3 RETURNING id",
        )
        .bind(hash_token(&token))
        .bind(&now)
        .bind(site)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok((id, token))
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT t.id, s.name, t.created_at, t.revoked_at
             FROM tokens t JOIN sites s ON s.id = t.site_id ORDER BY t.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| TokenInfo {
                id: r.get(0),
                site: r.get(1),
                created_at: r.get(2),
                revoked_at: r.get(3),
            })
            .collect())
    }

    pub async fn revoke_token(&self, id: i64) -> Result<Revoked, sqlx::Error> {
        let mut w = self.write().await?;
        let revoked: Option<Option<String>> =
            sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *w.tx)
                .await?;
        let outcome = match revoked {
            None => Revoked::NoSuchToken,
            Some(Some(_)) => Revoked::Already,
            Some(None) => {
                sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2")
                    .bind(ts(Utc::now()))
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
                self.valid_tokens.forget_all();
                Revoked::Now
            }
        };
        w.commit().await?;
        Ok(outcome)
    }

    /// The site of a valid (known, unrevoked) token. A token found valid is not read again
    /// for [`TOKEN_RECHECK`] ([`ValidTokens`]).
    pub async fn authenticate(&self, token: &str) -> Result<Option<Site>, sqlx::Error> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = hash_token(token);
        if let Some(site) = self.valid_tokens.get(&hash, Instant::now()) {
            return Ok(Some(site));
        }
        let row = sqlx::query(
            "SELECT s.id, s.name FROM tokens t JOIN sites s ON s.id = t.site_id
             WHERE t.hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let site = row.map(|r| Site {
            id: r.get(0),
            name: r.get(1),
        });
        if let Some(site) = &site {
            self.valid_tokens
                .remember(hash, site.clone(), Instant::now());
        }
        Ok(site)
    }
}

/// How long a token found valid is taken as valid without reading it again. A site token is
/// shared by a whole site's agents and a storm's 429s each present it too: reading it once per
/// request was as many queries as the inventories' own. The price is that a token revoked
/// through another collector (or the CLI) keeps working here for up to this long; one revoked
/// through this collector stops at once.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(5);

/// Tokens found valid lately, by hash, with when they were read. Only valid tokens are kept:
/// a new token works at once, and unknown ones cannot fill memory.
#[derive(Debug, Default)]
pub struct ValidTokens(Mutex<HashMap<String, (Site, Instant)>>);

impl ValidTokens {
    /// Tokens kept at most; past it the list starts over (a miss only costs a query).
    const MAX: usize = 4096;

    pub fn get(&self, hash: &str, now: Instant) -> Option<Site> {
        let tokens = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (site, read) = tokens.get(hash)?;
        (now.saturating_duration_since(*read) < TOKEN_RECHECK).then(|| site.clone())
    }

    pub fn remember(&self, hash: String, site: Site, now: Instant) {
        let mut tokens = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= Self::MAX {
            tokens.clear();
        }
        tokens.insert(hash, (site, now));
    }

    /// After a revocation: every token is read again.
    pub fn forget_all(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn a_valid_token_is_read_again_after_the_recheck_time() {
        let tokens = ValidTokens::default();
        let t0 = Instant::now();
        let site = Site {
            id: 3,
            name: "north".into(),
        };
        assert_eq!(tokens.get("h", t0), None);
        tokens.remember("h".into(), site.clone(), t0);
        for (after, want) in [
            (Duration::ZERO, Some(site.clone())),
            (TOKEN_RECHECK - Duration::from_millis(1), Some(site.clone())),
            (TOKEN_RECHECK, None),
        ] {
            assert_eq!(tokens.get("h", t0 + after), want, "{after:?}");
        }
        assert_eq!(tokens.get("other", t0), None);
        tokens.forget_all();
        assert_eq!(tokens.get("h", t0), None);
    }

    #[test]
    fn site_names() {
        assert_eq!(check_site_name(" main "), Ok("main"));
        assert!(check_site_name("").is_err());
        assert!(check_site_name("a\nb").is_err());
    }
}
