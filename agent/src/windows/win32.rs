//! The Windows agent's only `unsafe` code: the known folder `%ProgramData%` and the ACLs that
//! keep the enrolment token to SYSTEM and Administrators.
//!
//! Why ACLs: the MSI writes `TOKEN` to `HKLM\SOFTWARE\Parc` and admins may write it to
//! `%ProgramData%\Parc\agent.toml`; both inherit ACLs that let every local user read them,
//! and wixl has no `Permission` element to set one at install. The service, which runs as
//! LocalSystem, replaces them with a protected DACL when it starts.
//!
//! Invariants: every pointer handed out by Windows (the known folder path, the security
//! descriptor) is freed exactly once with the allocator that made it, after its contents were
//! copied or used; the DACL pointer borrows from the descriptor and is not used after the
//! descriptor is freed.
// The crate denies unsafe code; this module is the Windows agent's one audited exception.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::os::windows::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use windows::core::{BOOL, HSTRING, PWSTR};
use windows::Win32::Foundation::{LocalFree, HLOCAL};
use windows::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SetNamedSecurityInfoW, SDDL_REVISION_1,
    SE_FILE_OBJECT, SE_OBJECT_TYPE, SE_REGISTRY_KEY,
};
use windows::Win32::Security::{
    GetSecurityDescriptorDacl, ACL, DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR,
};
use windows::Win32::System::Com::CoTaskMemFree;
use windows::Win32::UI::Shell::{FOLDERID_ProgramData, SHGetKnownFolderPath, KF_FLAG_DEFAULT};

use super::acl::{ADMINS_ONLY_DIRECTORY, ADMINS_ONLY_KEY};

/// `%ProgramData%` from the shell's known folder, which a redirected or unset environment
/// variable cannot change; None if the shell cannot say.
pub fn program_data() -> Option<PathBuf> {
    // SAFETY: FOLDERID_ProgramData is a valid GUID for the call's duration; no token means
    // the current user's (any user's ProgramData is the machine's).
    let raw: PWSTR =
        match unsafe { SHGetKnownFolderPath(&FOLDERID_ProgramData, KF_FLAG_DEFAULT, None) } {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "SHGetKnownFolderPath(ProgramData) failed");
                return None;
            }
        };
    // SAFETY: on success raw is a NUL-terminated wide string owned by us until CoTaskMemFree.
    let path = unsafe { OsString::from_wide(raw.as_wide()) };
    // SAFETY: raw was allocated by the shell with CoTaskMemAlloc and is freed once, here.
    unsafe { CoTaskMemFree(Some(raw.as_ptr() as *const _)) };
    Some(PathBuf::from(path))
}

/// Replaces the DACL of a directory (and, by inheritance, of everything in it).
pub fn restrict_directory(path: &Path) -> windows::core::Result<()> {
    set_protected_dacl(
        &HSTRING::from(path.as_os_str()),
        SE_FILE_OBJECT,
        ADMINS_ONLY_DIRECTORY,
    )
}

/// Replaces the DACL of a registry key given as `MACHINE\SOFTWARE\...`.
pub fn restrict_registry_key(key: &str) -> windows::core::Result<()> {
    set_protected_dacl(&HSTRING::from(key), SE_REGISTRY_KEY, ADMINS_ONLY_KEY)
}

fn set_protected_dacl(
    name: &HSTRING,
    kind: SE_OBJECT_TYPE,
    sddl: &str,
) -> windows::core::Result<()> {
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: the SDDL string outlives the call; descriptor is a valid out-pointer and, on
    // success, owns a LocalAlloc'd descriptor freed below.
    unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            &HSTRING::from(sddl),
            SDDL_REVISION_1,
            &mut descriptor,
            None,
        )?
    };
    let result = (|| {
        let mut present = BOOL(0);
        let mut defaulted = BOOL(0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        // SAFETY: descriptor is valid; dacl points into it and is used only while it lives.
        unsafe { GetSecurityDescriptorDacl(descriptor, &mut present, &mut dacl, &mut defaulted)? };
        // SAFETY: name is NUL-terminated; dacl is valid (or null, which the SDDL excludes).
        unsafe {
            SetNamedSecurityInfoW(
                name,
                kind,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                None,
                None,
                Some(dacl),
                None,
            )
        }
        .ok()
    })();
    // SAFETY: descriptor came from LocalAlloc inside the conversion and is freed once.
    unsafe { LocalFree(Some(HLOCAL(descriptor.0))) };
    result
}
