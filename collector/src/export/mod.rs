//! Exports: the CMDB in formats other tools read.
//!
//! - [`csv`]: asset lists as CSV (stable columns, formula cells defused).
//! - [`glpi`]: one computer as a GLPI native inventory document (pure mapping).
//! - here: the export formats of a list, the JSON array written batch by batch, and the read of
//!   what a GLPI document is made of.
//!
//! The HTTP side (streaming, headers) is in `http::export`.

pub mod csv;
pub mod glpi;

use chrono::{DateTime, Utc};
use parc_shared::inventory::Software;
use parc_shared::{Inventory, SourceKind};
use sqlx::Row;

use crate::store::assets::AssetSummary;
use crate::store::Store;

/// Output format of a list export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `format=` of the query; CSV when absent.
    pub fn parse(raw: Option<&str>) -> Result<Format, String> {
        match raw.map(str::trim) {
            None | Some("") => Ok(Format::Csv),
            Some(f) if f.eq_ignore_ascii_case("csv") => Ok(Format::Csv),
            Some(f) if f.eq_ignore_ascii_case("json") => Ok(Format::Json),
            Some(other) => Err(format!(
                "format must be csv or json, not {:?}",
                other.chars().take(32).collect::<String>()
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    /// One batch of an export. `first` and `last` say where the batch sits, so that the
    /// concatenation of all batches is one CSV file (one header) or one JSON array.
    pub fn encode(self, assets: &[AssetSummary], first: bool, last: bool) -> Vec<u8> {
        match self {
            Format::Csv => csv::encode(assets, first),
            Format::Json => json_chunk(assets, first, last),
        }
    }
}

fn json_chunk(assets: &[AssetSummary], first: bool, last: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(assets.len() * 400 + 2);
    if first {
        out.push(b'[');
    }
    for (i, a) in assets.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, a).expect("summary serialises");
    }
    if last {
        out.extend_from_slice(b"]\n");
    }
    out
}

/// What a GLPI document of an asset is made of.
#[derive(Debug, Clone)]
pub struct ComputerRecord {
    pub asset_id: i64,
    pub name: Option<String>,
    pub kind: String,
    pub site: String,
    /// The agent whose inventory is stored, the latest to report when several did.
    pub agent_id: Option<String>,
    /// None for assets only sweeps or SNMP have seen, or whose stored facts are unreadable.
    pub inventory: Option<Inventory>,
    pub software: Vec<Software>,
}

impl ComputerRecord {
    pub fn glpi(&self) -> Option<serde_json::Value> {
        let inventory = self.inventory.as_ref()?;
        Some(glpi::computer(&glpi::Computer {
            asset_id: self.asset_id,
            name: self.name.as_deref(),
            site: &self.site,
            agent_id: self.agent_id.as_deref(),
            inventory,
            software: &self.software,
        }))
    }
}

// Read-only queries kept beside their one user while the store module is being reworked for
// SNMP; they belong in `store::assets` once that settles.
impl Store {
    /// The asset `id` with its agent facts and software, or None when there is no such asset.
    pub async fn computer_record(&self, id: i64) -> Result<Option<ComputerRecord>, sqlx::Error> {
        let Some(row) = sqlx::query(
            "SELECT a.name, a.kind, s.name, a.facts
             FROM assets a JOIN sites s ON s.id = a.site_id WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let facts: Option<String> = row.get(3);
        let inventory = facts.as_deref().and_then(|t| {
            serde_json::from_str::<Inventory>(t)
                .map_err(|e| tracing::warn!(asset_id = id, error = %e, "stored facts unreadable"))
                .ok()
        });
        let agent_id: Option<String> = sqlx::query_scalar(
            "SELECT agent_id FROM sources WHERE asset_id = $1 AND kind = $2
             ORDER BY last_seen DESC, id DESC LIMIT 1",
        )
        .bind(id)
        .bind(SourceKind::AgentInventory.as_str())
        .fetch_optional(self.pool())
        .await?;
        let software = if inventory.is_some() {
            crate::store::software::load(self.pool(), id)
                .await?
                .into_iter()
                .map(|r| Software {
                    name: r.name,
                    version: r.version,
                    arch: r.arch,
                    publisher: r.publisher,
                    size_bytes: r.size_bytes.and_then(|n| u64::try_from(n).ok()),
                    install_date: r
                        .install_date
                        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.with_timezone(&Utc)),
                    source: r.source,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some(ComputerRecord {
            asset_id: id,
            name: row.get(0),
            kind: row.get(1),
            site: row.get(2),
            agent_id,
            inventory,
            software,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: i64) -> AssetSummary {
        AssetSummary {
            id,
            name: Some(format!("pc-{id}")),
            kind: "computer".into(),
            site: "s".into(),
            serial: None,
            uuid: None,
            manufacturer: None,
            model: None,
            os: None,
            ip_addresses: vec![],
            mac_addresses: vec![],
            first_seen: "t".into(),
            last_seen: "t".into(),
            entity_id: 1,
            entity: "Default".into(),
        }
    }

    #[test]
    fn formats() {
        for (raw, want) in [
            (None, Ok(Format::Csv)),
            (Some(""), Ok(Format::Csv)),
            (Some("csv"), Ok(Format::Csv)),
            (Some("JSON"), Ok(Format::Json)),
            (Some("xlsx"), Err(())),
        ] {
            assert_eq!(Format::parse(raw).map_err(|_| ()), want, "{raw:?}");
        }
        assert!(Format::parse(Some("xml"))
            .unwrap_err()
            .contains("csv or json"));
    }

    /// Whatever the batch boundaries, the chunks concatenate to one JSON array of every asset.
    #[test]
    fn json_chunks_concatenate_to_one_array() {
        let all: Vec<AssetSummary> = (1..=5).map(asset).collect();
        for batches in [
            vec![&all[..0]],
            vec![&all[..]],
            vec![&all[..2], &all[2..4], &all[4..]],
            vec![&all[..5], &all[5..]],
            vec![&all[..1], &all[1..]],
        ] {
            let n = batches.len();
            let bytes: Vec<u8> = batches
                .iter()
                .enumerate()
                .flat_map(|(i, b)| Format::Json.encode(b, i == 0, i + 1 == n))
                .collect();
            let v: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
            let ids: Vec<i64> = v.iter().map(|a| a["id"].as_i64().unwrap()).collect();
            let want: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.iter().map(|a| a.id))
                .collect();
            assert_eq!(ids, want);
        }
    }
}
