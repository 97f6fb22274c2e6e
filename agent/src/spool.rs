//! The on-disk queue every document passes through before it is delivered.
//!
//! A document is written to the spool first and removed only once the collector has
//! acknowledged it, so a crash, a reboot or a collector outage never loses one. Entries are
//! gzip-compressed request bodies, ready to send. Writes are atomic (temporary file, fsync,
//! rename), so a process kill or a power cut leaves either the whole entry or none; leftovers of
//! an interrupted write are removed at start. Every entry is checked on start (it must
//! decompress to the end): one that does not (a file system that lost data in a power cut, a
//! disk error, a hand edit) is moved to `quarantine/` with a warning, never sent, and the
//! agent carries on with the others.
//!
//! The spool is bounded by bytes and by count: past either bound the oldest entries are
//! dropped with a warning and counted ([`Spool::dropped`]), since the newest inventory of a
//! machine supersedes older ones.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use uuid::Uuid;

/// The kind of document, which decides the collector endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Inventory,
    Discovery,
    /// One SNMP device per document.
    Snmp,
}

impl Kind {
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::Inventory => "api/v1/inventories",
            Kind::Discovery => "api/v1/discoveries",
            Kind::Snmp => "api/v1/snmp",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Kind::Inventory => "inventory",
            Kind::Discovery => "discovery",
            Kind::Snmp => "snmp",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "inventory" => Some(Kind::Inventory),
            "discovery" => Some(Kind::Discovery),
            "snmp" => Some(Kind::Snmp),
            _ => None,
        }
    }
}

/// One spooled document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: Kind,
    pub document_id: Uuid,
    pub size: u64,
}

impl Entry {
    /// The gzip-compressed body, checked to decompress: a torn or corrupted entry is an error.
    pub fn read_body(&self) -> Result<Vec<u8>> {
        let body = fs::read(&self.path)
            .with_context(|| format!("cannot read spool entry {}", self.path.display()))?;
        let mut check = GzDecoder::new(&body[..]);
        std::io::copy(&mut check, &mut std::io::sink())
            .with_context(|| format!("spool entry {} is corrupt", self.path.display()))?;
        Ok(body)
    }
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_documents: usize,
    /// Documents dropped to stay within the bounds since the spool was opened.
    dropped: AtomicU64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`: removes leftovers of interrupted writes
    /// and quarantines entries that do not decompress, so that what remains can be sent.
    pub fn open(dir: &Path, max_bytes: u64, max_documents: usize) -> Result<Self> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create spool directory {}", dir.display()))?;
        for item in fs::read_dir(dir)? {
            let path = item?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                tracing::warn!(path = %path.display(), "removing a partial spool write");
                let _ = fs::remove_file(&path);
            }
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            max_documents,
            dropped: AtomicU64::new(0),
        };
        for entry in spool.entries()? {
            if let Err(e) = entry.read_body() {
                spool.quarantine(&entry.path, &format!("{e:#}"));
            }
        }
        Ok(spool)
    }

    /// Documents dropped (oldest first) to stay within the bounds since the spool was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Serialises, compresses and durably stores a document. Returns its entry.
    pub fn push<T: Serialize>(&self, kind: Kind, document_id: Uuid, document: &T) -> Result<Entry> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        serde_json::to_writer(&mut gz, document)?;
        let body = gz.finish()?;
        // The name sorts by enqueue time so that delivery is oldest first.
        let stamp = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("{stamp:020}-{}-{document_id}.json.gz", kind.tag());
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        {
            let mut f = fs::File::create(&tmp)
                .with_context(|| format!("cannot write spool entry {}", tmp.display()))?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir);
        self.enforce_bounds()?;
        Ok(Entry {
            path,
            kind,
            document_id,
            size: body.len() as u64,
        })
    }

    /// Entries oldest first. Files that do not look like entries are moved to quarantine.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let path = item.path();
            if !item.file_type()?.is_file() {
                continue;
            }
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                continue;
            }
            match parse_name(&name) {
                Some((kind, document_id)) => entries.push(Entry {
                    size: item.metadata()?.len(),
                    path,
                    kind,
                    document_id,
                }),
                None => self.quarantine(&path, "unexpected file name"),
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    pub fn remove(&self, entry: &Entry) -> Result<()> {
        match fs::remove_file(&entry.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", entry.path.display())),
        }
    }

    /// Moves an entry that can never be delivered out of the queue, keeping it for inspection.
    pub fn quarantine(&self, path: &Path, why: &str) {
        let qdir = self.dir.join("quarantine");
        let target = qdir.join(path.file_name().unwrap_or_default());
        tracing::warn!(path = %path.display(), why, "moving spool entry to quarantine");
        let moved = fs::create_dir_all(&qdir).and_then(|_| fs::rename(path, &target));
        if let Err(e) = moved {
            tracing::warn!(error = %e, "cannot quarantine; removing");
            let _ = fs::remove_file(path);
        }
    }

    /// Drops the oldest entries while the spool is over either bound.
    fn enforce_bounds(&self) -> Result<()> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        let mut count = entries.len();
        for e in &entries {
            if total <= self.max_bytes && count <= self.max_documents {
                break;
            }
            // Never drop the entry just written: it is the newest, so it is last.
            if count == 1 {
                break;
            }
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                document_id = %e.document_id,
                spool_bytes = total,
                spool_documents = count,
                dropped_since_start = dropped,
                "spool full: dropping the oldest document"
            );
            self.remove(e)?;
            total -= e.size;
            count -= 1;
        }
        Ok(())
    }
}

fn parse_name(name: &str) -> Option<(Kind, Uuid)> {
    let stem = name.strip_suffix(".json.gz")?;
    let mut parts = stem.splitn(3, '-');
    let stamp = parts.next()?;
    if stamp.is_empty() || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = Kind::from_tag(parts.next()?)?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    Some((kind, id))
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable; not possible on every platform, and harmless to skip there.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Decompresses a spooled body (for tests and diagnostics).
pub fn decompress(body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(dir: &Path) -> Spool {
        Spool::open(dir, 1024 * 1024, 3).unwrap()
    }

    #[test]
    fn entries_come_back_oldest_first_and_intact() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path());
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for (i, id) in ids.iter().enumerate() {
            s.push(Kind::Inventory, *id, &serde_json::json!({ "n": i }))
                .unwrap();
        }
        let entries = s.entries().unwrap();
        assert_eq!(
            entries.iter().map(|e| e.document_id).collect::<Vec<_>>(),
            ids
        );
        let body = decompress(&entries[1].read_body().unwrap()).unwrap();
        assert_eq!(body, br#"{"n":1}"#);
    }

    #[test]
    fn oldest_dropped_past_the_count_bound() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path());
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            s.push(Kind::Discovery, *id, &"x").unwrap();
        }
        let kept: Vec<Uuid> = s.entries().unwrap().iter().map(|e| e.document_id).collect();
        assert_eq!(kept, ids[2..]);
        assert_eq!(s.dropped(), 2);
    }

    #[test]
    fn oldest_dropped_past_the_byte_bound_but_never_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1, 100).unwrap();
        let first = s.push(Kind::Inventory, Uuid::new_v4(), &"a").unwrap();
        let second = s.push(Kind::Inventory, Uuid::new_v4(), &"b").unwrap();
        let kept: Vec<Uuid> = s.entries().unwrap().iter().map(|e| e.document_id).collect();
        assert_eq!(kept, vec![second.document_id]);
        assert_ne!(first.document_id, second.document_id);
        assert_eq!(s.dropped(), 1);
    }

    #[test]
    fn corrupt_entries_quarantined_on_open_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (good, torn, garbage) = {
            let s = spool(dir.path());
            let good = s.push(Kind::Inventory, Uuid::new_v4(), &"good").unwrap();
            let torn = s
                .push(Kind::Inventory, Uuid::new_v4(), &vec![7u8; 8192])
                .unwrap();
            let garbage = s.push(Kind::Snmp, Uuid::new_v4(), &"x").unwrap();
            (good, torn, garbage)
        };
        // What a power cut on a file system without ordered data can leave: a valid name over
        // a short or zeroed file.
        let body = fs::read(&torn.path).unwrap();
        fs::write(&torn.path, &body[..body.len() / 3]).unwrap();
        fs::write(&garbage.path, [0u8; 64]).unwrap();
        let s = spool(dir.path());
        let kept: Vec<Uuid> = s.entries().unwrap().iter().map(|e| e.document_id).collect();
        assert_eq!(kept, vec![good.document_id]);
        for e in [&torn, &garbage] {
            let name = e.path.file_name().unwrap();
            assert!(dir.path().join("quarantine").join(name).exists());
        }
    }

    #[test]
    fn partial_writes_removed_and_strangers_quarantined_on_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path()
                .join("00000000000000000001-inventory-x.json.gz.tmp"),
            b"half",
        )
        .unwrap();
        fs::write(dir.path().join("notes.txt"), b"?").unwrap();
        let s = spool(dir.path());
        assert!(s.entries().unwrap().is_empty());
        assert!(dir.path().join("quarantine/notes.txt").exists());
        assert!(!dir
            .path()
            .join("00000000000000000001-inventory-x.json.gz.tmp")
            .exists());
    }

    #[test]
    fn torn_entry_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let s = spool(dir.path());
        let e = s
            .push(Kind::Inventory, Uuid::new_v4(), &vec![1u8; 4096])
            .unwrap();
        let body = fs::read(&e.path).unwrap();
        fs::write(&e.path, &body[..body.len() / 2]).unwrap();
        assert!(e.read_body().is_err());
    }

    #[test]
    fn names_round_trip() {
        let id = Uuid::new_v4();
        let name = format!("{:020}-inventory-{id}.json.gz", 42);
        assert_eq!(parse_name(&name), Some((Kind::Inventory, id)));
        for kind in [Kind::Inventory, Kind::Discovery, Kind::Snmp] {
            let name = format!("{:020}-{}-{id}.json.gz", 7, kind.tag());
            assert_eq!(parse_name(&name), Some((kind, id)));
        }
        assert_eq!(Kind::Snmp.endpoint(), "api/v1/snmp");
        assert_eq!(parse_name("x-inventory-abc.json.gz"), None);
        assert_eq!(parse_name(&format!("1-other-{id}.json.gz")), None);
    }
}
