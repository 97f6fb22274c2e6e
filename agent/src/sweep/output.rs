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

/// What SNMP said the host is: type, vendor, model (empty when it did not answer SNMP).
fn device(h: &DiscoveredHost) -> [String; 3] {
    match &h.device {
        Some(d) => [
            d.device_type.to_string(),
            d.vendor.clone().unwrap_or_default(),
            d.model.clone().unwrap_or_default(),
        ],
        None => Default::default(),
    }
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

fn row(h: &DiscoveredHost, snmp: bool) -> Vec<String> {
    let mut cells = vec![
        h.ip.clone(),
        h.mac.clone().unwrap_or_default(),
        h.vendor.clone().unwrap_or_default(),
        h.name.clone().unwrap_or_default(),
        methods(h),
        ports(h),
        rtt(h),
    ];
    if snmp {
        cells.extend(device(h));
    }
    cells
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
/// Columns added when some host answered SNMP (VENDOR above is the MAC's manufacturer).
const SNMP_HEADER: [&str; 3] = ["TYPE", "SNMP VENDOR", "MODEL"];

fn table(d: &Discovery) -> String {
    if d.hosts.is_empty() {
        return String::new();
    }
    let snmp = d.hosts.iter().any(|h| h.device.is_some());
    let mut header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
    if snmp {
        header.extend(SNMP_HEADER.iter().map(|s| s.to_string()));
    }
    let rows: Vec<Vec<String>> = d.hosts.iter().map(|h| row(h, snmp)).collect();
    let mut width: Vec<usize> = header.iter().map(String::len).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(&header).chain(&rows) {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(&width) {
            let _ = write!(l, "{c:<w$}  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
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
    let mut out =
        String::from("ip,mac,vendor,name,methods,open_ports,rtt_us,type,snmp_vendor,model\n");
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
        ]
        .into_iter()
        .chain(device(h));
        out.push_str(&cells.map(|c| csv_field(&c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use parc_shared::snmp::{DeviceType, Identification};

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
            "10.0.0.5,00:1b:21:01:02:03,Intel,pc-0001.lan.test,arp+tcp-open,135 445,250,,,"
        );
        assert_eq!(
            lines[2],
            "10.0.0.7,,\"Cisco Systems, \"\"Inc\"\"\",,icmp,,12345,,,"
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
        assert!(
            !t[0].contains("TYPE"),
            "no SNMP columns without SNMP: {table}"
        );
        assert_eq!(render(&Discovery::default(), Format::Table), "");
    }

    #[test]
    fn snmp_identification_gets_its_columns() {
        let mut d = sample();
        d.hosts[1].methods.push(ProbeMethod::Snmp);
        d.hosts[1].device = Some(Identification {
            device_type: DeviceType::Switch,
            vendor: Some("Cisco".into()),
            model: Some("C9300-48P".into()),
            ..Default::default()
        });
        let table = render(&d, Format::Table);
        let t: Vec<&str> = table.lines().collect();
        assert!(t[0].ends_with("TYPE    SNMP VENDOR  MODEL"), "{table}");
        assert!(t[1].ends_with("0.25 ms"), "{table}");
        assert!(
            t[2].ends_with("12 ms    switch  Cisco        C9300-48P"),
            "{table}"
        );
        assert!(t[2].contains("icmp+snmp"), "{table}");
        let csv = render(&d, Format::Csv);
        assert!(csv
            .lines()
            .next()
            .unwrap()
            .ends_with(",type,snmp_vendor,model"));
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .ends_with(",12345,switch,Cisco,C9300-48P"),
            "{csv}"
        );
        let back: Discovery = serde_json::from_str(&render(&d, Format::Json)).unwrap();
        assert_eq!(back, d);
    }
}
