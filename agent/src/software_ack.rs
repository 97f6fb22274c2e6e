//! Leaving out a software list the collector already holds.
//!
//! A workstation's ~800 packages are most of its inventory and rarely change between two
//! inventories. Once the collector has answered with the digest of the list it stored
//! (`software_digest`, the same [`parc_shared::software_digest`] the agent computes), the
//! agent sends later inventories whose list is unchanged with `software_unchanged` (that
//! digest) in its place: a tenth of the bytes, and the collector does not parse the list
//! again. The spool keeps whole documents; the list is left out only on the wire, so when the
//! collector answers that it does not hold that list (409 `software_list_unknown`: the asset
//! was merged, the database restored) the agent forgets the digest and sends the whole
//! document at once.
//!
//! When the list changed since, and the collector said it accepts changes
//! (`accepts_software_delta`), the agent sends only the packages added and removed since the
//! acknowledged list ([`parc_shared::SoftwareDelta`]): a workstation that upgraded two packages
//! sends four entries, not 800. So the acknowledged list itself is kept, not only its digest.
//!
//! The acknowledgement is kept with the collector's URL: another collector has not seen the
//! list. A collector that never names a digest (an older one) is never sent a document
//! without its list, nor changes unless it says it accepts them.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use parc_shared::inventory::Software;
use parc_shared::SoftwareDelta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file, in the agent's state directory.
pub const FILE: &str = "software-ack.json";

/// Which software list a collector acknowledged.
#[derive(Debug, Clone)]
pub struct SoftwareAck {
    path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Acked {
    server: String,
    digest: String,
    /// The collector accepts changes against this list (files written before changes
    /// existed have neither this nor the list).
    #[serde(default)]
    deltas: bool,
    #[serde(default)]
    list: Vec<Software>,
}

impl SoftwareAck {
    pub fn in_dir(state_dir: &Path) -> Self {
        SoftwareAck {
            path: state_dir.join(FILE),
        }
    }

    /// True when `server` acknowledged a list with this digest.
    pub fn holds(&self, server: &str, digest: &str) -> bool {
        self.read()
            .is_some_and(|a| a.server == server && a.digest == digest)
    }

    /// The list `server` acknowledged and its digest, when it accepts changes against it.
    pub fn delta_base(&self, server: &str) -> Option<(String, Vec<Software>)> {
        let acked = self.read()?;
        // A list that is not the one acknowledged (an edited or half-written file) would
        // only earn a 409.
        (acked.server == server
            && acked.deltas
            && parc_shared::software_digest(&acked.list) == acked.digest)
            .then_some((acked.digest, acked.list))
    }

    /// Records that `server` stored `list`, whose digest is `digest`, and whether it accepts
    /// changes against it. Failing to record it only costs sending the list next time, so it
    /// is logged, not returned.
    pub fn record(&self, server: &str, digest: &str, list: &[Software], deltas: bool) {
        let acked = Acked {
            server: server.into(),
            digest: digest.into(),
            deltas,
            list: if deltas { list.to_vec() } else { Vec::new() },
        };
        if self.read().as_ref() == Some(&acked) {
            return;
        }
        let write = || -> std::io::Result<()> {
            let tmp = self.path.with_extension("json.tmp");
            fs::write(&tmp, serde_json::to_vec(&acked)?)?;
            fs::rename(&tmp, &self.path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot record the acknowledged software list");
        }
    }

    /// Forgets the acknowledged list: the next inventory carries its list.
    pub fn forget(&self) {
        if let Err(e) = fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot forget the acknowledged software list");
            }
        }
    }

    fn read(&self) -> Option<Acked> {
        // Unreadable or torn (a crash mid-write): as if nothing was acknowledged.
        serde_json::from_slice(&fs::read(&self.path).ok()?).ok()
    }
}

/// A spooled inventory (gzip JSON), its software list and the list's digest.
pub struct SpooledInventory {
    document: Value,
    pub list: Vec<Software>,
    pub digest: String,
}

impl SpooledInventory {
    pub fn read(gzip_body: &[u8]) -> Result<Self> {
        let mut json = Vec::new();
        GzDecoder::new(gzip_body)
            .read_to_end(&mut json)
            .context("spooled inventory does not decompress")?;
        let document: Value =
            serde_json::from_slice(&json).context("spooled inventory is not JSON")?;
        let list: Vec<Software> = match document.pointer("/body/software") {
            None | Some(Value::Null) => Vec::new(),
            Some(list) => Vec::<Software>::deserialize(list)
                .context("spooled inventory has an unreadable software list")?,
        };
        Ok(SpooledInventory {
            digest: parc_shared::software_digest(&list),
            list,
            document,
        })
    }

    /// The document as sent without its list: gzip JSON, everything else as spooled.
    pub fn without_software(&self) -> Result<Vec<u8>> {
        self.with_list_as("software_unchanged", Value::String(self.digest.clone()))
    }

    /// The changes from `base` (acknowledged, with digest `base_digest`) to this list, when
    /// they are worth sending instead of the list: fewer than half as many entries.
    pub fn changes_from(&self, base: &[Software], base_digest: &str) -> Option<SoftwareDelta> {
        let delta = SoftwareDelta::between(base, base_digest, &self.list);
        (delta.len() * 2 < self.list.len()).then_some(delta)
    }

    /// The document as sent with its list as `delta`.
    pub fn with_changes(&self, delta: &SoftwareDelta) -> Result<Vec<u8>> {
        self.with_list_as("software_delta", serde_json::to_value(delta)?)
    }

    /// The document with an empty list and `field` in its place.
    fn with_list_as(&self, field: &str, value: Value) -> Result<Vec<u8>> {
        let mut document = self.document.clone();
        let body = document
            .get_mut("body")
            .and_then(Value::as_object_mut)
            .context("spooled inventory has no body")?;
        body.insert("software".into(), Value::Array(Vec::new()));
        body.insert(field.into(), value);
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        serde_json::to_writer(&mut gz, &document)?;
        Ok(gz.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
    use std::io::Write;

    fn spooled(software: Vec<Software>) -> (Document<Inventory>, Vec<u8>) {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-01".into();
        inv.software = software;
        let doc = Document {
            header: DocumentHeader::new(
                uuid::Uuid::from_u128(7),
                SourceKind::AgentInventory,
                chrono::Utc::now(),
            ),
            body: inv,
        };
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&serde_json::to_vec(&doc).unwrap()).unwrap();
        (doc, gz.finish().unwrap())
    }

    fn pkg(name: &str) -> Software {
        Software {
            name: name.into(),
            version: Some("1.0".into()),
            source: "dpkg".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_list_is_left_out_and_everything_else_kept() {
        let (doc, body) = spooled(vec![pkg("b"), pkg("a")]);
        let spooled = SpooledInventory::read(&body).unwrap();
        assert_eq!(
            spooled.digest,
            parc_shared::software_digest(&doc.body.software)
        );
        let slim = spooled.without_software().unwrap();
        let mut json = Vec::new();
        GzDecoder::new(&slim[..]).read_to_end(&mut json).unwrap();
        let sent: Document<Inventory> = serde_json::from_slice(&json).unwrap();
        let mut want = doc.clone();
        want.body.software.clear();
        want.body.software_unchanged = Some(parc_shared::software_digest(&doc.body.software));
        assert_eq!(sent, want);
    }

    #[test]
    fn a_changed_list_is_sent_as_its_changes_against_the_acknowledged_one() {
        let dir = tempfile::tempdir().unwrap();
        let ack = SoftwareAck::in_dir(dir.path());
        let server = "https://parc.chu.example/";
        let base: Vec<Software> = (0..10).map(|i| pkg(&format!("p{i}"))).collect();
        let base_digest = parc_shared::software_digest(&base);

        // Not before the collector says it accepts changes.
        ack.record(server, &base_digest, &base, false);
        assert_eq!(ack.delta_base(server), None);
        ack.record(server, &base_digest, &base, true);
        assert_eq!(
            ack.delta_base(server),
            Some((base_digest.clone(), base.clone()))
        );
        assert_eq!(ack.delta_base("https://other.example/"), None);

        let mut list = base.clone();
        list[3].version = Some("2.0".into());
        let (doc, body) = spooled(list.clone());
        let spooled = SpooledInventory::read(&body).unwrap();
        let delta = spooled
            .changes_from(&base, &base_digest)
            .expect("2 changes of 10");
        assert_eq!((delta.added.len(), delta.removed.len()), (1, 1));
        let mut json = Vec::new();
        GzDecoder::new(&spooled.with_changes(&delta).unwrap()[..])
            .read_to_end(&mut json)
            .unwrap();
        let sent: Document<Inventory> = serde_json::from_slice(&json).unwrap();
        let mut want = doc.clone();
        want.body.software.clear();
        want.body.software_delta = Some(delta.clone());
        assert_eq!(sent, want);
        assert_eq!(
            parc_shared::software_digest(&delta.apply(&base).unwrap()),
            parc_shared::software_digest(&doc.body.software)
        );

        // Half the list changed or more: the list itself is as cheap.
        let replaced: Vec<Software> = (0..10).map(|i| pkg(&format!("q{i}"))).collect();
        let spooled = SpooledInventory::read(&self::spooled(replaced).1).unwrap();
        assert_eq!(spooled.changes_from(&base, &base_digest), None);

        // A list that is not the one acknowledged is never a base.
        let mut acked: Acked =
            serde_json::from_slice(&fs::read(dir.path().join(FILE)).unwrap()).unwrap();
        acked.list.pop();
        fs::write(dir.path().join(FILE), serde_json::to_vec(&acked).unwrap()).unwrap();
        assert_eq!(ack.delta_base(server), None);
        // Nor one from before changes existed.
        fs::write(
            dir.path().join(FILE),
            format!(r#"{{"server":"{server}","digest":"{base_digest}"}}"#),
        )
        .unwrap();
        assert!(ack.holds(server, &base_digest));
        assert_eq!(ack.delta_base(server), None);
    }

    #[test]
    fn a_body_that_is_not_an_inventory_is_an_error() {
        for bad in [b"not gzip".to_vec(), spooled(vec![]).1[..10].to_vec()] {
            assert!(SpooledInventory::read(&bad).is_err());
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(br#"{"body":{"software":[{"name":1}]}}"#)
            .unwrap();
        let err = SpooledInventory::read(&gz.finish().unwrap()).err().unwrap();
        assert!(
            format!("{err:#}").contains("unreadable software list"),
            "{err:#}"
        );
    }

    #[test]
    fn an_acknowledgement_is_per_collector_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let ack = SoftwareAck::in_dir(dir.path());
        let (a, b) = ("https://parc.chu.example/", "https://other.example/");
        assert!(!ack.holds(a, "d1"));
        ack.record(a, "d1", &[], false);
        assert!(ack.holds(a, "d1"));
        assert!(!ack.holds(a, "d2"));
        assert!(!ack.holds(b, "d1"));
        ack.record(a, "d2", &[], false);
        assert!(ack.holds(a, "d2") && !ack.holds(a, "d1"));
        ack.forget();
        assert!(!ack.holds(a, "d2"));
        ack.forget();
        fs::write(dir.path().join(FILE), b"{torn").unwrap();
        assert!(!ack.holds(a, "d2"));
    }
}
