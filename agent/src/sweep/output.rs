//! Rendering a discovery for people (table) and programs (JSON, CSV, one address per line).

use std::fmt::Write as _;

use parc_shared::{DiscoveredHost, Discovery, ProbeMethod};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The discovery document.
    Json,
    /// One row per host with a header.
    Csv,
    /// Addresses only, one per line.
    Ips,
}

pub fn method_name(m: ProbeMethod) -> &'static str {
    match m {
        ProbeMethod::Arp => "arp",
        ProbeMethod::IcmpEcho => "icmp",
        ProbeMethod::TcpOpen => "tcp-open",
        ProbeMethod::TcpClosed => "tcp-rst",
        ProbeMethod::Snmp => "snmp",
    }
}

fn methods(h: &DiscoveredHost) -> String {
    h.methods
        .iter()
        .map(|m| method_name(*m))
        .collect::<Vec<_>>()
        .join("+")
}

fn ports(h: &DiscoveredHost) -> String {
    h.open_ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn rtt(h: &DiscoveredHost) -> String {
    match h.rtt_us {
        Some(us) if us >= 10_000 => format!("{} ms", us / 1000),
        Some(us) => format!("{:.2} ms", us as f64 / 1000.0),
        None => String::new(),
    }
}

pub fn render(d: &Discovery, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(d).unwrap_or_default() + "\n",
        Format::Ips => d.hosts.iter().map(|h| format!("{}\n", h.ip)).collect(),
        Format::Csv => csv(d),
        Format::Table => table(d),
    }
}

fn row(h: &DiscoveredHost) -> [String; 7] {
    [
        h.ip.clone(),
        h.mac.clone().unwrap_or_default(),
        h.vendor.clone().unwrap_or_default(),
        h.name.clone().unwrap_or_default(),
        methods(h),
        ports(h),
        rtt(h),
    ]
}

const HEADER: [&str; 7] = [
    "ADDRESS",
    "MAC",
    "VENDOR",
    "NAME",
    "ANSWERED",
    "OPEN PORTS",
    "RTT",
];

fn table(d: &Discovery) -> String {
    if d.hosts.is_empty() {
        return String::new();
    }
    let rows: Vec<[String; 7]> = d.hosts.iter().map(row).collect();
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 7]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, "{c:<w$}  ", w = width[i]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, HEADER);
    for r in &rows {
        line(
            &mut out,
            [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]].map(String::as_str),
        );
    }
    out
}

/// RFC 4180 quoting, only where needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(d: &Discovery) -> String {
    let mut out = String::from("ip,mac,vendor,name,methods,open_ports,rtt_us\n");
    for h in &d.hosts {
        let cells = [
            h.ip.clone(),
            h.mac.clone().unwrap_or_default(),
            h.vendor.clone().unwrap_or_default(),
            h.name.clone().unwrap_or_default(),
            methods(h),
            h.open_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            h.rtt_us.map(|r| r.to_string()).unwrap_or_default(),
        ];
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Discovery {
        Discovery {
            targets: vec!["10.0.0.0/24".into()],
            addresses_probed: 254,
            hosts: vec![
                DiscoveredHost {
                    ip: "10.0.0.5".into(),
                    mac: Some("00:1b:21:01:02:03".into()),
                    vendor: Some("Intel".into()),
                    name: Some("pc-0001.lan.test".into()),
                    methods: vec![ProbeMethod::Arp, ProbeMethod::TcpOpen],
                    open_ports: vec![135, 445],
                    rtt_us: Some(250),
                    device: None,
                },
                DiscoveredHost {
                    ip: "10.0.0.7".into(),
                    vendor: Some("Cisco Systems, \"Inc\"".into()),
                    methods: vec![ProbeMethod::IcmpEcho],
                    rtt_us: Some(12_345),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn formats() {
        let d = sample();
        assert_eq!(render(&d, Format::Ips), "10.0.0.5\n10.0.0.7\n");
        let csv = render(&d, Format::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[1],
            "10.0.0.5,00:1b:21:01:02:03,Intel,pc-0001.lan.test,arp+tcp-open,135 445,250"
        );
        assert_eq!(
            lines[2],
            "10.0.0.7,,\"Cisco Systems, \"\"Inc\"\"\",,icmp,,12345"
        );
        let table = render(&d, Format::Table);
        let t: Vec<&str> = table.lines().collect();
        assert!(t[0].starts_with("ADDRESS   MAC"), "{table}");
        assert!(
            t[1].contains("pc-0001.lan.test")
                && t[1].contains("135,445")
                && t[1].ends_with("0.25 ms"),
            "{table}"
        );
        assert!(t[2].ends_with("12 ms"), "{table}");
        let back: Discovery = serde_json::from_str(&render(&d, Format::Json)).unwrap();
        assert_eq!(back, d);
        assert_eq!(render(&Discovery::default(), Format::Table), "");
    }
}
