//! `parc-collector user …`, the real binary against a real database (SQLite, or PostgreSQL
//! with `PARC_TEST_POSTGRES=1`): an admin creates users from a script, recovers a lost
//! password, lists and disables accounts; each change is in the audit log, and the result is
//! checked where it matters, by signing in through the API.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use parc_collector::auth::bootstrap::system;
use parc_collector::auth::Scope;
use parc_collector::http::{router, AppState};
use parc_collector::store::audit::AuditFilter;
use parc_collector::store::Store;
use tower::ServiceExt;

const BIN: &str = env!("CARGO_BIN_EXE_parc-collector");

/// Runs the binary with `stdin` as its standard input and `env` added to its environment.
fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .env("USER", "ops")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn database(dir: &Path) -> String {
    parc_collector::testing::database_url(dir)
}

/// Whether `login` can sign in with `pw` through the real router.
async fn signs_in(store: &Store, login: &str, pw: &str) -> u16 {
    let app = router(AppState::new(store.clone(), 1 << 20));
    let body = serde_json::json!({"login": login, "password": pw}).to_string();
    let req = axum::http::Request::post("/api/v1/session")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    app.oneshot(req).await.unwrap().status().as_u16()
}

async fn audit_actions(store: &Store) -> Vec<(String, String, String)> {
    let entries = store
        .list_audit(
            &Scope::All,
            &AuditFilter {
                since: None,
                actor: None,
                action: None,
                limit: 500,
            },
        )
        .await
        .unwrap();
    let v = serde_json::to_value(entries).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("user."))
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["details"].to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_set_password_list_disable_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let store = Store::open(&db, 2).await.unwrap();
    let entity_b = store.create_entity(&system(), "CH Sud").await.unwrap();
    let pw1 = "first password, long";
    let pw2 = "second password, longer";

    // Provisioning from a script: the password on stdin, roles in two entities.
    let out = run(
        &[
            "user",
            "create",
            "Jane.Doe",
            "--display-name",
            "Jane Doe",
            "--role",
            "technician@CH Sud",
            "--role",
            "viewer@1",
            "--database",
            &db,
        ],
        &format!("{pw1}\n"),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("user jane.doe created (id "), "{stdout}");
    assert!(!stdout.contains(pw1) && !text(&out.stderr).contains(pw1));
    assert_eq!(signs_in(&store, "jane.doe", pw1).await, 200);
    let creds = store.credentials("jane.doe").await.unwrap().unwrap();
    let user = store.user(creds.user_id).await.unwrap().unwrap();
    let mut roles: Vec<(Option<i64>, String)> = user
        .roles
        .iter()
        .map(|g| (g.entity_id, g.role.to_string()))
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        [
            (Some(1), "viewer".to_string()),
            (Some(entity_b.id), "technician".to_string())
        ]
    );

    // A group admin from an environment variable (automation without a pipe).
    let out = run(
        &[
            "user",
            "create",
            "ops-admin",
            "--role",
            "admin",
            "--password-env",
            "PARC_NEW_PASSWORD",
            "--database",
            &db,
        ],
        "",
        &[("PARC_NEW_PASSWORD", pw1)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(signs_in(&store, "ops-admin", pw1).await, 200);

    // Clear refusals, and nothing created by them.
    // Arguments, stdin, environment, what stderr must say.
    type Refusal<'a> = (&'a [&'a str], &'a str, &'a [(&'a str, &'a str)], &'a str);
    let refusals: &[Refusal] = &[
        (
            &["user", "create", "jane.doe"],
            "another password ok\n",
            &[],
            "already taken",
        ),
        (
            &["user", "create", "x", "--role", "viewer@Nowhere"],
            "another password ok\n",
            &[],
            "no entity \"Nowhere\"; entities: ",
        ),
        (
            &["user", "create", "x", "--role", "root"],
            "another password ok\n",
            &[],
            "unknown role",
        ),
        (&["user", "create", "x"], "short\n", &[], "at least 12"),
        (&["user", "create", "x"], "", &[], "no password on stdin"),
        (
            &["user", "create", "x", "--password-env", "PARC_UNSET_VAR"],
            "",
            &[],
            "PARC_UNSET_VAR is not set",
        ),
        (&["user", "create", "bad login"], "", &[], "may only hold"),
        (
            &["user", "set-password", "nobody"],
            "another password ok\n",
            &[],
            "no user with login \"nobody\"",
        ),
        (
            &["user", "disable", "nobody"],
            "",
            &[],
            "no user with login",
        ),
    ];
    for (args, stdin, env, message) in refusals {
        let mut args = args.to_vec();
        args.extend(["--database", &db]);
        let out = run(&args, stdin, env);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(store.credentials("x").await.unwrap().is_none());
    // The password is never an argument.
    let out = run(
        &["user", "create", "y", "--password", pw1, "--database", &db],
        "",
        &[],
    );
    assert!(!out.status.success());
    assert!(store.credentials("y").await.unwrap().is_none());

    // The admin who lost the password: a new one, the old one refused, sessions closed.
    let out = run(
        &["user", "set-password", "JANE.DOE", "--database", &db],
        &format!("{pw2}\r\n"),
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("password of jane.doe changed"));
    assert_eq!(signs_in(&store, "jane.doe", pw1).await, 401);
    assert_eq!(signs_in(&store, "jane.doe", pw2).await, 200);

    // The list: every user, roles by entity name, no password hash.
    let out = run(&["user", "list", "--database", &db], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let jane = list.lines().find(|l| l.contains("jane.doe")).unwrap();
    assert!(
        jane.contains("technician@CH Sud") && jane.contains("viewer@"),
        "{list}"
    );
    assert!(
        list.lines()
            .find(|l| l.contains("ops-admin"))
            .unwrap()
            .contains("admin (group)"),
        "{list}"
    );
    assert!(!list.contains("$argon2"), "{list}");

    // Disabled: no sign-in, no API token; enabled again: signs in.
    let (_, token) = store
        .create_api_token(
            &system(),
            creds.user_id,
            "ci",
            parc_collector::auth::Role::Viewer,
            None,
        )
        .await
        .unwrap();
    let hash = parc_collector::auth::secret::hash(&token);
    assert!(store
        .principal_for_api_token(&hash, chrono::Utc::now())
        .await
        .unwrap()
        .is_some());
    let out = run(&["user", "disable", "jane.doe", "--database", &db], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("user jane.doe disabled"));
    assert_eq!(signs_in(&store, "jane.doe", pw2).await, 401);
    assert!(store
        .principal_for_api_token(&hash, chrono::Utc::now())
        .await
        .unwrap()
        .is_none());
    let out = run(&["user", "disable", "jane.doe", "--database", &db], "", &[]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("already disabled"));
    let list = text(&run(&["user", "list", "--database", &db], "", &[]).stdout);
    let jane = list.lines().find(|l| l.contains("jane.doe")).unwrap();
    let year = chrono::Utc::now().format(" %Y-").to_string();
    assert!(
        jane.contains(&year),
        "the time it was disabled is shown: {jane}"
    );
    let out = run(&["user", "enable", "jane.doe", "--database", &db], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(signs_in(&store, "jane.doe", pw2).await, 200);

    // Every change is audited as the command line's operator, never with a password.
    let audit = audit_actions(&store).await;
    let actions: Vec<&str> = audit.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "user.create").count(),
        2,
        "{audit:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "user.update").count(),
        3,
        "set-password, disable, enable (the repeated disable changed nothing): {audit:?}"
    );
    for (actor, _, details) in &audit {
        assert_eq!(actor, "cli:ops");
        for pw in [pw1, pw2] {
            assert!(!details.contains(pw), "{details}");
        }
    }
    assert!(
        audit
            .iter()
            .any(|(_, a, d)| a == "user.update" && d.contains("\"password_changed\":true")),
        "{audit:?}"
    );
    // Sanity of the helper: a wrong password is refused.
    assert_eq!(signs_in(&store, "ops-admin", "not the password").await, 401);
}
