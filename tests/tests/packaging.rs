//! The deployment artifacts, checked as built: the cross-built Windows exe, its MSI, the
//! group policy templates, the two .deb packages, and (as root) installing and purging those
//! packages on this machine.
//!
//! The artifacts come from `scripts/test.sh` (which runs `scripts/build-windows.sh`,
//! `scripts/build-msi.sh` and `scripts/build-deb.sh --debug` first). A plain `cargo test`
//! without them fails, naming the script to run, unless `PARC_SKIP_PACKAGING=1`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use parc_tests::workspace_root;

fn skipped() -> bool {
    let skip = std::env::var("PARC_SKIP_PACKAGING").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("PARC_SKIP_PACKAGING=1: packaging checks skipped");
    }
    skip
}

fn packages() -> PathBuf {
    workspace_root().join("target/packages")
}

/// The artifact at `path`, or a failure that says which script builds it.
fn artifact(path: PathBuf, script: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run {script} (scripts/test.sh does), or set PARC_SKIP_PACKAGING=1",
        path.display()
    );
    path
}

/// The one file in target/packages whose name starts with `prefix` and ends with `suffix`.
fn package(prefix: &str, suffix: &str, script: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(packages())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        [] => artifact(packages().join(format!("{prefix}*{suffix}")), script),
        many => panic!("several {prefix}*{suffix} in target/packages: {many:?}"),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---- Windows -------------------------------------------------------------------------------

#[test]
fn windows_exe_is_a_pe32_plus_x86_64_console_program_without_mingw_dlls() {
    if skipped() {
        return;
    }
    let exe = artifact(
        workspace_root().join("target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe"),
        "scripts/build-windows.sh",
    );
    let bytes = std::fs::read(&exe).unwrap();
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!(&bytes[..2], b"MZ", "DOS header");
    let pe = u32_at(0x3c) as usize;
    assert_eq!(&bytes[pe..pe + 4], b"PE\0\0", "PE signature at e_lfanew");
    assert_eq!(u16_at(pe + 4), 0x8664, "machine: x86-64");
    let optional = pe + 24;
    assert_eq!(u16_at(optional), 0x20b, "optional header magic: PE32+");
    assert_eq!(u16_at(optional + 68), 3, "subsystem: Windows console");
    // Statically linked CRT: nothing to ship beside the exe.
    for dll in [&b"libgcc_s_seh-1.dll"[..], b"libwinpthread-1.dll"] {
        assert!(
            !bytes
                .windows(dll.len())
                .any(|w| w.eq_ignore_ascii_case(dll)),
            "the exe needs {}",
            String::from_utf8_lossy(dll)
        );
    }
    assert!(
        bytes
            .windows(10)
            .any(|w| w == b"advapi32.d" || w == b"ADVAPI32.d"),
        "the service and registry code link advapi32"
    );
}

fn msi() -> PathBuf {
    package("parc-agent-", "-x64.msi", "scripts/build-msi.sh")
}

/// The rows of one MSI table, as `msiinfo export` prints them (tab-separated, 3 header lines).
fn msi_table(msi: &Path, table: &str) -> Vec<Vec<String>> {
    run(Command::new("msiinfo").arg("export").arg(msi).arg(table))
        .lines()
        .skip(3)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], first: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r[0] == first)
        .unwrap_or_else(|| panic!("no row {first} in {rows:?}"))
}

#[test]
fn msi_installs_and_starts_the_service_as_local_system() {
    if skipped() {
        return;
    }
    let msi = msi();
    let services = msi_table(&msi, "ServiceInstall");
    assert_eq!(services.len(), 1, "{services:?}");
    let s = &services[0];
    // ServiceInstall, Name, DisplayName, ServiceType, StartType, ErrorControl, LoadOrderGroup,
    // Dependencies, StartName, Password, Arguments, Component_, Description
    assert_eq!(s[1], "ParcAgent");
    assert_eq!(s[3], "16", "own process");
    assert_eq!(s[4], "2", "auto start");
    assert_eq!(s[8], "LocalSystem");
    assert_eq!(s[10], "service", "the SCM starts `parc-agent.exe service`");

    let control = msi_table(&msi, "ServiceControl");
    let c = &control[0];
    assert_eq!(c[1], "ParcAgent");
    // start on install (1), stop on install (2) and uninstall (32), delete on uninstall (128)
    assert_eq!(c[2], "163", "{c:?}");
    assert_eq!(c[4], "1", "waits for the service");

    let files = msi_table(&msi, "File");
    assert!(
        files.iter().any(|f| f[2].ends_with("parc-agent.exe")),
        "{files:?}"
    );
    let summary = run(Command::new("msiinfo").arg("suminfo").arg(&msi));
    assert!(summary.contains("Template: x64;"), "{summary}");
}

#[test]
fn msi_writes_its_properties_where_the_agent_reads_them_and_upgrades_in_place() {
    if skipped() {
        return;
    }
    let msi = msi();
    let registry = msi_table(&msi, "Registry");
    let written: BTreeSet<(String, String, String, String)> = registry
        .iter()
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    for (name, property) in [("Server", "SERVER"), ("Token", "TOKEN"), ("Tags", "TAGS")] {
        let want = (
            "2".to_string(), // HKEY_LOCAL_MACHINE
            r"SOFTWARE\Parc".to_string(),
            name.to_string(),
            format!("[{property}]"),
        );
        assert!(written.contains(&want), "{want:?} not in {written:?}");
    }

    // Remembered across upgrades: AppSearch reads each value back, a command-line value is
    // saved before and restored after it.
    let search = msi_table(&msi, "AppSearch");
    let searched: BTreeSet<&str> = search.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(searched, BTreeSet::from(["SERVER", "TAGS", "TOKEN"]));
    let sequence = msi_table(&msi, "InstallExecuteSequence");
    let at = |action: &str| -> u32 { row(&sequence, action)[2].parse().unwrap() };
    for name in ["Server", "Token", "Tags"] {
        assert!(at(&format!("Save{name}")) < at("AppSearch"));
        assert!(at(&format!("Restore{name}")) > at("AppSearch"));
        assert!(at(&format!("Restore{name}")) < at("WriteRegistryValues"));
    }
    assert!(at("RemoveExistingProducts") > 0, "major upgrade scheduled");

    let properties = msi_table(&msi, "Property");
    assert_eq!(
        row(&properties, "UpgradeCode")[1],
        "{5C2C7E1A-6B8E-4F0B-9E43-2D4F0A9B7C11}",
        "the upgrade code never changes"
    );
    assert!(row(&properties, "MsiHiddenProperties")[1].contains("TOKEN"));
    let upgrade = msi_table(&msi, "Upgrade");
    assert!(
        upgrade.iter().any(|u| u[6] == "WIX_UPGRADE_DETECTED"),
        "{upgrade:?}"
    );
}

/// The `attr="..."` values of an XML text (our templates are simple enough for this).
fn attr_values(xml: &str, attr: &str) -> BTreeSet<String> {
    let pat = format!(" {attr}=\"");
    xml.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &xml[i + pat.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// The `$(string.X)` / `$(presentation.X)` references of an ADMX.
fn references(xml: &str, kind: &str) -> BTreeSet<String> {
    let pat = format!("$({kind}.");
    xml.match_indices(&pat)
        .map(|(i, _)| {
            let rest = &xml[i + pat.len()..];
            rest[..rest.find(')').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn admx_strings_and_presentations_exist_in_every_language() {
    let dir = workspace_root().join("packaging/windows/policy");
    let admx = std::fs::read_to_string(dir.join("parc.admx")).unwrap();
    let elements = attr_values(&admx, "id");
    for lang in ["en-US", "fr-FR"] {
        let adml = std::fs::read_to_string(dir.join(lang).join("parc.adml")).unwrap();
        let strings: BTreeSet<String> = adml
            .match_indices("<string id=\"")
            .map(|(i, _)| {
                let rest = &adml[i + 12..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect();
        assert_eq!(
            references(&admx, "string"),
            strings,
            "{lang}: strings used vs defined"
        );
        let presentations: BTreeSet<String> = adml
            .match_indices("<presentation id=\"")
            .map(|(i, _)| {
                let rest = &adml[i + 18..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect();
        assert_eq!(references(&admx, "presentation"), presentations, "{lang}");
        assert_eq!(
            attr_values(&adml, "refId"),
            elements,
            "{lang}: every ADMX element has a control and nothing else"
        );
    }
}

// ---- Debian packages -----------------------------------------------------------------------

fn deb(name: &str) -> PathBuf {
    package(&format!("{name}_"), ".deb", "scripts/build-deb.sh")
}

/// The control members (control, conffiles, maintainer scripts) and the data tree of a .deb.
fn unpack(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(dir.path().join("DEBIAN")));
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dir.path()));
    dir
}

fn field(deb: &Path, name: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .trim()
        .to_string()
}

/// `ls -l`-style mode of a path in `dpkg-deb -c`.
fn listed_mode(deb: &Path, path: &str) -> String {
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    listing
        .lines()
        .find(|l| l.ends_with(&format!(".{path}")))
        .unwrap_or_else(|| panic!("{path} not in {}:\n{listing}", deb.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim() == line)
}

#[test]
fn debs_carry_control_conffiles_units_and_maintainer_scripts() {
    if skipped() {
        return;
    }
    let cases = [
        (
            "parc-agent",
            "/etc/parc/agent.toml",
            "-rw-------",
            &[
                "CapabilityBoundingSet=CAP_NET_RAW",
                "AmbientCapabilities=CAP_NET_RAW",
                "StateDirectory=parc/agent",
            ][..],
        ),
        (
            "parc-collector",
            "/etc/parc/collector.toml",
            "-rw-r-----",
            &[
                "User=parc",
                "CapabilityBoundingSet=",
                "StateDirectory=parc/collector",
            ][..],
        ),
    ];
    for (name, conffile, mode, unit_lines) in cases {
        let deb = deb(name);
        assert_eq!(field(&deb, "Package"), name);
        assert!(field(&deb, "Depends").contains("libc6 (>= 2."), "{name}");
        let tree = unpack(&deb);
        let root = tree.path();

        let conffiles = std::fs::read_to_string(root.join("DEBIAN/conffiles")).unwrap();
        assert_eq!(conffiles.trim(), conffile, "{name}: conffiles");
        assert!(root.join(&conffile[1..]).is_file());
        assert_eq!(listed_mode(&deb, conffile), mode, "{name}: {conffile} mode");
        assert_eq!(listed_mode(&deb, &format!("/usr/bin/{name}")), "-rwxr-xr-x");

        let unit = std::fs::read_to_string(root.join(format!("lib/systemd/system/{name}.service")))
            .unwrap();
        let common = [
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "WantedBy=multi-user.target",
        ];
        for line in common.iter().chain(unit_lines) {
            assert!(has_line(&unit, line), "{name}.service lacks {line}");
        }
        assert!(
            !unit.contains("StandardOutput=file"),
            "{name}: logs go to the journal"
        );

        // The packaged config is valid for the program and keeps its data under /var/lib/parc.
        let config = std::fs::read_to_string(root.join(&conffile[1..])).unwrap();
        assert!(config.contains("/var/lib/parc/"), "{name}: {config}");

        for script in ["postinst", "prerm", "postrm"] {
            let path = root.join("DEBIAN").join(script);
            let text = std::fs::read_to_string(&path).unwrap();
            run(Command::new("sh").arg("-n").arg(&path));
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{name}/{script} is executable");
            if script != "postrm" {
                // Machines without systemd as PID 1 (containers, CI) must not fail the install.
                assert!(
                    text.contains("[ -d /run/systemd/system ]"),
                    "{name}/{script}"
                );
            }
        }
        let postrm = std::fs::read_to_string(root.join("DEBIAN/postrm")).unwrap();
        assert!(postrm.contains("purge"), "{name}: postrm handles purge");
    }
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

fn installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("ii"))
}

fn user_exists(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tests of this file that run dpkg take turns: dpkg holds one lock per machine.
static DPKG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Purges both packages when dropped, so a failed assertion leaves the machine as it was.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "parc-agent", "parc-collector"])
            .output();
    }
}

#[test]
fn debs_install_and_purge_on_this_machine() {
    if skipped() {
        return;
    }
    let (agent, collector) = (deb("parc-agent"), deb("parc-collector"));
    if !is_root() {
        eprintln!("not root: dpkg -i / --purge check skipped (CI runs it as root)");
        return;
    }
    let _dpkg = DPKG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if installed("parc-agent") || installed("parc-collector") || user_exists("parc") {
        eprintln!("Parc is already installed here (or a `parc` user exists): not touching it");
        return;
    }
    let _purge = PurgeOnDrop;
    run(Command::new("dpkg").arg("-i").arg(&collector).arg(&agent));

    assert!(user_exists("parc"), "the collector's system user");
    let shell = run(Command::new("getent").args(["passwd", "parc"]));
    assert!(shell.trim().ends_with("/usr/sbin/nologin"), "{shell}");
    for path in [
        "/usr/bin/parc-agent",
        "/usr/bin/parc-collector",
        "/etc/parc/agent.toml",
        "/etc/parc/collector.toml",
        "/lib/systemd/system/parc-agent.service",
        "/lib/systemd/system/parc-collector.service",
    ] {
        assert!(Path::new(path).exists(), "{path} after dpkg -i");
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let agent_toml = std::fs::metadata("/etc/parc/agent.toml").unwrap();
    assert_eq!(agent_toml.permissions().mode() & 0o777, 0o600);
    let data = std::fs::metadata("/var/lib/parc/collector").unwrap();
    let parc_uid: u32 = run(Command::new("id").args(["-u", "parc"]))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        data.uid(),
        parc_uid,
        "the collector owns its data directory"
    );

    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        run(Command::new("systemd-analyze").args([
            "verify",
            "/lib/systemd/system/parc-agent.service",
            "/lib/systemd/system/parc-collector.service",
        ]));
    }

    // The packaged pieces work together: the parc user, with the packaged config, creates the
    // database in its data directory (what an admin does to issue a site's token).
    let token = run(Command::new("runuser").args([
        "-u",
        "parc",
        "--",
        "/usr/bin/parc-collector",
        "token",
        "create",
        "--site",
        "packaging-test",
        "--config",
        "/etc/parc/collector.toml",
    ]));
    assert!(token.trim().starts_with("parc_"), "{token}");
    assert!(Path::new("/var/lib/parc/collector/collector.db").is_file());
    let help = run(Command::new("/usr/bin/parc-agent").arg("--help"));
    assert!(help.contains("Usage"), "{help}");

    run(Command::new("dpkg").args(["--purge", "parc-agent", "parc-collector"]));
    for path in [
        "/usr/bin/parc-agent",
        "/usr/bin/parc-collector",
        "/etc/parc",
        "/var/lib/parc/agent",
        "/var/lib/parc/collector",
        "/lib/systemd/system/parc-agent.service",
        "/etc/systemd/system/multi-user.target.wants/parc-agent.service",
        "/etc/systemd/system/multi-user.target.wants/parc-collector.service",
    ] {
        assert!(!Path::new(path).exists(), "{path} left after purge");
    }
    assert!(!user_exists("parc"), "the parc user is removed on purge");
    assert!(!installed("parc-agent") && !installed("parc-collector"));
}

/// The same package as `deb` with a higher version: what an upgrade looks like to dpkg (old
/// prerm/postrm with "upgrade", new files over old, conffiles compared, postinst "configure"
/// with the old version).
fn next_version_of(deb: &Path, dir: &Path) -> (PathBuf, String) {
    let tree = dir.join("tree");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control_path = tree.join("DEBIAN/control");
    let control = std::fs::read_to_string(&control_path).unwrap();
    let version = field(deb, "Version");
    let next = format!("{version}+upgrade1");
    let control = control.replace(
        &format!("Version: {version}\n"),
        &format!("Version: {next}\n"),
    );
    assert!(control.contains(&next), "{control}");
    std::fs::write(&control_path, control).unwrap();
    let out = dir.join("next.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&out));
    (out, next)
}

fn installed_version(name: &str) -> String {
    run(Command::new("dpkg-query").args(["-W", "-f=${Version}", name]))
}

#[test]
fn deb_upgrade_keeps_the_admins_config_the_spool_and_the_enabled_unit_then_purge_removes_them() {
    if skipped() {
        return;
    }
    let agent = deb("parc-agent");
    if !is_root() {
        eprintln!("not root: dpkg upgrade check skipped (CI runs it as root)");
        return;
    }
    let _dpkg = DPKG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if installed("parc-agent") || installed("parc-collector") || user_exists("parc") {
        eprintln!("Parc is already installed here (or a `parc` user exists): not touching it");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (next, next_version) = next_version_of(&agent, work.path());
    let _purge = PurgeOnDrop;

    run(Command::new("dpkg").arg("-i").arg(&agent));
    let first_version = installed_version("parc-agent");
    // What an admin does after installing: point the agent at the collector, token included.
    let config = "/etc/parc/agent.toml";
    let mut edited = std::fs::read_to_string(config).unwrap();
    edited.push_str("\n# edited by the admin\n");
    std::fs::write(config, &edited).unwrap();
    // A document waiting for the collector, in the spool the service writes.
    let spool = Path::new("/var/lib/parc/agent/spool");
    std::fs::create_dir_all(spool).unwrap();
    let queued = spool.join("00000000000000000001-inventory-upgrade.json.gz");
    std::fs::write(&queued, b"queued before the upgrade").unwrap();
    let wants = Path::new("/etc/systemd/system/multi-user.target.wants/parc-agent.service");
    assert!(
        wants.symlink_metadata().is_ok(),
        "postinst enables the unit on first install"
    );

    // --force-confold: what an unattended upgrade answers when a conffile was edited.
    run(Command::new("dpkg")
        .args(["--force-confold", "-i"])
        .arg(&next));
    assert_eq!(installed_version("parc-agent"), next_version);
    assert_ne!(first_version, next_version);
    assert_eq!(
        std::fs::read_to_string(config).unwrap(),
        edited,
        "the admin's config survives the upgrade"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(config).unwrap().permissions().mode() & 0o777,
        0o600,
        "the token stays readable by root only"
    );
    assert_eq!(
        std::fs::read(&queued).unwrap(),
        b"queued before the upgrade",
        "the spool survives the upgrade"
    );
    assert!(
        wants.symlink_metadata().is_ok(),
        "the unit is still enabled after the upgrade"
    );
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        run(Command::new("systemd-analyze")
            .args(["verify", "/lib/systemd/system/parc-agent.service"]));
    }

    run(Command::new("dpkg").args(["--purge", "parc-agent"]));
    // /var/lib/parc itself goes only when empty: it is shared with the collector's package.
    for path in ["/etc/parc", "/var/lib/parc/agent", "/usr/bin/parc-agent"] {
        assert!(!Path::new(path).exists(), "{path} left after purge");
    }
    assert!(
        wants.symlink_metadata().is_err(),
        "the enablement is forgotten on purge"
    );
    assert!(!installed("parc-agent"));
}

// ---- The MSI on Windows (Wine) -------------------------------------------------------------

/// Wine 8 (Debian 12) lacks `ProcessPrng` in bcryptprimitives.dll, which Rust's std imports
/// for random numbers (Windows 10 and later have it). This stand-in forwards to
/// `RtlGenRandom` so the exe can run under Wine; it only ever goes into the test's prefix.
const PROCESS_PRNG_SHIM: &str = r#"
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
"#;

/// Prints the DACL of a file (`file PATH`) or registry key (`key MACHINE\...`) as SDDL: how
/// the test sees the ACL the service sets (Wine has no icacls).
const PRINT_DACL: &str = r#"
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
int wmain(int argc, wchar_t **argv) {
    if (argc != 3) return 2;
    SE_OBJECT_TYPE kind = wcscmp(argv[1], L"key") == 0 ? SE_REGISTRY_KEY : SE_FILE_OBJECT;
    PSECURITY_DESCRIPTOR sd = NULL;
    DWORD err = GetNamedSecurityInfoW(argv[2], kind, DACL_SECURITY_INFORMATION,
                                      NULL, NULL, NULL, NULL, &sd);
    if (err != ERROR_SUCCESS) { fprintf(stderr, "GetNamedSecurityInfoW: %lu\n", err); return 1; }
    LPWSTR text = NULL;
    if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, NULL)) return 1;
    wprintf(L"%ls\n", text);
    LocalFree(text);
    LocalFree(sd);
    return 0;
}
"#;

/// The trustees of the allow entries of an SDDL DACL ("D:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)" →
/// ["SY", "BA"]).
fn dacl_trustees(sddl: &str) -> Vec<String> {
    sddl.split('(')
        .skip(1)
        .map(|ace| {
            ace.trim_end_matches(')')
                .rsplit(';')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A Wine prefix of its own; its wineserver (and the service in it) is killed when dropped.
struct Wine {
    prefix: tempfile::TempDir,
    wine: PathBuf,
}

impl Wine {
    fn new() -> Wine {
        let wine = ["/usr/lib/wine/wine64", "/usr/bin/wine"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("wine is missing: apt-get install wine (scripts/test.sh does)");
        let wine = Wine {
            prefix: tempfile::tempdir().unwrap(),
            wine,
        };
        wine.ok(&["wineboot", "--init"]);
        let system32 = wine.prefix.path().join("drive_c/windows/system32");
        if !system32.join("bcryptprimitives.dll").exists() {
            let dir = tempfile::tempdir().unwrap();
            let c = dir.path().join("shim.c");
            let def = dir.path().join("shim.def");
            std::fs::write(&c, PROCESS_PRNG_SHIM).unwrap();
            std::fs::write(&def, "LIBRARY bcryptprimitives\nEXPORTS\n  ProcessPrng\n").unwrap();
            run(Command::new("x86_64-w64-mingw32-gcc")
                .args(["-shared", "-O2", "-o"])
                .arg(system32.join("bcryptprimitives.dll"))
                .arg(&c)
                .arg(&def)
                .arg("-ladvapi32"));
        }
        wine
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.wine);
        cmd.args(args)
            .env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            // No Mono/Gecko download prompts: nothing here needs them.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        run(&mut self.command(args))
    }

    /// `reg query` of a key, or None when the key does not exist.
    fn reg_query(&self, key: &str) -> Option<String> {
        let out = self.command(&["reg", "query", key]).output().unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn drive_c(&self, path: &str) -> PathBuf {
        self.prefix.path().join("drive_c").join(path)
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", self.prefix.path())
            .status()
            .or_else(|_| {
                Command::new("/usr/lib/wine/wineserver64")
                    .arg("-k")
                    .env("WINEPREFIX", self.prefix.path())
                    .status()
            });
    }
}

/// `Z:\...`: how Wine sees a Linux path.
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn assets_of_site(collector: &parc_tests::Collector, site: &str) -> usize {
    collector
        .get(&format!("/api/v1/assets?site={site}"))
        .ok()
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0) as usize
}

const HKLM_UNINSTALL: &str = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall";

/// (registry view, Uninstall key, program name): the 64-bit and 32-bit machine-wide views and
/// the per-user key of the prefix's user (HKU\S-1-5-21-…, loaded as under a logged-on user).
const UNINSTALL_ENTRIES: [(&str, &str, &str); 3] = [
    ("/reg:64", HKLM_UNINSTALL, "Parc test (64-bit)"),
    ("/reg:32", HKLM_UNINSTALL, "Parc test (32-bit)"),
    (
        "/reg:64",
        r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall",
        "Parc test (per-user)",
    ),
];

/// The detail of the one asset of `site`.
fn asset_detail_of_site(collector: &parc_tests::Collector, site: &str) -> serde_json::Value {
    let page = collector
        .get(&format!("/api/v1/assets?site={site}"))
        .unwrap();
    assert_eq!(page["total"], 1, "{page}");
    let id = page["items"][0]["id"].as_i64().expect("an asset id");
    collector.get(&format!("/api/v1/assets/{id}")).unwrap()
}

/// What the Windows agent read from Wine, checked against what Wine itself says. Wine 8's WMI
/// answers the BIOS, system, OS, processor and disk classes; it has no local accounts and its
/// BIOS serial is "0", which must arrive flagged as junk.
fn check_windows_facts(wine: &Wine, asset: &serde_json::Value) {
    let context = || serde_json::to_string_pretty(asset).unwrap();
    let os = &asset["os"];
    // "Microsoft Windows 6.1.7601": the version of the prefix, whichever Wine sets.
    let ver = wine.ok(&["cmd", "/c", "ver"]);
    let version = ver
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("no version in {ver:?}"));
    let build = version.rsplit('.').next().unwrap();
    assert_eq!(os["family"], "windows", "{}", context());
    assert_eq!(os["version"], version, "{}", context());
    assert_eq!(os["kernel"], version, "{}", context());
    let name = os["name"].as_str().unwrap_or_default();
    assert!(name.starts_with("Windows "), "{}", context());
    let pretty = os["pretty_name"].as_str().unwrap_or_default();
    assert!(
        pretty.ends_with(&format!("(build {build})")),
        "{}",
        context()
    );
    assert_eq!(os["arch"], "x86_64", "{}", context());
    assert!(
        os["boot_time"].is_string() && os["install_date"].is_string(),
        "{}",
        context()
    );

    let hw = &asset["hardware"];
    assert_eq!(hw["dmi_available"], true, "{}", context());
    assert_eq!(hw["manufacturer"], "The Wine Project", "{}", context());
    assert_eq!(
        hw["serial"]["junk"],
        true,
        "Wine's serial \"0\": {}",
        context()
    );
    assert_eq!(hw["bios"]["vendor"], "The Wine Project", "{}", context());

    let cpus = asset["cpus"].as_array().expect("cpus");
    assert!(!cpus.is_empty(), "{}", context());
    let threads: u64 = cpus.iter().map(|c| c["threads"].as_u64().unwrap()).sum();
    assert!(threads >= 1, "{}", context());
    assert!(cpus.iter().all(|c| c["model"].is_string()), "{}", context());
    let memory = asset["memory"]["total_bytes"].as_u64().unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let host_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    // Wine reports the host's memory: same size, give or take rounding.
    assert!(
        memory > host_kib * 1024 / 2 && memory <= host_kib * 1024 + (1 << 20),
        "{memory} bytes vs MemTotal {host_kib} kB"
    );

    let c_drive = asset["filesystems"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["mount_point"] == "C:"))
        .unwrap_or_else(|| panic!("no C: among filesystems: {}", context()));
    assert!(c_drive["total_bytes"].as_u64() > Some(0), "{}", context());
    assert!(
        asset["disks"].as_array().is_some_and(|d| d
            .iter()
            .any(|d| d["name"] == "PHYSICALDRIVE0" && d["size_bytes"].as_u64() > Some(0))),
        "{}",
        context()
    );

    let software: Vec<(&str, Option<&str>)> = asset["software"]
        .as_array()
        .expect("software")
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with("Parc ")))
        .map(|s| (s["name"].as_str().unwrap(), s["arch"].as_str()))
        .collect();
    for (want, arch) in [
        ("Parc test (64-bit)", Some("x86_64")),
        ("Parc test (32-bit)", Some("x86")),
        ("Parc test (per-user)", None),
    ] {
        assert!(software.contains(&(want, arch)), "{want}: {software:?}");
    }
    assert!(
        !software.iter().any(|(n, _)| *n == "Parc hidden"),
        "system components are hidden: {software:?}"
    );
}

#[test]
fn msi_installs_a_service_that_reports_keeps_its_settings_on_upgrade_and_uninstalls() {
    if skipped() {
        return;
    }
    let msi = msi();
    let exe = artifact(
        workspace_root().join("target/windows/x86_64-pc-windows-gnu/release/parc-agent.exe"),
        "scripts/build-windows.sh",
    );
    let work = tempfile::tempdir().unwrap();
    let collector = parc_tests::Collector::start(work.path()).unwrap();
    let token = collector.token("wine-site").unwrap();
    let wine = Wine::new();

    // Group policy: no random start delay, so the service reports at once.
    wine.ok(&[
        "reg",
        "add",
        r"HKLM\Software\Policies\Parc\Agent",
        "/v",
        "Splay",
        "/t",
        "REG_DWORD",
        "/d",
        "0",
        "/f",
    ]);
    // Programs for the service's inventory to find, in each place Windows keeps them.
    for (view, key, name) in UNINSTALL_ENTRIES {
        let key = format!(r"{key}\ParcTest");
        wine.ok(&[
            "reg",
            "add",
            &key,
            "/v",
            "DisplayName",
            "/d",
            name,
            "/f",
            view,
        ]);
        wine.ok(&[
            "reg",
            "add",
            &key,
            "/v",
            "DisplayVersion",
            "/d",
            "1.2.3",
            "/f",
            view,
        ]);
    }
    let hidden = format!(r"{HKLM_UNINSTALL}\ParcHidden");
    wine.ok(&[
        "reg",
        "add",
        &hidden,
        "/v",
        "DisplayName",
        "/d",
        "Parc hidden",
        "/f",
    ]);
    let component = ["/v", "SystemComponent", "/t", "REG_DWORD", "/d", "1", "/f"];
    wine.ok(&[&["reg", "add", hidden.as_str()][..], &component[..]].concat());
    let server = format!("SERVER={}", collector.url);
    let token_arg = format!("TOKEN={token}");
    wine.ok(&[
        "msiexec",
        "/i",
        &wine_path(&msi),
        &server,
        &token_arg,
        "TAGS=wing-b",
        "/qn",
    ]);
    let installed = wine.reg_query(r"HKLM\Software\Parc").expect("install key");
    assert!(installed.contains(&collector.url), "{installed}");
    assert!(installed.contains("wing-b"), "{installed}");
    assert!(wine.drive_c("Program Files/Parc/parc-agent.exe").is_file());
    let state = wine.ok(&["sc", "query", "ParcAgent"]);
    assert!(state.contains("RUNNING"), "{state}");

    // The service (not a hand run: nothing else here runs the agent) reports this "PC".
    let reported = parc_tests::wait_for(std::time::Duration::from_secs(90), || {
        (assets_of_site(&collector, "wine-site") > 0).then_some(())
    });
    assert!(
        reported.is_some(),
        "the service sent nothing within 90 s; its log is in {}",
        wine.drive_c("ProgramData/Parc/logs").display()
    );

    check_windows_facts(&wine, &asset_detail_of_site(&collector, "wine-site"));

    // The service has started: the install key holding the token is now for SYSTEM and
    // Administrators only. (Wine derives file ACLs from Unix modes and ignores the one set on
    // %ProgramData%\Parc, so only the key can be checked here.)
    let tools = tempfile::tempdir().unwrap();
    let c = tools.path().join("dacl.c");
    std::fs::write(&c, PRINT_DACL).unwrap();
    let exe_path = tools.path().join("dacl.exe");
    run(Command::new("x86_64-w64-mingw32-gcc")
        .args(["-municode", "-O2", "-o"])
        .arg(&exe_path)
        .arg(&c)
        .arg("-ladvapi32"));
    let dacl = wine.ok(&[&wine_path(&exe_path), "key", r"MACHINE\SOFTWARE\Parc"]);
    assert_eq!(dacl_trustees(dacl.trim()), ["SY", "BA"], "{dacl}");

    // A major upgrade run without properties keeps the ones given at install. The next major
    // version is newer than this build whatever its minor and build numbers.
    let major: u32 = env!("CARGO_PKG_VERSION")
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let next_version = format!("Version={}.0.0", major + 1);
    let next = tempfile::tempdir().unwrap();
    std::fs::copy(&exe, next.path().join("parc-agent.exe")).unwrap();
    run(Command::new("wixl")
        .current_dir(next.path())
        .args([
            "-a",
            "x64",
            "-D",
            &next_version,
            "-D",
            "Exe=parc-agent.exe",
            "-o",
        ])
        .arg("next.msi")
        .arg(workspace_root().join("packaging/windows/parc-agent.wxs")));
    let next_msi = wine_path(&next.path().join("next.msi"));
    wine.ok(&["msiexec", "/i", &next_msi, "/qn"]);
    let kept = wine
        .reg_query(r"HKLM\Software\Parc")
        .expect("install key after upgrade");
    assert!(
        kept.contains(&collector.url) && kept.contains(&token),
        "{kept}"
    );
    let state = wine.ok(&["sc", "query", "ParcAgent"]);
    assert!(state.contains("RUNNING"), "after upgrade: {state}");

    // Uninstall: service, program files and install values go.
    wine.ok(&["msiexec", "/x", &next_msi, "/qn"]);
    let gone = wine
        .command(&["sc", "query", "ParcAgent"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&gone.stdout).contains("RUNNING"),
        "service left after uninstall"
    );
    assert!(!wine.drive_c("Program Files/Parc/parc-agent.exe").exists());
    assert!(wine.reg_query(r"HKLM\Software\Parc").is_none());
    collector.stop().unwrap();
}
