//! `parc-collector`: parses the command line, starts logging, hands over to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = parc_collector::cli::Cli::parse();
    // Logs go to stderr: stdout carries what scripts read (the token, the listening address).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match parc_collector::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parc-collector: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
