//! Installed software, from each package database present on the host.
//!
//! - [`dpkg`]: /var/lib/dpkg/status, parsed directly (one read, no subprocess per package).
//! - [`rpm`]: one `rpm -qa --queryformat` run, only when /usr/bin/rpm exists.
//! - [`windows`]: the registry Uninstall keys (both views of HKLM, loaded user hives).

pub mod dpkg;
pub mod rpm;
pub mod windows;

use parc_shared::inventory::Software;

use super::source::Root;

/// Every package of every database found; a database that cannot be read is logged and
/// contributes nothing.
pub fn gather(root: &Root) -> Vec<Software> {
    let mut all = dpkg::gather(root);
    if root.is_system() && root.exists("/usr/bin/rpm") {
        all.extend(rpm::gather());
    }
    all
}
