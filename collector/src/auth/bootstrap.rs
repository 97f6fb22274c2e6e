//! The first user: at a start with no user at all, `admin` (group-wide admin) is created with
//! the password from `PARC_INITIAL_ADMIN_PASSWORD`, else `[auth] initial_admin_password`,
//! else a generated one that the caller prints once.

use anyhow::Context;

use super::{password, AuthMethod, Principal, Role};
use crate::error::ApiError;
use crate::store::users::NewUser;
use crate::store::Store;

pub const ADMIN_LOGIN: &str = "admin";
pub const PASSWORD_ENV: &str = "PARC_INITIAL_ADMIN_PASSWORD";

/// What start-up did about the first user.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users exist already.
    NotNeeded,
    /// Created with the configured password.
    Created,
    /// Created with this generated password, to show once.
    Generated(String),
}

/// The principal start-up and the command line act as in the audit log.
pub fn system() -> Principal {
    Principal::new(
        0,
        "system".into(),
        [(None, Role::Admin)],
        None,
        AuthMethod::Local,
    )
}

pub async fn ensure_admin(store: &Store, configured: Option<String>) -> anyhow::Result<Bootstrap> {
    if store.user_count().await? > 0 {
        return Ok(Bootstrap::NotNeeded);
    }
    let from_env = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    let (pw, generated) = match from_env.or(configured) {
        Some(pw) => {
            password::check_new(&pw).map_err(|m| {
                anyhow::anyhow!("initial admin password ({PASSWORD_ENV} or [auth]): {m}")
            })?;
            (pw, false)
        }
        None => (password::generate(), true),
    };
    let hash = {
        let pw = pw.clone();
        tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .context("hash the initial admin password")?
    };
    let new = NewUser {
        login: ADMIN_LOGIN.into(),
        display_name: "Administrator".into(),
        password_hash: hash,
        roles: vec![(None, Role::Admin)],
    };
    match store.create_user(&system(), &new).await {
        Ok(_) => {}
        // Another collector of the group created it first.
        Err(ApiError::Conflict(_)) => return Ok(Bootstrap::NotNeeded),
        Err(e) => return Err(anyhow::anyhow!("cannot create the initial admin: {e:?}")),
    }
    tracing::info!(login = ADMIN_LOGIN, "initial admin created");
    Ok(if generated {
        Bootstrap::Generated(pw)
    } else {
        Bootstrap::Created
    })
}

/// A group-admin API token for a user `login` created for the purpose (with an unusable
/// password): how tests and scripts read the API without signing in.
pub async fn admin_api_token(store: &Store, login: &str) -> anyhow::Result<String> {
    let new = NewUser {
        login: login.into(),
        display_name: login.into(),
        // Not a PHC string: no password ever matches it.
        password_hash: "!".into(),
        roles: vec![(None, Role::Admin)],
    };
    let user = store
        .create_user(&system(), &new)
        .await
        .map_err(|e| anyhow::anyhow!("create {login}: {e:?}"))?;
    let (_, token) = store
        .create_api_token(&system(), user.id, "tests", Role::Admin, None)
        .await
        .map_err(|e| anyhow::anyhow!("create a token for {login}: {e:?}"))?;
    Ok(token)
}

/// For handler tests about other things than access: `router` with `token` added to every GET
/// request that carries no credentials of its own.
pub fn reads_as(router: axum::Router, token: String) -> axum::Router {
    use axum::http::{header, HeaderValue, Method};
    let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("token is ASCII");
    router.layer(axum::middleware::map_request(
        move |mut req: axum::extract::Request| {
            let value = value.clone();
            async move {
                let is_get = req.method() == Method::GET;
                let h = req.headers_mut();
                if is_get
                    && !h.contains_key(header::AUTHORIZATION)
                    && !h.contains_key(header::COOKIE)
                {
                    h.insert(header::AUTHORIZATION, value);
                }
                req
            }
        },
    ))
}
