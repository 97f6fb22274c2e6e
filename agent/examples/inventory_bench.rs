//! Prints this host's inventory as JSON, nothing else: the collection alone, without the agent
//! id, configuration or document envelope of `parc-agent inventory --format json`. Used by
//! bench/inventory.sh to measure `inventory::collect` in isolation.

fn main() -> anyhow::Result<()> {
    let inventory = parc_agent::inventory::collect()?;
    let stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(stdout, &inventory)?;
    println!();
    Ok(())
}
