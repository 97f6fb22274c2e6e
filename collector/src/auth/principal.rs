//! Roles, the principal a request runs as, and the scope of what it may read.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::store::{Db, QueryBuilder};

/// What a user may do in an entity (or everywhere, for a group-wide role). Ordered: each role
/// may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads assets, reports and referentials.
    Viewer,
    /// Also edits manual fields and lifecycle, starts sweeps.
    Technician,
    /// Also merges, splits and undoes; manages users, tokens, sites, subnets; reads the audit.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Technician, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Technician => "technician",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use viewer, technician or admin"))
    }
}

/// How the principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// A browser session (the row id of the session).
    Session(i64),
    /// An API token (its id), whose role caps the user's.
    ApiToken(i64),
    /// The command line or start-up code acting on the database directly.
    Local,
}

/// An authenticated user and the roles in force for this request (already capped by the API
/// token's role when there is one).
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub login: String,
    /// Valid in every entity.
    pub group_role: Option<Role>,
    /// entity id → role; a group-wide role may be higher.
    pub entity_roles: BTreeMap<i64, Role>,
    pub via: AuthMethod,
}

impl Principal {
    /// The principal with `roles` (entity None: group-wide), each capped at `cap`.
    pub fn new(
        user_id: i64,
        login: String,
        roles: impl IntoIterator<Item = (Option<i64>, Role)>,
        cap: Option<Role>,
        via: AuthMethod,
    ) -> Principal {
        let cap = |r: Role| cap.map_or(r, |c| r.min(c));
        let mut group_role = None;
        let mut entity_roles = BTreeMap::new();
        for (entity, role) in roles {
            let role = cap(role);
            match entity {
                None => group_role = group_role.max(Some(role)),
                Some(e) => {
                    let slot = entity_roles.entry(e).or_insert(role);
                    *slot = (*slot).max(role);
                }
            }
        }
        Principal {
            user_id,
            login,
            group_role,
            entity_roles,
            via,
        }
    }

    /// The role in force in `entity_id`: the higher of the group-wide and the entity's own.
    pub fn role_in(&self, entity_id: i64) -> Option<Role> {
        self.group_role
            .max(self.entity_roles.get(&entity_id).copied())
    }

    pub fn can(&self, need: Role, entity_id: i64) -> bool {
        self.role_in(entity_id).is_some_and(|r| r >= need)
    }

    /// 403 unless [`Principal::can`]. For records whose existence the caller may not learn,
    /// check [`Principal::can`] with [`Role::Viewer`] first and answer 404.
    pub fn require(&self, need: Role, entity_id: i64) -> Result<(), ApiError> {
        if self.can(need, entity_id) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {need} role in entity {entity_id}"
            )))
        }
    }

    /// 403 unless the group-wide role is at least `need` (group-wide referentials, users).
    pub fn require_group(&self, need: Role) -> Result<(), ApiError> {
        if self.is_group(need) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the group-wide {need} role"
            )))
        }
    }

    pub fn is_group(&self, need: Role) -> bool {
        self.group_role.is_some_and(|r| r >= need)
    }

    /// The entities where the principal has at least `need`.
    pub fn scope(&self, need: Role) -> Scope {
        if self.is_group(need) {
            return Scope::All;
        }
        Scope::Entities(
            self.entity_roles
                .iter()
                .filter(|(_, r)| **r >= need)
                .map(|(e, _)| *e)
                .collect(),
        )
    }

    /// Whether the principal has at least `need` somewhere (group-wide or in any entity).
    pub fn has_any(&self, need: Role) -> bool {
        match self.scope(need) {
            Scope::All => true,
            Scope::Entities(e) => !e.is_empty(),
        }
    }
}

/// The entities a query may return rows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Sorted, without duplicates; may be empty (nothing).
    Entities(Vec<i64>),
}

impl Scope {
    pub fn contains(&self, entity_id: i64) -> bool {
        match self {
            Scope::All => true,
            Scope::Entities(e) => e.binary_search(&entity_id).is_ok(),
        }
    }

    /// Appends ` AND <condition>` keeping rows whose site (the column `site_id_column`) belongs
    /// to an entity in scope; nothing for [`Scope::All`]. The query must already have a WHERE.
    pub fn push_site_filter(&self, q: &mut QueryBuilder<'_, Db>, site_id_column: &str) {
        match self {
            Scope::All => {}
            Scope::Entities(entities) if entities.is_empty() => {
                q.push(" AND 1 = 0");
            }
            Scope::Entities(entities) => {
                q.push(format!(
                    " AND {site_id_column} IN (SELECT id FROM sites WHERE entity_id IN ("
                ));
                let mut sep = q.separated(", ");
                for e in entities {
                    sep.push_bind(*e);
                }
                q.push("))");
            }
        }
    }

    /// Appends ` AND <condition>` on a column holding an entity id directly.
    pub fn push_entity_filter(&self, q: &mut QueryBuilder<'_, Db>, entity_id_column: &str) {
        match self {
            Scope::All => {}
            Scope::Entities(entities) if entities.is_empty() => {
                q.push(" AND 1 = 0");
            }
            Scope::Entities(entities) => {
                q.push(format!(" AND {entity_id_column} IN ("));
                let mut sep = q.separated(", ");
                for e in entities {
                    sep.push_bind(*e);
                }
                q.push(")");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(roles: &[(Option<i64>, Role)], cap: Option<Role>) -> Principal {
        Principal::new(1, "u".into(), roles.iter().copied(), cap, AuthMethod::Local)
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Technician && Role::Technician < Role::Admin);
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
    }

    #[test]
    fn checks_by_entity() {
        use Role::*;
        let tech_a = p(&[(Some(1), Technician)], None);
        let group_viewer_admin_b = p(&[(None, Viewer), (Some(2), Admin)], None);
        let table: &[(&Principal, Role, i64, bool)] = &[
            (&tech_a, Viewer, 1, true),
            (&tech_a, Technician, 1, true),
            (&tech_a, Admin, 1, false),
            (&tech_a, Viewer, 2, false),
            (&group_viewer_admin_b, Viewer, 1, true),
            (&group_viewer_admin_b, Technician, 1, false),
            (&group_viewer_admin_b, Admin, 2, true),
            (&group_viewer_admin_b, Viewer, 99, true),
        ];
        for (who, need, entity, expected) in table {
            assert_eq!(who.can(*need, *entity), *expected, "{need} in {entity}");
            assert_eq!(who.require(*need, *entity).is_ok(), *expected);
        }
        assert_eq!(tech_a.scope(Viewer), Scope::Entities(vec![1]));
        assert_eq!(tech_a.scope(Admin), Scope::Entities(vec![]));
        assert!(!tech_a.has_any(Admin));
        assert_eq!(group_viewer_admin_b.scope(Viewer), Scope::All);
        assert_eq!(group_viewer_admin_b.scope(Admin), Scope::Entities(vec![2]));
        assert!(group_viewer_admin_b.is_group(Viewer) && !group_viewer_admin_b.is_group(Admin));
    }

    #[test]
    fn token_role_caps_every_role() {
        use Role::*;
        let admin = p(&[(None, Admin), (Some(3), Admin)], Some(Viewer));
        assert_eq!(admin.group_role, Some(Viewer));
        assert!(admin.can(Viewer, 3) && !admin.can(Technician, 3));
        assert_eq!(admin.scope(Technician), Scope::Entities(vec![]));
    }

    #[test]
    fn scope_filters_render_portable_sql() {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT 1 FROM assets a WHERE 1 = 1");
        Scope::Entities(vec![1, 2]).push_site_filter(&mut q, "a.site_id");
        // Placeholders are the driver's own; the shape is what matters.
        let sql = q.sql();
        assert!(
            sql.starts_with(
                "SELECT 1 FROM assets a WHERE 1 = 1 AND a.site_id IN \
                 (SELECT id FROM sites WHERE entity_id IN ("
            ) && sql.ends_with("))"),
            "{sql}"
        );
        assert_eq!(sql.matches(", ").count(), 1, "{sql}");
        let mut q: QueryBuilder<Db> = QueryBuilder::new("W");
        Scope::Entities(vec![]).push_entity_filter(&mut q, "x");
        assert_eq!(q.sql(), "W AND 1 = 0");
        let mut q: QueryBuilder<Db> = QueryBuilder::new("W");
        Scope::All.push_site_filter(&mut q, "x");
        assert_eq!(q.sql(), "W");
    }
}
