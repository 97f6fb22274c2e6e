//! Who may read the agent's secrets on Windows: SYSTEM and the Administrators group, nobody
//! else. The service applies these descriptors (in `win32`) to `%ProgramData%\Parc` and to
//! the MSI's `HKLM\SOFTWARE\Parc` when it starts; kept here, free of Windows calls, so their
//! meaning is checked by tests on every platform.
//!
//! SDDL: `P` protects the DACL from inheriting the parent's (which lets Users read), `OICI`
//! passes the entries on to files and subfolders, `CI` to subkeys; `FA`/`KA` is full control
//! of a file or key; `SY` is LocalSystem, `BA` the built-in Administrators.

/// For `%ProgramData%\Parc`: the config, the agent id, the spool and the logs.
pub const ADMINS_ONLY_DIRECTORY: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

/// For `HKLM\SOFTWARE\Parc`, where the MSI writes SERVER, TOKEN and TAGS.
pub const ADMINS_ONLY_KEY: &str = "D:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)";

/// The install key as `SetNamedSecurityInfoW` names registry keys.
pub const INSTALL_KEY_OBJECT: &str = r"MACHINE\SOFTWARE\Parc";

#[cfg(test)]
mod tests {
    use super::*;

    /// (flags, rights, trustee) of each ACE, and whether the DACL is protected.
    fn aces(sddl: &str) -> (bool, Vec<(String, String, String)>) {
        let dacl = sddl.strip_prefix("D:").expect("a DACL");
        let (flags, rest) = dacl.split_at(dacl.find('(').expect("ACEs"));
        let entries = rest
            .trim_matches(|c| c == '(' || c == ')')
            .split(")(")
            .map(|ace| {
                let f: Vec<&str> = ace.split(';').collect();
                assert_eq!(f.len(), 6, "{ace}");
                assert_eq!(f[0], "A", "allow entries only: {ace}");
                (f[1].to_string(), f[2].to_string(), f[5].to_string())
            })
            .collect();
        (flags.contains('P'), entries)
    }

    #[test]
    fn only_system_and_administrators_and_no_inheritance_from_above() {
        for (sddl, inherit, rights) in [
            (ADMINS_ONLY_DIRECTORY, "OICI", "FA"),
            (ADMINS_ONLY_KEY, "CI", "KA"),
        ] {
            let (protected, entries) = aces(sddl);
            assert!(protected, "{sddl}: Users' read access would be inherited");
            let trustees: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
            assert_eq!(trustees, ["SY", "BA"], "{sddl}");
            assert!(
                entries.iter().all(|e| e.0 == inherit && e.1 == rights),
                "{sddl}"
            );
        }
        assert!(INSTALL_KEY_OBJECT.ends_with(super::super::policy::INSTALL_KEY));
    }
}
