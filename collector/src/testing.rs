//! Test support: a fresh, empty database for each test, on SQLite or on PostgreSQL.
//!
//! [`database_url`] gives a SQLite file in the test's directory, or, when the environment has
//! `PARC_TEST_POSTGRES=1`, a new database (`CREATE DATABASE`) on a private PostgreSQL server
//! that this module starts once per test process: `initdb` into a temporary directory, the
//! server listening on a unix socket in that directory only (no TCP port, nothing to collide
//! with, no packet on any network), `fsync` off (a test database need not survive a power cut).
//! As root the server runs as the `postgres` user, which PostgreSQL requires.
//!
//! The server is stopped and its directory removed when the test process ends, however it ends:
//! a small guardian process waits for end-of-file on a pipe only this process holds open, which
//! the kernel closes on exit, even after a panic or a SIGKILL.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Set to `1` to run the tests that use [`database_url`] against PostgreSQL.
pub const POSTGRES_ENV: &str = "PARC_TEST_POSTGRES";

/// Whether this test run asked for PostgreSQL (see the module docs).
pub fn postgres_requested() -> bool {
    std::env::var(POSTGRES_ENV).is_ok_and(|v| v == "1")
}

/// The URL of a fresh, empty database for one test: `sqlite://DIR/parc.db`, or a new database
/// on the private PostgreSQL server when [`postgres_requested`]. Panics with the reason when
/// PostgreSQL was asked for and cannot be started: a silent fallback to SQLite would let a
/// PostgreSQL run pass without testing PostgreSQL.
///
/// The same directory always gets the same database, so that a test restarting a collector on
/// its directory finds its data again, as it would in the SQLite file.
pub fn database_url(dir: &Path) -> String {
    if postgres_requested() {
        static BY_DIR: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());
        let mut by_dir = BY_DIR.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(url) = by_dir.get(dir) {
            return url.clone();
        }
        let url = postgres_database().unwrap_or_else(|e| panic!("{POSTGRES_ENV}=1: {e}"));
        by_dir.insert(dir.to_path_buf(), url.clone());
        url
    } else {
        format!("sqlite://{}", dir.join("parc.db").display())
    }
}

/// A new, empty database on the private PostgreSQL server (started on first use), whatever
/// [`POSTGRES_ENV`] says: for the tests that are about PostgreSQL itself.
pub fn postgres_database() -> Result<String, String> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER
        .get_or_init(Server::start)
        .as_ref()
        .map_err(Clone::clone)?
        .create_database()
}

/// The private server. Never dropped (it lives in a static); the guardian stops it.
struct Server {
    bin: PathBuf,
    /// Also the server's socket directory.
    root: PathBuf,
    next: AtomicU64,
    /// The write end of the guardian's stdin: closed by the kernel when this process ends.
    _guardian: ChildStdin,
}

/// The port only names the socket file (`.s.PGSQL.5432`) inside our own directory.
const PORT: u16 = 5432;
const SUPERUSER: &str = "parc";

impl Server {
    fn start() -> Result<Server, String> {
        let bin = postgres_bin_dir()?;
        let as_root = is_root();
        // Unix socket paths are limited to ~107 bytes: keep the directory short.
        let root = tempfile::Builder::new()
            .prefix("parc-pg")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a directory for PostgreSQL: {e}"))?
            .keep();
        let data = root.join("data");
        if as_root {
            run(Command::new("chown").arg("postgres:").arg(&root))?;
        }
        // Started before the server, so that even a failed start leaves nothing behind.
        let guardian = guardian(&bin, &root, as_root)?;
        run(pg(&bin, "initdb", as_root)
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth", "trust"])
            .args(["--encoding", "UTF8", "--locale", "C", "--no-sync"]))?;
        let options = format!(
            "-k {} -p {PORT} -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            root.display()
        );
        run(pg(&bin, "pg_ctl", as_root)
            .arg("--pgdata")
            .arg(&data)
            .arg("--log")
            .arg(root.join("server.log"))
            .args(["--wait", "--timeout", "60", "-o", &options, "start"]))
        .map_err(|e| {
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })?;
        Ok(Server {
            bin,
            root,
            next: AtomicU64::new(1),
            _guardian: guardian,
        })
    }

    fn create_database(&self) -> Result<String, String> {
        let name = format!("parc_test_{}", self.next.fetch_add(1, Ordering::Relaxed));
        run(Command::new(self.bin.join("psql"))
            .arg("--host")
            .arg(&self.root)
            .args(["--port", &PORT.to_string(), "--username", SUPERUSER])
            .args(["--dbname", "postgres", "--no-psqlrc", "--quiet"])
            .args(["--set", "ON_ERROR_STOP=1", "--command"])
            .arg(format!("CREATE DATABASE {name}")))?;
        Ok(format!(
            "postgres://{SUPERUSER}@localhost:{PORT}/{name}?host={}",
            self.root.display()
        ))
    }
}

/// Debian installs the server programs off PATH, one directory per major version: the newest.
fn postgres_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PARC_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").map_err(|e| {
        format!("no PostgreSQL server in /usr/lib/postgresql ({e}); install the Debian package postgresql")
    })?;
    versions
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .ok_or_else(|| {
            "no initdb under /usr/lib/postgresql/*/bin; install the Debian package postgresql"
                .into()
        })
}

fn is_root() -> bool {
    // `id -u` rather than libc: this crate forbids unsafe code.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A server program, run as `postgres` when we are root (initdb and postgres refuse root).
fn pg(bin: &Path, program: &str, as_root: bool) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

/// The process that stops the server and removes `root` once our end of its stdin closes.
fn guardian(bin: &Path, root: &Path, as_root: bool) -> Result<ChildStdin, String> {
    let stop = if as_root {
        "runuser -u postgres -- \"$1/pg_ctl\""
    } else {
        "\"$1/pg_ctl\""
    };
    // PARC_TEST_POSTGRES_KEEP=1 keeps the directory, for its server.log (every failed
    // statement is there, with the error).
    let remove = if std::env::var_os("PARC_TEST_POSTGRES_KEEP").is_some() {
        ""
    } else {
        "rm -rf \"$2\""
    };
    let script = format!(
        "cat >/dev/null; if [ -e \"$2/data/postmaster.pid\" ]; then \
         {stop} --pgdata \"$2/data\" --mode immediate stop; fi; {remove}"
    );
    let mut child = Command::new("sh")
        .args(["-c", &script, "parc-pg-guardian"])
        .arg(bin)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    // The Child itself is dropped without waiting: the guardian outlives this process.
    Ok(child.stdin.take().expect("piped stdin"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    // Read stderr to its end before waiting, but not past the program's own exit: pg_ctl's
    // server keeps no copy of this pipe (its output goes to the log file).
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status}): {}", err.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_by_default() {
        if postgres_requested() {
            return;
        }
        let url = database_url(Path::new("/tmp/x"));
        assert_eq!(url, "sqlite:///tmp/x/parc.db");
    }

    #[test]
    fn one_database_per_directory() {
        let dir = Path::new("/tmp/y");
        assert_eq!(database_url(dir), database_url(dir));
        if postgres_requested() {
            assert_ne!(database_url(dir), database_url(Path::new("/tmp/z")));
        }
    }

    /// The harness itself: two databases of the private server are distinct and usable.
    #[tokio::test]
    async fn private_postgres_databases_are_fresh_and_separate() {
        let (a, b) = (postgres_database().unwrap(), postgres_database().unwrap());
        assert_ne!(a, b);
        let a = crate::store::Store::open(&a, 2).await.unwrap();
        let b = crate::store::Store::open(&b, 2).await.unwrap();
        assert_eq!(a.backend(), crate::store::Backend::Postgres);
        a.create_token("only-in-a").await.unwrap();
        assert_eq!(a.list_tokens().await.unwrap().len(), 1);
        assert!(b.list_tokens().await.unwrap().is_empty());
    }
}
