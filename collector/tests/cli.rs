//! The real `parc-collector` binary: the token commands as an admin types them, and `serve`
//! printing its address, answering, and stopping on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_parc-collector");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn database(dir: &Path) -> String {
    if parc_collector::testing::postgres_requested() {
        return parc_collector::testing::database_url(dir);
    }
    format!("sqlite://{}", dir.join("sub").join("parc.db").display())
}

#[test]
fn token_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let db = database(dir.path());

    let out = run(&["token", "create", "--site", "chu-nord", "--database", &db]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Exactly one line, the token alone, so that TOKEN=$(...) works; logs went to stderr.
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let token = stdout.trim_end_matches('\n');
    assert!(token.starts_with("parc_") && token.len() == 69, "{token:?}");
    assert!(token[5..].chars().all(|c| c.is_ascii_hexdigit()));

    let out = run(&["token", "list", "--database", &db]);
    assert!(out.status.success());
    let list = text(&out.stdout);
    assert!(list.contains("chu-nord"), "{list}");
    assert!(
        !list.contains(&token[5..]),
        "the list must never show a token"
    );
    let row = list.lines().nth(1).unwrap();
    assert!(
        row.starts_with("1 ") && row.trim_end().ends_with('-'),
        "{row:?}"
    );

    let out = run(&["token", "revoke", "1", "--database", &db]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), "token 1 revoked");
    let list = text(&run(&["token", "list", "--database", &db]).stdout);
    assert!(
        !list.lines().nth(1).unwrap().trim_end().ends_with('-'),
        "{list}"
    );

    let out = run(&["token", "revoke", "42", "--database", &db]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no token with id 42"));

    let out = run(&["token", "create", "--site", " ", "--database", &db]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("site name is empty"));
}

#[test]
fn bad_config_and_database_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[database]\nurl = \"mysql://x\"\n").unwrap();
    let out = run(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("database.url") && err.contains("collector.toml"),
        "{err}"
    );

    // Loopback port 1: nothing listens there, so the connection is refused at once (and no
    // name is resolved, no packet leaves the machine). The password is never echoed.
    let out = run(&[
        "token",
        "list",
        "--database",
        "postgres://parc:hunter2@127.0.0.1:1/parc",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot open database postgres://parc:***@127.0.0.1:1/parc"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn serve_prints_its_address_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = parc_collector::testing::database_url(dir.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // A new database has no user: the first start creates `admin` and prints its password once.
    let password_line = lines.next().unwrap().unwrap();
    let password = password_line
        .strip_prefix("initial admin password: ")
        .unwrap_or_else(|| panic!("unexpected first line {password_line:?}"));
    assert!(password.len() >= 16, "{password_line:?}");
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let port: u16 = addr.parse().unwrap();
    assert_ne!(port, 0);

    // The line is printed once the socket is bound, so no waiting is needed.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{\"status\":\"ok\"}"), "{response}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    if !parc_collector::testing::postgres_requested() {
        assert!(dir.path().join("parc.db").exists());
    }
}
