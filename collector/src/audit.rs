//! The audit log of admin actions: who did what, to which target, in which entity, when.
//! [`record`] runs in the transaction of the action it describes, so an action and its entry
//! commit together or not at all.

use chrono::Utc;
use serde_json::Value;

use crate::auth::Principal;
use crate::store::{ts, DbConn};

/// Appends one entry. `action` is a stable dotted name (`user.create`, `asset.merge`);
/// `target` names the object (`user:12`, `asset:345`); `details` is a JSON object of what
/// changed, never secrets.
pub async fn record(
    conn: &mut DbConn,
    actor: &Principal,
    action: &str,
    entity_id: Option<i64>,
    target: &str,
    details: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit (at, actor_id, actor_login, action, entity_id, target, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ts(Utc::now()))
    .bind(Some(actor.user_id).filter(|id| *id > 0))
    .bind(&actor.login)
    .bind(action)
    .bind(entity_id)
    .bind(target)
    .bind(details.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
