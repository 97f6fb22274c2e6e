//! A simulated hospital fleet: one realistic inventory per agent, the same every time for the
//! same seed and agent number, so that a second storm describes the same machines.
//!
//! Machines are built like a hospital's PCs: a handful of vendors and models with their own
//! serial formats, a master image of common software plus a long tail per department, 1–3
//! NICs (onboard, sometimes Wi-Fi or a dock), one or two disks, a few local users. The next
//! storm ([`Round::Next`]) changes what a morning changes: a fresh boot time and logged-in
//! user everywhere, a couple of upgraded packages on some machines, a new DHCP address on a
//! few.

use chrono::{DateTime, Duration, TimeZone, Utc};
use parc_shared::inventory::{
    Bios, Cpu, Disk, Filesystem, Hardware, Host, LocalGroup, LocalUser, Memory, Network,
    NetworkInterface, OperatingSystem, Session, Software, Users,
};
use parc_shared::{Document, DocumentHeader, HardwareId, Inventory, SourceKind};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// Which storm a document belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Every agent's first inventory: the collector creates every asset.
    First,
    /// The next morning: same machines, mostly unchanged.
    Next,
}

/// Share of machines (in percent) that upgraded a few packages overnight.
pub const UPGRADED_PERCENT: u32 = 20;
/// Share of machines (in percent) that got a new DHCP address.
pub const READDRESSED_PERCENT: u32 = 5;

struct Model {
    manufacturer: &'static str,
    model: &'static str,
    chassis: &'static str,
    bios_vendor: &'static str,
    serial: fn(&mut StdRng) -> String,
}

fn alnum(rng: &mut StdRng, n: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..n)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

const MODELS: &[Model] = &[
    Model {
        manufacturer: "Dell Inc.",
        model: "OptiPlex 7090",
        chassis: "Desktop",
        bios_vendor: "Dell Inc.",
        serial: |r| alnum(r, 7),
    },
    Model {
        manufacturer: "Dell Inc.",
        model: "Latitude 5420",
        chassis: "Notebook",
        bios_vendor: "Dell Inc.",
        serial: |r| alnum(r, 7),
    },
    Model {
        manufacturer: "HP",
        model: "HP EliteDesk 800 G6 Small Form Factor PC",
        chassis: "Desktop",
        bios_vendor: "HP",
        serial: |r| format!("CZC{}", alnum(r, 7)),
    },
    Model {
        manufacturer: "HP",
        model: "HP ProBook 450 G8 Notebook PC",
        chassis: "Notebook",
        bios_vendor: "HP",
        serial: |r| format!("5CD{}", alnum(r, 7)),
    },
    Model {
        manufacturer: "LENOVO",
        model: "11A4S0JY00",
        chassis: "Desktop",
        bios_vendor: "LENOVO",
        serial: |r| format!("PC{}", alnum(r, 6)),
    },
    Model {
        manufacturer: "LENOVO",
        model: "20W1S5GL00",
        chassis: "Notebook",
        bios_vendor: "LENOVO",
        serial: |r| format!("PF{}", alnum(r, 6)),
    },
    Model {
        manufacturer: "FUJITSU",
        model: "ESPRIMO D7010",
        chassis: "Desktop",
        bios_vendor: "FUJITSU // American Megatrends Inc.",
        serial: |r| format!("YM{}", digits(r, 6)),
    },
    Model {
        manufacturer: "Microsoft Corporation",
        model: "Virtual Machine",
        chassis: "Desktop",
        bios_vendor: "Microsoft Corporation",
        serial: |r| format!("{}-{}-{}", digits(r, 4), digits(r, 4), digits(r, 4)),
    },
];

/// NIC vendors' OUIs and drivers; the rest of the MAC comes from the agent number, so every
/// machine's MACs are its own.
const NICS: &[(&str, &str, &str)] = &[
    (
        "3c:52:82",
        "Intel(R) Ethernet Connection (11) I219-LM",
        "e1000e",
    ),
    ("00:e0:4c", "Realtek PCIe GbE Family Controller", "r8169"),
    ("f8:b4:6a", "Intel(R) Wi-Fi 6 AX201 160MHz", "iwlwifi"),
    ("8c:ae:4c", "Dell USB-C Dock WD19 Ethernet", "r8152"),
];

/// Software every machine of the master image carries: (name, publisher, base version).
const IMAGE: &[(&str, &str, &str)] = &[
    ("Microsoft Edge", "Microsoft Corporation", "119.0.2151"),
    (
        "Microsoft Edge WebView2 Runtime",
        "Microsoft Corporation",
        "119.0.2151",
    ),
    (
        "Microsoft 365 Apps for enterprise - fr-fr",
        "Microsoft Corporation",
        "16.0.16924",
    ),
    ("Microsoft Teams", "Microsoft Corporation", "1.6.00.27573"),
    ("Microsoft OneDrive", "Microsoft Corporation", "23.214.1015"),
    (
        "Microsoft Update Health Tools",
        "Microsoft Corporation",
        "3.74.0.0",
    ),
    ("Mozilla Firefox ESR (x64 fr)", "Mozilla", "115.4.0"),
    ("Google Chrome", "Google LLC", "119.0.6045"),
    (
        "Adobe Acrobat Reader DC - Français",
        "Adobe Systems Incorporated",
        "23.006.20360",
    ),
    ("7-Zip 23.01 (x64)", "Igor Pavlov", "23.01"),
    ("Notepad++ (64-bit x64)", "Notepad++ Team", "8.5.8"),
    ("VLC media player", "VideoLAN", "3.0.18"),
    ("Java 8 Update 391", "Oracle Corporation", "8.0.3910.13"),
    ("Citrix Workspace 2309", "Citrix Systems, Inc.", "23.9.0.45"),
    ("VMware Horizon Client", "VMware, Inc.", "8.10.0.2306"),
    ("Sophos Endpoint Agent", "Sophos Limited", "2023.2.2.1"),
    (
        "Microsoft Defender for Endpoint",
        "Microsoft Corporation",
        "10.8560.25364",
    ),
    ("FortiClient VPN", "Fortinet Technologies Inc", "7.0.9.0493"),
    ("Parc Agent", "Parc", "0.1.0"),
    (
        "Zoom Workplace",
        "Zoom Video Communications, Inc.",
        "5.16.6",
    ),
    ("Cisco Jabber", "Cisco Systems, Inc.", "14.1.5.57909"),
    ("Orion Health Rhapsody Client", "Orion Health", "6.7.1"),
    ("Hopital Manager Client", "Softway Medical", "2023.10.2"),
    ("DxCare Poste Client", "Dedalus", "8.7.4"),
    ("Carestream Vue PACS Viewer", "Carestream Health", "12.2.5"),
    ("Philips IntelliSpace Portal Client", "Philips", "12.1.0"),
    ("Nuance PowerScribe 360", "Nuance Communications", "4.0.5"),
    ("Dragon Medical One", "Nuance Communications", "2023.3"),
    ("Imprivata OneSign Agent", "Imprivata", "7.11.012"),
    ("Kofax Power PDF Standard", "Kofax", "5.0.0.10"),
    (
        "Lexmark Universal Print Driver",
        "Lexmark International",
        "3.0.6",
    ),
    ("HP Universal Printing PCL 6", "HP Inc.", "7.1.0"),
    ("Zebra ZDesigner Driver", "Zebra Technologies", "10.8.0"),
    (
        "Realtek Audio Driver",
        "Realtek Semiconductor Corp.",
        "6.0.9147.1",
    ),
    (
        "Intel(R) Management Engine Components",
        "Intel Corporation",
        "2228.4.3.0",
    ),
    (
        "Intel(R) Chipset Device Software",
        "Intel(R) Corporation",
        "10.1.18836",
    ),
    ("Intel(R) Serial IO", "Intel Corporation", "30.100.2031.2"),
    (
        "Intel(R) Graphics Driver",
        "Intel Corporation",
        "31.0.101.4502",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64)",
        "Microsoft Corporation",
        "14.36.32532",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86)",
        "Microsoft Corporation",
        "14.36.32532",
    ),
    (
        "Microsoft Visual C++ 2013 Redistributable (x64)",
        "Microsoft Corporation",
        "12.0.40664",
    ),
    (
        "Microsoft Visual C++ 2013 Redistributable (x86)",
        "Microsoft Corporation",
        "12.0.40664",
    ),
    (
        "Microsoft Visual C++ 2012 Redistributable (x64)",
        "Microsoft Corporation",
        "11.0.61030",
    ),
    (
        "Microsoft Visual C++ 2010  x64 Redistributable",
        "Microsoft Corporation",
        "10.0.40219",
    ),
    (
        "Microsoft Visual C++ 2008 Redistributable - x86",
        "Microsoft Corporation",
        "9.0.30729.6161",
    ),
    (
        "Microsoft .NET Framework 4.8.1",
        "Microsoft Corporation",
        "4.8.09032",
    ),
    (
        "Microsoft Windows Desktop Runtime - 6.0.25 (x64)",
        "Microsoft Corporation",
        "6.0.25.33020",
    ),
    (
        "Microsoft ASP.NET Core 6.0.25 Shared Framework (x64)",
        "Microsoft Corporation",
        "6.0.25.23517",
    ),
    (
        "Microsoft ODBC Driver 17 for SQL Server",
        "Microsoft Corporation",
        "17.10.5.1",
    ),
    (
        "Microsoft OLE DB Driver for SQL Server",
        "Microsoft Corporation",
        "18.6.7.0",
    ),
    (
        "Windows PC Health Check",
        "Microsoft Corporation",
        "3.6.2204",
    ),
    (
        "Local Administrator Password Solution",
        "Microsoft Corporation",
        "6.2.0.0",
    ),
    (
        "Microsoft Policy Platform",
        "Microsoft Corporation",
        "68.1.1010.0",
    ),
    (
        "Configuration Manager Client",
        "Microsoft Corporation",
        "5.00.9106",
    ),
];

/// Word stems for the long tail: components, runtimes, plug-ins and drivers.
const TAIL_STEMS: &[&str] = &[
    "Python",
    "Git",
    "PuTTY",
    "WinSCP",
    "KeePass",
    "Greenshot",
    "PDFCreator",
    "Paint.NET",
    "LibreOffice",
    "GIMP",
    "Audacity",
    "TeamViewer",
    "AnyDesk",
    "RemoteApp",
    "Cisco AnyConnect",
    "Webex",
    "Slack",
    "R for Windows",
    "RStudio",
    "SPSS Statistics",
    "Stata",
    "EndNote",
    "Zotero",
    "Mendeley",
    "Tableau Reader",
    "Power BI Desktop",
    "SQL Server Management Studio",
    "Visual Studio Code",
    "Node.js",
    "OpenJDK",
    "Eclipse Temurin",
    "Qlik Sense Desktop",
    "Crystal Reports Runtime",
    "SAP GUI",
    "Oracle Instant Client",
    "Firebird ODBC",
    "MySQL Connector",
    "PostgreSQL ODBC",
    "Elo Touch Driver",
    "Topaz SigPlus",
    "Wacom Tablet",
    "Honeywell Scanner Driver",
    "Datalogic Scanner",
    "Evolis Card Printer",
    "Brother MFL-Pro",
    "Canon Generic Plus",
    "Kyocera KX Driver",
    "Ricoh PCL6 Driver",
    "Xerox Global Print Driver",
    "Epson Scan",
    "Logitech Options",
    "Jabra Direct",
    "Plantronics Hub",
    "Poly Lens",
    "Agfa Enterprise Imaging",
    "GE Centricity Universal Viewer",
    "Siemens syngo.via Client",
    "Sectra Workstation",
    "Medasys Clinicom",
    "Maincare M-Crossway",
    "Cerner Millennium",
    "Epic Hyperspace",
    "Allscripts Sunrise",
    "Omnicell Client",
    "Pyxis MedStation",
    "BD Alaris Guardrails",
    "Mindray Central Station",
    "Philips IntelliVue",
    "Draeger Infinity",
    "Welch Allyn Connex",
    "Natus NeuroWorks",
    "Cardiobase",
    "MUSE Cardiology",
    "Vocera Badge",
    "Ascom Myco",
    "Hemotrace",
    "Biomerieux Myla",
    "Sysmex WAM",
    "Roche cobas infinity",
    "Beckman DxC",
    "Labware LIMS",
    "Orbis Client",
    "DMP Compatible",
    "Lecteur Vitale",
    "Galss",
    "Pilote Carte CPS",
    "Cryptolib CPS",
    "Ameli Pro",
    "Doctolib Link",
];

const TAIL_KINDS: &[&str] = &[
    "",
    " Runtime",
    " Client",
    " Plug-in",
    " Driver",
    " Language Pack",
    " Update Service",
    " Tools",
    " SDK",
    " Add-in for Office",
];

/// The tail vocabulary: every stem with every kind, a few hundred names.
fn tail_name(index: usize) -> String {
    let stem = TAIL_STEMS[index % TAIL_STEMS.len()];
    let kind = TAIL_KINDS[(index / TAIL_STEMS.len()) % TAIL_KINDS.len()];
    format!("{stem}{kind}")
}

fn tail_vocabulary() -> usize {
    TAIL_STEMS.len() * TAIL_KINDS.len()
}

/// Windows updates, as the uninstall registry lists them.
fn update_name(n: u32) -> String {
    match n % 4 {
        0 => format!("Security Update for Windows (KB50{:05})", 10_000 + n * 37),
        1 => format!(
            "Update for Microsoft Office 2016 (KB5{:06})",
            2_000 + n * 13
        ),
        2 => format!(
            "Cumulative Update for .NET Framework (KB50{:05})",
            20_000 + n * 11
        ),
        _ => format!("Servicing Stack Update (KB50{:05})", 30_000 + n * 7),
    }
}

fn version_of(rng: &mut StdRng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.gen_range(1..30),
        rng.gen_range(0..20),
        rng.gen_range(0..5000),
        rng.gen_range(0..100)
    )
}

/// Bumps the last component of a version, as an upgrade does.
fn upgraded(version: &str) -> String {
    match version.rsplit_once('.') {
        Some((head, last)) => match last.parse::<u64>() {
            Ok(n) => format!("{head}.{}", n + 1),
            Err(_) => format!("{version}.1"),
        },
        None => format!("{version}.1"),
    }
}

/// The fleet's fixed parameters.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    pub seed: u64,
    /// Software entries per machine (the image plus updates plus the tail); ~800 by default.
    pub software: usize,
    /// Sites the agents are spread over (agent `i` reports to site `i % sites`).
    pub sites: usize,
}

impl Fleet {
    fn rng(&self, agent: u32, salt: u64) -> StdRng {
        StdRng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(u64::from(agent) << 8)
                .wrapping_add(salt),
        )
    }

    /// The agent's stable id, as `agent_id::load_or_create` would have made it once.
    pub fn agent_id(&self, agent: u32) -> Uuid {
        let mut rng = self.rng(agent, 1);
        Uuid::from_bytes(rng.gen::<[u8; 16]>())
    }

    /// The site (index into the tokens) agent `agent` reports to.
    pub fn site_of(&self, agent: u32) -> usize {
        agent as usize % self.sites.max(1)
    }

    /// Agent `agent`'s inventory for `round`, observed at `at`, with a fresh document id.
    pub fn document(&self, agent: u32, round: Round, at: DateTime<Utc>) -> Document<Inventory> {
        let inventory = self.inventory(agent, round, at);
        Document {
            header: DocumentHeader::new(self.agent_id(agent), SourceKind::AgentInventory, at),
            body: inventory,
        }
    }

    /// Agent `agent`'s inventory. Everything but the `Next` round's changes comes from a
    /// generator seeded by the agent number alone, so both rounds agree on the machine.
    pub fn inventory(&self, agent: u32, round: Round, at: DateTime<Utc>) -> Inventory {
        let mut rng = self.rng(agent, 2);
        let model = &MODELS[rng.gen_range(0..MODELS.len())];
        let serial = (model.serial)(&mut rng);
        let uuid = Uuid::from_bytes(rng.gen::<[u8; 16]>());
        let site = self.site_of(agent);
        let hostname = format!("{}-PC{:05}", site_code(site), agent);
        let domain = "chu.local";
        let installed = Utc.with_ymd_and_hms(2023, 1, 1, 8, 0, 0).unwrap()
            + Duration::hours(rng.gen_range(0..20_000));

        // Changes of the next round come from their own generator, so that they do not shift
        // what the machine is.
        let mut change = self.rng(agent, 3);
        let upgrades = round == Round::Next && change.gen_range(0..100) < UPGRADED_PERCENT;
        let readdressed = round == Round::Next && change.gen_range(0..100) < READDRESSED_PERCENT;

        let nic_count = match rng.gen_range(0..10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let interfaces: Vec<NetworkInterface> = (0..nic_count)
            .map(|n| {
                let (oui, _, driver) =
                    NICS[(n + usize::from(model.chassis == "Notebook")) % NICS.len()];
                let host_part = agent * 4 + n as u32;
                let mut octet = (host_part % 250 + 10) as u8;
                if readdressed && n == 0 {
                    octet = octet.wrapping_add(1).max(10);
                }
                NetworkInterface {
                    name: if n == 0 {
                        "Ethernet".into()
                    } else {
                        format!("Ethernet {}", n + 1)
                    },
                    mac: Some(format!(
                        "{oui}:{:02x}:{:02x}:{:02x}",
                        (host_part >> 16) & 0xff,
                        (host_part >> 8) & 0xff,
                        host_part & 0xff
                    )),
                    addresses: vec![
                        format!(
                            "10.{}.{}.{}/22",
                            16 + site,
                            (host_part / 250) % 4 + 4 * ((agent / 1000) % 60),
                            octet
                        ),
                        format!("fe80::{:x}:{:x}/64", rng.gen::<u16>(), host_part & 0xffff),
                    ],
                    speed_mbps: Some(1000),
                    mtu: Some(1500),
                    state: "up".into(),
                    is_virtual: false,
                    driver: Some(driver.into()),
                }
            })
            .collect();

        let mut software: Vec<Software> = Vec::with_capacity(self.software);
        for (name, publisher, version) in IMAGE {
            software.push(Software {
                name: (*name).into(),
                version: Some((*version).into()),
                arch: Some("x64".into()),
                publisher: Some((*publisher).into()),
                size_bytes: Some(rng.gen_range(1..400) * 1024 * 1024),
                install_date: Some(installed),
                source: "registry".into(),
            });
        }
        let updates = (self.software / 4).min(self.software.saturating_sub(software.len()));
        let first_update = rng.gen_range(0..50);
        for n in 0..updates as u32 {
            software.push(Software {
                name: update_name(first_update + n),
                version: None,
                arch: None,
                publisher: Some("Microsoft Corporation".into()),
                size_bytes: None,
                install_date: Some(installed + Duration::days(i64::from(n))),
                source: "registry".into(),
            });
        }
        // The long tail: a department's set, drawn without repeats from the vocabulary, then
        // numbered editions once the vocabulary runs out.
        let mut tail: Vec<usize> = (0..tail_vocabulary()).collect();
        tail.shuffle(&mut rng);
        let mut k = 0;
        while software.len() < self.software {
            let index = tail[k % tail.len()];
            let edition = k / tail.len();
            let mut name = tail_name(index);
            if edition > 0 {
                name.push_str(&format!(" ({})", 2018 + edition));
            }
            software.push(Software {
                name,
                version: Some(version_of(&mut rng)),
                arch: Some(if rng.gen_bool(0.8) { "x64" } else { "x86" }.into()),
                publisher: Some(format!("{} Inc.", TAIL_STEMS[index % TAIL_STEMS.len()])),
                size_bytes: Some(rng.gen_range(100..300_000) * 1024),
                install_date: Some(installed + Duration::days(rng.gen_range(0..600))),
                source: "registry".into(),
            });
            k += 1;
        }
        if upgrades {
            for _ in 0..change.gen_range(1..=3) {
                let i = change.gen_range(0..software.len());
                let version = software[i].version.as_deref().unwrap_or("1.0");
                software[i].version = Some(upgraded(version));
                software[i].install_date = Some(at);
            }
        }

        // Drawn in both rounds, so that what follows is drawn the same.
        let first_boot = rng.gen_range(5..600);
        let boot = match round {
            Round::First => at - Duration::minutes(first_boot),
            Round::Next => at - Duration::minutes(change.gen_range(1..30)),
        };
        let user = format!(
            "{}{:04}",
            ["dupont", "martin", "bernard", "petit", "durand"][agent as usize % 5],
            agent % 10_000
        );
        let logged_in = match round {
            Round::First => user.clone(),
            Round::Next => format!("ide{:04}", change.gen_range(0..10_000)),
        };

        Inventory {
            host: Host {
                hostname: hostname.clone(),
                fqdn: Some(format!("{}.{domain}", hostname.to_ascii_lowercase())),
                domain: Some(domain.into()),
                machine_id: Some(Uuid::from_bytes(rng.gen::<[u8; 16]>()).simple().to_string()),
                virtualization: (model.model == "Virtual Machine").then(|| "hyperv".into()),
            },
            os: OperatingSystem {
                family: "windows".into(),
                name: Some("Microsoft Windows 11 Enterprise".into()),
                version: Some(
                    if rng.gen_bool(0.7) {
                        "10.0.22631"
                    } else {
                        "10.0.19045"
                    }
                    .into(),
                ),
                pretty_name: Some("Windows 11 Enterprise 23H2".into()),
                kernel: Some("10.0.22631.2715".into()),
                arch: "x86_64".into(),
                install_date: Some(installed),
                boot_time: Some(boot),
                timezone: Some("Europe/Paris".into()),
            },
            hardware: Hardware {
                manufacturer: Some(model.manufacturer.into()),
                model: Some(model.model.into()),
                serial: HardwareId::serial(&serial),
                uuid: HardwareId::uuid(&uuid.hyphenated().to_string().to_ascii_uppercase()),
                chassis_type: Some(model.chassis.into()),
                bios: Some(Bios {
                    vendor: Some(model.bios_vendor.into()),
                    version: Some(format!(
                        "1.{}.{}",
                        rng.gen_range(1..30),
                        rng.gen_range(0..9)
                    )),
                    date: Some(format!(
                        "{:02}/{:02}/2023",
                        rng.gen_range(1..13),
                        rng.gen_range(1..29)
                    )),
                }),
                dmi_available: true,
            },
            cpus: vec![Cpu {
                model: Some(
                    [
                        "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz",
                        "Intel(R) Core(TM) i5-1145G7 @ 2.60GHz",
                        "Intel(R) Core(TM) i7-11700 @ 2.50GHz",
                    ][rng.gen_range(0..3)]
                    .into(),
                ),
                vendor: Some("GenuineIntel".into()),
                arch: "x86_64".into(),
                sockets: 1,
                cores: [4, 6, 8][rng.gen_range(0..3)],
                threads: 12,
                frequency_mhz: Some(3100),
                family: Some(6),
                model_number: Some(165),
                stepping: Some(5),
            }],
            memory: Memory {
                total_bytes: [8u64, 16, 32][rng.gen_range(0..3)] << 30,
                swap_bytes: 4 << 30,
            },
            disks: (0..rng.gen_range(1..=2))
                .map(|d| Disk {
                    name: format!("\\\\.\\PHYSICALDRIVE{d}"),
                    model: Some(
                        [
                            "SAMSUNG MZVL2512HCJQ-00B07",
                            "KXG60ZNV256G TOSHIBA",
                            "WDC PC SN730 SDBQNTY-512G",
                        ][rng.gen_range(0..3)]
                        .into(),
                    ),
                    vendor: None,
                    serial: Some(format!("S{}", alnum(&mut rng, 13))),
                    size_bytes: [256u64, 512, 1024][rng.gen_range(0..3)] * 1_000_000_000,
                    kind: Some("ssd".into()),
                })
                .collect(),
            filesystems: vec![Filesystem {
                mount_point: "C:\\".into(),
                device: Some("\\\\?\\Volume{0b1c}".into()),
                fs_type: "NTFS".into(),
                total_bytes: 500_000_000_000,
                free_bytes: rng.gen_range(50..400) * 1_000_000_000,
            }],
            network: Network {
                interfaces,
                gateways: vec![format!("10.{}.0.1", 16 + site)],
                dns_servers: vec!["10.0.0.53".into(), "10.0.1.53".into()],
            },
            software,
            software_unchanged: None,
            software_delta: None,
            users: Users {
                local: [
                    "Administrateur",
                    "Invité",
                    "DefaultAccount",
                    "WDAGUtilityAccount",
                    "adm-local",
                ]
                .iter()
                .map(|n| LocalUser {
                    name: (*n).into(),
                    ..Default::default()
                })
                .collect(),
                groups: vec![LocalGroup {
                    name: "Administrateurs".into(),
                    gid: None,
                    members: vec!["Administrateur".into(), "CHU\\Admins du domaine".into()],
                }],
                logged_in: vec![Session {
                    user: format!("CHU\\{logged_in}"),
                    terminal: Some("console".into()),
                    host: None,
                    since: Some(boot + Duration::minutes(2)),
                }],
            },
        }
    }
}

fn site_code(site: usize) -> String {
    const CODES: &[&str] = &["CHU", "HDJ", "EHP", "CMP", "HGE", "SSR", "USL", "PSY"];
    let code = CODES[site % CODES.len()];
    if site < CODES.len() {
        code.to_string()
    } else {
        format!("{code}{}", site / CODES.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn fleet() -> Fleet {
        Fleet {
            seed: 7,
            software: 800,
            sites: 4,
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 7, 30, 0).unwrap()
    }

    #[test]
    fn machines_are_distinct_and_realistic() {
        let f = fleet();
        let (mut serials, mut uuids, mut macs, mut names) = (
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        );
        for agent in 0..500 {
            let inv = f.inventory(agent, Round::First, at());
            assert_eq!(inv.software.len(), 800, "agent {agent}");
            let nics = inv.network.interfaces.len();
            assert!((1..=3).contains(&nics), "agent {agent}: {nics} NICs");
            for mac in inv.physical_macs() {
                assert!(macs.insert(mac), "agent {agent}: MAC shared with another");
            }
            assert!(serials.insert(inv.hardware.serial.unwrap().value));
            assert!(uuids.insert(inv.hardware.uuid.unwrap().value));
            assert!(names.insert(inv.host.hostname));
            let distinct: HashSet<_> = inv
                .software
                .iter()
                .map(|s| (&s.name, &s.version, &s.arch))
                .collect();
            assert_eq!(distinct.len(), 800, "agent {agent}: repeated packages");
        }
        let vendors: HashSet<_> = (0..100)
            .map(|a| f.inventory(a, Round::First, at()).hardware.manufacturer)
            .collect();
        assert!(vendors.len() >= 4, "{vendors:?}");
    }

    #[test]
    fn the_next_round_is_the_same_machine_with_few_changes() {
        let f = fleet();
        let (mut upgraded_machines, mut moved) = (0, 0);
        for agent in 0..1000 {
            let first = f.inventory(agent, Round::First, at());
            let next = f.inventory(agent, Round::Next, at() + Duration::days(1));
            assert_eq!(first.hardware, next.hardware);
            assert_eq!(first.host, next.host);
            assert_eq!(first.physical_macs(), next.physical_macs());
            let changed = first
                .software
                .iter()
                .zip(&next.software)
                .filter(|(a, b)| a != b)
                .count();
            assert!(changed <= 3, "agent {agent}: {changed} packages changed");
            upgraded_machines += usize::from(changed > 0);
            let addresses = |i: &Inventory| i.network.interfaces[0].addresses.clone();
            moved += usize::from(addresses(&first) != addresses(&next));
        }
        // 20 % and 5 % of 1,000, give or take the draw.
        assert!(
            (120..=280).contains(&upgraded_machines),
            "{upgraded_machines}"
        );
        assert!((20..=80).contains(&moved), "{moved}");
    }

    #[test]
    fn documents_get_fresh_ids_but_keep_the_agent() {
        let f = fleet();
        let a = f.document(3, Round::First, at());
        let b = f.document(3, Round::Next, at());
        assert_eq!(a.header.agent_id, b.header.agent_id);
        assert_ne!(a.header.document_id, b.header.document_id);
        assert_ne!(f.agent_id(3), f.agent_id(4));
    }

    #[test]
    fn upgrades_bump_the_last_component() {
        assert_eq!(upgraded("14.36.32532"), "14.36.32533");
        assert_eq!(upgraded("2023.3"), "2023.4");
        assert_eq!(upgraded("23H2"), "23H2.1");
        assert_eq!(upgraded("8.5.beta"), "8.5.beta.1");
    }
}
