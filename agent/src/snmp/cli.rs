//! `parc-agent snmp TARGET...`: query devices by hand and print what Parc would record.
//!
//! Targets are expanded and checked as a sweep's are (size limit, `--scope`), then queried
//! concurrently ([`super::many`]). One plain address prints that device in full (text, or the
//! `SnmpDevice` object in JSON); anything else prints one row per device that answered (or a
//! JSON list). Exit status: 0 when a device answered, 1 when none did, 2 on bad arguments or a
//! failed push.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use parc_config::snmp::Secret;
use parc_config::AgentConfig;
use parc_shared::snmp::SnmpDevice;
use tokio_util::sync::CancellationToken;

use super::credential::{
    credentials_from_config, AuthProtocol, CredentialMemory, PrivProtocol, SnmpCredential,
    SnmpLimits, V3Auth, V3Privacy,
};
use super::many::{query_many, Batch};

#[derive(Debug, Clone, clap::Args)]
pub struct SnmpArgs {
    /// Devices: addresses, networks (198.18.0.0/24), ranges (10.0.0.5-10.0.0.9, 10.0.0.5-9).
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// UDP port of the agents (default: snmp.port, 161).
    #[arg(long)]
    pub port: Option<u16>,
    /// Community (repeat to try several, in order). Without --community and --v3-user, the
    /// credentials of the configuration are used, else "public".
    #[arg(long = "community")]
    pub communities: Vec<Secret>,
    /// Protocol for communities.
    #[arg(long = "snmp-version", value_enum, default_value_t = CommunityVersionArg::V2c)]
    pub snmp_version: CommunityVersionArg,
    /// SNMPv3 user (tried before the communities).
    #[arg(long)]
    pub v3_user: Option<String>,
    #[arg(long, value_enum, default_value_t = AuthProtocol::Sha, requires = "v3_auth_password")]
    pub v3_auth_protocol: AuthProtocol,
    #[arg(
        long,
        env = "PARC_SNMP_AUTH_PASSWORD",
        hide_env_values = true,
        requires = "v3_user"
    )]
    pub v3_auth_password: Option<Secret>,
    #[arg(long, value_enum, default_value_t = PrivProtocol::Aes, requires = "v3_priv_password")]
    pub v3_priv_protocol: PrivProtocol,
    #[arg(
        long,
        env = "PARC_SNMP_PRIV_PASSWORD",
        hide_env_values = true,
        requires = "v3_auth_password"
    )]
    pub v3_priv_password: Option<Secret>,
    /// Wait for one reply, in milliseconds (default: snmp.timeout).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Resends after a timeout (default: snmp.retries).
    #[arg(long)]
    pub retries: Option<u32>,
    /// Time allowed for one device, in seconds (default: snmp.device_timeout).
    #[arg(long)]
    pub device_timeout_s: Option<u64>,
    /// Devices queried at the same time (default: snmp.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Requests per second over all devices (default: sweep.rate_pps).
    #[arg(long, value_name = "PPS")]
    pub rate: Option<u32>,
    /// Allow more than a /16 (65,536 addresses).
    #[arg(long)]
    pub allow_large: bool,
    /// Only query inside these networks (repeatable); anything outside is refused before a
    /// packet is sent.
    #[arg(long = "scope", value_name = "NET")]
    pub scopes: Vec<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Also send each device to the collector (spooled if it is away).
    #[arg(long, conflicts_with = "identify_only")]
    pub push: bool,
    /// Read only what identification needs (no interface, forwarding, ARP or storage
    /// tables): a quick survey of many devices. Its partial records are not pushed.
    #[arg(long)]
    pub identify_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommunityVersionArg {
    V1,
    V2c,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One row per device (one plain address: a readable summary of it).
    Table,
    /// A list of SnmpDevice records (one plain address: the record itself).
    Json,
}

impl SnmpArgs {
    /// Credentials in the order they are tried: those of the command line when it gives any,
    /// else those of the configuration, else the community "public".
    pub fn credentials(&self, config: &AgentConfig) -> Vec<SnmpCredential> {
        let mut creds = Vec::new();
        if let Some(user) = &self.v3_user {
            creds.push(SnmpCredential::V3 {
                user: user.clone(),
                auth: self.v3_auth_password.as_ref().map(|p| V3Auth {
                    protocol: self.v3_auth_protocol,
                    password: p.expose().to_string(),
                }),
                privacy: self.v3_priv_password.as_ref().map(|p| V3Privacy {
                    protocol: self.v3_priv_protocol,
                    password: p.expose().to_string(),
                }),
            });
        }
        for community in &self.communities {
            let community = community.expose().to_string();
            creds.push(match self.snmp_version {
                CommunityVersionArg::V1 => SnmpCredential::V1 { community },
                CommunityVersionArg::V2c => SnmpCredential::V2c { community },
            });
        }
        if creds.is_empty() {
            creds = credentials_from_config(&config.snmp);
        }
        if creds.is_empty() {
            creds.push(SnmpCredential::v2c("public"));
        }
        creds
    }

    pub fn limits(&self, config: &AgentConfig) -> SnmpLimits {
        let mut limits = SnmpLimits::from_config(&config.snmp);
        if let Some(ms) = self.timeout_ms {
            limits.timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(r) = self.retries {
            limits.retries = r;
        }
        if let Some(s) = self.device_timeout_s {
            limits.device_time = Duration::from_secs(s.max(1));
        }
        if self.identify_only {
            limits.depth = super::Depth::Identify;
        }
        limits
    }

    pub fn batch(&self, config: &AgentConfig) -> Batch {
        Batch {
            credentials: self.credentials(config).into(),
            limits: self.limits(config),
            port: self.port.unwrap_or(config.snmp.port),
            concurrency: self.concurrency.unwrap_or(config.snmp.concurrency).max(1),
            rate_pps: self.rate.unwrap_or(config.sweep.rate_pps).max(1),
        }
    }

    /// The one address to describe in full, when that is all the command line names.
    fn single(&self) -> Option<IpAddr> {
        match self.targets.as_slice() {
            [one] => one.trim().parse().ok(),
            _ => None,
        }
    }
}

/// The addresses of the targets, checked for size and scope before any packet is sent.
#[cfg(unix)]
pub fn expand(
    targets: &[String],
    allow_large: bool,
    scopes: &[String],
) -> Result<Box<dyn Iterator<Item = IpAddr> + Send>, String> {
    use crate::sweep::{scope, targets::Targets};
    let scopes = scopes
        .iter()
        .map(|s| parc_config::agent::parse_net(s).map_err(|e| format!("--scope: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let targets = Targets::parse(targets, allow_large).map_err(|e| e.to_string())?;
    scope::check(targets.blocks(), &scopes).map_err(|e| e.to_string())?;
    Ok(Box::new(targets.into_iter_owned()))
}

/// Without the sweep module (Windows), targets are single addresses.
#[cfg(not(unix))]
pub fn expand(
    targets: &[String],
    _allow_large: bool,
    scopes: &[String],
) -> Result<Box<dyn Iterator<Item = IpAddr> + Send>, String> {
    expand_addresses(targets, scopes).map(|a| Box::new(a.into_iter()) as Box<_>)
}

/// Single addresses only, deduplicated and sorted, each inside a scope when scopes are given.
/// Compiled everywhere so that it is tested on the platforms that build the Windows agent.
#[cfg_attr(unix, allow(dead_code))]
fn expand_addresses(targets: &[String], scopes: &[String]) -> Result<Vec<IpAddr>, String> {
    let scopes = scopes
        .iter()
        .map(|s| parc_config::agent::parse_net(s).map_err(|e| format!("--scope: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut addrs = Vec::with_capacity(targets.len());
    for t in targets {
        let addr: IpAddr = t
            .trim()
            .parse()
            .map_err(|_| format!("{t:?}: only single addresses are accepted on this platform"))?;
        if !scopes.is_empty() && !scopes.iter().any(|s| s.contains(&addr)) {
            return Err(format!("{addr} is outside every --scope"));
        }
        addrs.push(addr);
    }
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// Queries the devices and prints them.
pub async fn run_cli(
    args: SnmpArgs,
    config: &AgentConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let addrs = match expand(&args.targets, args.allow_large, &args.scopes) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("parc-agent snmp: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let batch = args.batch(config);
    let memory = Arc::new(CredentialMemory::load(&config.state_dir));
    let started = std::time::Instant::now();
    let report = query_many(&batch, addrs, memory.clone(), None, shutdown).await;
    if let Err(e) = memory.save(&config.state_dir) {
        // Ad-hoc runs by an unprivileged user cannot write the service's state: harmless.
        tracing::debug!(error = %e, "cannot save the SNMP credential memory");
    }

    if let Some(addr) = args.single() {
        match report.results.first() {
            Some((_, Ok(device))) => match args.format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(device)?),
                OutputFormat::Table => print!("{}", render(device)),
            },
            Some((_, Err(e))) => eprintln!("{addr}:{}: {e}", batch.port),
            None => eprintln!("{addr}:{}: stopped before an answer", batch.port),
        }
    } else {
        let devices: Vec<&SnmpDevice> = report.devices().collect();
        match args.format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&devices)?),
            OutputFormat::Table => print!("{}", table(&devices)),
        }
        eprintln!(
            "{} devices answered of {} addresses in {:.2} s{}",
            devices.len(),
            report.results.len() as u64 + report.skipped,
            started.elapsed().as_secs_f64(),
            if report.cancelled {
                "; stopped early"
            } else {
                ""
            }
        );
    }
    let answered = report.devices().count();
    if args.push && answered > 0 {
        match crate::delivery::deliver_snmp(config, report.into_devices()).await {
            Ok(line) => eprintln!("{line}"),
            Err(e) => {
                eprintln!("parc-agent snmp: push failed: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(if answered > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One row per device.
pub fn table(devices: &[&SnmpDevice]) -> String {
    use std::fmt::Write;
    const HEADER: [&str; 6] = ["ADDRESS", "TYPE", "VENDOR", "MODEL", "SERIAL", "NAME"];
    if devices.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 6]> = devices
        .iter()
        .map(|d| {
            let id = &d.identification;
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            [
                d.ip.clone(),
                id.device_type.to_string(),
                opt(&id.vendor),
                opt(&id.model),
                opt(&id.serial),
                opt(&d.system.name),
            ]
        })
        .collect();
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(HEADER.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (c, w) in cells.iter().zip(width) {
            let _ = write!(line, "{c:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The readable summary.
pub fn render(d: &SnmpDevice) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let id = &d.identification;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "{}:{} ({})", d.ip, d.port, d.version);
    for (label, value) in [
        ("type", id.device_type.to_string()),
        ("vendor", opt(&id.vendor)),
        ("model", opt(&id.model)),
        ("serial", opt(&id.serial)),
        ("firmware", opt(&id.firmware)),
        ("name", opt(&d.system.name)),
        ("location", opt(&d.system.location)),
        ("contact", opt(&d.system.contact)),
        ("object id", opt(&d.system.object_id)),
        ("description", opt(&d.system.descr)),
        ("evidence", id.evidence.join(", ")),
    ] {
        let _ = writeln!(out, "  {label:<12} {value}");
    }
    if !d.interfaces.is_empty() {
        let _ = writeln!(out, "  interfaces");
        for i in &d.interfaces {
            let _ = writeln!(
                out,
                "    {:>5} {:<20} type {:<4} {:<17} {}",
                i.index,
                i.name.as_deref().unwrap_or("-"),
                i.if_type.map_or("-".into(), |t| t.to_string()),
                i.mac.as_deref().unwrap_or("-"),
                match i.oper_status {
                    Some(1) => "up",
                    Some(2) => "down",
                    _ => "?",
                }
            );
        }
    }
    for a in &d.ip_addresses {
        let _ = writeln!(
            out,
            "  address      {} (if {})",
            a.ip,
            a.if_index.map_or("-".into(), |i| i.to_string())
        );
    }
    if let Some(p) = &d.printer {
        let _ = writeln!(
            out,
            "  pages        {}",
            p.page_count.map_or("-".into(), |c| c.to_string())
        );
        for s in &p.supplies {
            let _ = writeln!(
                out,
                "  supply       {} {}/{}",
                s.description.as_deref().unwrap_or("-"),
                s.level.map_or("-".into(), |l| l.to_string()),
                s.max.map_or("-".into(), |m| m.to_string())
            );
        }
    }
    if let Some(u) = &d.ups {
        let _ = writeln!(
            out,
            "  battery      status {:?}, charge {:?} %",
            u.battery_status, u.battery_charge
        );
    }
    if let Some(h) = &d.host {
        let _ = writeln!(
            out,
            "  memory       {} KiB, {} storage areas",
            h.memory_kib.unwrap_or(0),
            h.storage.len()
        );
    }
    if let Some(b) = &d.bridge {
        let _ = writeln!(
            out,
            "  bridge       {} ports, {} MACs learnt",
            b.num_ports.unwrap_or(0),
            b.forwarding.len()
        );
    }
    for n in &d.lldp_neighbors {
        let _ = writeln!(
            out,
            "  lldp         port {} -> {} {}",
            n.local_port,
            opt(&n.system_name),
            opt(&n.port_id)
        );
    }
    if !d.arp.is_empty() {
        let _ = writeln!(out, "  arp          {} entries", d.arp.len());
    }
    for e in &d.errors {
        let _ = writeln!(out, "  error        {}: {}", e.section, e.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use parc_shared::snmp::{DeviceType, Identification};

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: SnmpArgs,
    }

    fn parse(argv: &[&str]) -> SnmpArgs {
        Wrap::try_parse_from(std::iter::once("snmp").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn credentials_come_from_the_command_line_then_the_configuration() {
        let config = AgentConfig::parse(
            "[[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"from-config\"\n",
            "agent.toml",
        )
        .unwrap();
        let none = AgentConfig::default();
        assert_eq!(
            parse(&["10.0.0.1"]).credentials(&config),
            vec![SnmpCredential::v2c("from-config")]
        );
        assert_eq!(
            parse(&["10.0.0.1"]).credentials(&none),
            vec![SnmpCredential::v2c("public")]
        );
        assert_eq!(
            parse(&["10.0.0.1", "--community", "a", "--community", "b"]).credentials(&config),
            vec![SnmpCredential::v2c("a"), SnmpCredential::v2c("b")]
        );
        let b = parse(&["10.0.0.0/24", "--timeout-ms", "250", "--concurrency", "9"]).batch(&config);
        assert_eq!(b.limits.timeout, Duration::from_millis(250));
        assert_eq!(b.limits.retries, config.snmp.retries);
        assert_eq!(b.concurrency, 9);
        assert_eq!(b.port, 161);
        assert_eq!(b.rate_pps, config.sweep.rate_pps);
    }

    #[test]
    fn secrets_on_the_command_line_stay_out_of_debug_output() {
        let args = parse(&[
            "10.0.0.1",
            "--community",
            "community-secret",
            "--v3-user",
            "parc",
            "--v3-auth-password",
            "auth-secret-1",
            "--v3-priv-password",
            "priv-secret-1",
        ]);
        let shown = format!("{args:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(args.credentials(&AgentConfig::default()).len(), 2);
    }

    #[test]
    fn one_plain_address_is_shown_in_full() {
        assert!(parse(&["10.0.0.1"]).single().is_some());
        assert!(parse(&["10.0.0.1/32"]).single().is_none());
        assert!(parse(&["10.0.0.1", "10.0.0.2"]).single().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn targets_are_expanded_and_checked_like_a_sweep() {
        let all: Vec<IpAddr> = expand(&["127.0.0.1-3".into(), "127.0.0.2".into()], false, &[])
            .unwrap()
            .collect();
        assert_eq!(all.len(), 3);
        let e = expand(&["10.0.0.0/8".into()], false, &[]).err().unwrap();
        assert!(e.contains("allow-large") || e.contains("large"), "{e}");
        let e = expand(&["10.0.0.1".into()], false, &["192.0.2.0/24".into()])
            .err()
            .unwrap();
        assert!(e.contains("10.0.0.1"), "{e}");
    }

    #[test]
    fn address_only_expansion_checks_scopes() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_addresses(&t(&["10.0.0.2", "10.0.0.1", "10.0.0.2"]), &[]).unwrap(),
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        let e = expand_addresses(&t(&["10.0.0.0/24"]), &[]).unwrap_err();
        assert!(e.contains("10.0.0.0/24"), "{e}");
        let e = expand_addresses(&t(&["10.0.0.1"]), &t(&["192.0.2.0/24"])).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(expand_addresses(&t(&["10.0.0.1"]), &t(&["10.0.0.0/8"])).is_ok());
    }

    #[test]
    fn table_has_one_row_per_device() {
        let d = SnmpDevice {
            ip: "10.0.0.9".into(),
            identification: Identification {
                device_type: DeviceType::Printer,
                vendor: Some("HP".into()),
                model: Some("LaserJet M507".into()),
                serial: Some("PHB1234567".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = table(&[&d]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ADDRESS   TYPE"), "{out}");
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "10.0.0.9",
                "printer",
                "HP",
                "LaserJet",
                "M507",
                "PHB1234567"
            ]
        );
        assert_eq!(table(&[]), "");
    }
}
