//! SQLite WAL checkpoints in the background, outside the write lock.
//!
//! With SQLite's automatic checkpoint, the commit that takes the WAL past 1,000 pages copies
//! them into the database file and syncs both, while it still holds the write lock: in a
//! storm of first inventories (800 software rows each) that was a quarter of the time each
//! document held the lock (2 ms of 7.6 ms on average). The store's connections therefore run
//! with `wal_autocheckpoint = 0`, and this task checkpoints on its own connection every
//! [`INTERVAL`]:
//!
//! - a PASSIVE checkpoint, which never waits for the writer nor blocks it, copies what was
//!   committed so far;
//! - under steady writes a PASSIVE checkpoint never sees the WAL fully copied, so SQLite never
//!   starts it over and the file grows without end (470 MB after 4,000 inventories). Once it is
//!   past [`RESTART_ABOVE`], a RESTART checkpoint is run under the store's write lock: the
//!   passive pass has copied most of it, and the lock makes this collector's writers queue on
//!   it rather than in SQLite's busy handler. A reader that holds an old snapshot makes it give
//!   up after [`RESTART_WAIT`]; the next tick tries again.
//!
//! The task ends when the last clone of the [`Store`](super::Store) is dropped (its
//! [`Stop`] sender goes with it) or when the database can no longer be opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use tokio::sync::{watch, Mutex};

/// How often the WAL is copied into the database. At 200 first inventories a second the WAL
/// grows by about 20 MB a second; half a second of it is a small file to copy.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// WAL size past which the log is started over.
pub const RESTART_ABOVE: u64 = 32 * 1024 * 1024;
/// How long a RESTART checkpoint may wait for readers, holding the write lock.
pub const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Dropping every clone of this stops the task.
#[derive(Debug, Clone)]
pub struct Stop(#[allow(dead_code)] Arc<watch::Sender<()>>);

/// The PRAGMA every store connection runs so that only this task checkpoints.
pub const CONNECTION_PRAGMA: &str = "PRAGMA wal_autocheckpoint = 0";

/// Starts checkpointing the database of `options` (already in WAL mode); `write_lock` is the
/// store's.
pub async fn start(
    options: SqliteConnectOptions,
    write_lock: Arc<Mutex<()>>,
) -> anyhow::Result<Stop> {
    let wal = wal_path(options.get_filename());
    let mut conn = options.busy_timeout(RESTART_WAIT).connect().await?;
    let (tx, mut rx) = watch::channel(());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // Every sender dropped: the store is gone.
                _ = rx.changed() => break,
            }
            if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                continue;
            }
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > RESTART_ABOVE) {
                let _writers = write_lock.lock().await;
                // Busy (a reader on an old snapshot) is not an error: the next tick retries.
                if let Err(e) = conn.execute("PRAGMA wal_checkpoint(RESTART)").await {
                    tracing::debug!(error = %e, "WAL restart postponed");
                }
            }
        }
        // A last full checkpoint, so that a stopped collector leaves a short WAL behind.
        let _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await;
        let _ = conn.close().await;
    });
    Ok(Stop(Arc::new(tx)))
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's connections leave the WAL to the task, and the task brings it back into
    /// the database file: after writes the database file holds the rows, and the WAL has been
    /// reset, without any store connection checkpointing.
    #[tokio::test]
    async fn the_task_checkpoints_what_the_store_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let url = format!("sqlite://{}", path.display());
        let store = crate::store::Store::open(&url, 2).await.unwrap();
        let db_len = || std::fs::metadata(&path).unwrap().len();
        let before = db_len();
        {
            let mut w = store.write().await.unwrap();
            sqlx::query("CREATE TABLE filler (b BLOB)")
                .execute(&mut *w.tx)
                .await
                .unwrap();
            for _ in 0..64 {
                sqlx::query("INSERT INTO filler (b) VALUES ($1)")
                    .bind(vec![7u8; 64 * 1024])
                    .execute(&mut *w.tx)
                    .await
                    .unwrap();
            }
            w.commit().await.unwrap();
        }
        // The rows are in the WAL until the task copies them; it runs every INTERVAL.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while db_len() < before + 4 * 1024 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never received the WAL's pages ({} bytes)",
                db_len()
            );
            tokio::time::sleep(INTERVAL / 5).await;
        }
        // The store's own connections do not checkpoint.
        let mut pooled = store.pool().acquire().await.unwrap();
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *pooled)
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0);
    }
}
