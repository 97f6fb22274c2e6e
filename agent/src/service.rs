//! `parc-agent run`: the service mode.
//!
//! One inventory every `schedule.interval`, the first after a random delay of up to
//! `schedule.splay` (so a site's PCs, all booted at 8:00, do not reach the collector in the same
//! second); one sweep of `sweep.targets` every `sweep.interval`, confined to `sweep.scopes`;
//! everything goes through the spool, and the spool is flushed with backoff and jitter
//! while the collector is away. An agent with sweep scopes also asks the collector for sweep
//! jobs started from the web UI ([`crate::jobs`]) every `sweep.job_poll_seconds` and right
//! after each delivery, and runs them like its own sweeps. Stops cleanly on SIGTERM/Ctrl-C: a document is either fully
//! spooled or not at all, so stopping at any point loses nothing already collected.

use std::time::Duration;

use anyhow::Result;
use parc_config::AgentConfig;
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[cfg(unix)]
use parc_shared::{Document, DocumentHeader, SourceKind};

use crate::delivery::{flush, open_spool, Client, Retry, RETRY_BASE, RETRY_CAP};
use crate::spool::Kind;

pub async fn run(config: &AgentConfig, splay: bool, shutdown: CancellationToken) -> Result<()> {
    let spool = open_spool(config)?;
    // for_agent: an enrolled agent pins its collector's certificate and signs what it sends.
    let client = config
        .server
        .as_ref()
        .map(|server| Client::for_agent(config, server))
        .transpose()?;
    if client.is_none() {
        tracing::warn!("no collector configured: documents will wait in the spool");
    }

    if splay && !config.schedule.splay.is_zero() {
        let delay = rand::thread_rng().gen_range(Duration::ZERO..config.schedule.splay);
        tracing::info!(?delay, "random start delay");
        if sleep_or_stop(Instant::now() + delay, &shutdown).await {
            return Ok(());
        }
    }

    let mut next_inventory = Instant::now();
    // Only a sweep reschedules itself, and only unix sweeps.
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut next_sweep = scheduled_sweeps(config).then(Instant::now);
    let mut next_flush = Instant::now();
    // Jobs are swept, so only unix agents ask for them.
    #[cfg(unix)]
    let job_poll = crate::jobs::polls(config).filter(|_| client.is_some());
    #[cfg(not(unix))]
    let job_poll: Option<Duration> = None;
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut next_job = job_poll.map(|_| Instant::now());
    let mut retry = Retry::new(RETRY_BASE, RETRY_CAP);
    loop {
        let now = Instant::now();
        if now >= next_inventory {
            match crate::cli::inventory_document(config).await {
                Ok(doc) => {
                    spool.push(Kind::Inventory, doc.header.document_id, &doc)?;
                    tracing::info!(document_id = %doc.header.document_id, "inventory spooled");
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "inventory failed"),
            }
            next_inventory = now + config.schedule.interval;
            next_flush = now;
        }
        #[cfg(unix)]
        if next_sweep.is_some_and(|at| now >= at) {
            scheduled_sweep(config, &spool, &shutdown).await?;
            next_sweep = Some(Instant::now() + config.sweep.interval);
            next_flush = Instant::now();
        }
        #[cfg(unix)]
        if let (Some(client), Some(poll)) = (&client, job_poll) {
            if next_job.is_some_and(|at| now >= at) {
                if run_job(config, client, &spool, &shutdown).await? {
                    next_flush = Instant::now();
                }
                next_job = Some(Instant::now() + poll);
            }
        }
        if let (Some(client), true) = (&client, now >= next_flush) {
            let report = flush(&spool, client).await?;
            for (entry, answer) in &report.delivered {
                tracing::info!(document_id = %entry.document_id, %answer, "delivered");
            }
            // A user who just started a sweep should not wait a whole poll interval, and an
            // agent that just delivered knows the collector is there.
            if !report.delivered.is_empty() && next_job.is_some() {
                next_job = Some(Instant::now());
            }
            match retry.after(&report, &mut rand::thread_rng()) {
                None => next_flush = next_inventory,
                Some(wait) => {
                    let why = report.stopped.as_deref().unwrap_or_default();
                    tracing::warn!(reason = %why, waiting = report.waiting, retry_in = ?wait,
                        failures = retry.failures(), dropped = spool.dropped(), "delivery postponed");
                    next_flush = Instant::now() + wait;
                }
            }
        }
        let mut wake = next_inventory;
        if client.is_some() {
            wake = wake.min(next_flush);
        }
        if let Some(at) = next_sweep {
            wake = wake.min(at);
        }
        if let Some(at) = next_job {
            wake = wake.min(at);
        }
        if sleep_or_stop(wake, &shutdown).await {
            tracing::info!("stopping");
            return Ok(());
        }
    }
}

/// Whether this agent runs scheduled sweeps: targets are configured and the platform can sweep.
fn scheduled_sweeps(config: &AgentConfig) -> bool {
    if config.sweep.targets.is_empty() {
        return false;
    }
    if cfg!(unix) {
        return true;
    }
    // The sweep engine needs Linux raw sockets; Windows sites sweep from a Linux probe.
    tracing::warn!("sweep.targets is set but this platform cannot sweep: the targets are ignored");
    false
}

/// Sweeps the configured targets, confined to the configured scopes, and spools the result
/// ([`sweep_and_spool`]). A refused or failed sweep is logged, not fatal: the inventory
/// schedule goes on.
#[cfg(unix)]
async fn scheduled_sweep(
    config: &AgentConfig,
    spool: &crate::spool::Spool,
    shutdown: &CancellationToken,
) -> Result<()> {
    let mut request = crate::sweep::SweepRequest::scheduled(&config.sweep);
    // A scheduled sweep, SNMP included, must finish well before the next one starts.
    request.deadline = Some(config.sweep.interval / 2);
    if let Err(e) = sweep_and_spool(config, spool, request, None, shutdown).await? {
        tracing::error!(error = %e, "scheduled sweep refused or failed");
    }
    Ok(())
}

/// Asks the collector for a sweep job and, when one is claimed, runs it within the configured
/// scopes: its result is spooled (true: there is something to deliver), or its failure is
/// reported to the collector. Only a spool that cannot be written is an error: the collector
/// being away only postpones jobs.
#[cfg(unix)]
async fn run_job(
    config: &AgentConfig,
    client: &Client,
    spool: &crate::spool::Spool,
    shutdown: &CancellationToken,
) -> Result<bool> {
    use crate::jobs;
    let agent_id = crate::agent_id::load_or_create(&config.state_dir)?;
    let job = match jobs::claim(client, agent_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Ok(false),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot ask the collector for sweep jobs");
            return Ok(false);
        }
    };
    tracing::info!(job_id = job.id, targets = ?job.targets, "sweep job claimed");
    let outcome = match jobs::check(&job, &config.sweep.scopes) {
        Err(why) => Err(format!("refused by agent {agent_id}: {why}")),
        Ok(()) => {
            let mut request =
                crate::sweep::SweepRequest::from_config(job.targets.clone(), &config.sweep);
            request.scopes = config.sweep.scopes.clone();
            request.deadline = Some(jobs::JOB_DEADLINE);
            match sweep_and_spool(config, spool, request, Some(job.id), shutdown).await? {
                Ok(hosts) => Ok(hosts),
                // Stopped mid-sweep: what was found is incomplete and was not spooled.
                Err(_) if shutdown.is_cancelled() => {
                    Err(format!("agent {agent_id} was stopped during the sweep"))
                }
                Err(e) => Err(format!("agent {agent_id} could not sweep: {e}")),
            }
        }
    };
    match outcome {
        Ok(hosts) => {
            tracing::info!(job_id = job.id, hosts, "sweep job done, result spooled");
            Ok(true)
        }
        Err(why) => {
            tracing::warn!(job_id = job.id, reason = %why, "sweep job failed");
            if let Err(e) = jobs::fail(client, agent_id, job.id, &why).await {
                tracing::warn!(job_id = job.id, error = %format!("{e:#}"), "cannot report the failed sweep job");
            }
            Ok(false)
        }
    }
}

/// Why [`sweep_and_spool`] produced no document.
#[cfg(unix)]
#[derive(Debug, thiserror::Error)]
enum SweepFailed {
    #[error(transparent)]
    Sweep(#[from] crate::sweep::SweepError),
    #[error("stopped before the sweep finished")]
    Stopped,
}

/// Runs a sweep (then, when `[snmp]` is enabled, asks the live hosts over SNMP what they are),
/// and spools the discovery (answering `job_id` when given) and one document per SNMP device.
/// Returns the number of hosts found; the outer error is a spool that cannot be written.
#[cfg(unix)]
async fn sweep_and_spool(
    config: &AgentConfig,
    spool: &crate::spool::Spool,
    request: crate::sweep::SweepRequest,
    job_id: Option<i64>,
    shutdown: &CancellationToken,
) -> Result<Result<usize, SweepFailed>> {
    use crate::sweep::snmp_stage::{self, SnmpStage};
    let stage = SnmpStage::from_config(config);
    let outcome = match snmp_stage::run(request, stage.as_ref(), None, shutdown.child_token()).await
    {
        Ok(outcome) => outcome,
        Err(e) => return Ok(Err(e.into())),
    };
    // A job's partial result would read as "these are all the hosts"; a scheduled sweep's
    // partial result is still news, as before.
    if job_id.is_some() && shutdown.is_cancelled() {
        return Ok(Err(SweepFailed::Stopped));
    }
    let devices = outcome.devices();
    let mut discovery = outcome.discovery;
    discovery.job_id = job_id;
    let hosts = discovery.hosts.len();
    let agent_id = crate::agent_id::load_or_create(&config.state_dir)?;
    let doc = Document {
        header: DocumentHeader::new(agent_id, SourceKind::Sweep, discovery.finished_at),
        body: discovery,
    };
    spool.push(Kind::Discovery, doc.header.document_id, &doc)?;
    tracing::info!(hosts, ?job_id, document_id = %doc.header.document_id, "sweep spooled");
    if let Some(stage) = &stage {
        let ids = crate::delivery::spool_snmp(config, spool, devices)?;
        tracing::info!(devices = ids.len(), "SNMP devices spooled");
        if let Err(e) = stage.memory.save(&config.state_dir) {
            tracing::warn!(error = %e, "cannot save the SNMP credential memory");
        }
    }
    Ok(Ok(hosts))
}

/// Sleeps until `deadline`; true when asked to stop first.
async fn sleep_or_stop(deadline: Instant, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        _ = shutdown.cancelled() => true,
    }
}
