//! parc-storm: a Monday-morning storm of agents against real collectors, over real HTTP.
//!
//! - [`fleet`]: the simulated machines and their inventories, reproducible from a seed, for
//!   the first storm and the next (mostly unchanged) one.
//! - [`load`]: sending: bounded concurrency, gzip bodies, 429 + Retry-After handled as the
//!   agent handles it.
//! - [`stats`]: latencies and counts, summarised into throughput and percentiles.
//!
//! Documents are built and compressed before the clock starts, on every core: the storm
//! measures the collector, not this generator's JSON encoder.
#![forbid(unsafe_code)]

pub mod fleet;
pub mod load;
pub mod stats;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, ValueEnum};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::fleet::{Fleet, Round};
use crate::load::{Prepared, Target};
use crate::stats::Summary;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoundArg {
    /// First-time agents: every document creates an asset.
    First,
    /// The same agents again: new document ids, mostly unchanged content.
    Next,
}

#[derive(Debug, Parser)]
#[command(
    name = "parc-storm",
    about = "Simulates a morning storm of Parc agents"
)]
pub struct Args {
    /// Collector base URL (repeat for several collectors: agents are spread over them).
    #[arg(long = "url", required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// File with one site token per line (from `parc-collector token create`); agent `i`
    /// uses token `i % count`.
    #[arg(long, value_name = "PATH")]
    pub tokens: PathBuf,
    /// Number of agents.
    #[arg(long, default_value_t = 1000)]
    pub agents: u32,
    /// Number of the first agent: another range is another set of machines.
    #[arg(long, default_value_t = 0)]
    pub first_agent: u32,
    #[arg(long, value_enum, default_value_t = RoundArg::First)]
    pub round: RoundArg,
    /// Agents sending at the same time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Software entries per inventory.
    #[arg(long, default_value_t = 800)]
    pub software: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reuse pooled connections instead of one new connection per request.
    #[arg(long)]
    pub reuse_connections: bool,
    /// Print the summary as one JSON line on stdout (for scripts).
    #[arg(long)]
    pub json: bool,
}

/// Builds every document, runs the storm and prints its summary.
pub async fn run(args: Args) -> Result<Summary> {
    let tokens: Vec<Arc<str>> = std::fs::read_to_string(&args.tokens)
        .with_context(|| format!("cannot read {}", args.tokens.display()))?
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Arc::from)
        .collect();
    if tokens.is_empty() {
        bail!("{}: no token in the file", args.tokens.display());
    }
    let fleet = Fleet {
        seed: args.seed,
        software: args.software,
        sites: tokens.len(),
    };
    let round = match args.round {
        RoundArg::First => Round::First,
        RoundArg::Next => Round::Next,
    };
    let agents: Vec<u32> =
        (args.first_agent..args.first_agent.saturating_add(args.agents)).collect();
    let prepare_started = std::time::Instant::now();
    let documents = prepare(&fleet, round, &agents, args.urls.len(), &tokens)?;
    let bytes: usize = documents.iter().map(|d| d.body.len()).sum();
    eprintln!(
        "prepared {} documents ({:.1} kB gzip on average) in {:.1} s",
        documents.len(),
        bytes as f64 / documents.len().max(1) as f64 / 1000.0,
        prepare_started.elapsed().as_secs_f64()
    );
    let target = Target {
        endpoints: args
            .urls
            .iter()
            .map(|u| format!("{}/api/v1/inventories", u.trim_end_matches('/')))
            .collect(),
        concurrency: args.concurrency,
        fresh_connections: !args.reuse_connections,
    };
    let summary = load::storm(&target, documents).await?;
    if args.json {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        println!("{summary}");
    }
    Ok(summary)
}

/// Serialises and compresses each agent's document as the agent's spool does, on every core.
fn prepare(
    fleet: &Fleet,
    round: Round,
    agents: &[u32],
    collectors: usize,
    tokens: &[Arc<str>],
) -> Result<Vec<Prepared>> {
    let observed_at = Utc::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = agents.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = agents
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&agent| {
                            let doc = fleet.document(agent, round, observed_at);
                            let json = serde_json::to_vec(&doc)?;
                            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                            gz.write_all(&json)?;
                            Ok(Prepared {
                                collector: agent as usize % collectors.max(1),
                                token: tokens[fleet.site_of(agent)].clone(),
                                body: gz.finish()?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(agents.len());
        for worker in workers {
            all.extend(worker.join().expect("a preparing thread panicked")?);
        }
        Ok(all)
    })
}
