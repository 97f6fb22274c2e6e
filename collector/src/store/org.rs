//! The organisation: entities own sites, subnets place addresses in sites; the group-wide
//! referentials (departments, locations).

use super::Store;

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
}
