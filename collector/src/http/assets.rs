//! Read endpoints for assets. Not authenticated for now (see the module map in `http`).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::error::ApiError;
use crate::store::assets::{AssetFilter, AssetPage, MAX_PER_PAGE};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    site: Option<String>,
    kind: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
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
    let filter = AssetFilter {
        q: nonempty(q.q),
        site: nonempty(q.site),
        kind: nonempty(q.kind),
        page,
        per_page,
    };
    for (name, value) in [
        ("q", &filter.q),
        ("site", &filter.site),
        ("kind", &filter.kind),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return Err(format!("{name} is longer than 256 characters"));
        }
    }
    Ok(filter)
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<AssetPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let filter = check_query(query).map_err(ApiError::BadRequest)?;
    Ok(Json(state.store.list_assets(&filter).await?))
}

fn asset_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    id.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("asset id must be an integer".into()))
}

pub async fn detail(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = asset_id(id)?;
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
    id: Result<Path<i64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = asset_id(id)?;
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
            kind: Some(" ".into()),
            page,
            per_page,
        }
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
