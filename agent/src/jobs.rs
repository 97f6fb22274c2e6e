//! Sweep jobs started from the web UI (issue #8), agent side.
//!
//! In service mode an agent that may sweep (it has `sweep.scopes`) asks its collector every
//! `sweep.job_poll_seconds`, and right after each delivery, for a job of its site
//! ([`claim`]; the collector hands each job to one agent only). It runs the job confined to its
//! own scopes and answers with the sweep's discovery document, carrying the job id, through the
//! spool like every document; a job it cannot run (a target outside its scopes, an invalid
//! target, a sweep that could not start) is reported with the reason ([`fail`]), so the user
//! sees why instead of a job that never ends. The collector checked the targets against the
//! site's subnets; the agent's own scopes are the last word on what it probes.

use std::time::Duration;

use anyhow::{bail, Result};
use ipnet::IpNet;
use parc_shared::discovery::{JobClaim, JobFailure, SweepJob};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::delivery::Client;
use crate::sweep::scope;
use crate::sweep::targets::Targets;

pub const CLAIM_PATH: &str = "api/v1/agents/jobs/claim";

/// Longest a job's sweep (SNMP stage included) may run: a UI user waits for it.
pub const JOB_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Whether this agent asks for jobs: polling is on and it has scopes to confine them to. An
/// agent without scopes could only refuse every job, and would take them from agents that can.
pub fn polls(config: &parc_config::AgentConfig) -> Option<Duration> {
    config
        .sweep
        .job_poll
        .filter(|_| !config.sweep.scopes.is_empty())
}

/// Asks the collector for a job of this agent's site: `Some` when one was claimed for this
/// agent (it must then be answered, by a discovery or [`fail`]), `None` when there is none.
pub async fn claim(client: &Client, agent_id: Uuid) -> Result<Option<SweepJob>> {
    let body = serde_json::to_vec(&JobClaim { agent_id })?;
    let (status, text) = client.post_json(CLAIM_PATH, body).await?;
    match status {
        StatusCode::NO_CONTENT => Ok(None),
        s if s.is_success() => serde_json::from_str(&text).map(Some).map_err(|e| {
            anyhow::anyhow!("the collector's job is not a sweep job ({e}): {text:.300}")
        }),
        s => bail!("claiming a sweep job: collector answered {s}: {text:.300}"),
    }
}

/// Reports that job `job_id` could not be run, and why.
pub async fn fail(client: &Client, agent_id: Uuid, job_id: i64, error: &str) -> Result<()> {
    let body = serde_json::to_vec(&JobFailure {
        agent_id,
        error: error.to_string(),
    })?;
    let (status, text) = client
        .post_json(&format!("api/v1/agents/jobs/{job_id}/fail"), body)
        .await?;
    if !status.is_success() {
        bail!(
            "reporting the failure of sweep job {job_id}: collector answered {status}: {text:.300}"
        );
    }
    Ok(())
}

/// Checks a job's targets against the agent's scopes before anything is sent (pure). An empty
/// scope list refuses everything: for a sweep engine it would mean "no restriction".
pub fn check(job: &SweepJob, scopes: &[IpNet]) -> Result<(), String> {
    if scopes.is_empty() {
        return Err("this agent has no sweep scopes ([sweep] scopes): it runs no sweep job".into());
    }
    let targets = Targets::parse(&job.targets, false).map_err(|e| e.to_string())?;
    scope::check(targets.blocks(), scopes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(targets: &[&str]) -> SweepJob {
        SweepJob {
            id: 7,
            targets: targets.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn targets_must_lie_in_the_scopes() {
        let scopes: Vec<IpNet> = vec!["127.0.0.0/30".parse().unwrap()];
        let cases: &[(&[&str], Result<(), &str>)] = &[
            (&["127.0.0.1"], Ok(())),
            (&["127.0.0.1/32", "127.0.0.2-3"], Ok(())),
            // 127.0.0.0/30 swept is .1-.2 (network and broadcast skipped).
            (&["127.0.0.0/30"], Ok(())),
            (&["127.0.0.5"], Err("127.0.0.5")),
            (
                &["127.0.0.1", "127.0.0.0/29"],
                Err("outside the allowed scopes"),
            ),
            (&["127.0.0.1-9"], Err("127.0.0.4")),
            (&["not-an-address"], Err("not-an-address")),
            (&[], Err("no targets")),
            (&["0.0.0.0/8"], Err("more than a /16")),
        ];
        for (targets, want) in cases {
            let got = check(&job(targets), &scopes);
            match (want, &got) {
                (Ok(()), Ok(())) => {}
                (Err(needle), Err(message)) => {
                    assert!(message.contains(needle), "{targets:?}: {message}")
                }
                _ => panic!("{targets:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn no_scopes_refuses_everything() {
        let err = check(&job(&["127.0.0.1"]), &[]).unwrap_err();
        assert!(err.contains("no sweep scopes"), "{err}");
    }

    #[test]
    fn polling_needs_scopes() {
        let mut config = parc_config::AgentConfig::default();
        assert_eq!(polls(&config), None);
        config.sweep.scopes = vec!["127.0.0.0/30".parse().unwrap()];
        assert_eq!(polls(&config), config.sweep.job_poll);
        config.sweep.job_poll = None;
        assert_eq!(polls(&config), None);
    }
}
