//! Read endpoints for assets. Lists show the caller's entities only; one asset of another
//! entity answers 404, exactly as a missing one.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::store::assets::{AssetFilter, AssetPage, Sort, MAX_PER_PAGE};
use crate::store::dashboard::Cutoffs;
use crate::store::ts;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    site: Option<String>,
    /// Entity id or name.
    entity: Option<String>,
    kind: Option<String>,
    os: Option<String>,
    vendor: Option<String>,
    state: Option<String>,
    /// `YYYY-MM-DD` (midnight UTC) or RFC 3339, like the other instants.
    seen_since: Option<String>,
    seen_before: Option<String>,
    first_seen_since: Option<String>,
    /// `true` or `false`.
    unmanaged: Option<String>,
    /// `reporting` or `silent` (as on the dashboard).
    agent: Option<String>,
    /// A column of `store::assets::SORT_COLUMNS`, `-` first for descending.
    sort: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// An instant as stored ([`ts`]) from a date or an RFC 3339 time.
fn instant(name: &str, text: &str) -> Result<String, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(ts(day.and_time(NaiveTime::MIN).and_utc()));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| ts(t.with_timezone(&Utc)))
        .map_err(|_| {
            format!("{name} must be a date (YYYY-MM-DD) or an RFC 3339 time, not {text:?}")
        })
}

/// Checks a list query; empty parameters mean "no filter".
pub fn check_query(q: ListQuery) -> Result<AssetFilter, String> {
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err("page starts at 1".into());
    }
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(format!(
            "per_page must be between 1 and {MAX_PER_PAGE}, not {per_page}"
        ));
    }
    let when = |name: &str, v: Option<String>| nonempty(v).map(|v| instant(name, &v)).transpose();
    let unmanaged = match nonempty(q.unmanaged).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(format!("unmanaged must be true or false, not {other:?}")),
    };
    let cut = Cutoffs::at(Utc::now());
    let (reported_since, reported_before) = match nonempty(q.agent).as_deref() {
        None => (None, None),
        Some("reporting") => (Some(cut.reporting_since), None),
        Some("silent") => (None, Some(cut.reporting_since)),
        Some(other) => return Err(format!("agent must be reporting or silent, not {other:?}")),
    };
    let filter = AssetFilter {
        q: nonempty(q.q),
        site: nonempty(q.site),
        entity: nonempty(q.entity),
        scope: None,
        kind: nonempty(q.kind),
        os: nonempty(q.os),
        vendor: nonempty(q.vendor),
        state: nonempty(q.state),
        seen_since: when("seen_since", q.seen_since)?,
        seen_before: when("seen_before", q.seen_before)?,
        first_seen_since: when("first_seen_since", q.first_seen_since)?,
        unmanaged,
        reported_since,
        reported_before,
        sort: nonempty(q.sort)
            .map(|s| Sort::parse(&s))
            .transpose()?
            .unwrap_or_default(),
        page,
        per_page,
    };
    for (name, value) in [
        ("q", &filter.q),
        ("site", &filter.site),
        ("entity", &filter.entity),
        ("kind", &filter.kind),
        ("os", &filter.os),
        ("vendor", &filter.vendor),
        ("state", &filter.state),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return Err(format!("{name} is longer than 256 characters"));
        }
    }
    Ok(filter)
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<AssetPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut filter = check_query(query).map_err(ApiError::BadRequest)?;
    filter.scope = Some(principal.scope(Role::Viewer));
    Ok(Json(state.store.list_assets(&filter).await?))
}

fn asset_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("asset id must be an integer".into()))
}

/// The entity of asset `id` when `principal` holds `need` there. An asset of an entity the
/// principal cannot read is 404, like a missing one; readable but below `need` is 403.
pub async fn asset_entity_for(
    state: &AppState,
    principal: &Principal,
    need: Role,
    id: i64,
) -> Result<i64, ApiError> {
    let entity = state
        .store
        .asset_entity(id)
        .await?
        .filter(|e| principal.can(Role::Viewer, *e))
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    principal.require(need, entity)?;
    Ok(entity)
}

pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = asset_id(id)?;
    asset_entity_for(&state, &principal, Role::Viewer, id).await?;
    state
        .store
        .asset_detail(id)
        .await?
        .map(|mut v| {
            super::manage::insert_stale(&mut v, state.lifecycle.stale_after_days);
            Json(v)
        })
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))
}

pub async fn history(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = asset_id(id)?;
    asset_entity_for(&state, &principal, Role::Viewer, id).await?;
    let items = state
        .store
        .asset_history(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no asset with id {id}")))?;
    Ok(Json(json!({"items": items})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: Option<u32>, per_page: Option<u32>, text: Option<&str>) -> ListQuery {
        ListQuery {
            q: text.map(str::to_string),
            site: None,
            entity: None,
            kind: Some(" ".into()),
            os: None,
            vendor: None,
            state: None,
            seen_since: None,
            seen_before: None,
            first_seen_since: None,
            unmanaged: None,
            agent: None,
            sort: None,
            page,
            per_page,
        }
    }

    #[test]
    fn list_filters_are_checked() {
        let mut query = q(None, None, None);
        query.seen_since = Some("2026-11-20".into());
        query.first_seen_since = Some("2026-11-20T10:00:00+01:00".into());
        query.unmanaged = Some("true".into());
        query.sort = Some("-last_seen".into());
        let f = check_query(query).unwrap();
        assert_eq!(f.seen_since.as_deref(), Some("2026-11-20T00:00:00.000000Z"));
        assert_eq!(
            f.first_seen_since.as_deref(),
            Some("2026-11-20T09:00:00.000000Z")
        );
        assert_eq!(f.unmanaged, Some(true));
        assert!(f.sort.descending);

        for (field, value, named) in [
            ("seen_before", "yesterday", "seen_before"),
            ("unmanaged", "yes", "unmanaged"),
            ("agent", "asleep", "agent"),
            ("sort", "password_hash", "cannot sort"),
        ] {
            let mut query = q(None, None, None);
            let v = Some(value.to_string());
            match field {
                "seen_before" => query.seen_before = v,
                "unmanaged" => query.unmanaged = v,
                "agent" => query.agent = v,
                _ => query.sort = v,
            }
            let e = check_query(query).unwrap_err();
            assert!(e.contains(named), "{field}={value}: {e}");
        }

        let mut silent = q(None, None, None);
        silent.agent = Some("silent".into());
        let f = check_query(silent).unwrap();
        assert!(f.reported_since.is_none() && f.reported_before.is_some());
    }

    #[test]
    fn list_queries() {
        let f = check_query(q(None, None, Some(" pc "))).unwrap();
        assert_eq!(
            (f.page, f.per_page, f.q.as_deref(), f.kind),
            (1, 50, Some("pc"), None)
        );
        assert!(check_query(q(Some(0), None, None))
            .unwrap_err()
            .contains("page"));
        assert!(check_query(q(None, Some(501), None))
            .unwrap_err()
            .contains("per_page"));
        assert!(check_query(q(None, Some(0), None)).is_err());
        assert_eq!(
            check_query(q(Some(3), Some(500), None)).unwrap().per_page,
            500
        );
    }
}
