//! `parc-agent snmp HOST`: query one device by hand and print what Parc would record.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use parc_shared::snmp::SnmpDevice;

use super::credential::{
    AuthProtocol, PrivProtocol, SnmpCredential, SnmpLimits, V3Auth, V3Privacy,
};

#[derive(Debug, Clone, clap::Args)]
pub struct SnmpArgs {
    /// Device address.
    pub host: IpAddr,
    /// UDP port of the agent.
    #[arg(long, default_value_t = 161)]
    pub port: u16,
    /// Community (repeat to try several, in order). Default "public" when no v3 user is given.
    #[arg(long = "community")]
    pub communities: Vec<String>,
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
    pub v3_auth_password: Option<String>,
    #[arg(long, value_enum, default_value_t = PrivProtocol::Aes, requires = "v3_priv_password")]
    pub v3_priv_protocol: PrivProtocol,
    #[arg(
        long,
        env = "PARC_SNMP_PRIV_PASSWORD",
        hide_env_values = true,
        requires = "v3_auth_password"
    )]
    pub v3_priv_password: Option<String>,
    /// Wait for one reply, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub timeout_ms: u64,
    /// Resends after a timeout.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Time allowed for the whole device, in seconds.
    #[arg(long, default_value_t = 60)]
    pub device_timeout_s: u64,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommunityVersionArg {
    V1,
    V2c,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Readable summary.
    Table,
    /// The SnmpDevice record.
    Json,
}

impl SnmpArgs {
    /// Credentials in the order they are tried.
    pub fn credentials(&self) -> Vec<SnmpCredential> {
        let mut creds = Vec::new();
        if let Some(user) = &self.v3_user {
            creds.push(SnmpCredential::V3 {
                user: user.clone(),
                auth: self.v3_auth_password.as_ref().map(|p| V3Auth {
                    protocol: self.v3_auth_protocol,
                    password: p.clone(),
                }),
                privacy: self.v3_priv_password.as_ref().map(|p| V3Privacy {
                    protocol: self.v3_priv_protocol,
                    password: p.clone(),
                }),
            });
        }
        let communities = if self.communities.is_empty() && self.v3_user.is_none() {
            vec!["public".to_string()]
        } else {
            self.communities.clone()
        };
        for community in communities {
            creds.push(match self.snmp_version {
                CommunityVersionArg::V1 => SnmpCredential::V1 { community },
                CommunityVersionArg::V2c => SnmpCredential::V2c { community },
            });
        }
        creds
    }

    pub fn limits(&self) -> SnmpLimits {
        SnmpLimits {
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            retries: self.retries,
            device_time: Duration::from_secs(self.device_timeout_s.max(1)),
            ..SnmpLimits::default()
        }
    }
}

/// Queries the device and prints it; exit status 1 when the device did not answer.
pub async fn run_cli(args: SnmpArgs) -> anyhow::Result<ExitCode> {
    let creds = args.credentials();
    match super::query_device(args.host, args.port, &creds, &args.limits()).await {
        Ok(device) => {
            match args.format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&device)?),
                OutputFormat::Table => print!("{}", render(&device)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}:{}: {e}", args.host, args.port);
            Ok(ExitCode::FAILURE)
        }
    }
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
