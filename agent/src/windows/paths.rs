//! Where the Windows agent keeps its files: everything under `%ProgramData%\Parc`, which
//! survives upgrades (the MSI owns only the program folder) and is writable by LocalSystem.

use std::path::PathBuf;

/// The Windows service name, as registered by the MSI.
pub const SERVICE_NAME: &str = "ParcAgent";

/// `%ProgramData%\Parc`, given the value of `%ProgramData%` (absent or blank in odd sessions,
/// where Windows' own default is used).
pub fn parc_dir(program_data: Option<&str>) -> PathBuf {
    let base = program_data
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or(r"C:\ProgramData");
    PathBuf::from(base).join("Parc")
}

/// This machine's `%ProgramData%\Parc`. The known folder first: a service's environment is
/// the SCM's, and a user's session may redirect the variable; the variable only if the shell
/// cannot answer.
pub fn this_parc_dir() -> PathBuf {
    #[cfg(windows)]
    if let Some(program_data) = super::win32::program_data() {
        return program_data.join("Parc");
    }
    parc_dir(std::env::var("ProgramData").ok().as_deref())
}

/// The configuration file read when `--config` is not given.
pub fn default_config() -> PathBuf {
    this_parc_dir().join("agent.toml")
}

/// The agent id and the spool.
pub fn default_state_dir() -> PathBuf {
    this_parc_dir()
}

/// Rotated service logs.
pub fn log_dir() -> PathBuf {
    this_parc_dir().join("logs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parc_dir_follows_program_data() {
        let cases = [
            (Some(r"D:\Data"), r"D:\Data"),
            (Some("  "), r"C:\ProgramData"),
            (None, r"C:\ProgramData"),
        ];
        for (env, base) in cases {
            assert_eq!(parc_dir(env), PathBuf::from(base).join("Parc"), "{env:?}");
        }
    }
}
