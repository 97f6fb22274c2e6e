//! Running as a Windows agent: where things live, which registry values override the file,
//! and the service the MSI installs.
//!
//! - [`paths`]: `%ProgramData%\Parc` for the config, the spool and the logs.
//! - [`policy`]: merging install values and group policy into the configuration (pure, so its
//!   tests run on Linux).
//! - `registry` (Windows only): reading those values from `HKLM`.
//! - [`acl`]: who may read the token and config (SYSTEM and Administrators).
//! - `win32` (Windows only): the known folder `%ProgramData%` and applying those ACLs; the
//!   only `unsafe` code of the Windows agent.
//! - `service` (Windows only): the SCM entry point (`parc-agent service`), logging to a rotating
//!   file, and the SCM's stop turned into the same cancellation as SIGTERM on Linux.

pub mod acl;
pub mod paths;
pub mod policy;
#[cfg(windows)]
pub mod registry;
#[cfg(windows)]
pub mod service;
#[cfg(windows)]
pub mod win32;
