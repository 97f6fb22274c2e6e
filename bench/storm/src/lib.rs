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
use parc_shared::software_digest::software_digest;
use parc_shared::SoftwareDelta;

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
    /// Always send the software list, as agents before the acknowledged-list change did. By
    /// default an agent of the `next` round whose list did not change since the `first` round
    /// leaves it out (`software_unchanged`), as `parc-agent` does once the collector has
    /// acknowledged it.
    #[arg(long)]
    pub whole_documents: bool,
    /// Send a changed software list whole instead of as its changes against the acknowledged
    /// one (`software_delta`), as agents did before collectors accepted changes.
    #[arg(long)]
    pub no_software_delta: bool,
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
    let plan = Plan {
        fleet: &fleet,
        round,
        leave_out_lists: !args.whole_documents,
        deltas: !args.whole_documents && !args.no_software_delta,
        collectors: args.urls.len(),
        tokens: &tokens,
    };
    let documents = prepare(&plan, &agents)?;
    let bytes: usize = documents.iter().map(|d| d.body.len()).sum();
    let slim = documents
        .iter()
        .filter(|d| d.whole.is_some() && !d.delta)
        .count();
    let deltas = documents.iter().filter(|d| d.delta).count();
    eprintln!(
        "prepared {} documents ({:.1} kB gzip on average, {slim} without their software list, {deltas} with its changes) in {:.1} s",
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

/// What to prepare, for whom.
struct Plan<'a> {
    fleet: &'a Fleet,
    round: Round,
    /// Leave out a list the collector acknowledged in the first round.
    leave_out_lists: bool,
    /// Send a list that changed since the first round as its changes.
    deltas: bool,
    collectors: usize,
    tokens: &'a [Arc<str>],
}

fn gzip(doc: &parc_shared::Document<parc_shared::Inventory>) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(doc)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&json)?;
    Ok(gz.finish()?)
}

/// One agent's document, serialised and compressed as the agent's spool holds it. In the next
/// round an agent whose list is the one the collector acknowledged after the first round sends
/// it without the list, one whose list changed sends its changes against the acknowledged one,
/// and both keep the whole document for a 409 `software_list_unknown`, as `parc-agent` does
/// (agent/src/delivery.rs `send_inventory`).
fn prepare_one(plan: &Plan, agent: u32, observed_at: chrono::DateTime<Utc>) -> Result<Prepared> {
    let mut doc = plan.fleet.document(agent, plan.round, observed_at);
    let whole = gzip(&doc)?;
    let acknowledged = (plan.leave_out_lists && plan.round == Round::Next).then(|| {
        let list = plan
            .fleet
            .inventory(agent, Round::First, observed_at)
            .software;
        (software_digest(&list), list)
    });
    let (body, whole, delta) = match acknowledged {
        Some((digest, _)) if digest == software_digest(&doc.body.software) => {
            doc.body.software.clear();
            doc.body.software_unchanged = Some(digest);
            (gzip(&doc)?, Some(whole), false)
        }
        Some((digest, list)) if plan.deltas => {
            let changes = SoftwareDelta::between(&list, &digest, &doc.body.software);
            doc.body.software.clear();
            doc.body.software_delta = Some(changes);
            (gzip(&doc)?, Some(whole), true)
        }
        _ => (whole, None, false),
    };
    Ok(Prepared {
        collector: agent as usize % plan.collectors.max(1),
        token: plan.tokens[plan.fleet.site_of(agent)].clone(),
        body,
        whole,
        delta,
    })
}

/// Prepares every agent's document, on every core.
fn prepare(plan: &Plan, agents: &[u32]) -> Result<Vec<Prepared>> {
    let observed_at = Utc::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = agents.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = agents
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&agent| prepare_one(plan, agent, observed_at))
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use parc_shared::{Document, Inventory};

    fn gunzip(body: &[u8]) -> Document<Inventory> {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut json)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn next_round_leaves_out_unchanged_lists_and_sends_changes_of_the_others() {
        let fleet = Fleet {
            seed: 1,
            software: 100,
            sites: 2,
        };
        let tokens: Vec<Arc<str>> = vec!["a".into(), "b".into()];
        let at = Utc::now();
        let plan = |round, leave_out_lists, deltas| Plan {
            fleet: &fleet,
            round,
            leave_out_lists,
            deltas,
            collectors: 1,
            tokens: &tokens,
        };
        let (mut slim, mut changes) = (0, 0);
        for agent in 0..100 {
            let first = prepare_one(&plan(Round::First, true, true), agent, at).unwrap();
            assert!(first.whole.is_none(), "a first inventory is always whole");
            let first_list = gunzip(&first.body).body.software;
            let old = prepare_one(&plan(Round::Next, false, false), agent, at).unwrap();
            assert!(old.whole.is_none() && !old.delta);
            let without_deltas = prepare_one(&plan(Round::Next, true, false), agent, at).unwrap();
            assert!(!without_deltas.delta);

            let next = prepare_one(&plan(Round::Next, true, true), agent, at).unwrap();
            let sent = gunzip(&next.body).body;
            let doc = gunzip(next.whole.as_deref().expect("the whole document is kept"));
            assert_eq!(
                doc.header.document_id,
                gunzip(&next.body).header.document_id
            );
            assert!(sent.software.is_empty());
            let first_digest = software_digest(&first_list);
            if next.delta {
                changes += 1;
                assert_ne!(doc.body.software, first_list, "agent {agent}");
                let delta = sent.software_delta.expect("changes sent");
                assert_eq!(delta.base, first_digest);
                assert!((2..=6).contains(&delta.len()), "{} changes", delta.len());
                let rebuilt = delta.apply(&first_list).unwrap();
                assert_eq!(
                    software_digest(&rebuilt),
                    software_digest(&doc.body.software)
                );
                assert_eq!(without_deltas.whole, None, "sent whole without deltas");
            } else {
                slim += 1;
                assert_eq!(
                    sent.software_unchanged.as_deref(),
                    Some(first_digest.as_str())
                );
                assert_eq!(doc.body.software, first_list, "agent {agent}");
                assert!(without_deltas.whole.is_some());
            }
        }
        // UPGRADED_PERCENT of 100 machines, give or take the draw.
        assert!(
            (60..=95).contains(&slim),
            "{slim} slim, {changes} with changes"
        );
    }
}
