//! Parc collector: authenticates agents, checks their documents, merges them into the CMDB and
//! serves it over a REST API.
//!
//! Data flow of a document: [`http::ingest`] (token, bounded body) → [`intake`] (decompress,
//! parse, schema version, limits) → [`store`] (one transaction: replay check, candidate lookup,
//! [`reconcile`] decides the asset, writes, [`history`] of what changed).
//!
//! - [`auth`]: users' principals (sessions, API tokens), roles per entity, access scopes.
//! - [`audit`]: the log of admin actions, written in each action's transaction.
//! - [`cli`]: command line (`serve`, `token create|list|revoke`, `agent list|revoke`).
//! - [`error`]: the API error type and its mapping to statuses and JSON.
//! - [`facts`]: identity keys and other values derived from documents (junk re-checked).
//! - [`reconcile`]: the pure merge rules: which asset a document describes.
//! - [`history`]: the pure diff of tracked fields between two inventories.
//! - [`lifecycle`]: the pure rules of asset lifecycle, manual fields and their conflicts,
//!   merge explanations, splits, never-merge pairs and undo.
//! - [`export`]: asset lists as CSV or JSON, computers as GLPI native inventory documents.
//! - [`placement`]: the pure "where is this PC plugged in" rules over a switch's forwarding
//!   table.
//! - [`intake`]: from request bytes to a checked document.
//! - [`store`]: the CMDB on SQLite or PostgreSQL (sqlx `Any`, embedded migrations).
//! - [`testing`]: a fresh SQLite or PostgreSQL database per test (`PARC_TEST_POSTGRES=1`).
//! - [`http`]: the axum router and handlers (document intake, agent enrolment and signatures,
//!   the OpenAPI document).
//! - [`metrics`]: Prometheus metrics of intake, merges and the CMDB, served at `/metrics`.
//! - [`ratelimit`]: per-agent and per-site-token document rates (token buckets).
//! - [`priority`]: document decoding at a lower scheduling priority than the write path.
//! - [`slowclient`]: deadlines on every connection (slowloris: request heads, idle keep-alive,
//!   whole requests).
//! - [`tls`]: HTTPS: certificate files or a generated self-signed one, reloaded on SIGHUP or
//!   when the files change.
#![deny(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod error;
pub mod export;
pub mod facts;
pub mod history;
pub mod http;
pub mod intake;
pub mod lifecycle;
pub mod metrics;
pub mod placement;
pub mod priority;
pub mod ratelimit;
pub mod reconcile;
pub mod slowclient;
pub mod store;
pub mod testing;
pub mod tls;

use std::future::Future;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use parc_config::CollectorConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::{AgentCommand, Cli, Command, DbArgs, ServeArgs, TokenCommand};
use crate::http::AppState;
use crate::store::agents::AgentRevoked;
use crate::store::tokens::Revoked;
use crate::store::Store;
use crate::tls::{CertFiles, Reloadable};

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Token { command } => run_token(command).await,
        Command::Agent { command } => run_agent(command).await,
    }
}

fn load_config(db: &DbArgs) -> anyhow::Result<CollectorConfig> {
    let mut config = match &db.config {
        Some(path) => CollectorConfig::load(path)?,
        None => CollectorConfig::default(),
    };
    if let Some(url) = &db.database {
        config.database_url = url.clone();
    }
    Ok(config)
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.db)?;
    if let Some(listen) = args.listen {
        config = config.with_listen(listen)?;
    }
    // Before the database and the socket: a bad certificate is the likeliest start-up error.
    let cert = match &config.tls {
        None => None,
        Some(tls) => {
            let (files, created) = CertFiles::prepare(tls, &certificate_names(&config))?;
            let cert = Reloadable::load(files)?;
            if created {
                tracing::info!(cert = %cert.files().cert.display(), "self-signed certificate created");
            }
            Some(cert)
        }
    };
    let store = Store::open(&config.database_url, config.max_connections).await?;
    let bootstrap = auth::bootstrap::ensure_admin(
        &store,
        config.auth.initial_admin_password.clone().map(|s| s.0),
    )
    .await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if cert.is_some() { "https" } else { "http" };
    // Tests and scripts read these exact lines: the fingerprint agents pin, and the port chosen
    // for `--listen ...:0`.
    let mut stdout = std::io::stdout();
    if let Some(cert) = &cert {
        writeln!(
            stdout,
            "certificate fingerprint SHA256 {}",
            cert.fingerprint()
        )?;
    }
    if let auth::bootstrap::Bootstrap::Generated(password) = &bootstrap {
        // Once, on stdout, never in the log: the admin signs in with it and changes it.
        writeln!(stdout, "initial admin password: {password}")?;
    }
    writeln!(stdout, "listening on {scheme}://{addr}")?;
    stdout.flush()?;
    tracing::info!(%addr, %scheme, database = %config.database_url, "listening");
    let mut state = AppState::new(store.clone(), config.max_document_bytes)
        .require_enrolment(config.require_enrolment)
        .abuse_limits(&config.abuse)
        .lifecycle(config.lifecycle);
    state.auth = Arc::new(auth::AuthSettings {
        session_idle: chrono::Duration::hours(config.auth.session_idle_hours.into()),
        secure_cookie: cert.is_some(),
        ..auth::AuthSettings::default()
    });
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let shutdown = stop.clone().cancelled_owned();
    match cert {
        Some(cert) => {
            tokio::spawn(tls::reload_on_change(
                cert.clone(),
                tls::WATCH_INTERVAL,
                stop.clone().cancelled_owned(),
            ));
            serve_tls(listener, cert, state, shutdown).await?
        }
        None => serve(listener, state, shutdown).await?,
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Names a generated certificate is valid for besides localhost and loopback: this host's
/// name and the listen address, so that agents that verify names (not only the pin) accept it.
fn certificate_names(config: &CollectorConfig) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        names.push(host.trim().to_string());
    }
    if !config.listen.ip().is_unspecified() {
        names.push(config.listen.ip().to_string());
    }
    names
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // tap_io: through it axum gives connect info (the peer address) for any listener.
    let listener = slowclient::GuardedListener::new(listener, deadlines(&state)).tap_io(|_| {});
    // Connect info: the peer address, for sign-in throttling.
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn deadlines(state: &AppState) -> slowclient::Deadlines {
    slowclient::Deadlines::new(state.header_timeout, state.body_timeout)
}

/// [`serve`] over TLS with the certificate `cert` serves at each handshake.
pub async fn serve_tls(
    listener: TcpListener,
    cert: Arc<Reloadable>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tls::TlsListener::new(listener, cert.server_config())?;
    // tap_io: through it axum gives connect info (the peer address) for any listener.
    let listener = slowclient::GuardedListener::new(listener, deadlines(&state)).tap_io(|_| {});
    // Connect info: the peer address, for sign-in throttling.
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn run_token(command: TokenCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match command {
        TokenCommand::Create { site, db } => {
            let store = open(&db).await?;
            let (id, token) = store.create_token(&site).await?;
            tracing::info!(id, site = %site.trim(), "token created");
            writeln!(out, "{token}")?;
            store.close().await;
        }
        TokenCommand::List { db } => {
            let store = open(&db).await?;
            writeln!(out, "{:<6} {:<24} {:<28} REVOKED", "ID", "SITE", "CREATED")?;
            for t in store.list_tokens().await? {
                writeln!(
                    out,
                    "{:<6} {:<24} {:<28} {}",
                    t.id,
                    t.site,
                    t.created_at,
                    t.revoked_at.as_deref().unwrap_or("-")
                )?;
            }
            store.close().await;
        }
        TokenCommand::Revoke { id, db } => {
            let store = open(&db).await?;
            let outcome = store.revoke_token(id).await?;
            store.close().await;
            match outcome {
                Revoked::Now => writeln!(out, "token {id} revoked")?,
                Revoked::Already => writeln!(out, "token {id} was already revoked")?,
                Revoked::NoSuchToken => anyhow::bail!("no token with id {id}"),
            }
        }
    }
    Ok(())
}

async fn run_agent(command: AgentCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match command {
        AgentCommand::List { db } => {
            let store = open(&db).await?;
            writeln!(
                out,
                "{:<36} {:<24} {:<28} REVOKED",
                "AGENT", "SITE", "ENROLLED"
            )?;
            for a in store.list_agents().await? {
                writeln!(
                    out,
                    "{:<36} {:<24} {:<28} {}",
                    a.agent_id,
                    a.site,
                    a.enrolled_at,
                    a.revoked_at.as_deref().unwrap_or("-")
                )?;
            }
            store.close().await;
        }
        AgentCommand::Revoke { agent_id, db } => {
            let store = open(&db).await?;
            let outcome = store.revoke_agent(agent_id).await?;
            store.close().await;
            match outcome {
                AgentRevoked::Now => {
                    tracing::info!(%agent_id, "agent revoked");
                    writeln!(out, "agent {agent_id} revoked")?
                }
                AgentRevoked::Already => writeln!(out, "agent {agent_id} was already revoked")?,
                AgentRevoked::NoSuchAgent => anyhow::bail!("no enrolled agent {agent_id}"),
            }
        }
    }
    Ok(())
}

async fn open(db: &DbArgs) -> anyhow::Result<Store> {
    let config = load_config(db)?;
    Store::open(&config.database_url, config.max_connections).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_default_limit_matches_the_wire_model() {
        assert_eq!(
            parc_config::CollectorConfig::default().max_document_bytes,
            parc_shared::limits::MAX_DOCUMENT_BYTES
        );
    }
}
