//! Migration 0008 on a database that already holds software as a row per package, on the
//! server the tests run on (SQLite, or PostgreSQL with PARC_TEST_POSTGRES=1): every asset's
//! rows become its sorted list, nothing is lost, and an asset without software gets no list.

use std::borrow::Cow;
use std::path::Path;

use parc_collector::store::software::{self, SoftwareRow};
use parc_collector::store::{Backend, Store};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

/// asset, name, version, publisher, size, install date: a row of the old `software` table.
type OldRow<'a> = (
    i64,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
);

#[tokio::test]
async fn software_rows_become_one_sorted_list_per_asset() {
    let dir = tempfile::tempdir().unwrap();
    let url = parc_collector::testing::database_url(dir.path());
    let backend = Backend::of_url(&url).unwrap();
    sqlx::any::install_default_drivers();
    let (connect, migrations) = match backend {
        Backend::Sqlite => (format!("{url}?mode=rwc"), "sqlite"),
        Backend::Postgres => (url.clone(), "postgres"),
    };
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(&connect)
        .await
        .unwrap();
    // The schema as it was before 0008.
    let mut before = Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(migrations),
    )
    .await
    .unwrap();
    let older: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < 8)
        .cloned()
        .collect();
    assert_eq!(older.len(), 7);
    before.migrations = Cow::Owned(older);
    before.run(&pool).await.unwrap();

    let t = "2026-11-23T08:00:00.000000Z";
    sqlx::query("INSERT INTO sites (id, name, created_at) VALUES (1, 'north', $1)")
        .bind(t)
        .execute(&pool)
        .await
        .unwrap();
    for id in [1i64, 2, 3] {
        sqlx::query(
            "INSERT INTO assets (id, site_id, kind, match_rule, first_seen, last_seen)
             VALUES ($1, 1, 'computer', 'serial', $2, $2)",
        )
        .bind(id)
        .bind(t)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Asset 1: three packages, inserted out of order; asset 2: one, with every field; 3: none.
    let rows: [OldRow; 4] = [
        (1, "zlib", Some("1.3"), None, None, None),
        (1, "curl", Some("8.5"), Some("Debian"), Some(1_234), None),
        (1, "curl", Some("7.88"), None, None, None),
        (
            2,
            "Firefox",
            Some("128.0"),
            Some("Mozilla"),
            Some(250_000_000),
            Some(t),
        ),
    ];
    for (asset, name, version, publisher, size, date) in rows {
        sqlx::query(
            "INSERT INTO software (asset_id, name, version, arch, publisher, size_bytes,
                install_date, source)
             VALUES ($1, $2, $3, NULL, $4, $5, $6, 'dpkg')",
        )
        .bind(asset)
        .bind(name)
        .bind(version)
        .bind(publisher)
        .bind(size)
        .bind(date)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&url, 2).await.unwrap();
    let row = |name: &str, version: &str, publisher: Option<&str>, size: Option<i64>| SoftwareRow {
        name: name.into(),
        version: Some(version.into()),
        arch: None,
        publisher: publisher.map(str::to_string),
        size_bytes: size,
        install_date: None,
        source: "dpkg".into(),
    };
    assert_eq!(
        software::load(store.pool(), 1).await.unwrap(),
        vec![
            row("curl", "7.88", None, None),
            row("curl", "8.5", Some("Debian"), Some(1_234)),
            row("zlib", "1.3", None, None),
        ]
    );
    let mut firefox = row("Firefox", "128.0", Some("Mozilla"), Some(250_000_000));
    firefox.install_date = Some(t.into());
    assert_eq!(
        software::load(store.pool(), 2).await.unwrap(),
        vec![firefox]
    );
    let lists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM asset_software")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(lists, 2, "asset 3 had no software and gets no list");
    let old_table = sqlx::query("SELECT 1 FROM software")
        .fetch_all(store.pool())
        .await;
    assert!(old_table.is_err(), "the per-package table is gone");
}
