//! Reading the audit log (entries are written by [`crate::audit::record`]).

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, Store};
use crate::auth::Scope;

pub const MAX_ENTRIES: u32 = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub entity_id: Option<i64>,
    pub target: String,
    pub details: Value,
}

/// A checked audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// RFC 3339 text, compared as stored timestamps.
    pub since: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: u32,
}

impl Store {
    /// Entries newest first. With a scope other than [`Scope::All`] only entries of the
    /// entities in scope: group-wide entries (no entity) are for group admins.
    pub async fn list_audit(
        &self,
        scope: &Scope,
        f: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT id, at, actor_id, actor_login, action, entity_id, target, details
             FROM audit WHERE 1 = 1",
        );
        if *scope != Scope::All {
            q.push(" AND entity_id IS NOT NULL");
            scope.push_entity_filter(&mut q, "entity_id");
        }
        if let Some(since) = &f.since {
            q.push(" AND at >= ").push_bind(since.clone());
        }
        if let Some(actor) = &f.actor {
            q.push(" AND actor_login = ").push_bind(actor.clone());
        }
        if let Some(action) = &f.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        Ok(q.build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at: r.get(1),
                actor_id: r.get(2),
                actor: r.get(3),
                action: r.get(4),
                entity_id: r.get(5),
                target: r.get(6),
                details: serde_json::from_str(r.get::<&str, _>(7)).unwrap_or(Value::Null),
            })
            .collect())
    }
}
