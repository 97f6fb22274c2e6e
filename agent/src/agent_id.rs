//! The agent's stable id: created once, kept in the state directory, sent with every document.
//!
//! The collector matches machines on hardware keys first; the agent id is what lets it recognise
//! the same installation when hardware keys are absent (VMs without DMI) and tell two installations
//! apart when an image was cloned (issue #9 adds clone detection on top of it).

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use uuid::Uuid;

const FILE: &str = "agent-id";

/// Reads the agent id from `state_dir`, creating it (and the directory) on first use.
pub fn load_or_create(state_dir: &Path) -> Result<Uuid> {
    let path = state_dir.join(FILE);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text).with_context(|| {
            format!(
                "{} is corrupt; remove it to give this agent a new id",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(state_dir).with_context(|| {
                format!("cannot create state directory {}", state_dir.display())
            })?;
            let id = Uuid::new_v4();
            let tmp = state_dir.join(format!("{FILE}.tmp"));
            let mut f = fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            writeln!(f, "{id}")?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn parse(text: &str) -> Result<Uuid> {
    Ok(Uuid::parse_str(text.trim())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), "garbage").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("corrupt"), "{err:#}");
    }
}
