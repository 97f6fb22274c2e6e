//! The organisation: entities own sites, subnets place addresses in sites; the group-wide
//! referentials (departments, locations); site tokens and agent revocation as admin actions.
//! Every change is audited in its own transaction.

use chrono::Utc;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Row;

use crate::store::QueryBuilder;
use uuid::Uuid;

use super::tokens::{check_site_name, generate_token, hash_token};
use super::{ts, Db, DbConn, DbRow, Store, WriteTx};
use crate::audit;
use crate::auth::{Principal, Scope};
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize)]
pub struct Entity {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteInfo {
    pub id: i64,
    pub name: String,
    pub entity_id: i64,
    pub entity: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub id: i64,
    pub cidr: String,
    pub site_id: i64,
    pub site: String,
    pub entity_id: i64,
    pub name: Option<String>,
    pub created_at: String,
}

/// A department or a location.
#[derive(Debug, Clone, Serialize)]
pub struct Referential {
    pub id: i64,
    pub name: String,
    /// Locations only: the site it is in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    pub created_at: String,
}

/// The group-wide referentials, by table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Department,
    Location,
}

impl RefKind {
    fn table(self) -> Table {
        match self {
            RefKind::Department => Table::Departments,
            RefKind::Location => Table::Locations,
        }
    }

    /// Columns and FROM clause of a [`Referential`] row; departments have no site.
    fn select(self) -> String {
        let site = match self {
            RefKind::Department => "NULL",
            RefKind::Location => "site_id",
        };
        format!("id, name, {site}, created_at FROM {}", self.table().name())
    }
}

/// The tables whose names this module splices into SQL it builds: a closed set, so no text
/// from a request ever becomes part of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Entities,
    Sites,
    Subnets,
    Departments,
    Locations,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Entities => "entities",
            Table::Sites => "sites",
            Table::Subnets => "subnets",
            Table::Departments => "departments",
            Table::Locations => "locations",
        }
    }

    /// One row, as messages, audit actions and audit targets name it.
    fn noun(self) -> &'static str {
        match self {
            Table::Entities => "entity",
            Table::Sites => "site",
            Table::Subnets => "subnet",
            Table::Departments => "department",
            Table::Locations => "location",
        }
    }

    /// `verb` done to row `id`, in entity `entity_id` (None: group-wide).
    fn change(self, verb: &str, id: i64, entity_id: Option<i64>, details: Value) -> Change {
        Change {
            action: format!("{}.{verb}", self.noun()),
            entity_id,
            target: format!("{}:{id}", self.noun()),
            details,
        }
    }
}

/// What an admin revokes: a site's agent token (by id) or an enrolled agent (by agent id).
#[derive(Debug, Clone, Copy)]
enum Revocable {
    SiteToken(i64),
    Agent(Uuid),
}

impl Revocable {
    /// Selects the entity owning it through its site; one parameter, its key.
    fn owner_sql(self) -> &'static str {
        match self {
            Revocable::SiteToken(_) => {
                "SELECT s.entity_id FROM tokens t JOIN sites s ON s.id = t.site_id WHERE t.id = $1"
            }
            Revocable::Agent(_) => {
                "SELECT s.entity_id FROM agents a JOIN sites s ON s.id = a.site_id
                 WHERE a.agent_id = $1"
            }
        }
    }

    /// Revokes it unless already revoked; parameters: the time, then its key.
    fn revoke_sql(self) -> &'static str {
        match self {
            Revocable::SiteToken(_) => {
                "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
            }
            Revocable::Agent(_) => {
                "UPDATE agents SET revoked_at = $1 WHERE agent_id = $2 AND revoked_at IS NULL"
            }
        }
    }

    fn bind_key<'q>(self, q: Query<'q, Db, AnyArguments<'q>>) -> Query<'q, Db, AnyArguments<'q>> {
        match self {
            Revocable::SiteToken(id) => q.bind(id),
            Revocable::Agent(agent_id) => q.bind(agent_id.to_string()),
        }
    }

    /// Its revocation, in entity `entity_id`.
    fn revocation(self, entity_id: i64) -> Change {
        let (action, target) = match self {
            Revocable::SiteToken(id) => ("site_token.revoke", format!("token:{id}")),
            Revocable::Agent(agent_id) => ("agent.revoke", format!("agent:{agent_id}")),
        };
        Change {
            action: action.into(),
            entity_id: Some(entity_id),
            target,
            details: json!({}),
        }
    }
}

/// Whether two networks share at least one address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A subnet as admins type it: an address with its prefix, the host bits zero (a typo in
/// the prefix length is likelier than a wish to place one host).
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let net: IpNet = text.parse().map_err(|_| {
        format!("{text:?} is not a CIDR subnet (e.g. 10.1.0.0/16 or 2001:db8::/48)")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set; the subnet is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A display name: trimmed, 1..=128 printable characters.
pub fn check_name(what: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(format!(
            "{what} name must have 1 to 128 printable characters"
        )));
    }
    Ok(name.to_string())
}

const ENTITY_COLUMNS: &str = "id, name, created_at FROM entities";

fn entity_row(r: &DbRow) -> Entity {
    Entity {
        id: r.get(0),
        name: r.get(1),
        created_at: r.get(2),
    }
}

async fn entity_in(conn: &mut DbConn, id: i64) -> Result<Option<Entity>, sqlx::Error> {
    Ok(
        sqlx::query(&format!("SELECT {ENTITY_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(entity_row),
    )
}

const SITE_COLUMNS: &str =
    "s.id, s.name, s.entity_id, e.name, s.created_at FROM sites s JOIN entities e ON e.id = s.entity_id";

fn site_row(r: &DbRow) -> SiteInfo {
    SiteInfo {
        id: r.get(0),
        name: r.get(1),
        entity_id: r.get(2),
        entity: r.get(3),
        created_at: r.get(4),
    }
}

async fn site_in(conn: &mut DbConn, id: i64) -> Result<Option<SiteInfo>, sqlx::Error> {
    Ok(
        sqlx::query(&format!("SELECT {SITE_COLUMNS} WHERE s.id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(site_row),
    )
}

const SUBNET_COLUMNS: &str = "n.id, n.cidr, n.site_id, s.name, s.entity_id, n.name, n.created_at
    FROM subnets n JOIN sites s ON s.id = n.site_id";

fn subnet_row(r: &DbRow) -> Subnet {
    Subnet {
        id: r.get(0),
        cidr: r.get(1),
        site_id: r.get(2),
        site: r.get(3),
        entity_id: r.get(4),
        name: r.get(5),
        created_at: r.get(6),
    }
}

fn referential_row(r: &DbRow) -> Referential {
    Referential {
        id: r.get(0),
        name: r.get(1),
        site_id: r.get(2),
        created_at: r.get(3),
    }
}

async fn referential_in(
    conn: &mut DbConn,
    kind: RefKind,
    id: i64,
) -> Result<Option<Referential>, sqlx::Error> {
    Ok(
        sqlx::query(&format!("SELECT {} WHERE id = $1", kind.select()))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .as_ref()
            .map(referential_row),
    )
}

fn taken(what: &str, name: &str) -> ApiError {
    ApiError::Conflict(format!("a {what} named {name:?} already exists"))
}

/// Refuses (409) `name` when a row of `table` other than `except` already has it.
async fn ensure_name_free(
    conn: &mut DbConn,
    table: Table,
    name: &str,
    except: i64,
) -> Result<(), ApiError> {
    let other: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM {} WHERE name = $1 AND id <> $2",
        table.name()
    ))
    .bind(name)
    .bind(except)
    .fetch_optional(&mut *conn)
    .await?;
    match other {
        Some(_) => Err(taken(table.noun(), name)),
        None => Ok(()),
    }
}

async fn set_name_in(
    conn: &mut DbConn,
    table: Table,
    id: i64,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {} SET name = $1 WHERE id = $2",
        table.name()
    ))
    .bind(name)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn delete_in(conn: &mut DbConn, table: Table, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DELETE FROM {} WHERE id = $1", table.name()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The entity owning a token or an agent, or None when there is no such thing.
async fn owner_in(conn: &mut DbConn, item: Revocable) -> Result<Option<i64>, sqlx::Error> {
    Ok(item
        .bind_key(sqlx::query(item.owner_sql()))
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.get(0)))
}

/// What the audit log records of one change.
struct Change {
    action: String,
    entity_id: Option<i64>,
    target: String,
    details: Value,
}

impl Change {
    /// Records the change in the audit log and commits it: the change and its record stand or
    /// fall together.
    async fn commit(self, mut w: WriteTx, actor: &Principal) -> Result<(), sqlx::Error> {
        let Change {
            action,
            entity_id,
            target,
            details,
        } = self;
        audit::record(&mut w.tx, actor, &action, entity_id, &target, &details).await?;
        w.commit().await
    }
}

impl Store {
    /// The entity owning an asset (through its site), or None when there is no such asset.
    pub async fn asset_entity(&self, asset_id: i64) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT s.entity_id FROM assets a JOIN sites s ON s.id = a.site_id WHERE a.id = $1",
        )
        .bind(asset_id)
        .fetch_optional(self.pool())
        .await
    }

    /// The rows of `select` (columns and FROM) whose entity, in `entity_column`, `scope`
    /// lets the caller see, ordered by `order`.
    async fn list_scoped<T>(
        &self,
        scope: &Scope,
        select: &str,
        entity_column: &str,
        order: &str,
        row: fn(&DbRow) -> T,
    ) -> Result<Vec<T>, sqlx::Error> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {select} WHERE 1 = 1"));
        scope.push_entity_filter(&mut q, entity_column);
        q.push(" ORDER BY ");
        q.push(order);
        Ok(q.build()
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(row)
            .collect())
    }

    // ---- entities

    pub async fn list_entities(&self, scope: &Scope) -> Result<Vec<Entity>, sqlx::Error> {
        self.list_scoped(scope, ENTITY_COLUMNS, "id", "name", entity_row)
            .await
    }

    pub async fn entity(&self, id: i64) -> Result<Option<Entity>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        entity_in(&mut conn, id).await
    }

    pub async fn create_entity(&self, actor: &Principal, name: &str) -> Result<Entity, ApiError> {
        let t = Table::Entities;
        let name = check_name(t.noun(), name)?;
        let mut w = self.write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO entities (name, created_at) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&name)
        .bind(ts(Utc::now()))
        .fetch_optional(&mut *w.tx)
        .await?;
        let id = id.ok_or_else(|| taken(t.noun(), &name))?;
        let e = entity_in(&mut w.tx, id).await?.expect("just created");
        let details = json!({"name": name});
        t.change("create", id, Some(id), details)
            .commit(w, actor)
            .await?;
        Ok(e)
    }

    pub async fn rename_entity(
        &self,
        actor: &Principal,
        id: i64,
        name: &str,
    ) -> Result<Option<Entity>, ApiError> {
        let t = Table::Entities;
        let name = check_name(t.noun(), name)?;
        let mut w = self.write().await?;
        let Some(old) = entity_in(&mut w.tx, id).await? else {
            return Ok(None);
        };
        ensure_name_free(&mut w.tx, t, &name, id).await?;
        set_name_in(&mut w.tx, t, id, &name).await?;
        let e = entity_in(&mut w.tx, id).await?;
        let details = json!({"from": old.name, "to": name});
        t.change("rename", id, Some(id), details)
            .commit(w, actor)
            .await?;
        Ok(e)
    }

    /// Deletes an entity that owns no site; Ok(false) when there is no such entity.
    pub async fn delete_entity(&self, actor: &Principal, id: i64) -> Result<bool, ApiError> {
        let t = Table::Entities;
        let mut w = self.write().await?;
        let Some(old) = entity_in(&mut w.tx, id).await? else {
            return Ok(false);
        };
        let sites: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sites WHERE entity_id = $1")
            .bind(id)
            .fetch_one(&mut *w.tx)
            .await?;
        if sites > 0 {
            return Err(ApiError::Conflict(format!(
                "entity {:?} still owns {sites} site(s): move or delete them first",
                old.name
            )));
        }
        sqlx::query("DELETE FROM user_roles WHERE entity_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        delete_in(&mut w.tx, t, id).await?;
        let details = json!({"name": old.name});
        t.change("delete", id, Some(id), details)
            .commit(w, actor)
            .await?;
        Ok(true)
    }

    // ---- sites

    pub async fn list_sites(&self, scope: &Scope) -> Result<Vec<SiteInfo>, sqlx::Error> {
        self.list_scoped(scope, SITE_COLUMNS, "s.entity_id", "s.name", site_row)
            .await
    }

    pub async fn site(&self, id: i64) -> Result<Option<SiteInfo>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        site_in(&mut conn, id).await
    }

    pub async fn create_site(
        &self,
        actor: &Principal,
        name: &str,
        entity_id: i64,
    ) -> Result<SiteInfo, ApiError> {
        let t = Table::Sites;
        let name = check_site_name(name)
            .map_err(ApiError::Unprocessable)?
            .to_string();
        let mut w = self.write().await?;
        if entity_in(&mut w.tx, entity_id).await?.is_none() {
            return Err(ApiError::Unprocessable(format!(
                "no entity with id {entity_id}"
            )));
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO sites (name, created_at, entity_id) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(&name)
        .bind(ts(Utc::now()))
        .bind(entity_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let id = id.ok_or_else(|| taken(t.noun(), &name))?;
        let s = site_in(&mut w.tx, id).await?.expect("just created");
        let details = json!({"name": name, "entity_id": entity_id});
        t.change("create", id, Some(entity_id), details)
            .commit(w, actor)
            .await?;
        Ok(s)
    }

    /// Renames a site and/or moves it to another entity (the caller checked the actor is admin
    /// of both). Moving refuses when the site's subnets overlap the new entity's.
    pub async fn update_site(
        &self,
        actor: &Principal,
        id: i64,
        name: Option<&str>,
        entity_id: Option<i64>,
    ) -> Result<Option<SiteInfo>, ApiError> {
        let t = Table::Sites;
        let name = name
            .map(|n| check_site_name(n).map(str::to_string))
            .transpose()
            .map_err(ApiError::Unprocessable)?;
        let mut w = self.write().await?;
        let Some(old) = site_in(&mut w.tx, id).await? else {
            return Ok(None);
        };
        if let Some(name) = &name {
            ensure_name_free(&mut w.tx, t, name, id).await?;
            set_name_in(&mut w.tx, t, id, name).await?;
        }
        if let Some(e) = entity_id.filter(|e| *e != old.entity_id) {
            if entity_in(&mut w.tx, e).await?.is_none() {
                return Err(ApiError::Unprocessable(format!("no entity with id {e}")));
            }
            let mine = subnets_where(&mut w.tx, "n.site_id = $1", id).await?;
            let theirs = subnets_where(&mut w.tx, "s.entity_id = $1", e).await?;
            for a in &mine {
                if let Some(b) = first_overlap(&a.cidr, &theirs) {
                    return Err(ApiError::Unprocessable(format!(
                        "subnet {} of this site overlaps {} of site {:?} in that entity",
                        a.cidr, b.cidr, b.site
                    )));
                }
            }
            sqlx::query("UPDATE sites SET entity_id = $1 WHERE id = $2")
                .bind(e)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        let new = site_in(&mut w.tx, id).await?.expect("exists");
        let details = json!({"from": {"name": old.name, "entity_id": old.entity_id},
                             "to": {"name": new.name, "entity_id": new.entity_id}});
        t.change("update", id, Some(new.entity_id), details)
            .commit(w, actor)
            .await?;
        Ok(Some(new))
    }

    /// Deletes a site that nothing refers to (assets, tokens, agents, documents, subnets).
    pub async fn delete_site(&self, actor: &Principal, id: i64) -> Result<bool, ApiError> {
        let t = Table::Sites;
        let mut w = self.write().await?;
        let Some(old) = site_in(&mut w.tx, id).await? else {
            return Ok(false);
        };
        for (table, what) in [
            ("assets", "assets"),
            ("tokens", "agent tokens"),
            ("agents", "enrolled agents"),
            ("documents", "received documents"),
            ("subnets", "subnets"),
        ] {
            let n: i64 =
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE site_id = $1"))
                    .bind(id)
                    .fetch_one(&mut *w.tx)
                    .await?;
            if n > 0 {
                return Err(ApiError::Conflict(format!(
                    "site {:?} still has {n} {what}",
                    old.name
                )));
            }
        }
        sqlx::query("UPDATE locations SET site_id = NULL WHERE site_id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        delete_in(&mut w.tx, t, id).await?;
        let details = json!({"name": old.name});
        t.change("delete", id, Some(old.entity_id), details)
            .commit(w, actor)
            .await?;
        Ok(true)
    }

    // ---- subnets

    pub async fn list_subnets(&self, scope: &Scope) -> Result<Vec<Subnet>, sqlx::Error> {
        self.list_scoped(
            scope,
            SUBNET_COLUMNS,
            "s.entity_id",
            "s.name, n.cidr",
            subnet_row,
        )
        .await
    }

    pub async fn subnet(&self, id: i64) -> Result<Option<Subnet>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        Ok(subnets_where(&mut conn, "n.id = $1", id).await?.pop())
    }

    /// Adds a subnet to a site; refuses (422) one that overlaps another subnet of the site's
    /// entity, naming it.
    pub async fn create_subnet(
        &self,
        actor: &Principal,
        cidr: &IpNet,
        site_id: i64,
        name: Option<&str>,
    ) -> Result<Subnet, ApiError> {
        let t = Table::Subnets;
        let name = name.map(|n| check_name(t.noun(), n)).transpose()?;
        let mut w = self.write().await?;
        let Some(site) = site_in(&mut w.tx, site_id).await? else {
            return Err(ApiError::Unprocessable(format!(
                "no site with id {site_id}"
            )));
        };
        let existing = subnets_where(&mut w.tx, "s.entity_id = $1", site.entity_id).await?;
        if let Some(b) = first_overlap(&cidr.to_string(), &existing) {
            return Err(ApiError::Unprocessable(format!(
                "{cidr} overlaps subnet {} of site {:?} in the same entity",
                b.cidr, b.site
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO subnets (cidr, site_id, name, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(cidr.to_string())
        .bind(site_id)
        .bind(&name)
        .bind(ts(Utc::now()))
        .fetch_one(&mut *w.tx)
        .await?;
        let s = subnets_where(&mut w.tx, "n.id = $1", id)
            .await?
            .pop()
            .expect("just created");
        let details = json!({"cidr": cidr.to_string(), "site_id": site_id, "name": name});
        t.change("create", id, Some(site.entity_id), details)
            .commit(w, actor)
            .await?;
        Ok(s)
    }

    pub async fn delete_subnet(&self, actor: &Principal, id: i64) -> Result<bool, ApiError> {
        let t = Table::Subnets;
        let mut w = self.write().await?;
        let Some(old) = subnets_where(&mut w.tx, "n.id = $1", id).await?.pop() else {
            return Ok(false);
        };
        delete_in(&mut w.tx, t, id).await?;
        let details = json!({"cidr": old.cidr, "site_id": old.site_id});
        t.change("delete", id, Some(old.entity_id), details)
            .commit(w, actor)
            .await?;
        Ok(true)
    }

    // ---- departments and locations

    pub async fn list_referentials(&self, kind: RefKind) -> Result<Vec<Referential>, sqlx::Error> {
        Ok(
            sqlx::query(&format!("SELECT {} ORDER BY name", kind.select()))
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(referential_row)
                .collect(),
        )
    }

    /// Creates (id None) or updates a department or location.
    pub async fn save_referential(
        &self,
        actor: &Principal,
        kind: RefKind,
        id: Option<i64>,
        name: &str,
        site_id: Option<i64>,
    ) -> Result<Option<Referential>, ApiError> {
        let t = kind.table();
        let name = check_name(t.noun(), name)?;
        let mut w = self.write().await?;
        if let Some(s) = site_id {
            if site_in(&mut w.tx, s).await?.is_none() {
                return Err(ApiError::Unprocessable(format!("no site with id {s}")));
            }
        }
        ensure_name_free(&mut w.tx, t, &name, id.unwrap_or(0)).await?;
        let (id, verb) = match id {
            Some(id) => {
                if referential_in(&mut w.tx, kind, id).await?.is_none() {
                    return Ok(None);
                }
                set_name_in(&mut w.tx, t, id, &name).await?;
                (id, "update")
            }
            None => {
                let id: i64 = sqlx::query_scalar(&format!(
                    "INSERT INTO {} (name, created_at) VALUES ($1, $2) RETURNING id",
                    t.name()
                ))
                .bind(&name)
                .bind(ts(Utc::now()))
                .fetch_one(&mut *w.tx)
                .await?;
                (id, "create")
            }
        };
        if kind == RefKind::Location {
            sqlx::query("UPDATE locations SET site_id = $1 WHERE id = $2")
                .bind(site_id)
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        let r = referential_in(&mut w.tx, kind, id).await?;
        let details = json!({"name": name, "site_id": site_id});
        t.change(verb, id, None, details).commit(w, actor).await?;
        Ok(r)
    }

    pub async fn delete_referential(
        &self,
        actor: &Principal,
        kind: RefKind,
        id: i64,
    ) -> Result<bool, ApiError> {
        let t = kind.table();
        let mut w = self.write().await?;
        let Some(old) = referential_in(&mut w.tx, kind, id).await? else {
            return Ok(false);
        };
        delete_in(&mut w.tx, t, id).await.map_err(|e| match &e {
            // Referenced by assets' manual fields (a foreign key of another module).
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                ApiError::Conflict(format!("{} {:?} is still in use", t.noun(), old.name))
            }
            _ => ApiError::from(e),
        })?;
        let details = json!({"name": old.name});
        t.change("delete", id, None, details)
            .commit(w, actor)
            .await?;
        Ok(true)
    }

    // ---- site tokens and agents

    async fn owner(&self, item: Revocable) -> Result<Option<i64>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        owner_in(&mut conn, item).await
    }

    /// Revokes a token or an agent (idempotent: only the first revocation is audited);
    /// false when there is no such thing.
    async fn revoke(&self, actor: &Principal, item: Revocable) -> Result<bool, ApiError> {
        let mut w = self.write().await?;
        let Some(entity) = owner_in(&mut w.tx, item).await? else {
            return Ok(false);
        };
        let n = item
            .bind_key(sqlx::query(item.revoke_sql()).bind(ts(Utc::now())))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if n > 0 {
            item.revocation(entity).commit(w, actor).await?;
            self.valid_tokens.forget_all();
        } else {
            w.commit().await?;
        }
        Ok(true)
    }

    /// The entity of a site token's site, or None when there is no such token.
    pub async fn site_token_entity(&self, token_id: i64) -> Result<Option<i64>, sqlx::Error> {
        self.owner(Revocable::SiteToken(token_id)).await
    }

    /// A new agent token for an existing site; returns its id and the token, shown only now.
    pub async fn create_site_token(
        &self,
        actor: &Principal,
        site: &SiteInfo,
    ) -> Result<(i64, String), ApiError> {
        let token = generate_token();
        let mut w = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (site_id, hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(site.id)
        .bind(hash_token(&token))
        .bind(ts(Utc::now()))
        .fetch_one(&mut *w.tx)
        .await?;
        let created = Change {
            action: "site_token.create".into(),
            entity_id: Some(site.entity_id),
            target: format!("token:{id}"),
            details: json!({"site_id": site.id, "site": site.name}),
        };
        created.commit(w, actor).await?;
        Ok((id, token))
    }

    /// Revokes a site token (idempotent); false when there is no such token.
    pub async fn revoke_site_token(&self, actor: &Principal, id: i64) -> Result<bool, ApiError> {
        self.revoke(actor, Revocable::SiteToken(id)).await
    }

    /// The entity of an enrolled agent's site, or None when it never enrolled.
    pub async fn agent_entity(&self, agent_id: Uuid) -> Result<Option<i64>, sqlx::Error> {
        self.owner(Revocable::Agent(agent_id)).await
    }

    /// Revokes an enrolled agent (idempotent), audited; false when it never enrolled.
    pub async fn revoke_agent_by(
        &self,
        actor: &Principal,
        agent_id: Uuid,
    ) -> Result<bool, ApiError> {
        self.revoke(actor, Revocable::Agent(agent_id)).await
    }
}

async fn subnets_where(
    conn: &mut DbConn,
    condition: &str,
    value: i64,
) -> Result<Vec<Subnet>, sqlx::Error> {
    Ok(sqlx::query(&format!(
        "SELECT {SUBNET_COLUMNS} WHERE {condition} ORDER BY n.id"
    ))
    .bind(value)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(subnet_row)
    .collect())
}

/// The first of `existing` overlapping `cidr`. Stored CIDRs were checked on the way in; one that
/// no longer parses is skipped rather than blocking every new subnet.
fn first_overlap<'a>(cidr: &str, existing: &'a [Subnet]) -> Option<&'a Subnet> {
    let net: IpNet = cidr.parse().ok()?;
    existing.iter().find(|s| {
        s.cidr
            .parse::<IpNet>()
            .is_ok_and(|other| overlaps(&net, &other))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_strictly() {
        assert_eq!(
            parse_cidr(" 10.1.0.0/16 ").unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(
            parse_cidr("2001:db8::/48").unwrap().to_string(),
            "2001:db8::/48"
        );
        assert!(parse_cidr("10.1.2.3/16")
            .unwrap_err()
            .contains("10.1.0.0/16"));
        assert!(parse_cidr("10.1.0.0").is_err());
        assert!(parse_cidr("10.1.0.0/33").is_err());
        assert!(parse_cidr("chu-nord").is_err());
    }

    #[test]
    fn overlap_table() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        let table = [
            ("10.0.0.0/8", "10.1.0.0/16", true),
            ("10.1.0.0/16", "10.0.0.0/8", true),
            ("10.1.0.0/16", "10.2.0.0/16", false),
            ("10.1.0.0/24", "10.1.0.0/24", true),
            ("10.1.0.0/24", "10.1.1.0/24", false),
            ("10.1.0.0/23", "10.1.1.0/24", true),
            ("2001:db8::/32", "2001:db8:1::/48", true),
            ("10.0.0.0/8", "::/0", false),
        ];
        for (a, b, expected) in table {
            assert_eq!(overlaps(&n(a), &n(b)), expected, "{a} {b}");
        }
    }

    proptest::proptest! {
        #[test]
        fn overlap_is_symmetric_and_means_a_shared_address(
            a in proptest::prelude::any::<u32>(), la in 8u8..=32,
            b in proptest::prelude::any::<u32>(), lb in 8u8..=32,
        ) {
            let na = IpNet::V4(ipnet::Ipv4Net::new(a.into(), la).unwrap()).trunc();
            let nb = IpNet::V4(ipnet::Ipv4Net::new(b.into(), lb).unwrap()).trunc();
            proptest::prop_assert_eq!(overlaps(&na, &nb), overlaps(&nb, &na));
            // Networks overlap exactly when the longer prefix's network lies in the shorter.
            let (short, long) = if la <= lb { (na, nb) } else { (nb, na) };
            proptest::prop_assert_eq!(overlaps(&na, &nb), short.contains(&long.network()));
        }
    }
}
