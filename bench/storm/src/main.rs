use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let summary = parc_storm::run(parc_storm::Args::parse()).await?;
    if summary.errors > 0 || summary.undelivered > 0 {
        std::process::exit(1);
    }
    Ok(())
}
