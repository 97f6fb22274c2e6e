//! The CMDB on SQLite, through sqlx. Nothing else reads or writes the database.
//!
//! - [`tokens`]: sites and agent tokens (only hashes are stored).
//! - [`agents`]: enrolled agents' public keys and their revocation.
//! - [`inventory`]: applying an agent inventory: replay check, merge lookup, writes, history.
//! - [`discovery`]: applying a sweep: each host merged by MAC, then address, else created.
//! - [`snmp`]: applying an SNMP device: merge, identification, switch port placements,
//!   LLDP/CDP links, MACs from routers' ARP tables.
//! - [`org`]: entities, sites, subnets, departments, locations.
//! - [`users`]: users, roles, sessions, API tokens.
//! - [`assets`]: the read side (lists, details, history) the API serves.
//! - [`lifecycle`]: manual fields and state of an asset, and the detail that explains it.
//! - [`operations`]: merge, split and undo (snapshots of every row they touch).
//! - [`reports`]: unmanaged devices, silent agents, stale assets.
//!
//! Writes go through [`Store::write`]: one `BEGIN IMMEDIATE` transaction per document, so the
//! replay check, the merge lookup and every write commit together or not at all, and two
//! documents for the same machine cannot both decide "new asset". `BEGIN IMMEDIATE` takes
//! SQLite's write lock up front; a deferred transaction would read first and could then fail to
//! upgrade (SQLITE_BUSY) after deciding on stale data. An in-process mutex in front of it queues
//! this collector's writers fairly instead of letting them spin in SQLite's busy handler; other
//! processes (the `token` CLI) are still kept out by the transaction itself. PostgreSQL, later,
//! needs a different serialisation (an advisory lock per site, or SERIALIZABLE plus retry).

pub mod agents;
pub mod assets;
pub mod dashboard;
pub mod discovery;
pub mod inventory;
pub mod lifecycle;
pub mod operations;
pub mod org;
pub mod reports;
pub mod snmp;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// The database driver every store module is written against. Store code names these aliases,
/// never a driver's own types, binds only types every driver has (integers, floats, bools,
/// strings, bytes; timestamps as [`ts`] text) and writes `$1`-style placeholders, so that
/// one body of SQL serves SQLite and PostgreSQL.
pub type Db = Sqlite;
pub type DbPool = sqlx::Pool<Db>;
pub type DbConn = <Db as sqlx::Database>::Connection;
pub type DbRow = <Db as sqlx::Database>::Row;
use tokio::sync::{Mutex, OwnedMutexGuard};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a writer waits for another process holding SQLite's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Held for the whole of a write transaction; see the module docs.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction and the in-process write lock it holds. Dropped without
/// [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    pub tx: Transaction<'static, Sqlite>,
    _guard: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Store {
    /// Opens (creating the file if needed) and migrates the database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        if url.starts_with("postgres") {
            bail!("{url}: PostgreSQL is not supported by this collector yet; use sqlite://PATH");
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid database URL {url:?}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL cannot corrupt the database; a power cut can lose the last
            // commits, which the agents' next inventories (full snapshots) restore.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open database {url}"))?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate database {url}"))?;
        Ok(Store {
            pool,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = self.write_lock.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _guard: guard })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Timestamps are stored as RFC 3339 UTC with microseconds, always the same width, so that
/// comparing the text compares the instants.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// When a document's facts count as observed: as the agent says, but never later than their
/// arrival. A PC whose clock runs years ahead would otherwise set last_seen in the future and,
/// through the stale-document check, freeze its own facts until that date.
pub fn observed_at(claimed: DateTime<Utc>, received: DateTime<Utc>) -> DateTime<Utc> {
    claimed.min(received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let c = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(ts(a), "2026-01-02T03:04:05.000000Z");
        assert!(ts(a) < ts(b) && ts(b) < ts(c));
    }

    #[test]
    fn future_observations_are_clamped_to_arrival() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap();
        let past = now - chrono::Duration::hours(3);
        let future = now + chrono::Duration::days(900);
        assert_eq!(observed_at(past, now), past);
        assert_eq!(observed_at(future, now), now);
    }
}
