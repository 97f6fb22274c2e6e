//! `parc-agent sweep TARGET...`: arguments, progress bar, output, exit status
//! (0 = something found, 1 = nothing found, 2 = error). With SNMP on (`--snmp`, or credentials
//! in the configuration), the live hosts are then asked what they are ([`super::snmp_stage`]).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use parc_config::agent::{parse_duration, parse_net};
use parc_config::AgentConfig;
use tokio_util::sync::CancellationToken;

use super::output::{self, Format};
use super::snmp_stage::{self, SnmpStage};
use super::{Methods, Progress, ProgressSink, SweepRequest};
use crate::snmp::credential::credentials_from_config;
use crate::snmp::SnmpCredential;

#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Targets: networks (198.18.0.0/21), ranges (10.0.0.5-10.0.0.9, 10.0.0.5-9), addresses.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Allow sweeping more than a /16 (65,536 addresses).
    #[arg(long)]
    pub allow_large: bool,
    /// Only sweep inside these networks (repeatable); anything outside is refused before a
    /// packet is sent.
    #[arg(long = "scope", value_name = "NET")]
    pub scopes: Vec<String>,
    /// TCP ports to probe (default: sweep.ports from the configuration).
    #[arg(long, value_delimiter = ',', value_name = "PORTS")]
    pub ports: Option<Vec<u16>>,
    /// Packets per second, all methods together (default: sweep.rate_pps).
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u32>,
    /// Longest wait for an answer, e.g. 500ms or 2s (default: sweep.timeout); the actual wait
    /// adapts to measured round-trip times.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Extra passes over targets that stayed silent.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Stop after this long and report what was found, e.g. 30s.
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,
    /// No ARP, even on directly attached segments.
    #[arg(long)]
    pub no_arp: bool,
    /// No ICMP echo.
    #[arg(long)]
    pub no_icmp: bool,
    /// No TCP probes.
    #[arg(long)]
    pub no_tcp: bool,
    /// No name lookups (reverse DNS, NetBIOS).
    #[arg(short = 'n', long)]
    pub no_names: bool,
    /// Use unprivileged sockets (ping socket, connect()) even as root.
    #[arg(long)]
    pub unprivileged: bool,
    /// Find hosts only: stop probing an address once it answered (its other ports are not
    /// listed), as `nmap -sn` does. Fewer packets on large ranges.
    #[arg(long)]
    pub first_answer: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also send the result to the collector (spooled if it is away), and each device that
    /// answered SNMP as its own document.
    #[arg(long)]
    pub push: bool,
    /// Ask the live hosts over SNMP what they are (default: on when the configuration has SNMP
    /// credentials, or --community is given).
    #[arg(long, overrides_with = "no_snmp")]
    pub snmp: bool,
    /// No SNMP, even with configured credentials.
    #[arg(long, overrides_with = "snmp")]
    pub no_snmp: bool,
    /// SNMP v2c community for this run (repeatable), tried before the configured credentials.
    #[arg(long = "community", value_name = "COMMUNITY")]
    pub communities: Vec<parc_config::snmp::Secret>,
    /// UDP port of the SNMP agents (default: snmp.port, 161).
    #[arg(long, value_name = "PORT")]
    pub snmp_port: Option<u16>,
}

impl SweepArgs {
    /// The request these arguments describe, on top of the configuration's defaults.
    pub fn request(&self, config: &AgentConfig) -> Result<SweepRequest, String> {
        let mut req = SweepRequest::from_config(self.targets.clone(), &config.sweep);
        req.allow_large = self.allow_large;
        req.scopes = self
            .scopes
            .iter()
            .map(|s| parse_net(s).map_err(|e| format!("--scope: {e}")))
            .collect::<Result<_, _>>()?;
        if let Some(p) = &self.ports {
            req.ports = p.clone();
        }
        if let Some(r) = self.rate {
            req.rate_pps = r;
        }
        if let Some(t) = &self.timeout {
            req.timeout = parse_duration(t).map_err(|e| format!("--timeout: {e}"))?;
        }
        if let Some(t) = &self.max_time {
            req.deadline = Some(parse_duration(t).map_err(|e| format!("--max-time: {e}"))?);
        }
        req.retries = self.retries;
        req.methods = Methods {
            arp: !self.no_arp,
            icmp: !self.no_icmp,
            tcp: !self.no_tcp,
            dns: !self.no_names,
            netbios: !self.no_names,
            force_unprivileged: self.unprivileged,
            first_answer: self.first_answer,
        };
        Ok(req)
    }

    /// The SNMP stage these arguments ask for, if any: explicit flags first, else the
    /// configuration's `snmp.enabled`.
    pub fn snmp_stage(&self, config: &AgentConfig) -> Option<SnmpStage> {
        let wanted = if self.no_snmp {
            false
        } else {
            self.snmp || !self.communities.is_empty() || config.snmp.enabled
        };
        if !wanted {
            return None;
        }
        let mut creds: Vec<SnmpCredential> = self
            .communities
            .iter()
            .map(|c| SnmpCredential::v2c(c.expose()))
            .collect();
        creds.extend(credentials_from_config(&config.snmp));
        if creds.is_empty() {
            // `--snmp` alone: what every agent ships with.
            creds.push(SnmpCredential::v2c("public"));
        }
        let mut stage = SnmpStage::with_credentials(config, creds);
        if let Some(p) = self.snmp_port {
            stage.batch.port = p;
        }
        Some(stage)
    }
}

pub async fn run(
    args: SweepArgs,
    config: &AgentConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let req = match args.request(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parc-agent sweep: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} addresses, {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let sink: Option<ProgressSink> = bar.clone().map(|bar| {
        Arc::new(move |p: Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(format!("{} up", p.found));
        }) as ProgressSink
    });
    if args.snmp_port == Some(0) {
        eprintln!("parc-agent sweep: --snmp-port: 0 is not a valid UDP port");
        return Ok(ExitCode::from(2));
    }
    let stage = args.snmp_stage(config);
    let started = std::time::Instant::now();
    let result = snmp_stage::run(req, stage.as_ref(), sink, shutdown).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("parc-agent sweep: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let (Some(stage), Some(_)) = (&stage, &outcome.snmp) {
        if let Err(e) = stage.memory.save(&config.state_dir) {
            // Ad-hoc sweeps by an unprivileged user cannot write the service's state.
            tracing::debug!(error = %e, "cannot save the SNMP credential memory");
        }
    }
    let devices = outcome.devices();
    let (discovery, stats) = (outcome.discovery, outcome.stats);
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(output::render(&discovery, args.format).as_bytes())
        .and_then(|()| out.flush());
    drop(out);
    match written {
        // `parc-agent sweep ... | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }

    if !args.quiet && (std::io::stderr().is_terminal() || args.format == Format::Table) {
        eprintln!(
            "{} hosts up of {} addresses{} in {:.2} s ({} probes, {}{})",
            discovery.hosts.len(),
            discovery.addresses_probed,
            if stage.is_some() {
                format!(", {} answered SNMP", devices.len())
            } else {
                String::new()
            },
            started.elapsed().as_secs_f64(),
            stats.probes_sent,
            if stats.privileged {
                "raw sockets"
            } else {
                "unprivileged sockets"
            },
            if stats.cancelled {
                "; stopped early"
            } else {
                ""
            },
        );
    }
    for (err, n) in &stats.send_errors {
        eprintln!("parc-agent sweep: {n} probes could not be sent: {err}");
    }

    if args.push {
        match crate::delivery::deliver_discovery(config, discovery.clone()).await {
            Ok(line) => eprintln!("{line}"),
            Err(e) => {
                eprintln!("parc-agent sweep: push failed: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
        if !devices.is_empty() {
            match crate::delivery::deliver_snmp(config, devices).await {
                Ok(line) => eprintln!("{line}"),
                Err(e) => {
                    eprintln!("parc-agent sweep: SNMP push failed: {e:#}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    Ok(if discovery.hosts.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: SweepArgs,
    }

    fn parse(argv: &[&str]) -> SweepArgs {
        Wrap::try_parse_from(std::iter::once("sweep").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn arguments_override_the_configuration() {
        let config = AgentConfig::default();
        let req = parse(&[
            "10.0.0.0/24",
            "--ports",
            "22,445",
            "--rate",
            "5000",
            "--timeout",
            "300ms",
            "-n",
            "--scope",
            "10.0.0.0/16",
        ])
        .request(&config)
        .unwrap();
        assert_eq!(req.ports, [22, 445]);
        assert_eq!(req.rate_pps, 5000);
        assert_eq!(req.timeout, Duration::from_millis(300));
        assert!(!req.methods.dns && !req.methods.netbios && req.methods.tcp);
        assert_eq!(req.scopes.len(), 1);
        let d = parse(&["10.0.0.1"]).request(&config).unwrap();
        assert_eq!(d.ports, config.sweep.ports);
        assert_eq!(d.rate_pps, config.sweep.rate_pps);
        assert!(d.scopes.is_empty());
    }

    #[test]
    fn snmp_follows_flags_then_configuration() {
        let none = AgentConfig::default();
        let with_creds = AgentConfig::parse(
            "[[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"cfg\"\n",
            "agent.toml",
        )
        .unwrap();
        let creds =
            |a: &SweepArgs, c: &AgentConfig| a.snmp_stage(c).map(|s| s.batch.credentials.to_vec());
        assert_eq!(creds(&parse(&["10.0.0.1"]), &none), None);
        assert_eq!(
            creds(&parse(&["10.0.0.1"]), &with_creds),
            Some(vec![SnmpCredential::v2c("cfg")])
        );
        assert_eq!(creds(&parse(&["10.0.0.1", "--no-snmp"]), &with_creds), None);
        assert_eq!(
            creds(&parse(&["10.0.0.1", "--snmp"]), &none),
            Some(vec![SnmpCredential::v2c("public")])
        );
        assert_eq!(
            creds(&parse(&["10.0.0.1", "--community", "adhoc"]), &with_creds),
            Some(vec![
                SnmpCredential::v2c("adhoc"),
                SnmpCredential::v2c("cfg")
            ])
        );
        // The last of --snmp / --no-snmp wins.
        assert_eq!(
            creds(&parse(&["10.0.0.1", "--snmp", "--no-snmp"]), &with_creds),
            None
        );
        let args = parse(&["10.0.0.1", "--community", "sweep-secret"]);
        assert!(!format!("{args:?}").contains("sweep-secret"));
        let stage = parse(&["10.0.0.1", "--snmp", "--snmp-port", "1161"])
            .snmp_stage(&none)
            .unwrap();
        assert_eq!(stage.batch.port, 1161);
        assert_eq!(stage.batch.concurrency, none.snmp.concurrency);
    }

    #[test]
    fn bad_arguments_are_named() {
        let config = AgentConfig::default();
        let e = parse(&["10.0.0.1", "--timeout", "soon"])
            .request(&config)
            .unwrap_err();
        assert!(e.contains("--timeout"), "{e}");
        let e = parse(&["10.0.0.1", "--scope", "10.0.0.1/8"])
            .request(&config)
            .unwrap_err();
        assert!(e.contains("--scope") && e.contains("10.0.0.0/8"), "{e}");
        assert!(
            Wrap::try_parse_from(["sweep"]).is_err(),
            "a target is required"
        );
    }
}
