//! Users, their roles, browser sessions and API tokens. Secrets are stored hashed: passwords
//! as argon2id (hashed by the caller, off the runtime), session ids and API tokens as SHA-256.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use serde_json::json;

use super::{ts, DbConn, Store};
use crate::audit;
use crate::auth::{secret, AuthMethod, Principal, Role};
use crate::error::ApiError;

/// Absolute lifetime of a session, however active: a stolen cookie does not live forever.
pub const SESSION_MAX_AGE: Duration = Duration::days(7);
/// `last_used` of sessions and tokens is written at most this often: a busy UI must not turn
/// every read into a write.
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

#[derive(Debug, Clone, Serialize)]
pub struct RoleGrant {
    /// None: group-wide.
    pub entity_id: Option<i64>,
    pub entity_name: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
    pub roles: Vec<RoleGrant>,
}

/// What a login needs to check a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user_id: i64,
    pub login: String,
    pub password_hash: String,
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used: Option<String>,
}

/// A user's login must be short, printable and without spaces: it is typed at a prompt and
/// shown in the audit log.
pub fn check_login(login: &str) -> Result<String, String> {
    let login = login.trim();
    if login.is_empty() || login.chars().count() > 64 {
        return Err("a login has 1 to 64 characters".into());
    }
    if !login
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(format!(
            "login {login:?} may only hold letters, digits and . _ - @"
        ));
    }
    Ok(login.to_lowercase())
}

fn parse_role(text: &str) -> Result<Role, sqlx::Error> {
    text.parse()
        .map_err(|e: String| sqlx::Error::Decode(e.into()))
}

fn parse_ts(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A user's grants, group-wide first, then by entity name.
pub async fn roles_of(conn: &mut DbConn, user_id: i64) -> Result<Vec<RoleGrant>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.entity_id, e.name, r.role FROM user_roles r
         LEFT JOIN entities e ON e.id = r.entity_id
         WHERE r.user_id = $1 ORDER BY e.name",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut grants = rows
        .iter()
        .map(|r| {
            Ok(RoleGrant {
                entity_id: r.get(0),
                entity_name: r.get(1),
                role: parse_role(r.get::<&str, _>(2))?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    grants.sort_by_key(|g| g.entity_id.is_some());
    Ok(grants)
}

/// Creates a user in the caller's transaction; the login must be free (checked by the caller,
/// enforced by the unique index).
pub async fn insert_user(
    conn: &mut DbConn,
    login: &str,
    display_name: &str,
    password_hash: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (login, display_name, password_hash, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(login)
    .bind(display_name)
    .bind(password_hash)
    .bind(ts(Utc::now()))
    .fetch_one(&mut *conn)
    .await
}

/// Replaces a user's role in one entity (None: group-wide); `role` None removes it.
pub async fn set_role(
    conn: &mut DbConn,
    user_id: i64,
    entity_id: Option<i64>,
    role: Option<Role>,
) -> Result<(), sqlx::Error> {
    match entity_id {
        Some(e) => {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND entity_id = $2")
                .bind(user_id)
                .bind(e)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND entity_id IS NULL")
                .bind(user_id)
                .execute(&mut *conn)
                .await?
        }
    };
    if let Some(role) = role {
        sqlx::query("INSERT INTO user_roles (user_id, entity_id, role) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(entity_id)
            .bind(role.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn user_in(conn: &mut DbConn, id: i64) -> Result<Option<User>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, login, display_name, created_at, disabled_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let roles = roles_of(conn, id).await?;
    Ok(Some(User {
        id: row.get(0),
        login: row.get(1),
        display_name: row.get(2),
        created_at: row.get(3),
        disabled_at: row.get(4),
        roles,
    }))
}

impl Store {
    pub async fn user_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await
    }

    pub async fn credentials(&self, login: &str) -> Result<Option<Credentials>, sqlx::Error> {
        let row =
            sqlx::query("SELECT id, login, password_hash, disabled_at FROM users WHERE login = $1")
                .bind(login.trim().to_lowercase())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| Credentials {
            user_id: r.get(0),
            login: r.get(1),
            password_hash: r.get(2),
            disabled: r.get::<Option<String>, _>(3).is_some(),
        }))
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        user_in(&mut conn, id).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM users ORDER BY login")
            .fetch_all(&mut *conn)
            .await?;
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = user_in(&mut conn, id).await? {
                users.push(u);
            }
        }
        Ok(users)
    }

    /// The principal of user `user_id` as it stands now, roles capped at `cap`.
    async fn principal_of(
        &self,
        conn: &mut DbConn,
        user_id: i64,
        login: String,
        cap: Option<Role>,
        via: AuthMethod,
    ) -> Result<Principal, sqlx::Error> {
        let grants = roles_of(conn, user_id).await?;
        Ok(Principal::new(
            user_id,
            login,
            grants.into_iter().map(|g| (g.entity_id, g.role)),
            cap,
            via,
        ))
    }

    /// Opens a session for a user; returns nothing secret (the caller made the id and passes
    /// its hash).
    pub async fn create_session(&self, user_id: i64, id_hash: &str) -> Result<(), sqlx::Error> {
        let now = Utc::now();
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO sessions (hash, user_id, created_at, last_used, expires_at)
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(ts(now))
        .bind(ts(now + SESSION_MAX_AGE))
        .execute(&mut *w.tx)
        .await?;
        // Expired sessions of anyone go here rather than in a background task: sign-ins are
        // rare and this keeps the table small.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(ts(now))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, sqlx::Error> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(id_hash)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// The principal of a live session: known, not idle for longer than `idle`, not past its
    /// absolute expiry, its user not disabled.
    pub async fn principal_for_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        idle: Duration,
    ) -> Result<Option<Principal>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT s.id, s.user_id, u.login, s.last_used, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.hash = $1 AND u.disabled_at IS NULL",
        )
        .bind(id_hash)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let (id, user_id, login): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        let last_used = parse_ts(row.get(3));
        let expires = parse_ts(row.get(4));
        let live = matches!((last_used, expires), (Some(l), Some(e)) if l + idle > now && e > now);
        if !live {
            return Ok(None);
        }
        let principal = self
            .principal_of(&mut conn, user_id, login, None, AuthMethod::Session(id))
            .await?;
        drop(conn);
        if last_used.is_some_and(|l| now - l > TOUCH_EVERY) {
            let mut w = self.write().await?;
            sqlx::query("UPDATE sessions SET last_used = $1 WHERE id = $2")
                .bind(ts(now))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            w.commit().await?;
        }
        Ok(Some(principal))
    }

    /// The principal of a valid API token (known, not revoked, not expired, user enabled),
    /// with its roles capped at the token's.
    pub async fn principal_for_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT t.id, t.user_id, u.login, t.role, t.expires_at, t.last_used
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let (id, user_id, login): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        let cap = parse_role(row.get::<&str, _>(3))?;
        let expires: Option<String> = row.get(4);
        if expires.is_some_and(|e| parse_ts(&e).is_none_or(|e| e <= now)) {
            return Ok(None);
        }
        let last_used: Option<String> = row.get(5);
        let principal = self
            .principal_of(
                &mut conn,
                user_id,
                login,
                Some(cap),
                AuthMethod::ApiToken(id),
            )
            .await?;
        drop(conn);
        if last_used
            .as_deref()
            .and_then(parse_ts)
            .is_none_or(|l| now - l > TOUCH_EVERY)
        {
            let mut w = self.write().await?;
            sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE id = $2")
                .bind(ts(now))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            w.commit().await?;
        }
        Ok(Some(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        assert_eq!(check_login(" Jane.Doe@chu "), Ok("jane.doe@chu".into()));
        for bad in ["", "a b", "x;drop", &"a".repeat(65)] {
            assert!(check_login(bad).is_err(), "{bad:?}");
        }
    }
}

/// A new user as the API or the CLI asks for it; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: String,
    pub display_name: String,
    pub password_hash: String,
    pub roles: Vec<(Option<i64>, Role)>,
}

/// Changes to a user; None leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
}

async fn entity_exists(conn: &mut DbConn, id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM entities WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.is_some())
}

impl Store {
    /// Creates a user and its roles, audited as `actor`'s action, in one transaction.
    pub async fn create_user(&self, actor: &Principal, new: &NewUser) -> Result<User, ApiError> {
        let mut w = self.write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE login = $1")
            .bind(&new.login)
            .fetch_optional(&mut *w.tx)
            .await?;
        if taken.is_some() {
            return Err(ApiError::Conflict(format!(
                "login {:?} is already taken",
                new.login
            )));
        }
        for (entity, _) in &new.roles {
            if let Some(e) = entity {
                if !entity_exists(&mut w.tx, *e).await? {
                    return Err(ApiError::Unprocessable(format!("no entity with id {e}")));
                }
            }
        }
        let id = insert_user(&mut w.tx, &new.login, &new.display_name, &new.password_hash).await?;
        for (entity, role) in &new.roles {
            set_role(&mut w.tx, id, *entity, Some(*role)).await?;
        }
        let roles: Vec<_> = new
            .roles
            .iter()
            .map(|(e, r)| json!({"entity_id": e, "role": r}))
            .collect();
        audit::record(
            &mut w.tx,
            actor,
            "user.create",
            None,
            &format!("user:{id}"),
            &json!({"login": new.login, "display_name": new.display_name, "roles": roles}),
        )
        .await?;
        let user = user_in(&mut w.tx, id).await?.expect("just created");
        w.commit().await?;
        Ok(user)
    }

    pub async fn update_user(
        &self,
        actor: &Principal,
        id: i64,
        change: &UserChange,
    ) -> Result<Option<User>, ApiError> {
        let mut w = self.write().await?;
        if user_in(&mut w.tx, id).await?.is_none() {
            return Ok(None);
        }
        let now = ts(Utc::now());
        if let Some(name) = &change.display_name {
            sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        if let Some(hash) = &change.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            // A new password ends every session of the user: the old one may have leaked.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        match change.disabled {
            Some(true) => {
                sqlx::query(
                    "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
                )
                .bind(&now)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            Some(false) => {
                sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&mut *w.tx)
                    .await?;
            }
            None => {}
        }
        audit::record(
            &mut w.tx,
            actor,
            "user.update",
            None,
            &format!("user:{id}"),
            &json!({
                "display_name": change.display_name,
                "password_changed": change.password_hash.is_some(),
                "disabled": change.disabled,
            }),
        )
        .await?;
        let user = user_in(&mut w.tx, id).await?;
        w.commit().await?;
        Ok(user)
    }

    /// Sets (or with None removes) a user's role in an entity or group-wide.
    pub async fn set_user_role(
        &self,
        actor: &Principal,
        id: i64,
        entity_id: Option<i64>,
        role: Option<Role>,
    ) -> Result<Option<User>, ApiError> {
        let mut w = self.write().await?;
        if user_in(&mut w.tx, id).await?.is_none() {
            return Ok(None);
        }
        if let Some(e) = entity_id {
            if !entity_exists(&mut w.tx, e).await? {
                return Err(ApiError::Unprocessable(format!("no entity with id {e}")));
            }
        }
        set_role(&mut w.tx, id, entity_id, role).await?;
        audit::record(
            &mut w.tx,
            actor,
            "user.role",
            entity_id,
            &format!("user:{id}"),
            &json!({"entity_id": entity_id, "role": role}),
        )
        .await?;
        let user = user_in(&mut w.tx, id).await?;
        w.commit().await?;
        Ok(user)
    }

    /// Creates an API token for `user_id`; returns its id and the token, shown only now.
    pub async fn create_api_token(
        &self,
        actor: &Principal,
        user_id: i64,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiTokenInfo, String), ApiError> {
        let token = secret::new_api_token();
        let mut w = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (hash, user_id, name, role, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(secret::hash(&token))
        .bind(user_id)
        .bind(name)
        .bind(role.as_str())
        .bind(ts(Utc::now()))
        .bind(expires_at.map(ts))
        .fetch_one(&mut *w.tx)
        .await?;
        audit::record(
            &mut w.tx,
            actor,
            "api_token.create",
            None,
            &format!("api_token:{id}"),
            &json!({"user_id": user_id, "name": name, "role": role,
                    "expires_at": expires_at.map(ts)}),
        )
        .await?;
        let info = api_token_in(&mut w.tx, id).await?.expect("just created");
        w.commit().await?;
        Ok((info, token))
    }

    /// API tokens of one user, or of everyone (None).
    pub async fn list_api_tokens(
        &self,
        user_id: Option<i64>,
    ) -> Result<Vec<ApiTokenInfo>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        let ids: Vec<i64> = match user_id {
            Some(u) => {
                sqlx::query_scalar("SELECT id FROM api_tokens WHERE user_id = $1 ORDER BY id")
                    .bind(u)
                    .fetch_all(&mut *conn)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT id FROM api_tokens ORDER BY id")
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(api_token_in(&mut conn, id).await?);
        }
        Ok(out)
    }

    pub async fn api_token(&self, id: i64) -> Result<Option<ApiTokenInfo>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        api_token_in(&mut conn, id).await
    }

    /// Revokes an API token (idempotent); false when there is no such token.
    pub async fn revoke_api_token(&self, actor: &Principal, id: i64) -> Result<bool, ApiError> {
        let mut w = self.write().await?;
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let exists = api_token_in(&mut w.tx, id).await?.is_some();
        if n > 0 {
            audit::record(
                &mut w.tx,
                actor,
                "api_token.revoke",
                None,
                &format!("api_token:{id}"),
                &json!({}),
            )
            .await?;
        }
        w.commit().await?;
        Ok(exists)
    }
}

async fn api_token_in(conn: &mut DbConn, id: i64) -> Result<Option<ApiTokenInfo>, sqlx::Error> {
    let Some(r) = sqlx::query(
        "SELECT t.id, t.user_id, u.login, t.name, t.role, t.created_at, t.expires_at,
                t.revoked_at, t.last_used
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(ApiTokenInfo {
        id: r.get(0),
        user_id: r.get(1),
        login: r.get(2),
        name: r.get(3),
        role: parse_role(r.get::<&str, _>(4))?,
        created_at: r.get(5),
        expires_at: r.get(6),
        revoked_at: r.get(7),
        last_used: r.get(8),
    }))
}
