//! Command-line interface: arguments, configuration loading, and the dispatch to each command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use parc_config::agent::{server_url, ServerConfig};
use parc_config::AgentConfig;
use parc_shared::{Document, DocumentHeader, Inventory, SourceKind};
use tokio_util::sync::CancellationToken;

use crate::spool::Kind;

/// Config file read when `--config` is not given, if it exists.
#[cfg(not(windows))]
pub const DEFAULT_CONFIG: &str = "/etc/parc/agent.toml";

/// Config file read when `--config` is not given, if it exists.
pub fn default_config() -> PathBuf {
    #[cfg(windows)]
    return crate::windows::paths::default_config();
    #[cfg(not(windows))]
    PathBuf::from(DEFAULT_CONFIG)
}

#[derive(Debug, Parser)]
#[command(
    name = "parc-agent",
    version,
    about = "Parc agent: inventory this host, sweep networks, report to the collector"
)]
pub struct Cli {
    /// Configuration file (default: /etc/parc/agent.toml, on Windows
    /// %ProgramData%\Parc\agent.toml, when it exists).
    #[arg(long, global = true, env = "PARC_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the agent id and the spool (overrides `state_dir`).
    #[arg(long, global = true, env = "PARC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Collector URL (overrides `server.url`).
    #[arg(long, global = true, env = "PARC_SERVER")]
    pub server: Option<String>,
    /// Site token (overrides `server.token`).
    #[arg(long, global = true, env = "PARC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect this host's facts and print them.
    Inventory {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Collect this host's facts and send them to the collector (spooled if it is away).
    Push,
    /// Send the documents waiting in the spool.
    Flush,
    /// Enrol with a collector (--server https://..., --token): check and pin its certificate,
    /// register this agent's signing key.
    Enroll(crate::enroll::EnrollArgs),
    /// Service mode: periodic inventory (and scheduled sweeps), spool flushing, until stopped.
    Run {
        /// Skip the random start delay (for tests and manual runs).
        #[arg(long)]
        no_splay: bool,
    },
    /// Find live hosts on networks (CIDRs, ranges, addresses).
    #[cfg(unix)]
    Sweep(crate::sweep::cli::SweepArgs),
    /// Query devices over SNMP and say what they are (type, vendor, model, serial).
    Snmp(crate::snmp::cli::SnmpArgs),
    /// Windows service entry point, started by the service manager (installed by the MSI).
    #[cfg(windows)]
    #[command(hide = true)]
    Service,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable summary.
    Text,
    /// The wire document, as sent to the collector.
    Json,
}

/// Runs the command; the exit code says whether it succeeded.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> Result<ExitCode> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Inventory { format } => {
            let document = inventory_document(&config).await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&document)?),
                Format::Text => print!("{}", crate::summary::render(&document.body)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Push => {
            let document = inventory_document(&config).await?;
            report(crate::delivery::deliver(&config, Kind::Inventory, &document).await)
        }
        Command::Flush => {
            let spool = crate::delivery::open_spool(&config)?;
            let server = config
                .server
                .as_ref()
                .context("no collector configured (server.url / --server)")?;
            let client = crate::delivery::Client::for_agent(&config, server)?;
            let r = crate::delivery::flush(&spool, &client).await?;
            println!(
                "delivered {}, refused {}, waiting {}",
                r.delivered.len(),
                r.refused.len(),
                r.waiting
            );
            if let Some(why) = r.stopped {
                eprintln!("parc-agent: {why}");
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll(args) => crate::enroll::run(args, &config).await,
        Command::Run { no_splay } => {
            crate::service::run(&config, !no_splay, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(unix)]
        Command::Sweep(args) => crate::sweep::cli::run(args, &config, shutdown).await,
        Command::Snmp(args) => crate::snmp::cli::run_cli(args, &config, shutdown).await,
        // main() hands `service` to the SCM dispatcher before any runtime exists.
        #[cfg(windows)]
        Command::Service => anyhow::bail!("`service` is started by the Windows service manager"),
    }
}

fn report(result: Result<String>) -> Result<ExitCode> {
    match result {
        Ok(line) => {
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("parc-agent: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Reads the configuration file (if any) and applies the command-line overrides.
pub fn load_config(cli: &Cli) -> Result<AgentConfig> {
    let default_path = default_config();
    let mut config = match &cli.config {
        Some(path) => AgentConfig::load(path)?,
        None if default_path.exists() => AgentConfig::load(&default_path)?,
        None => AgentConfig::default(),
    };
    #[cfg(windows)]
    {
        if config.state_dir == std::path::Path::new(parc_config::agent::DEFAULT_STATE_DIR) {
            config.state_dir = crate::windows::paths::default_state_dir();
        }
        let layers = crate::windows::registry::read_layers()?;
        let merged = crate::windows::policy::merge_all(config, &layers)?;
        for name in &merged.ignored {
            tracing::warn!(value = %name, "unknown registry value ignored");
        }
        config = merged.config;
    }
    if let Some(dir) = &cli.state_dir {
        config.state_dir = dir.clone();
    }
    if cli.server.is_some() || cli.token.is_some() {
        let url = match (&cli.server, &config.server) {
            (Some(s), _) => server_url(s).map_err(|m| anyhow::anyhow!("--server: {m}"))?,
            (None, Some(s)) => s.url.clone(),
            (None, None) => anyhow::bail!("--token given without a collector URL (--server)"),
        };
        let token = match (&cli.token, &config.server) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => s.token.clone(),
            (None, None) => anyhow::bail!("--server given without a site token (--token)"),
        };
        let timeout = config
            .server
            .as_ref()
            .map(|s| s.timeout)
            .unwrap_or(std::time::Duration::from_secs(60));
        config.server = Some(ServerConfig {
            url,
            token,
            timeout,
        });
    }
    // An enrolled agent needs no [server] in its configuration: enrolment stored it.
    if config.server.is_none() {
        if let Some(e) = crate::enroll::Enrollment::load(&config.state_dir)? {
            let url = server_url(&e.server)
                .map_err(|m| anyhow::anyhow!("{}: {m}", crate::enroll::ENROLLMENT_FILE))?;
            config.server = Some(ServerConfig {
                url,
                token: e.token,
                timeout: std::time::Duration::from_secs(60),
            });
        }
    }
    Ok(config)
}

/// Collects this host's facts into a document ready to send.
pub async fn inventory_document(config: &AgentConfig) -> Result<Document<Inventory>> {
    let agent_id = crate::agent_id::load_or_create(&config.state_dir)?;
    let observed_at = chrono::Utc::now();
    let inventory = tokio::task::spawn_blocking(crate::inventory::collect)
        .await
        .context("inventory task failed")??;
    Ok(Document {
        header: DocumentHeader::new(agent_id, SourceKind::AgentInventory, observed_at),
        body: inventory,
    })
}
