//! `parc-collector`: parses the command line, starts logging, hands over to the library.

use clap::Parser;
use parc_collector::cli::{Cli, Main, MainCommand};
use tracing_subscriber::EnvFilter;

/// glibc's allocator spent about a fifth of the collector's CPU in a storm (documents of
/// hundreds of kilobytes, thousands of small strings each, freed on other threads);
/// mimalloc's thread-local free lists cost much less there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Main::parse();
    // Logs go to stderr: stdout carries what scripts read (the token, the listening address).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in journald or a redirected file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match cli.command {
        MainCommand::Core(command) => parc_collector::run(Cli { command }).await,
        MainCommand::User { command } => parc_collector::cli::run_user(command).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parc-collector: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
