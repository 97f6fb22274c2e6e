//! Where facts are read from: a filesystem root (`/` in production, a fake tree in tests).
//!
//! Every reader returns `None` for a missing or unreadable file and logs it at debug level:
//! an absent fact is normal (containers have no DMI, desktops no rpm), never an error.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A directory standing in for `/`. Absolute paths given to the readers are resolved under it.
#[derive(Debug, Clone)]
pub struct Root(PathBuf);

impl Root {
    pub fn system() -> Self {
        Root(PathBuf::from("/"))
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Root(dir.into())
    }

    /// True when this is the real root: facts that do not come from files (uname, statvfs,
    /// getifaddrs) are only gathered then, so a fake tree in a test is not mixed with this host.
    pub fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.0.join(abs.trim_start_matches('/'))
    }

    pub fn read(&self, abs: &str) -> Option<String> {
        let path = self.path(abs);
        match std::fs::read(&path) {
            // Lossy: a stray Latin-1 byte in a GECOS field or a package description must not
            // cost the whole file.
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "fact source unavailable");
                None
            }
        }
    }

    pub fn read_bytes(&self, abs: &str) -> Option<Vec<u8>> {
        let path = self.path(abs);
        std::fs::read(&path)
            .map_err(
                |e| tracing::debug!(path = %path.display(), error = %e, "fact source unavailable"),
            )
            .ok()
    }

    /// The file's content trimmed, or `None` when it is missing, unreadable or blank.
    pub fn read_trimmed(&self, abs: &str) -> Option<String> {
        self.read(abs)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    pub fn exists(&self, abs: &str) -> bool {
        self.path(abs).exists()
    }

    /// The last component of a symlink's target ("../../bus/virtio/drivers/virtio_blk" gives
    /// "virtio_blk"); sysfs expresses drivers and buses this way.
    pub fn link_name(&self, abs: &str) -> Option<String> {
        let target = std::fs::read_link(self.path(abs)).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }

    pub fn link_target(&self, abs: &str) -> Option<PathBuf> {
        std::fs::read_link(self.path(abs)).ok()
    }

    pub fn mtime(&self, abs: &str) -> Option<SystemTime> {
        std::fs::metadata(self.path(abs))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Names of the entries of a directory, sorted so that the output is stable.
    pub fn list_dir(&self, abs: &str) -> Vec<String> {
        let path = self.path(abs);
        let mut names: Vec<String> = match std::fs::read_dir(&path) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "directory unavailable");
                Vec::new()
            }
        };
        names.sort();
        names
    }
}
