//! The CMDB on SQLite, through sqlx. Nothing else reads or writes the database.
//!
//! - [`builder`]: [`QueryBuilder`], sqlx's dynamic query builder with `$N` placeholders.
//! - [`tokens`]: sites and agent tokens (only hashes are stored).
//! - [`agents`]: enrolled agents' public keys and their revocation.
//! - [`inventory`]: applying an agent inventory: replay check, merge lookup, writes, history.
//! - [`discovery`]: applying a sweep: each host merged by MAC, then address, else created.
//! - [`sweep_jobs`]: sweeps started from the web UI (queued, claimed by an agent, answered),
//!   the sweep list and a subnet's devices for the network view.
//! - [`software`]: an asset's installed software, stored as one sorted JSON list.
//! - [`snmp`]: applying an SNMP device: merge, identification, switch port placements,
//!   LLDP/CDP links, MACs from routers' ARP tables.
//! - [`org`]: entities, sites, subnets, departments, locations.
//! - [`users`]: users, roles, sessions, API tokens.
//! - [`assets`]: the read side (lists, details, history) the API serves.
//! - [`clones`]: agent ids reporting from two machines (cloned images): kept apart, listed.
//! - [`lifecycle`]: manual fields and state of an asset, and the detail that explains it.
//! - [`operations`]: merge, split and undo (snapshots of every row they touch).
//! - [`reports`]: unmanaged devices, silent agents, stale assets.
//! - `checkpoint`: SQLite's WAL copied into the database in the background, off the write lock.
//!
//! One body of SQL serves SQLite and PostgreSQL through sqlx's `Any` driver; the URL scheme
//! (`sqlite:` or `postgres:`/`postgresql:`) picks the driver and the migrations
//! (`migrations/sqlite` or `migrations/postgres`, same versions, same tables).
//!
//! Writes go through [`Store::write`]: one transaction per document, so the replay check, the
//! merge lookup and every write commit together or not at all, and two documents for the same
//! machine cannot both decide "new asset". Writers are serialised, not retried:
//!
//! - SQLite: `BEGIN IMMEDIATE` takes the write lock up front; a deferred transaction would read
//!   first and could then fail to upgrade (SQLITE_BUSY) after deciding on stale data.
//! - PostgreSQL: several collectors may share the database, so an in-process lock is not
//!   enough, and READ COMMITTED lets two transactions both find "no asset with this serial".
//!   Each write transaction first takes the transaction-scoped advisory lock
//!   [`WRITE_LOCK_KEY`] (`pg_advisory_xact_lock`), released by its commit or rollback; every
//!   statement after it sees what earlier writers committed. One global key rather than one per
//!   machine: the keys a document matches on (serial, UUID, MACs, name) are only known to the
//!   lookup the lock must protect, and a document may merge assets of several keys.
//!
//! On both, an in-process mutex in front of the transaction queues this collector's writers
//! fairly (instead of spinning in SQLite's busy handler or holding pooled PostgreSQL
//! connections while they wait); other processes (another collector, the `token` CLI) are kept
//! out by the database lock itself.
//!
//! Portability rules for store code: name [`Db`], [`DbPool`], [`DbConn`], [`DbRow`], never a
//! driver's types; `$1`-style placeholders (dynamic SQL through this module's [`QueryBuilder`],
//! never sqlx's, which writes `?`); bind and read only i64/i32/f64/String/&str/Vec<u8> and
//! their Options (flags as 0/1 integers: the `Any` driver cannot read a SQLite integer as a
//! bool, and PostgreSQL refuses a boolean where a BIGINT column is compared; timestamps as
//! [`ts`] text); `CAST(SUM(..) AS BIGINT)` (PostgreSQL sums are NUMERIC, which `Any` cannot
//! read); `ON CONFLICT` rather than `INSERT OR ...`; no SQLite-only functions.

pub mod agents;
pub mod assets;
pub mod audit;
pub mod builder;
mod checkpoint;
pub mod clones;
pub mod dashboard;
pub mod discovery;
pub mod inventory;
pub mod lifecycle;
pub mod operations;
pub mod org;
pub mod reports;
pub mod snmp;
pub mod software;
pub mod statistics;
pub mod sweep_jobs;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use builder::QueryBuilder;

/// The database driver every store module is written against (see the module docs).
pub type Db = sqlx::Any;
pub type DbPool = sqlx::Pool<Db>;
pub type DbConn = <Db as sqlx::Database>::Connection;
pub type DbRow = <Db as sqlx::Database>::Row;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a writer waits for another process holding SQLite's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL advisory lock key every write transaction takes (see the module docs).
/// Arbitrary but fixed: every collector sharing a database must use the same one. "PARCWRT1".
pub const WRITE_LOCK_KEY: i64 = 0x5041_5243_5752_5431;

/// Which server a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => bail!(
                "database URL {:?}: unknown scheme, expected sqlite://PATH or postgres://USER@HOST/DB",
                redact(url)
            ),
        }
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
    /// Held for the whole of a write transaction; see the module docs.
    write_lock: Arc<Mutex<()>>,
    /// SQLite: keeps the background checkpoint running while the store lives.
    _checkpoint: Option<checkpoint::Stop>,
    software_hints: Arc<inventory::SoftwareHints>,
    valid_tokens: Arc<tokens::ValidTokens>,
    inventory_queue: Arc<inventory::InventoryQueue>,
    /// PostgreSQL: when to analyse the lookup tables (see [`statistics`]).
    growth: Arc<statistics::Growth>,
}

/// This process's write lock, held before a transaction is opened.
pub(crate) struct WriteGuard(OwnedMutexGuard<()>);

/// A write transaction and the in-process write lock it holds. Dropped without
/// [`WriteTx::commit`], it rolls back.
pub struct WriteTx {
    pub tx: Transaction<'static, Db>,
    _guard: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let shown = redact(url);
        let pool = match backend {
            Backend::Sqlite => {
                prepare_sqlite(url).await?;
                pool_options(max_connections)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Per connection: `Any` takes only a URL, which cannot carry these.
                            // In WAL mode NORMAL cannot corrupt the database; a power cut can
                            // lose the last commits, which the agents' next inventories (full
                            // snapshots) restore.
                            conn.execute(
                                format!(
                                    "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                                     PRAGMA busy_timeout = {}; {}",
                                    BUSY_TIMEOUT.as_millis(),
                                    checkpoint::CONNECTION_PRAGMA
                                )
                                .as_str(),
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
            }
            Backend::Postgres => {
                // One plain connection first: the pool retries a refused connection until its
                // acquire timeout (30 s), which only delays a wrong URL's error.
                sqlx::AnyConnection::connect(url)
                    .await
                    .with_context(|| format!("cannot open database {shown}"))?
                    .close()
                    .await?;
                pool_options(max_connections).connect(url).await
            }
        }
        .with_context(|| format!("cannot open database {shown}"))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        // sqlx's migrator holds a database lock while it runs, so collectors starting together
        // on one PostgreSQL database apply each migration once.
        migrator
            .run(&pool)
            .await
            .with_context(|| format!("cannot migrate database {shown}"))?;
        let write_lock = Arc::new(Mutex::new(()));
        let checkpoint = match backend {
            Backend::Sqlite => Some(
                checkpoint::start(sqlite_options(url)?, write_lock.clone())
                    .await
                    .with_context(|| format!("cannot open database {shown}"))?,
            ),
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            write_lock,
            _checkpoint: checkpoint,
            software_hints: Arc::default(),
            valid_tokens: Arc::default(),
            inventory_queue: Arc::default(),
            growth: Arc::default(),
        })
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn write(&self) -> Result<WriteTx, sqlx::Error> {
        let guard = self.lock_writes().await;
        self.begin(guard).await
    }

    /// This collector's turn to write, before any transaction is opened.
    pub(crate) async fn lock_writes(&self) -> WriteGuard {
        WriteGuard(self.write_lock.clone().lock_owned().await)
    }

    /// Opens the write transaction of a turn taken with [`Store::lock_writes`].
    pub(crate) async fn begin(&self, guard: WriteGuard) -> Result<WriteTx, sqlx::Error> {
        let WriteGuard(guard) = guard;
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            // One round trip for all three: a transaction opens with the lock taken. Write
            // transactions run key lookups and inserts, whose plan does not depend on the values:
            // generic plans spare planning each custom one again under the lock the collectors
            // share (1.8-1.9 -> 1.77-1.80 ms of server CPU per first-storm document; small).
            Backend::Postgres => {
                self.pool
                    .begin_with(format!(
                        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
                         SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
                    ))
                    .await?
            }
        };
        Ok(WriteTx { tx, _guard: guard })
    }

    /// Runs the statements of a write transaction (`work`) on this thread, blocking it: SQLite
    /// answers each statement from its own thread, and a task awaiting the answer is queued
    /// behind the runtime's other tasks (parsing, HTTP) before it sends the next, all while
    /// holding the one write lock (measured in a next storm: 2.0 → 1.5 ms per document in the
    /// lock). PostgreSQL answers over a socket the runtime drives: awaited as usual.
    pub(crate) async fn locked<F: std::future::Future>(&self, work: F) -> F::Output {
        let handle = tokio::runtime::Handle::current();
        match (self.backend, handle.runtime_flavor()) {
            (Backend::Sqlite, tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| handle.block_on(work))
            }
            _ => work.await,
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the SQLite file if missing and switches it to WAL (a persistent setting), with the
/// driver's typed options, before the `Any` pool opens it by URL.
/// A pooled connection idle for longer than this is checked before use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// sqlx checks every connection it hands out with a round trip by default: on PostgreSQL that
/// is one more round trip per query outside a transaction (a token, an agent, a preview), as
/// many as the queries themselves, and it showed as 2.5 % of a storm's CPU. Only a connection
/// that sat idle, which a server restart or an idle timeout may have closed, is checked now; a
/// connection that breaks under a query fails that request, and the pool drops it.
fn pool_options(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

async fn prepare_sqlite(url: &str) -> anyhow::Result<()> {
    let options = sqlite_options(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open database {url}"))?;
    conn.close().await?;
    Ok(())
}

fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL {url:?}"))?
        .busy_timeout(BUSY_TIMEOUT))
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
    fn backend_from_url() {
        for (url, want) in [
            ("sqlite:///var/lib/parc/collector.db", Some(Backend::Sqlite)),
            ("sqlite:x.db", Some(Backend::Sqlite)),
            ("postgres://parc@db/parc", Some(Backend::Postgres)),
            ("postgresql://parc:pw@db:5432/parc", Some(Backend::Postgres)),
            ("PostgreSQL://db/parc", Some(Backend::Postgres)),
            ("mysql://db/parc", None),
            ("/var/lib/parc/collector.db", None),
        ] {
            assert_eq!(Backend::of_url(url).ok(), want, "{url}");
        }
        let err = Backend::of_url("mysql://u:secret@db/parc").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://parc:hunter2@db/parc"),
            "postgres://parc:***@db/parc"
        );
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }

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
