//! `parc-agent snmp HOST` before the subcommand is wired into the agent's CLI: the same
//! arguments and output, for manual runs and the end-to-end test.
//!
//! The module is compiled in by path so that this works whether or not the library exports it.

use std::process::ExitCode;

use clap::Parser;

#[allow(dead_code, unused_imports)]
#[path = "../src/snmp/mod.rs"]
mod snmp;

#[derive(Parser)]
#[command(
    name = "snmp_query",
    about = "Query one device over SNMP and identify it"
)]
struct Cli {
    #[command(flatten)]
    args: snmp::cli::SnmpArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    snmp::cli::run_cli(Cli::parse().args).await
}
