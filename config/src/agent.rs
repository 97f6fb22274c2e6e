//! `agent.toml`: where to send documents, where to keep state, how often to run, what a
//! scheduled sweep may touch, and how SNMP is asked (the `[snmp]` section, in [`crate::snmp`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::{ConfigError, Problems};
use crate::snmp::{RawSnmp, SnmpConfig};
use crate::{parse_toml, read_toml};

/// Default location of the agent's state (agent id, spool) on Linux.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/parc";

/// `agent.toml` as written. Every field is optional so that an empty file is valid.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentConfig {
    #[serde(default)]
    pub server: RawServer,
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub spool: RawSpool,
    #[serde(default)]
    pub sweep: RawSweep,
    #[serde(default)]
    pub snmp: RawSnmp,
    /// Free tags sent with every inventory (e.g. "pavillon-b").
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub url: Option<String>,
    pub token: Option<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub interval: Option<String>,
    pub splay: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpool {
    pub max_bytes: Option<u64>,
    pub max_documents: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    /// Networks a scheduled sweep is allowed to touch. Nothing outside them is ever probed.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Targets swept by `parc-agent run`.
    #[serde(default)]
    pub targets: Vec<String>,
    pub interval: Option<String>,
    pub ports: Option<Vec<u16>>,
    pub rate_pps: Option<u32>,
    pub timeout: Option<String>,
    /// Seconds between two asks for sweep jobs started from the web UI; 0 never asks.
    pub job_poll_seconds: Option<u64>,
}

/// The checked agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub server: Option<ServerConfig>,
    pub state_dir: PathBuf,
    pub schedule: Schedule,
    pub spool: SpoolConfig,
    pub sweep: SweepConfig,
    pub snmp: SnmpConfig,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub url: url::Url,
    pub token: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Time between two inventories in service mode.
    pub interval: Duration,
    /// Upper bound of the random delay before the first run, so that a site's PCs, all booted
    /// at 8:00, do not reach the collector in the same second.
    pub splay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpoolConfig {
    pub max_bytes: u64,
    pub max_documents: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    pub scopes: Vec<IpNet>,
    pub targets: Vec<String>,
    pub interval: Duration,
    pub ports: Vec<u16>,
    pub rate_pps: u32,
    pub timeout: Duration,
    /// How often `parc-agent run` asks the collector for a sweep job of its site (also right
    /// after each delivery). None: never (`job_poll_seconds = 0`). Only agents with `scopes`
    /// ask: a job is run only inside them, so an agent without scopes could only refuse it.
    pub job_poll: Option<Duration>,
}

/// Default of `sweep.job_poll_seconds`.
pub const DEFAULT_JOB_POLL: Duration = Duration::from_secs(30);

/// Ports that find a Windows PC behind its default firewall (135, 139, 445, 3389) as well as
/// the usual servers and appliances (22, 80, 443).
pub const DEFAULT_SWEEP_PORTS: &[u16] = &[22, 80, 135, 139, 443, 445, 3389];

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            server: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            schedule: Schedule {
                interval: Duration::from_secs(4 * 3600),
                splay: Duration::from_secs(15 * 60),
            },
            spool: SpoolConfig {
                max_bytes: 256 * 1024 * 1024,
                max_documents: 10_000,
            },
            sweep: SweepConfig {
                scopes: Vec::new(),
                targets: Vec::new(),
                interval: Duration::from_secs(3600),
                ports: DEFAULT_SWEEP_PORTS.to_vec(),
                rate_pps: 20_000,
                timeout: Duration::from_millis(1000),
                job_poll: Some(DEFAULT_JOB_POLL),
            },
            snmp: SnmpConfig::default(),
            tags: Vec::new(),
        }
    }
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawAgentConfig = read_toml(path)?;
        Self::check(raw, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let raw: RawAgentConfig = parse_toml(text, origin)?;
        Self::check(raw, origin)
    }

    /// Turns the raw file into the checked configuration, reporting every problem at once.
    pub fn check(raw: RawAgentConfig, origin: &str) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let d = AgentConfig::default();

        let timeout = duration(&mut p, "server.timeout", raw.server.timeout.as_deref())
            .unwrap_or(Duration::from_secs(60));
        let server = match (raw.server.url, raw.server.token) {
            (None, None) => None,
            (Some(url), token) => {
                let url = match server_url(&url) {
                    Ok(u) => Some(u),
                    Err(m) => {
                        p.push("server.url", m);
                        None
                    }
                };
                let token = match token {
                    Some(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
                    _ => {
                        p.push("server.token", "missing: a server URL needs a token (`parc-collector token create --site NAME` prints one)");
                        None
                    }
                };
                url.zip(token).map(|(url, token)| ServerConfig {
                    url,
                    token,
                    timeout,
                })
            }
            (None, Some(_)) => {
                p.push("server.url", "missing: a token is set but no server URL");
                None
            }
        };

        let schedule = Schedule {
            interval: duration(
                &mut p,
                "schedule.interval",
                raw.schedule.interval.as_deref(),
            )
            .unwrap_or(d.schedule.interval),
            splay: duration(&mut p, "schedule.splay", raw.schedule.splay.as_deref())
                .unwrap_or(d.schedule.splay),
        };
        if schedule.interval < Duration::from_secs(60) {
            p.push("schedule.interval", "must be at least 1m");
        }

        let spool = SpoolConfig {
            max_bytes: raw.spool.max_bytes.unwrap_or(d.spool.max_bytes),
            max_documents: raw.spool.max_documents.unwrap_or(d.spool.max_documents),
        };
        if spool.max_bytes < 1024 * 1024 {
            p.push("spool.max_bytes", "must be at least 1048576 (1 MiB)");
        }
        if spool.max_documents == 0 {
            p.push("spool.max_documents", "must be at least 1");
        }

        let mut scopes = Vec::new();
        for (i, s) in raw.sweep.scopes.iter().enumerate() {
            match parse_net(s) {
                Ok(n) => scopes.push(n),
                Err(m) => p.push(format!("sweep.scopes[{i}]"), m),
            }
        }
        if !raw.sweep.targets.is_empty() && scopes.is_empty() {
            p.push(
                "sweep.scopes",
                "scheduled sweep targets are set but no scope allows them; list the networks this agent may sweep",
            );
        }
        let ports = raw.sweep.ports.unwrap_or(d.sweep.ports);
        if ports.contains(&0) {
            p.push("sweep.ports", "port 0 is not a valid TCP port");
        }
        let rate_pps = raw.sweep.rate_pps.unwrap_or(d.sweep.rate_pps);
        if rate_pps == 0 {
            p.push("sweep.rate_pps", "must be at least 1");
        }
        let sweep = SweepConfig {
            scopes,
            targets: raw.sweep.targets,
            interval: duration(&mut p, "sweep.interval", raw.sweep.interval.as_deref())
                .unwrap_or(d.sweep.interval),
            ports,
            rate_pps,
            timeout: duration(&mut p, "sweep.timeout", raw.sweep.timeout.as_deref())
                .unwrap_or(d.sweep.timeout),
            job_poll: match raw.sweep.job_poll_seconds {
                None => d.sweep.job_poll,
                Some(0) => None,
                Some(n) => Some(Duration::from_secs(n)),
            },
        };

        let snmp = crate::snmp::check(&mut p, raw.snmp);

        let config = AgentConfig {
            server,
            state_dir: raw.state_dir.unwrap_or(d.state_dir),
            schedule,
            spool,
            sweep,
            snmp,
            tags: raw.tags,
        };
        p.finish(origin, config)
    }
}

/// Checks a collector URL: http or https, with a host.
pub fn server_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(format!("{text:?}: no host"));
    }
    Ok(url)
}

/// Parses a network ("10.1.0.0/16") or a single address ("10.1.2.3", taken as /32 or /128).
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        if net.trunc() != net {
            return Err(format!(
                "{t:?} has host bits set; did you mean {}?",
                net.trunc()
            ));
        }
        return Ok(net);
    }
    t.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{t:?} is not a network (CIDR like 10.1.0.0/16) or an address"))
}

fn duration(p: &mut Problems, key: &str, text: Option<&str>) -> Option<Duration> {
    let text = text?;
    match parse_duration(text) {
        Ok(d) => Some(d),
        Err(m) => {
            p.push(key, m);
            None
        }
    }
}

/// Parses durations written as admins write them: "90s", "15m", "4h", "1d", "500ms".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (use e.g. 30s, 15m, 4h, 1d)"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use ms, s, m, h or d)"
            ))
        }
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfigError;

    #[test]
    fn empty_file_gives_defaults() {
        let c = AgentConfig::parse("", "test").unwrap();
        assert_eq!(c, AgentConfig::default());
    }

    #[test]
    fn durations() {
        let cases = [
            ("90s", Ok(Duration::from_secs(90))),
            ("15m", Ok(Duration::from_secs(900))),
            ("4h", Ok(Duration::from_secs(14_400))),
            ("1d", Ok(Duration::from_secs(86_400))),
            ("250ms", Ok(Duration::from_millis(250))),
            ("10", Ok(Duration::from_secs(10))),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text}");
        }
        for bad in ["", "h", "4 hours", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nets() {
        assert_eq!(parse_net("10.1.0.0/16").unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(parse_net("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert!(parse_net("10.1.2.3/16")
            .unwrap_err()
            .contains("10.1.0.0/16"));
        assert!(parse_net("10.1.2.0/33").is_err());
        assert!(parse_net("eleven").is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
            [server]
            url = "ftp://x"
            [schedule]
            interval = "soon"
            [sweep]
            scopes = ["10.0.0.1/8", "bad"]
            rate_pps = 0
        "#;
        let err = AgentConfig::parse(text, "agent.toml").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.url",
                "server.token",
                "schedule.interval",
                "sweep.scopes[0]",
                "sweep.scopes[1]",
                "sweep.rate_pps"
            ]
        );
        assert!(err.to_string().contains("agent.toml"));
    }

    #[test]
    fn job_poll_seconds() {
        let cases = [
            ("", Some(DEFAULT_JOB_POLL)),
            (
                "[sweep]\njob_poll_seconds = 1\n",
                Some(Duration::from_secs(1)),
            ),
            ("[sweep]\njob_poll_seconds = 0\n", None),
        ];
        for (text, want) in cases {
            let c = AgentConfig::parse(text, "agent.toml").unwrap();
            assert_eq!(c.sweep.job_poll, want, "{text}");
        }
        let err = AgentConfig::parse("[sweep]\njob_poll_seconds = -1\n", "agent.toml").unwrap_err();
        assert!(err.to_string().contains("job_poll_seconds"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = AgentConfig::parse("[server]\nurll = \"http://x\"\n", "agent.toml").unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = AgentConfig::parse("[server\nurl = 1", "agent.toml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("agent.toml") && text.contains("line 1"),
            "{text}"
        );
    }
}
