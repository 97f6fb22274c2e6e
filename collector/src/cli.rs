//! Command line: `serve`, `token create|list|revoke` and `agent list|revoke`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

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
}
