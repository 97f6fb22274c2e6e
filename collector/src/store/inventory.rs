//! Applying an agent inventory to the CMDB, in one write transaction.
//!
//! The transaction holds the database's write lock (SQLite's, or the advisory lock every
//! collector on a PostgreSQL database takes), so it is kept short:
//!
//! - everything that depends on the document alone (keys, facts JSON, the software digest and,
//!   unless this agent's list is likely unchanged, the sorted list in its stored form,
//!   addresses, the reported keys) is computed before it, in [`Prepared`];
//! - so is the history against the asset the agent last reported to ([`Preview`], from what
//!   was committed then); the transaction uses it if that asset is unchanged when it runs;
//! - one query ([`lookup`]) brings every candidate asset with its keys, stored facts, MACs and
//!   addresses;
//! - MACs and addresses are written as differences from what is stored, history as one
//!   multi-row insert, and the software list (see [`software`]) as one value, only when its
//!   digest changed; an unchanged list is neither read nor written.
//!
//! A document that changes no tracked fact thus costs the lookup (which also finds a replay)
//! and three writes: the asset row (facts and last seen), its source and the document.
//! Documents that queue for the lock meanwhile share one transaction ([`Store::ingest_inventory`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

use chrono::{DateTime, Utc};
use parc_shared::{Document, Inventory, SourceKind};
use serde::Serialize;
use sqlx::Row;

use crate::store::QueryBuilder;

use super::{Db, DbConn};

mod bulk;

use bulk::{Bulk, Placeholders};

use super::software::{self, SoftwareRow};
use super::tokens::Site;
use super::{ts, Store, WriteGuard};
use crate::facts;
use crate::history::{self, Change, Package, Snapshot};
use crate::lifecycle::explain::{self, ReportedKeys};
use crate::reconcile::{self, Candidate, Decision, Keys, Rule};

/// What happened to an inventory; this is also the API's response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryOutcome {
    pub asset_id: i64,
    pub created: bool,
    pub rule: Rule,
    pub duplicate: bool,
    /// History entries written.
    pub changes: usize,
    /// The digest of the software list the asset now holds from this document, which the
    /// agent may send next time in place of an unchanged list
    /// ([`Inventory::software_unchanged`]). Absent for a replay or a document older than the
    /// stored facts: neither stored a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_digest: Option<String>,
    /// Set with `software_digest`: the agent may send its next list as changes against it
    /// ([`Inventory::software_delta`]). Agents send changes only to collectors that say so:
    /// an older collector would read them as an empty list.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub accepts_software_delta: bool,
    /// What became of the software list (for the metrics; None when nothing was applied).
    #[serde(skip)]
    pub software_list: Option<SoftwareList>,
}

/// What an applied inventory did with its software list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoftwareList {
    /// Left out as unchanged, and the asset held it.
    LeftOut,
    /// Sent, and the same as the stored one.
    Unchanged,
    /// New or changed: written.
    Stored,
    /// Sent as changes against the stored list, and written.
    Delta,
}

impl SoftwareList {
    pub fn as_str(self) -> &'static str {
        match self {
            SoftwareList::LeftOut => "left_out",
            SoftwareList::Unchanged => "unchanged",
            SoftwareList::Stored => "stored",
            SoftwareList::Delta => "delta",
        }
    }
}

/// Why an inventory was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The document left its list out as unchanged, but the asset it matched does not hold
    /// that list (a new asset, a merge, a list reported meanwhile by another agent).
    #[error(
        "body.software_unchanged is {digest}, but the collector does not hold that software \
         list for this machine; send the inventory with its software list"
    )]
    SoftwareListUnknown { digest: String },
    /// The document sent its list as changes ([`Inventory::software_delta`]) that cannot be
    /// applied: the asset does not hold the base list, or the rebuilt list is not the claimed
    /// one. Answered like [`IngestError::SoftwareListUnknown`]: the agent sends the list.
    #[error(
        "body.software_delta cannot be applied ({0}); send the inventory with its software list"
    )]
    SoftwareDeltaUnusable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The facts column: the inventory without its software (stored apart, see [`software`]),
/// serialised from borrowed parts: the same JSON as the inventory with an empty list, without
/// copying the document.
fn facts_json(inv: &Inventory) -> String {
    use parc_shared::inventory::{
        Cpu, Disk, Filesystem, Hardware, Host, Memory, Network, OperatingSystem, Software, Users,
    };
    /// [`Inventory`]'s fields in its order (`software_unchanged` is never stored).
    #[derive(Serialize)]
    struct Facts<'a> {
        host: &'a Host,
        os: &'a OperatingSystem,
        hardware: &'a Hardware,
        cpus: &'a [Cpu],
        memory: &'a Memory,
        disks: &'a [Disk],
        filesystems: &'a [Filesystem],
        network: &'a Network,
        software: &'a [Software],
        users: &'a Users,
    }
    serde_json::to_string(&Facts {
        host: &inv.host,
        os: &inv.os,
        hardware: &inv.hardware,
        cpus: &inv.cpus,
        memory: &inv.memory,
        disks: &inv.disks,
        filesystems: &inv.filesystems,
        network: &inv.network,
        software: &[],
        users: &inv.users,
    })
    .expect("inventory serialises")
}

/// An inventory made ready for the store: every value the transaction binds or compares that
/// the document alone determines, computed before the write lock is taken.
struct Prepared {
    site: Site,
    doc: Arc<Document<Inventory>>,
    document_id: String,
    agent_id: String,
    observed: String,
    received: String,
    keys: Keys,
    facts_json: String,
    os: Option<String>,
    serial: Option<String>,
    uuid: Option<String>,
    /// The list's digest: computed, or as the agent claimed it in `software_unchanged`.
    digest: String,
    /// The document left its list out as unchanged: there is no list to build, and the asset
    /// must already hold the claimed one.
    list_left_out: bool,
    /// The list, when the document sent it as changes ([`Store::apply_delta`]).
    rebuilt: Option<Rebuilt>,
    /// The sorted list and its stored form: needed only when the list is new or changed, so
    /// built before the lock unless this collector stored the same digest for the agent last
    /// time ([`SoftwareHints`]), and otherwise only if the transaction needs them.
    software: OnceLock<Vec<usize>>,
    software_json: OnceLock<String>,
    addresses: Vec<String>,
    reported_json: String,
    /// The tracked fields history compares, software aside (compared only when its digest
    /// changed).
    scalars: Snapshot,
}

impl Prepared {
    fn new(
        site: Site,
        doc: Arc<Document<Inventory>>,
        rebuilt: Option<Rebuilt>,
        received_at: DateTime<Utc>,
    ) -> Self {
        let header = &doc.header;
        let inv = &doc.body;
        let agent_id = header.agent_id.to_string();
        let keys = Keys::from_inventory(inv, &agent_id, site.id);
        let addresses = facts::inventory_addresses(inv);
        let reported_json = ReportedKeys {
            name: keys.name.clone(),
            serial: keys.serial.clone(),
            uuid: keys.uuid.clone(),
            macs: keys.macs.clone(),
            addresses: addresses.clone(),
        }
        .to_json();
        Prepared {
            document_id: header.document_id.to_string(),
            agent_id,
            observed: ts(super::observed_at(header.observed_at, received_at)),
            received: ts(received_at),
            keys,
            facts_json: facts_json(inv),
            os: facts::os_summary(inv),
            serial: inv.hardware.serial.as_ref().map(|s| s.value.clone()),
            uuid: inv.hardware.uuid.as_ref().map(|u| u.value.clone()),
            digest: match (&inv.software_unchanged, &rebuilt) {
                (Some(claimed), _) => claimed.clone(),
                (None, Some(rebuilt)) => rebuilt.digest.clone(),
                (None, None) => software::digest_of(inv),
            },
            list_left_out: inv.software_unchanged.is_some(),
            rebuilt,
            software: OnceLock::new(),
            software_json: OnceLock::new(),
            addresses,
            reported_json,
            scalars: Snapshot::of(inv, &[]),
            site,
            doc,
        }
    }

    fn inv(&self) -> &Inventory {
        &self.doc.body
    }

    /// The list, when the document carries one; the asset's stored list must otherwise be
    /// the claimed one, else the document is refused.
    /// The list's stored order ([`software::stored_order`]).
    fn software(&self) -> Result<&[usize], IngestError> {
        if self.list_left_out {
            return Err(IngestError::SoftwareListUnknown {
                digest: self.digest.clone(),
            });
        }
        Ok(self
            .software
            .get_or_init(|| software::stored_order(self.inv())))
    }

    /// The packages history compares when this document's list replaces the one stored for
    /// `asset`: when the list was rebuilt from that very list, only the packages its changes
    /// removed and added (the others are in both); otherwise the stored list, read, and the
    /// document's.
    async fn packages_replacing<'c, E>(
        &self,
        executor: E,
        asset_id: i64,
        asset: &StoredAsset,
    ) -> Result<(Vec<Package>, Vec<Package>), IngestError>
    where
        E: sqlx::Executor<'c, Database = Db>,
    {
        let new = match &self.rebuilt {
            Some(r) if asset.software_digest.as_ref() == Some(&r.base_digest) => {
                return Ok((r.removed.clone(), r.added.clone()));
            }
            Some(r) => r.rows.iter().map(SoftwareRow::package).collect(),
            None => software::packages_in(self.inv(), self.software()?),
        };
        Ok((software::load_packages(executor, asset_id).await?, new))
    }

    fn software_json(&self) -> Result<&str, IngestError> {
        if let Some(rebuilt) = &self.rebuilt {
            return Ok(&rebuilt.json);
        }
        let order = self.software()?;
        Ok(self
            .software_json
            .get_or_init(|| software::to_json_in(self.inv(), order)))
    }
}

/// A list sent as changes, rebuilt from the stored one ([`Store::apply_delta`]).
#[derive(Debug)]
struct Rebuilt {
    /// The digest of the stored list it was rebuilt from.
    base_digest: String,
    /// Its checked digest, rows and stored form.
    digest: String,
    rows: Vec<SoftwareRow>,
    json: String,
    /// The packages, as history compares them, of the stored list that it no longer has and
    /// its own that the stored list did not have.
    removed: Vec<Package>,
    added: Vec<Package>,
}

/// The software digest this collector last stored for each agent: a document whose digest is
/// the same most likely finds it stored again, and its list is then not built before the lock
/// (the transaction still compares with the stored digest, and builds it if they differ).
#[derive(Debug, Default)]
pub struct SoftwareHints(Mutex<HashMap<String, String>>);

impl SoftwareHints {
    /// Agents remembered at most; past it the hints start over (a cold hint only costs the
    /// list being built ahead).
    const MAX: usize = 200_000;

    fn unchanged(&self, agent_id: &str, digest: &str) -> bool {
        let hints = self.0.lock().unwrap_or_else(|e| e.into_inner());
        hints.get(agent_id).is_some_and(|d| d == digest)
    }

    fn stored(&self, agent_id: &str, digest: &str) {
        let mut hints = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if hints.len() >= Self::MAX {
            hints.clear();
        }
        hints.insert(agent_id.to_string(), digest.to_string());
    }
}

impl Store {
    /// Stores an inventory. Documents are applied in arrival order by whoever holds the write
    /// lock: the holder takes every document queued meanwhile (up to [`MAX_BATCH`]) into its
    /// transaction, so that in a storm one BEGIN/COMMIT and one pass of the lock serve several
    /// documents, and pages they share (the tail of the documents table and of the last-seen
    /// indexes) are written to the log once.
    pub async fn ingest_inventory(
        &self,
        site: &Site,
        doc: Arc<Document<Inventory>>,
    ) -> Result<InventoryOutcome, IngestError> {
        let (doc, rebuilt) = match &doc.body.software_delta {
            Some(delta) => self.apply_delta(&doc, delta).await?,
            None => (doc, None),
        };
        let prepared = Prepared::new(site.clone(), doc, rebuilt, Utc::now());
        if !prepared.list_left_out
            && !self
                .software_hints
                .unchanged(&prepared.agent_id, &prepared.digest)
        {
            prepared.software_json()?;
        }
        let preview = Preview::read(&self.pool, &prepared).await?;
        let (reply, mut answer) = oneshot::channel();
        self.inventory_queue.push(Queued {
            prepared,
            preview,
            reply,
        });
        loop {
            tokio::select! {
                biased;
                answer = &mut answer => {
                    // A sender dropped unanswered: its batch task panicked.
                    return answer.unwrap_or(Err(IngestError::Database(sqlx::Error::WorkerCrashed)));
                }
                guard = self.lock_writes() => {
                    if self.inventory_queue.len() == 0 {
                        // An earlier holder took this document; its answer is on the way.
                        continue;
                    }
                    // Its own task: an agent that hangs up must not cancel the others' documents.
                    let store = self.clone();
                    let applied = tokio::spawn(async move { store.apply_batch(guard).await });
                    if let Err(e) = applied.await {
                        tracing::error!(error = %e, "inventory batch task failed");
                    }
                }
            }
        }
    }

    /// The list a document sent as changes, rebuilt from the list its agent's asset holds (the
    /// document then has no list of its own), or the document as leaving its list out when
    /// the asset already holds the result. Read outside the write lock, from what is
    /// committed: if the asset's list changes before the transaction, the rebuilt list is
    /// still the agent's (its digest is checked here), and is stored as any whole list would be.
    async fn apply_delta(
        &self,
        doc: &Document<Inventory>,
        delta: &parc_shared::SoftwareDelta,
    ) -> Result<(Arc<Document<Inventory>>, Option<Rebuilt>), IngestError> {
        let rows = sqlx::query(
            "SELECT a.id, a.software_digest, w.list FROM sources s
             JOIN assets a ON a.id = s.asset_id
             LEFT JOIN asset_software w ON w.asset_id = a.id
             WHERE s.kind = 'agent_inventory' AND s.agent_id = $1",
        )
        .bind(doc.header.agent_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let unusable = |why: &str| Err(IngestError::SoftwareDeltaUnusable(why.to_string()));
        // Several assets for one agent (a cloned image) or none: which list is the base?
        let [row] = rows.as_slice() else {
            return unusable("this agent's machine holds no single software list");
        };
        let (asset_id, digest, list): (i64, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let mut body = Inventory {
            software_delta: None,
            ..doc.body.clone()
        };
        let mut rebuilt = None;
        if digest.as_deref() == Some(delta.digest.as_str()) {
            // Already applied (a replay, or another copy of the document): the list is the
            // stored one, as if it had been left out.
            body.software_unchanged = Some(delta.digest.clone());
        } else if digest.as_deref() == Some(delta.base.as_str()) {
            let Some(base) = list.and_then(|text| software::parse_rows(asset_id, &text)) else {
                return unusable("the stored list does not read back");
            };
            let software::Rebuild {
                rows,
                removed,
                added,
            } = software::rebuild(base, delta)
                .map_err(|e| IngestError::SoftwareDeltaUnusable(e.to_string()))?;
            rebuilt = Some(Rebuilt {
                base_digest: delta.base.clone(),
                digest: delta.digest.clone(),
                json: software::to_json(&rows),
                rows,
                removed,
                added,
            });
        } else {
            return unusable("the machine's stored list is not the base list");
        }
        let doc = Arc::new(Document {
            header: doc.header.clone(),
            body,
        });
        Ok((doc, rebuilt))
    }

    /// Applies the queued documents (up to [`MAX_BATCH`]) in one transaction and answers each.
    /// A document refused as [`IngestError::SoftwareListUnknown`] has written nothing when it
    /// is refused, so the others carry on; any other error rolls the transaction back, and
    /// each document is then applied again in a transaction of its own, so that one document's
    /// error is its own.
    async fn apply_batch(&self, guard: WriteGuard) {
        let began = self.begin(guard).await;
        // Taken once the transaction has begun: on PostgreSQL, beginning waits for the lock
        // the collectors share, and the documents that queued meanwhile join this batch
        // instead of waiting for the next turn (one more transaction, one more wait). The
        // queue is not empty: only the holder of the local write lock takes from it.
        let batch = self.inventory_queue.take();
        let together = async {
            let mut w = began?;
            self.locked(async {
                let mut outcomes = Vec::with_capacity(batch.len());
                for q in &batch {
                    match apply(&mut w.tx, &q.prepared, q.preview.as_ref()).await {
                        Err(IngestError::Database(e)) => return Err(e),
                        outcome => outcomes.push(outcome),
                    }
                }
                w.commit().await?;
                Ok(outcomes)
            })
            .await
        };
        let outcomes = match together.await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::warn!(error = %e, documents = batch.len(), "inventory batch rolled back; applying its documents one by one");
                let mut outcomes = Vec::with_capacity(batch.len());
                for q in &batch {
                    outcomes.push(self.apply_one(q).await);
                }
                outcomes
            }
        };
        self.inventories_stored(
            outcomes
                .iter()
                .filter(|o| o.as_ref().is_ok_and(|o| !o.duplicate))
                .count(),
        );
        for (q, outcome) in batch.into_iter().zip(outcomes) {
            if outcome.as_ref().is_ok_and(|o| !o.duplicate) {
                self.software_hints
                    .stored(&q.prepared.agent_id, &q.prepared.digest);
            }
            // The agent may have hung up meanwhile: its document is stored all the same.
            let _ = q.reply.send(outcome);
        }
    }

    /// Inventories waiting for the write lock.
    pub fn inventories_waiting(&self) -> usize {
        self.inventory_queue.len()
    }

    async fn apply_one(&self, q: &Queued) -> Result<InventoryOutcome, IngestError> {
        let mut w = self.write().await?;
        self.locked(async {
            let outcome = apply(&mut w.tx, &q.prepared, q.preview.as_ref()).await?;
            w.commit().await?;
            Ok(outcome)
        })
        .await
    }
}

/// Documents applied in one transaction at most: bounds how long one holder keeps the lock
/// (about 1 ms each for an unchanged inventory on SQLite).
const MAX_BATCH: usize = 16;

/// An inventory waiting for the write lock, and where its outcome goes.
struct Queued {
    prepared: Prepared,
    preview: Option<Preview>,
    reply: oneshot::Sender<Result<InventoryOutcome, IngestError>>,
}

/// Inventories waiting for the write lock, oldest first.
#[derive(Default)]
pub struct InventoryQueue(Mutex<VecDeque<Queued>>);

impl InventoryQueue {
    fn push(&self, q: Queued) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(q);
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn take(&self) -> Vec<Queued> {
        let mut queue = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = queue.len().min(MAX_BATCH);
        queue.drain(..n).collect()
    }
}

async fn apply(
    conn: &mut DbConn,
    p: &Prepared,
    preview: Option<&Preview>,
) -> Result<InventoryOutcome, IngestError> {
    let Lookup {
        replayed,
        candidates,
        mut stored,
    } = lookup(conn, &p.keys, &p.document_id).await?;
    if let Some((asset_id, rule)) = replayed {
        return Ok(InventoryOutcome {
            asset_id,
            created: false,
            rule: rule_from_str(rule.as_deref()),
            duplicate: true,
            changes: 0,
            software_digest: None,
            accepts_software_delta: false,
            software_list: None,
        });
    }
    // After a split, this agent's documents stay on its side (see lifecycle::plan).
    let candidates = super::lifecycle::exclude_never_merged(conn, candidates, &p.agent_id).await?;
    // A cloned disk image: this agent id on contradicting hardware is another machine.
    let (candidates, cloned_from) = super::clones::exclude_clones(candidates, &p.keys);
    let decision = reconcile::reconcile(&p.keys, &candidates);
    let rule = decision.rule();
    tracing::debug!(?decision, candidates = candidates.len(), "inventory merge");

    let mut changes: Vec<Change> = Vec::new();
    let mut list = Some(match p.rebuilt {
        Some(_) => SoftwareList::Delta,
        None => SoftwareList::Stored,
    });
    let (asset_id, created) = match decision {
        Decision::New => {
            // Refused before anything is written (see [`Store::apply_batch`]).
            let list = p.software_json()?;
            let id = insert_asset(conn, p, rule, list).await?;
            changes.push(Change {
                field: "asset",
                old: None,
                new: Some(format!("created (rule: {rule})")),
            });
            (id, true)
        }
        Decision::Match { asset_id, .. } => {
            let old = stored.remove(&asset_id).ok_or(sqlx::Error::RowNotFound)?;
            // A spooled document delivered after a newer one must not roll the facts back.
            let stale = old
                .facts_observed_at
                .as_deref()
                .is_some_and(|o| o > p.observed.as_str());
            if stale {
                // Only the source bookkeeping below is updated.
                touch_seen(conn, asset_id, &p.observed).await?;
                list = None;
                tracing::info!(asset_id, document_id = %p.document_id, "older than the stored facts; not applied");
            } else {
                if old.software_digest.as_deref() == Some(p.digest.as_str()) {
                    list = Some(match p.list_left_out {
                        true => SoftwareList::LeftOut,
                        false => SoftwareList::Unchanged,
                    });
                }
                changes = update_asset(conn, p, asset_id, rule, old, preview).await?;
            }
            (asset_id, false)
        }
    };

    super::clones::record(conn, &p.agent_id, asset_id, &cloned_from, &p.observed).await?;
    let matched = explain::inventory(
        &p.keys,
        candidates
            .iter()
            .find(|c| !created && c.asset_id == asset_id)
            .map(|c| &c.keys),
    );
    record_document(
        conn,
        p,
        asset_id,
        rule,
        &explain::to_json(&matched),
        &changes,
    )
    .await?;
    Ok(InventoryOutcome {
        asset_id,
        created,
        rule,
        duplicate: false,
        changes: changes.len(),
        software_digest: list.map(|_| p.digest.clone()),
        accepts_software_delta: list.is_some(),
        software_list: list,
    })
}

/// A new asset with its software list and keys. On PostgreSQL this is one statement (writes
/// chained in WITH): each statement is a round trip to the server and a pass through its
/// executor, under the write lock every collector shares. SQLite has no writes in WITH; its
/// statements cost no round trip.
async fn insert_asset(
    conn: &mut DbConn,
    p: &Prepared,
    rule: Rule,
    list: &str,
) -> Result<i64, sqlx::Error> {
    let placeholders = Placeholders::of(conn);
    let together = placeholders == Placeholders::Numbered;
    let hw = &p.inv().hardware;
    let mut q = Bulk::new(placeholders, if together { "WITH a AS (" } else { "" });
    q.push(
        "INSERT INTO assets (site_id, kind, name, name_key, serial, uuid, serial_key,
            uuid_key, machine_id, manufacturer, model, os, facts, facts_observed_at,
            match_rule, software_digest, first_seen, last_seen) VALUES (",
    );
    q.bind(p.site.id).push(", 'computer'");
    for value in [
        Some(&p.inv().host.hostname),
        p.keys.name.as_ref(),
        p.serial.as_ref(),
        p.uuid.as_ref(),
        p.keys.serial.as_ref(),
        p.keys.uuid.as_ref(),
        p.inv().host.machine_id.as_ref(),
        hw.manufacturer.as_ref(),
        hw.model.as_ref(),
        p.os.as_ref(),
        Some(&p.facts_json),
        Some(&p.observed),
    ] {
        q.push(", ").bind(value.map(String::as_str));
    }
    q.push(", ").bind(rule.as_str());
    q.push(", ").bind(p.digest.as_str());
    for _ in 0..2 {
        q.push(", ").bind(p.observed.as_str());
    }
    q.push(") RETURNING id");
    if !together {
        let id = q.fetch_one(conn).await?.try_get(0)?;
        software::save(conn, id, list).await?;
        write_keys(conn, id, &KeyTable::MACS, &[], &p.keys.macs).await?;
        write_keys(conn, id, &KeyTable::ADDRESSES, &[], &p.addresses).await?;
        return Ok(id);
    }
    q.push("), w AS (INSERT INTO asset_software (asset_id, list) SELECT id, ")
        .bind(list)
        .push(" FROM a)");
    for (name, t, reported) in [
        ("m", &KeyTable::MACS, &p.keys.macs),
        ("d", &KeyTable::ADDRESSES, &p.addresses),
    ] {
        let (_, values) = key_delta(&[], reported);
        if values.is_empty() {
            continue;
        }
        q.push(&format!(
            ", {name} AS (INSERT INTO {} (asset_id, {}, source) SELECT a.id, v.x, 'inventory' \
             FROM a, (VALUES ",
            t.table, t.column
        ));
        q.list(values, |q, value| {
            q.push("(").bind(value.as_str()).push(")");
        });
        q.push(") AS v(x))");
    }
    q.push(" SELECT id FROM a");
    q.fetch_one(conn).await?.try_get(0)
}

/// History rows at most written in the same statement as the document's source and document
/// rows on PostgreSQL ([`record_document`]); more (a reinstalled PC) go on their own.
const HISTORY_WITH_DOCUMENT: usize = 8;

/// The document's bookkeeping: its agent's source row, its history, its documents row. One
/// statement on PostgreSQL, as in [`insert_asset`].
async fn record_document(
    conn: &mut DbConn,
    p: &Prepared,
    asset_id: i64,
    rule: Rule,
    matched_json: &str,
    changes: &[Change],
) -> Result<(), sqlx::Error> {
    let placeholders = Placeholders::of(conn);
    let together = placeholders == Placeholders::Numbered && changes.len() <= HISTORY_WITH_DOCUMENT;
    let mut q = Bulk::new(placeholders, if together { "WITH s AS (" } else { "" });
    q.push(
        "INSERT INTO sources (asset_id, kind, agent_id, first_seen, last_seen, last_document_id,
            rule, matched_keys, reported_keys) VALUES (",
    );
    q.bind(asset_id);
    let asset = q.last();
    q.push(", 'agent_inventory', ").bind(p.agent_id.as_str());
    let agent = q.last();
    q.push(", ").bind(p.observed.as_str());
    let observed = q.last();
    q.push(", ").bind(p.observed.as_str());
    q.push(", ").bind(p.document_id.as_str());
    let document = q.last();
    q.push(", ").bind(rule.as_str());
    let rule_value = q.last();
    q.push(", ")
        .bind(matched_json)
        .push(", ")
        .bind(p.reported_json.as_str());
    q.push(
        ") ON CONFLICT (asset_id, kind, agent_id) DO UPDATE SET
            first_seen = CASE WHEN excluded.first_seen < sources.first_seen
                         THEN excluded.first_seen ELSE sources.first_seen END,
            last_seen = CASE WHEN excluded.last_seen > sources.last_seen
                        THEN excluded.last_seen ELSE sources.last_seen END,
            last_document_id = excluded.last_document_id,
            rule = excluded.rule,
            matched_keys = excluded.matched_keys,
            reported_keys = excluded.reported_keys",
    );
    if !together {
        q.execute(conn).await?;
        write_history(
            conn,
            asset_id,
            changes,
            &p.observed,
            "agent_inventory",
            &p.document_id,
        )
        .await?;
        sqlx::query(
            "INSERT INTO documents (document_id, agent_id, source, site_id, observed_at,
                received_at, asset_id, rule)
             VALUES ($1, $2, 'agent_inventory', $3, $4, $5, $6, $7)",
        )
        .bind(&p.document_id)
        .bind(&p.agent_id)
        .bind(p.site.id)
        .bind(&p.observed)
        .bind(&p.received)
        .bind(asset_id)
        .bind(rule.as_str())
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    q.push(")");
    if !changes.is_empty() {
        q.push(
            ", h AS (INSERT INTO history (asset_id, field, old_value, new_value, changed_at,
                source, document_id) VALUES ",
        );
        q.list(changes, |q, c| {
            q.push("(").again(asset).push(", ").bind(c.field);
            q.push(", ")
                .bind(c.old.as_deref())
                .push(", ")
                .bind(c.new.as_deref());
            q.push(", ")
                .again(observed)
                .push(", 'agent_inventory', ")
                .again(document)
                .push(")");
        });
        q.push(")");
    }
    q.push(
        " INSERT INTO documents (document_id, agent_id, source, site_id, observed_at,
            received_at, asset_id, rule) VALUES (",
    );
    q.again(document)
        .push(", ")
        .again(agent)
        .push(", 'agent_inventory', ");
    q.bind(p.site.id)
        .push(", ")
        .again(observed)
        .push(", ")
        .bind(p.received.as_str());
    q.push(", ")
        .again(asset)
        .push(", ")
        .again(rule_value)
        .push(")");
    q.execute(conn).await?;
    Ok(())
}

/// Applies a (not stale) document to the asset it matched; returns the history to record.
async fn update_asset(
    conn: &mut DbConn,
    p: &Prepared,
    asset_id: i64,
    rule: Rule,
    old: StoredAsset,
    preview: Option<&Preview>,
) -> Result<Vec<Change>, IngestError> {
    let software_changed = old.software_digest.as_deref() != Some(p.digest.as_str());
    if software_changed {
        // Refused before anything is read: a list left out must be the stored one.
        p.software()?;
    }
    let mut changes = match preview.and_then(|v| v.changes_for(asset_id, &old)) {
        Some(changes) => changes,
        None => {
            let software = match software_changed {
                true => Some(p.packages_replacing(&mut *conn, asset_id, &old).await?),
                false => None,
            };
            history_of(&old, software, p)?
        }
    };
    if old.site_id != p.site.id {
        let old_site_name: String = sqlx::query_scalar("SELECT name FROM sites WHERE id = $1")
            .bind(old.site_id)
            .fetch_one(&mut *conn)
            .await?;
        changes.push(Change {
            field: "site",
            old: Some(old_site_name),
            new: Some(p.site.name.clone()),
        });
    }
    update_row(conn, p, asset_id, rule, &old).await?;
    if software_changed {
        software::save(conn, asset_id, p.software_json()?).await?;
    }
    write_keys(conn, asset_id, &KeyTable::MACS, &old.macs, &p.keys.macs).await?;
    write_keys(
        conn,
        asset_id,
        &KeyTable::ADDRESSES,
        &old.addresses,
        &p.addresses,
    )
    .await?;
    Ok(changes)
}

/// Writes the document's columns to the asset row. Indexed columns are set only when they
/// change: SQLite rewrites an index entry for every indexed column an UPDATE sets, even to the
/// same value, and each is a page in the write-ahead log (five pages of a typical
/// document's fifteen). `last_seen`, also indexed, moves with every document.
async fn update_row(
    conn: &mut DbConn,
    p: &Prepared,
    asset_id: i64,
    rule: Rule,
    old: &StoredAsset,
) -> Result<(), sqlx::Error> {
    let hw = &p.inv().hardware;
    let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE assets SET ");
    let mut set = q.separated(", ");
    set.push("name = ")
        .push_bind_unseparated(&p.inv().host.hostname);
    set.push("serial = ").push_bind_unseparated(&p.serial);
    set.push("uuid = ").push_bind_unseparated(&p.uuid);
    set.push("machine_id = ")
        .push_bind_unseparated(&p.inv().host.machine_id);
    set.push("manufacturer = ")
        .push_bind_unseparated(&hw.manufacturer);
    set.push("model = ").push_bind_unseparated(&hw.model);
    set.push("os = ").push_bind_unseparated(&p.os);
    set.push("facts = ").push_bind_unseparated(&p.facts_json);
    set.push("facts_observed_at = ")
        .push_bind_unseparated(&p.observed);
    set.push("match_rule = ")
        .push_bind_unseparated(rule.as_str());
    set.push("software_digest = ")
        .push_bind_unseparated(&p.digest);
    // Last and first seen move outwards as in [`touch_seen`], in the same statement.
    set.push("last_seen = CASE WHEN last_seen < ")
        .push_bind_unseparated(&p.observed)
        .push_unseparated(" THEN ")
        .push_bind_unseparated(&p.observed)
        .push_unseparated(" ELSE last_seen END");
    set.push("first_seen = CASE WHEN first_seen > ")
        .push_bind_unseparated(&p.observed)
        .push_unseparated(" THEN ")
        .push_bind_unseparated(&p.observed)
        .push_unseparated(" ELSE first_seen END");
    if old.kind != "computer" {
        set.push("kind = 'computer'");
    }
    if old.site_id != p.site.id || old.name_key != p.keys.name {
        set.push("site_id = ").push_bind_unseparated(p.site.id);
        set.push("name_key = ").push_bind_unseparated(&p.keys.name);
    }
    if old.serial_key != p.keys.serial {
        set.push("serial_key = ")
            .push_bind_unseparated(&p.keys.serial);
    }
    if old.uuid_key != p.keys.uuid {
        set.push("uuid_key = ").push_bind_unseparated(&p.keys.uuid);
    }
    q.push(" WHERE id = ").push_bind(asset_id);
    q.build().execute(&mut *conn).await?;
    Ok(())
}

/// The history entries a document adds to the asset stored as `old`: the tracked fields that
/// differ, and the packages when the list changed (`software`: the stored list's and the
/// document's, or only the packages that differ, see [`Prepared::packages_replacing`]).
fn history_of(
    old: &StoredAsset,
    software: Option<(Vec<Package>, Vec<Package>)>,
    p: &Prepared,
) -> Result<Vec<Change>, IngestError> {
    let mut changes = Vec::new();
    match old.facts.as_deref().map(serde_json::from_str::<Inventory>) {
        Some(Ok(old_inv)) => match software {
            Some((old_packages, new_packages)) => {
                changes.extend(history::diff(
                    &Snapshot::with(&old_inv, old_packages),
                    &Snapshot::with(p.inv(), new_packages),
                ));
            }
            // Same digest, same packages: only the other tracked fields can differ.
            None => changes.extend(history::diff(&Snapshot::of(&old_inv, &[]), &p.scalars)),
        },
        Some(Err(e)) => {
            tracing::warn!(error = %e, "stored facts unreadable; history restarts");
        }
        // Known so far only from sweeps: there is nothing to compare field by field, so record
        // what the asset became.
        None => {
            if old.kind != "computer" {
                changes.push(Change {
                    field: "kind",
                    old: Some(old.kind.clone()),
                    new: Some("computer".into()),
                });
            }
            if old.name.as_deref() != Some(p.inv().host.hostname.as_str()) {
                changes.push(Change {
                    field: "hostname",
                    old: old.name.clone(),
                    new: Some(p.inv().host.hostname.clone()),
                });
            }
        }
    }
    Ok(changes)
}

/// A document's history against the asset its agent last reported to, worked out before the
/// write lock from what was committed then: parsing the stored facts and, when the list
/// changed, reading and comparing ~800 packages would otherwise hold the lock for most of an
/// unchanged document's transaction. The transaction uses it only if the asset it matched is
/// still exactly the one read (same facts, same list digest); otherwise it works it out again.
#[derive(Debug)]
struct Preview {
    asset_id: i64,
    asset: StoredAsset,
    changes: Vec<Change>,
}

impl Preview {
    async fn read(pool: &sqlx::Pool<Db>, p: &Prepared) -> Result<Option<Preview>, IngestError> {
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.name, a.facts, a.software_digest FROM sources s
             JOIN assets a ON a.id = s.asset_id
             WHERE s.kind = 'agent_inventory' AND s.agent_id = $1",
        )
        .bind(&p.agent_id)
        .fetch_all(pool)
        .await?;
        // Several assets for one agent (a cloned image): the transaction sorts them out.
        let [row] = rows.as_slice() else {
            return Ok(None);
        };
        let asset_id: i64 = row.get(0);
        let asset = StoredAsset {
            kind: row.get(1),
            name: row.get(2),
            facts: row.get(3),
            software_digest: row.get(4),
            ..StoredAsset::default()
        };
        let changed = asset.software_digest.as_deref() != Some(p.digest.as_str());
        if changed && p.list_left_out {
            return Ok(None);
        }
        let software = match changed {
            true => Some(p.packages_replacing(pool, asset_id, &asset).await?),
            false => None,
        };
        let changes = history_of(&asset, software, p)?;
        Ok(Some(Preview {
            asset_id,
            asset,
            changes,
        }))
    }

    /// The history, if `old` (asset `asset_id` as the transaction found it) is what was read.
    fn changes_for(&self, asset_id: i64, old: &StoredAsset) -> Option<Vec<Change>> {
        let same = self.asset_id == asset_id
            && self.asset.kind == old.kind
            && self.asset.name == old.name
            && self.asset.facts == old.facts
            && self.asset.software_digest == old.software_digest;
        same.then(|| self.changes.clone())
    }
}

fn rule_from_str(s: Option<&str>) -> Rule {
    [
        Rule::UuidSerial,
        Rule::Serial,
        Rule::Uuid,
        Rule::AgentId,
        Rule::Mac,
        Rule::Hostname,
        Rule::Ip,
    ]
    .into_iter()
    .find(|r| Some(r.as_str()) == s)
    .unwrap_or(Rule::New)
}

/// A candidate asset as stored: what applying the document to it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct StoredAsset {
    site_id: i64,
    kind: String,
    name: Option<String>,
    /// The indexed match keys, as stored.
    serial_key: Option<String>,
    uuid_key: Option<String>,
    name_key: Option<String>,
    facts: Option<String>,
    facts_observed_at: Option<String>,
    software_digest: Option<String>,
    /// (MAC, source) of every MAC the asset holds.
    macs: Vec<(String, String)>,
    /// (address, source).
    addresses: Vec<(String, String)>,
}

/// Every asset sharing at least one key with the document: its keys for the merge, and its
/// stored state for applying the document.
#[derive(Debug, Default)]
struct Lookup {
    /// The document was already stored: the asset it went to (0 if since deleted) and rule.
    replayed: Option<(i64, Option<String>)>,
    candidates: Vec<Candidate>,
    stored: BTreeMap<i64, StoredAsset>,
}

/// One row of the lookup query: which kind of row (`ROW_*`), the asset, its site (asset rows)
/// and up to nine text columns whose meaning depends on the kind.
type LookupRow = (i64, i64, Option<i64>, [Option<String>; 9]);

const ROW_ASSET: i64 = 0;
const ROW_MAC: i64 = 1;
const ROW_AGENT: i64 = 2;
const ROW_ADDRESS: i64 = 3;
const ROW_DOCUMENT: i64 = 4;

/// The candidates of a document, in one query: the ids of assets sharing a key with it (one
/// indexed lookup per key, united: an OR across columns would scan the assets table, whose rows
/// carry the facts JSON), then their asset rows, MACs, agent ids and addresses together, and
/// the document's own row if it was already stored (a replay), saving that check a statement.
async fn lookup(conn: &mut DbConn, keys: &Keys, document_id: &str) -> Result<Lookup, sqlx::Error> {
    let mut q: QueryBuilder<Db> = QueryBuilder::new("WITH c(id) AS (");
    let init = q.sql().len();
    let union = |q: &mut QueryBuilder<Db>, select: &str| {
        if q.sql().len() > init {
            q.push(" UNION ");
        }
        q.push(select);
    };
    if let Some(serial) = &keys.serial {
        union(&mut q, "SELECT id FROM assets WHERE serial_key = ");
        q.push_bind(serial.as_str());
    }
    if let Some(uuid) = &keys.uuid {
        union(&mut q, "SELECT id FROM assets WHERE uuid_key = ");
        q.push_bind(uuid.as_str());
    }
    if !keys.macs.is_empty() {
        union(&mut q, "SELECT asset_id FROM asset_macs WHERE mac IN (");
        let mut sep = q.separated(", ");
        for mac in &keys.macs {
            sep.push_bind(mac.as_str());
        }
        q.push(")");
    }
    for agent in &keys.agent_ids {
        union(
            &mut q,
            "SELECT asset_id FROM sources WHERE kind = 'agent_inventory' AND agent_id = ",
        );
        q.push_bind(agent.as_str());
    }
    if let Some(name) = &keys.name {
        union(&mut q, "SELECT id FROM assets WHERE site_id = ");
        q.push_bind(keys.site_id)
            .push(" AND name_key = ")
            .push_bind(name.as_str());
    }
    if q.sql().len() == init {
        // No key at all (an inventory always names its agent): nothing to match.
        union(&mut q, "SELECT CAST(NULL AS BIGINT) WHERE 1 = 0");
    }
    // The branches share one column list; NULL fills what a kind of row does not have (both
    // servers type a NULL in a later branch after the first branch's column).
    q.push(format!(
        ")
         SELECT CAST({ROW_ASSET} AS BIGINT), a.id, a.site_id, a.serial_key, a.uuid_key,
                a.machine_id, a.name_key, a.kind, a.name, a.facts, a.facts_observed_at,
                a.software_digest
         FROM assets a WHERE a.id IN (SELECT id FROM c)
         UNION ALL
         SELECT CAST({ROW_MAC} AS BIGINT), m.asset_id, NULL, m.mac, m.source, NULL, NULL, NULL,
                NULL, NULL, NULL, NULL
         FROM asset_macs m WHERE m.asset_id IN (SELECT id FROM c)
         UNION ALL
         SELECT CAST({ROW_AGENT} AS BIGINT), s.asset_id, NULL, s.agent_id, NULL, NULL, NULL,
                NULL, NULL, NULL, NULL, NULL
         FROM sources s WHERE s.kind = 'agent_inventory' AND s.asset_id IN (SELECT id FROM c)
         UNION ALL
         SELECT CAST({ROW_ADDRESS} AS BIGINT), d.asset_id, NULL, d.address, d.source, NULL,
                NULL, NULL, NULL, NULL, NULL, NULL
         FROM asset_addresses d WHERE d.asset_id IN (SELECT id FROM c)
         UNION ALL
         SELECT CAST({ROW_DOCUMENT} AS BIGINT), COALESCE(o.asset_id, 0), NULL, o.rule, NULL,
                NULL, NULL, NULL, NULL, NULL, NULL, NULL
         FROM documents o WHERE o.document_id = "
    ));
    q.push_bind(document_id);
    let rows: Vec<LookupRow> = q
        .build()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let text = |i: usize| r.get::<Option<String>, _>(i);
            (
                r.get(0),
                r.get(1),
                r.get(2),
                std::array::from_fn(|i| text(i + 3)),
            )
        })
        .collect();
    Ok(assemble(keys.site_id, rows))
}

/// Builds the candidates and their stored state from the lookup's rows (in any order).
fn assemble(site_id: i64, rows: Vec<LookupRow>) -> Lookup {
    let mut keys: BTreeMap<i64, Keys> = BTreeMap::new();
    let mut stored: BTreeMap<i64, StoredAsset> = BTreeMap::new();
    let mut macs: Vec<(i64, String, String)> = Vec::new();
    let mut agents: Vec<(i64, String)> = Vec::new();
    let mut addresses: Vec<(i64, String, String)> = Vec::new();
    let mut replayed = None;
    for (kind, id, site, [t1, t2, t3, t4, t5, t6, t7, t8, t9]) in rows {
        match kind {
            ROW_DOCUMENT => replayed = Some((id, t1)),
            ROW_ASSET => {
                let site = site.unwrap_or(site_id);
                stored.insert(
                    id,
                    StoredAsset {
                        site_id: site,
                        kind: t5.unwrap_or_default(),
                        name: t6,
                        serial_key: t1.clone(),
                        uuid_key: t2.clone(),
                        name_key: t4.clone(),
                        facts: t7,
                        facts_observed_at: t8,
                        software_digest: t9,
                        macs: Vec::new(),
                        addresses: Vec::new(),
                    },
                );
                keys.insert(
                    id,
                    Keys {
                        serial: t1,
                        uuid: t2,
                        macs: Vec::new(),
                        agent_ids: Vec::new(),
                        machine_id: t3,
                        name: t4,
                        site_id: site,
                    },
                );
            }
            ROW_MAC => macs.push((id, t1.unwrap_or_default(), t2.unwrap_or_default())),
            ROW_AGENT => agents.push((id, t1.unwrap_or_default())),
            _ => addresses.push((id, t1.unwrap_or_default(), t2.unwrap_or_default())),
        }
    }
    for (id, mac, source) in macs {
        if let (Some(k), Some(s)) = (keys.get_mut(&id), stored.get_mut(&id)) {
            k.macs.push(mac.clone());
            s.macs.push((mac, source));
        }
    }
    for (id, agent) in agents {
        if let Some(k) = keys.get_mut(&id) {
            k.agent_ids.push(agent);
        }
    }
    for (id, address, source) in addresses {
        if let Some(s) = stored.get_mut(&id) {
            s.addresses.push((address, source));
        }
    }
    let candidates = keys
        .into_iter()
        .map(|(asset_id, mut keys)| {
            keys.macs.sort();
            keys.macs.dedup();
            keys.agent_ids.sort();
            keys.agent_ids.dedup();
            Candidate { asset_id, keys }
        })
        .collect();
    Lookup {
        replayed,
        candidates,
        stored,
    }
}

/// A table of identity keys an inventory reports (MACs or addresses), with rows tagged by the
/// source that added them.
struct KeyTable {
    table: &'static str,
    column: &'static str,
}

impl KeyTable {
    const MACS: KeyTable = KeyTable {
        table: "asset_macs",
        column: "mac",
    };
    const ADDRESSES: KeyTable = KeyTable {
        table: "asset_addresses",
        column: "address",
    };
}

/// Rows per key INSERT or DELETE (a handful in practice; bounded for safety).
const KEY_CHUNK: usize = 5_000;

/// Makes the asset's inventory-sourced keys in `t` those `reported` (see [`key_delta`]),
/// given the (value, source) rows it holds now: at most one DELETE and one INSERT per chunk,
/// nothing when they already agree.
async fn write_keys(
    conn: &mut DbConn,
    asset_id: i64,
    t: &KeyTable,
    stored: &[(String, String)],
    reported: &[String],
) -> Result<(), sqlx::Error> {
    let (gone, upsert) = key_delta(stored, reported);
    let p = Placeholders::of(conn);
    for chunk in gone.chunks(KEY_CHUNK) {
        let mut q = Bulk::new(
            p,
            format!(
                "DELETE FROM {} WHERE source = 'inventory' AND asset_id = ",
                t.table
            ),
        );
        q.bind(asset_id).push(&format!(" AND {} IN (", t.column));
        q.list(chunk, |q, value| {
            q.bind(value.as_str());
        });
        q.push(")");
        q.execute(conn).await?;
    }
    for chunk in upsert.chunks(KEY_CHUNK) {
        let mut q = Bulk::new(
            p,
            format!(
                "INSERT INTO {} (asset_id, {}, source) VALUES ",
                t.table, t.column
            ),
        );
        q.list(chunk, |q, value| {
            q.push("(")
                .bind(asset_id)
                .push(", ")
                .bind(value.as_str())
                .push(", 'inventory')");
        });
        q.push(&format!(
            " ON CONFLICT (asset_id, {}) DO UPDATE SET source = 'inventory'",
            t.column
        ));
        q.execute(conn).await?;
    }
    Ok(())
}

/// The keys an inventory reports replace the previous inventory's; those another source (a
/// sweep, SNMP) added are kept, and become the inventory's when it reports them too. Given
/// the asset's (value, source) rows and the reported values, returns the inventory rows to
/// delete and the values to write as the inventory's (inserted, or re-tagged). Each value is
/// returned once, whatever the duplicates in the input.
pub(crate) fn key_delta<'a>(
    stored: &'a [(String, String)],
    reported: &'a [String],
) -> (Vec<&'a String>, Vec<&'a String>) {
    let mut gone: Vec<&String> = stored
        .iter()
        .filter(|(v, source)| source == "inventory" && !reported.contains(v))
        .map(|(v, _)| v)
        .collect();
    gone.sort();
    gone.dedup();
    let mut upsert: Vec<&String> = reported
        .iter()
        .filter(|r| {
            !stored
                .iter()
                .any(|(v, source)| v == *r && source == "inventory")
        })
        .collect();
    upsert.sort();
    upsert.dedup();
    (gone, upsert)
}

/// Moves first/last seen outwards to include `observed`, never inwards.
pub(super) async fn touch_seen(
    conn: &mut DbConn,
    asset_id: i64,
    observed: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE assets SET
            last_seen = CASE WHEN last_seen < $1 THEN $1 ELSE last_seen END,
            first_seen = CASE WHEN first_seen > $1 THEN $1 ELSE first_seen END
         WHERE id = $2",
    )
    .bind(observed)
    .bind(asset_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn record_source(
    conn: &mut DbConn,
    asset_id: i64,
    kind: SourceKind,
    agent_id: &str,
    observed: &str,
    document_id: &str,
    rule: Rule,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sources (asset_id, kind, agent_id, first_seen, last_seen, last_document_id, rule)
         VALUES ($1, $2, $3, $4, $4, $5, $6)
         ON CONFLICT (asset_id, kind, agent_id) DO UPDATE SET
            first_seen = CASE WHEN excluded.first_seen < sources.first_seen
                         THEN excluded.first_seen ELSE sources.first_seen END,
            last_seen = CASE WHEN excluded.last_seen > sources.last_seen
                        THEN excluded.last_seen ELSE sources.last_seen END,
            last_document_id = excluded.last_document_id,
            rule = excluded.rule",
    )
    .bind(asset_id)
    .bind(kind.as_str())
    .bind(agent_id)
    .bind(observed)
    .bind(document_id)
    .bind(rule.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Rows per history INSERT: 7 values each.
const HISTORY_CHUNK: usize = 2_000;

/// Writes history rows, many per statement (a reinstalled PC can change hundreds of packages).
pub(super) async fn write_history(
    conn: &mut DbConn,
    asset_id: i64,
    changes: &[Change],
    changed_at: &str,
    source: &str,
    document_id: &str,
) -> Result<(), sqlx::Error> {
    let p = Placeholders::of(conn);
    for chunk in changes.chunks(HISTORY_CHUNK) {
        let mut q = Bulk::new(
            p,
            "INSERT INTO history (asset_id, field, old_value, new_value, changed_at, source,
                document_id) VALUES ",
        );
        q.list(chunk, |q, c| {
            q.push("(")
                .bind(asset_id)
                .push(", ")
                .bind(c.field)
                .push(", ")
                .bind(c.old.as_deref())
                .push(", ")
                .bind(c.new.as_deref())
                .push(", ")
                .bind(changed_at)
                .push(", ")
                .bind(source)
                .push(", ")
                .bind(document_id)
                .push(")");
        });
        q.execute(conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(v, s)| (v.to_string(), s.to_string()))
            .collect()
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    /// Copies of one document queued behind the write lock go in one batch; the second copy's
    /// `documents` insert then fails, the batch is applied again one document at a time, and
    /// every copy after the first is a replay of it.
    #[tokio::test]
    async fn copies_of_a_document_in_one_batch_are_stored_once() {
        const COPIES: usize = 4;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::testing::database_url(dir.path()), 2)
            .await
            .unwrap();
        let (_, token) = store.create_token("site-a").await.unwrap();
        let site = store.authenticate(&token).await.unwrap().unwrap();
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-1".into();
        let doc = Arc::new(Document {
            header: parc_shared::DocumentHeader::new(
                uuid::Uuid::new_v4(),
                SourceKind::AgentInventory,
                Utc::now(),
            ),
            body: inv,
        });

        let held = store.lock_writes().await;
        let copies: Vec<_> = (0..COPIES)
            .map(|_| {
                let (store, site, doc) = (store.clone(), site.clone(), doc.clone());
                tokio::spawn(async move { store.ingest_inventory(&site, doc).await })
            })
            .collect();
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while store.inventories_waiting() < COPIES {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every copy queues for the lock");
        drop(held);

        let mut outcomes = Vec::new();
        for copy in copies {
            outcomes.push(copy.await.unwrap().unwrap());
        }
        let stored: Vec<_> = outcomes.iter().filter(|o| !o.duplicate).collect();
        assert_eq!(stored.len(), 1, "{outcomes:?}");
        assert!(stored[0].created);
        assert!(outcomes.iter().all(|o| o.asset_id == stored[0].asset_id));
        let counts = store.row_counts().await.unwrap();
        let count = |table: &str| counts.iter().find(|(t, _)| *t == table).unwrap().1;
        assert_eq!(
            (count("assets"), count("documents"), count("history")),
            (1, 1, 1),
            "{counts:?}"
        );
    }

    #[test]
    fn facts_are_the_inventory_without_its_list() {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-1".into();
        inv.cpus.push(Default::default());
        inv.users.local.push(Default::default());
        inv.software.push(parc_shared::inventory::Software {
            name: "curl".into(),
            ..Default::default()
        });
        inv.software_unchanged = Some("d".into());
        let without = Inventory {
            software: Vec::new(),
            software_unchanged: None,
            software_delta: None,
            ..inv.clone()
        };
        assert_eq!(facts_json(&inv), serde_json::to_string(&without).unwrap());
        let back: Inventory = serde_json::from_str(&facts_json(&inv)).unwrap();
        assert_eq!(back, without);
    }

    #[test]
    fn a_preview_serves_only_the_asset_it_read_unchanged() {
        let read = StoredAsset {
            kind: "computer".into(),
            name: Some("PC-1".into()),
            facts: Some("{\"host\":1}".into()),
            software_digest: Some("d1".into()),
            ..StoredAsset::default()
        };
        let changes = vec![Change {
            field: "hostname",
            old: Some("PC-0".into()),
            new: Some("PC-1".into()),
        }];
        let preview = Preview {
            asset_id: 7,
            asset: read.clone(),
            changes: changes.clone(),
        };
        // What lookup adds (site, MACs, addresses) does not enter the history.
        let found = StoredAsset {
            site_id: 3,
            macs: rows(&[("aa", "inventory")]),
            ..read.clone()
        };
        assert_eq!(preview.changes_for(7, &found), Some(changes));
        let cases: [(&str, i64, StoredAsset); 5] = [
            ("another asset", 8, read.clone()),
            (
                "facts rewritten",
                7,
                StoredAsset {
                    facts: Some("{}".into()),
                    ..read.clone()
                },
            ),
            (
                "list changed",
                7,
                StoredAsset {
                    software_digest: Some("d2".into()),
                    ..read.clone()
                },
            ),
            (
                "renamed",
                7,
                StoredAsset {
                    name: None,
                    ..read.clone()
                },
            ),
            (
                "kind changed",
                7,
                StoredAsset {
                    kind: "printer".into(),
                    ..read.clone()
                },
            ),
        ];
        for (case, id, asset) in cases {
            assert_eq!(preview.changes_for(id, &asset), None, "{case}");
        }
    }

    #[test]
    fn key_delta_writes_only_the_difference() {
        type Case<'a> = (
            &'a str,
            Vec<(String, String)>,
            Vec<String>,
            &'a [&'a str],
            &'a [&'a str],
        );
        let cases: Vec<Case> = vec![
            (
                "new asset",
                rows(&[]),
                strings(&["a", "b"]),
                &[],
                &["a", "b"],
            ),
            (
                "unchanged: nothing to write",
                rows(&[("a", "inventory"), ("b", "inventory")]),
                strings(&["a", "b"]),
                &[],
                &[],
            ),
            (
                "one replaced",
                rows(&[("a", "inventory"), ("b", "inventory")]),
                strings(&["a", "c"]),
                &["b"],
                &["c"],
            ),
            (
                "a sweep's key is kept, and becomes the inventory's when reported",
                rows(&[("a", "sweep"), ("b", "sweep"), ("c", "inventory")]),
                strings(&["a"]),
                &["c"],
                &["a"],
            ),
            (
                "nothing reported: the inventory's go, others stay",
                rows(&[("a", "snmp"), ("c", "inventory")]),
                strings(&[]),
                &["c"],
                &[],
            ),
            (
                "duplicates are written once",
                rows(&[("c", "inventory"), ("c", "inventory")]),
                strings(&["a", "a"]),
                &["c"],
                &["a"],
            ),
        ];
        for (name, stored, reported, gone, upsert) in cases {
            let (g, u) = key_delta(&stored, &reported);
            let g: Vec<&str> = g.iter().map(|s| s.as_str()).collect();
            let u: Vec<&str> = u.iter().map(|s| s.as_str()).collect();
            assert_eq!((g.as_slice(), u.as_slice()), (gone, upsert), "{name}");
        }
    }

    #[test]
    fn lookup_rows_assemble_into_candidates() {
        let t = |v: &[Option<&str>]| -> [Option<String>; 9] {
            std::array::from_fn(|i| v.get(i).copied().flatten().map(str::to_string))
        };
        let asset = |id: i64, site: i64, serial: &str| {
            (
                ROW_ASSET,
                id,
                Some(site),
                t(&[
                    Some(serial),
                    None,
                    None,
                    Some("pc"),
                    Some("computer"),
                    Some("PC"),
                    Some("{}"),
                    Some("2026-01-01T00:00:00.000000Z"),
                    Some("d1"),
                ]),
            )
        };
        // Rows in any order, children before their asset, a MAC from two sources.
        let found: Vec<LookupRow> = vec![
            (ROW_MAC, 7, None, t(&[Some("m2"), Some("inventory")])),
            (ROW_AGENT, 7, None, t(&[Some("agent-b")])),
            asset(7, 2, "SN7"),
            (ROW_MAC, 7, None, t(&[Some("m1"), Some("sweep")])),
            (ROW_AGENT, 7, None, t(&[Some("agent-a")])),
            (
                ROW_ADDRESS,
                7,
                None,
                t(&[Some("10.0.0.7"), Some("inventory")]),
            ),
            asset(3, 1, "SN3"),
            // A child row of an asset not in the result (deleted meanwhile) is ignored.
            (ROW_MAC, 9, None, t(&[Some("m9"), Some("inventory")])),
        ];
        let l = assemble(1, found);
        let ids: Vec<i64> = l.candidates.iter().map(|c| c.asset_id).collect();
        assert_eq!(ids, vec![3, 7]);
        let seven = &l.candidates[1].keys;
        assert_eq!(seven.serial.as_deref(), Some("SN7"));
        assert_eq!(seven.macs, strings(&["m1", "m2"]));
        assert_eq!(seven.agent_ids, strings(&["agent-a", "agent-b"]));
        assert_eq!((seven.site_id, seven.name.as_deref()), (2, Some("pc")));
        let s = &l.stored[&7];
        assert_eq!(s.macs, rows(&[("m2", "inventory"), ("m1", "sweep")]));
        assert_eq!(s.addresses, rows(&[("10.0.0.7", "inventory")]));
        assert_eq!(
            (s.kind.as_str(), s.software_digest.as_deref(), s.site_id),
            ("computer", Some("d1"), 2)
        );
        assert!(l.candidates[0].keys.macs.is_empty() && !l.stored.contains_key(&9));
        assert_eq!(s.serial_key.as_deref(), Some("SN7"));
        assert_eq!(l.replayed, None);

        let replay = vec![
            (ROW_DOCUMENT, 7, None, t(&[Some("serial")])),
            asset(7, 2, "SN7"),
        ];
        assert_eq!(
            assemble(1, replay).replayed,
            Some((7, Some("serial".to_string())))
        );
    }
}
