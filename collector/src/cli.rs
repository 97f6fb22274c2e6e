//! Command line: `serve`, `token create|list|revoke` and `agent list|revoke` ([`Command`], run
//! by [`crate::run`]), and `user create|set-password|list|disable|enable` ([`UserCommand`], run
//! here by [`run_user`]). The binary parses [`Main`], which holds both.
//!
//! User commands act on the configured database directly, as an admin with shell access to
//! the collector: to recover a lost admin password or to provision accounts from scripts.
//! Passwords come from stdin or an environment variable, never from the command line, which
//! other local users can read in `/proc` and which shells keep in their history.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use parc_config::CollectorConfig;
use uuid::Uuid;

use crate::auth::{password, AuthMethod, Principal, Role, Scope};
use crate::store::users::{check_login, NewUser, User, UserChange};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "parc-collector",
    version,
    about = "Parc collector: receives agent documents and keeps the CMDB"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API (HTTPS when [tls] is configured; SIGHUP reloads the certificate).
    Serve(ServeArgs),
    /// Manage the tokens agents authenticate with.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage enrolled agents (the keys agents sign their documents with).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
}

/// What the binary parses: the commands of [`Cli`] and `user`.
#[derive(Debug, Parser)]
#[command(
    name = "parc-collector",
    version,
    about = "Parc collector: receives agent documents and keeps the CMDB"
)]
pub struct Main {
    #[command(subcommand)]
    pub command: MainCommand,
}

#[derive(Debug, Subcommand)]
pub enum MainCommand {
    #[command(flatten)]
    Core(Command),
    /// Manage CMDB user accounts in the database (lost admin password, provisioning).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from stdin (one line) or from --password-env.
    Create {
        login: String,
        /// Shown in the web UI and the audit log (default: the login).
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// ROLE for a group-wide role, ROLE@ENTITY (entity name or id) for one entity;
        /// viewer, technician or admin. Repeat for several entities.
        #[arg(long = "role", value_name = "ROLE[@ENTITY]")]
        roles: Vec<String>,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a user's password (read from stdin or --password-env); ends their sessions.
    SetPassword {
        login: String,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List users with their roles.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable a user: sign-ins, sessions and API tokens stop working at once.
    Disable {
        login: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled user again.
    Enable {
        login: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Read the password from this environment variable instead of stdin.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// List enrolled agents.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an agent by id: its documents are refused (401) from then on, even with a valid
    /// site token, and it cannot enrol again.
    Revoke {
        #[arg(value_name = "AGENT_ID")]
        agent_id: Uuid,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Where the configuration and the database are; flags override the file.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// collector.toml (defaults apply when absent).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Database URL, e.g. sqlite:///var/lib/parc/collector.db
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address and port to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a site (created if absent) and print it, alone, on stdout.
    Create {
        #[arg(long, value_name = "NAME")]
        site: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token by id: agents using it are refused from then on.
    Revoke {
        id: i64,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A role as `--role` gives it: `admin` (group-wide) or `viewer@CH Sud` (entity name or id).
/// Returns the entity as typed (None: group-wide) and the role.
pub fn parse_grant(spec: &str) -> Result<(Option<String>, Role), String> {
    let (role, entity) = match spec.split_once('@') {
        Some((role, entity)) => {
            let entity = entity.trim();
            if entity.is_empty() {
                return Err(format!(
                    "--role {spec:?}: name the entity after @ (or drop @ for a group-wide role)"
                ));
            }
            (role, Some(entity.to_string()))
        }
        None => (spec, None),
    };
    let role = role
        .trim()
        .parse::<Role>()
        .map_err(|e| format!("--role {spec:?}: {e}"))?;
    Ok((entity, role))
}

/// The password in the first line of `input`, without its line end (only that: spaces are
/// part of a password).
pub fn password_line(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let pw = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if pw.is_empty() {
        anyhow::bail!("no password on stdin (give it as one line, or use --password-env VAR)");
    }
    Ok(pw.to_string())
}

/// The new password from `--password-env` or stdin (asked twice, without echo, at a
/// terminal), checked against the password policy.
fn new_password(args: &PasswordArgs, login: &str) -> anyhow::Result<String> {
    let pw = match &args.password_env {
        Some(var) => match std::env::var(var) {
            Ok(pw) if !pw.is_empty() => pw,
            Ok(_) => anyhow::bail!("environment variable {var} is empty"),
            Err(std::env::VarError::NotPresent) => {
                anyhow::bail!("environment variable {var} is not set")
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                anyhow::bail!("environment variable {var} is not valid UTF-8")
            }
        },
        None if std::io::stdin().is_terminal() => {
            let first = prompt(&format!("New password for {login}: "))?;
            let again = prompt("Again: ")?;
            if first != again {
                anyhow::bail!("the two passwords differ");
            }
            first
        }
        None => password_line(std::io::stdin().lock())?,
    };
    password::check_new(&pw).map_err(|m| anyhow::anyhow!("{m}"))?;
    Ok(pw)
}

/// One line from the terminal with echo off (`stty`, as this crate has no unsafe code for
/// termios), restored even when reading fails.
fn prompt(text: &str) -> anyhow::Result<String> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprint!("{text}");
    std::io::stderr().flush()?;
    let silenced = stty("-echo");
    let line = password_line(std::io::stdin().lock());
    if silenced {
        stty("echo");
        eprintln!();
    }
    line
}

/// The principal the command line acts as in the audit log: `cli:<OS user>`.
fn cli_actor() -> Principal {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Principal::new(
        0,
        format!("cli:{who}"),
        [(None, Role::Admin)],
        None,
        AuthMethod::Local,
    )
}

async fn open_store(db: &DbArgs) -> anyhow::Result<Store> {
    let mut config = match &db.config {
        Some(path) => CollectorConfig::load(path)?,
        None => CollectorConfig::default(),
    };
    if let Some(url) = &db.database {
        config.database_url = url.clone();
    }
    Store::open(&config.database_url, config.max_connections).await
}

async fn user_by_login(store: &Store, login: &str) -> anyhow::Result<User> {
    let login = check_login(login).map_err(|m| anyhow::anyhow!("{m}"))?;
    let creds = store
        .credentials(&login)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with login {login:?}"))?;
    store
        .user(creds.user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with login {login:?}"))
}

/// The entity id `typed` names: its id, or its name (ignoring case).
async fn entity_id(store: &Store, typed: &str) -> anyhow::Result<i64> {
    let entities = store.list_entities(&Scope::All).await?;
    let found = entities
        .iter()
        .find(|e| typed.parse::<i64>().is_ok_and(|id| id == e.id))
        .or_else(|| {
            entities
                .iter()
                .find(|e| e.name.to_lowercase() == typed.to_lowercase())
        });
    match found {
        Some(e) => Ok(e.id),
        None => {
            let names: Vec<String> = entities
                .iter()
                .map(|e| format!("{} ({})", e.name, e.id))
                .collect();
            anyhow::bail!("no entity {typed:?}; entities: {}", names.join(", "))
        }
    }
}

async fn hash(pw: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .context("hash the password")
}

fn roles_text(user: &User) -> String {
    let roles: Vec<String> = user
        .roles
        .iter()
        .map(|g| match (&g.entity_name, g.entity_id) {
            (_, None) => format!("{} (group)", g.role),
            (Some(name), _) => format!("{}@{name}", g.role),
            (None, Some(id)) => format!("{}@{id}", g.role),
        })
        .collect();
    if roles.is_empty() {
        "-".into()
    } else {
        roles.join(", ")
    }
}

async fn set_disabled(
    actor: &Principal,
    db: &DbArgs,
    login: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    let user = user_by_login(&store, login).await?;
    let word = if disabled { "disabled" } else { "enabled" };
    if user.disabled_at.is_some() == disabled {
        store.close().await;
        writeln!(std::io::stdout(), "user {} was already {word}", user.login)?;
        return Ok(());
    }
    let change = UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    store.update_user(actor, user.id, &change).await?;
    store.close().await;
    tracing::info!(login = %user.login, "user {word}");
    let note = if disabled {
        "; their sessions and API tokens no longer work"
    } else {
        ""
    };
    writeln!(std::io::stdout(), "user {} {word}{note}", user.login)?;
    Ok(())
}

/// Runs one `user` command against the configured database.
pub async fn run_user(command: UserCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    let mut out = std::io::stdout();
    match command {
        UserCommand::Create {
            login,
            display_name,
            roles,
            password,
            db,
        } => {
            let login = check_login(&login).map_err(|m| anyhow::anyhow!("{m}"))?;
            let display_name = crate::store::org::check_name(
                "display",
                display_name.as_deref().unwrap_or(&login),
            )?;
            let grants = roles
                .iter()
                .map(|r| parse_grant(r))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|m| anyhow::anyhow!("{m}"))?;
            // Before the password: a wrong entity should not cost the admin a prompt.
            let store = open_store(&db).await?;
            let mut resolved = Vec::with_capacity(grants.len());
            for (entity, role) in grants {
                let entity = match entity {
                    Some(e) => Some(entity_id(&store, &e).await?),
                    None => None,
                };
                resolved.push((entity, role));
            }
            let pw = new_password(&password, &login)?;
            let new = NewUser {
                login,
                display_name,
                password_hash: hash(pw).await?,
                roles: resolved,
            };
            let user = store.create_user(&actor, &new).await?;
            store.close().await;
            tracing::info!(login = %user.login, id = user.id, "user created");
            writeln!(
                out,
                "user {} created (id {}, roles: {})",
                user.login,
                user.id,
                roles_text(&user)
            )?;
        }
        UserCommand::SetPassword {
            login,
            password,
            db,
        } => {
            let store = open_store(&db).await?;
            let user = user_by_login(&store, &login).await?;
            let pw = new_password(&password, &user.login)?;
            let change = UserChange {
                password_hash: Some(hash(pw).await?),
                ..UserChange::default()
            };
            store.update_user(&actor, user.id, &change).await?;
            store.close().await;
            tracing::info!(login = %user.login, "password changed");
            writeln!(
                out,
                "password of {} changed; their sessions are closed",
                user.login
            )?;
            if user.disabled_at.is_some() {
                writeln!(
                    out,
                    "note: {} is disabled (parc-collector user enable {})",
                    user.login, user.login
                )?;
            }
        }
        UserCommand::List { db } => {
            let store = open_store(&db).await?;
            let users = store.list_users().await?;
            store.close().await;
            writeln!(
                out,
                "{:<6} {:<24} {:<24} {:<28} ROLES",
                "ID", "LOGIN", "NAME", "DISABLED"
            )?;
            for u in users {
                writeln!(
                    out,
                    "{:<6} {:<24} {:<24} {:<28} {}",
                    u.id,
                    u.login,
                    u.display_name,
                    u.disabled_at.as_deref().unwrap_or("-"),
                    roles_text(&u)
                )?;
            }
        }
        UserCommand::Disable { login, db } => set_disabled(&actor, &db, &login, true).await?,
        UserCommand::Enable { login, db } => set_disabled(&actor, &db, &login, false).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cli = Cli::try_parse_from([
            "parc-collector",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "sqlite://x.db",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.listen, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(args.db.database.as_deref(), Some("sqlite://x.db"));

        let cli =
            Cli::try_parse_from(["parc-collector", "token", "create", "--site", "main"]).unwrap();
        assert!(
            matches!(cli.command, Command::Token { command: TokenCommand::Create { ref site, .. } } if site == "main")
        );
        assert!(Cli::try_parse_from(["parc-collector", "token", "revoke", "x"]).is_err());
        let id = "0b6c4a52-55a3-4c0e-9f3e-1d2f1c9b8a70";
        let cli = Cli::try_parse_from(["parc-collector", "agent", "revoke", id]).unwrap();
        assert!(
            matches!(cli.command, Command::Agent { command: AgentCommand::Revoke { agent_id, .. } } if agent_id.to_string() == id)
        );
        assert!(Cli::try_parse_from(["parc-collector", "agent", "revoke", "pc-12"]).is_err());
        assert!(Cli::try_parse_from(["parc-collector", "serve", "--listen", "nowhere"]).is_err());
    }

    #[test]
    fn grants_as_typed() {
        /// Typed, then the entity and role, or part of the error.
        type Case<'a> = (&'a str, Result<(Option<&'a str>, Role), &'a str>);
        let table: &[Case] = &[
            ("admin", Ok((None, Role::Admin))),
            (" viewer ", Ok((None, Role::Viewer))),
            ("technician@CH Sud", Ok((Some("CH Sud"), Role::Technician))),
            ("viewer@ 2 ", Ok((Some("2"), Role::Viewer))),
            ("viewer@", Err("name the entity")),
            ("root", Err("unknown role")),
            ("root@CH Sud", Err("unknown role")),
        ];
        for (spec, expected) in table {
            match (parse_grant(spec), expected) {
                (Ok((entity, role)), Ok((e, r))) => {
                    assert_eq!((entity.as_deref(), role), (*e, *r), "{spec}")
                }
                (Err(m), Err(part)) => assert!(m.contains(part), "{spec}: {m}"),
                (got, _) => panic!("{spec}: {got:?}"),
            }
        }
    }

    #[test]
    fn passwords_keep_their_spaces_and_lose_the_line_end() {
        let table: &[(&[u8], Option<&str>)] = &[
            (b"correct horse battery\n", Some("correct horse battery")),
            (b"  spaced  \r\nsecond line\n", Some("  spaced  ")),
            (b"no newline", Some("no newline")),
            (b"\n", None),
            (b"", None),
        ];
        for (input, expected) in table {
            let got = password_line(*input).ok();
            assert_eq!(got.as_deref(), *expected, "{input:?}");
        }
    }

    #[test]
    fn user_commands_parse_and_never_take_a_password_argument() {
        let cli = Main::try_parse_from([
            "parc-collector",
            "user",
            "create",
            "jdoe",
            "--role",
            "viewer@CH Sud",
            "--role",
            "admin",
            "--password-env",
            "PW",
        ])
        .unwrap();
        let MainCommand::User {
            command:
                UserCommand::Create {
                    login,
                    roles,
                    password,
                    ..
                },
        } = cli.command
        else {
            panic!()
        };
        assert_eq!(login, "jdoe");
        assert_eq!(roles, ["viewer@CH Sud", "admin"]);
        assert_eq!(password.password_env.as_deref(), Some("PW"));
        for args in [
            &["user", "create", "jdoe", "--password", "secret secret"][..],
            &["user", "set-password", "jdoe", "secret secret"][..],
        ] {
            let argv = std::iter::once("parc-collector").chain(args.iter().copied());
            assert!(Main::try_parse_from(argv).is_err(), "{args:?}");
        }
        // The other commands are still there, through the flattened core.
        let cli = Main::try_parse_from(["parc-collector", "token", "list"]).unwrap();
        assert!(matches!(
            cli.command,
            MainCommand::Core(Command::Token {
                command: TokenCommand::List { .. }
            })
        ));
    }
}
