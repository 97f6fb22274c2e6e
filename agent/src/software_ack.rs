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
//! The acknowledged digest is kept with the collector's URL: another collector has not seen
//! the list. A collector that never names a digest (an older one) is never sent a document
//! without its list.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use parc_shared::inventory::Software;
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

    /// Records that `server` stored the list with this digest. Failing to record it only
    /// costs sending the list next time, so it is logged, not returned.
    pub fn record(&self, server: &str, digest: &str) {
        let acked = Acked {
            server: server.into(),
            digest: digest.into(),
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

/// A spooled inventory (gzip JSON) and the digest of its software list.
pub struct SpooledInventory {
    document: Value,
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
            document,
        })
    }

    /// The document as sent without its list: gzip JSON, everything else as spooled.
    pub fn without_software(mut self) -> Result<Vec<u8>> {
        let body = self
            .document
            .get_mut("body")
            .and_then(Value::as_object_mut)
            .context("spooled inventory has no body")?;
        body.insert("software".into(), Value::Array(Vec::new()));
        body.insert("software_unchanged".into(), Value::String(self.digest));
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        serde_json::to_writer(&mut gz, &self.document)?;
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
        ack.record(a, "d1");
        assert!(ack.holds(a, "d1"));
        assert!(!ack.holds(a, "d2"));
        assert!(!ack.holds(b, "d1"));
        ack.record(a, "d2");
        assert!(ack.holds(a, "d2") && !ack.holds(a, "d1"));
        ack.forget();
        assert!(!ack.holds(a, "d2"));
        ack.forget();
        fs::write(dir.path().join(FILE), b"{torn").unwrap();
        assert!(!ack.holds(a, "d2"));
    }
}
