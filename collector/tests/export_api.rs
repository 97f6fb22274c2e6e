//! Exports through the real router and a real SQLite file: CSV/JSON lists against the list
//! endpoint, hostile values, and GLPI documents validated against GLPI's published schema
//! (`fixtures/glpi/inventory.schema.json`). One test runs over a real socket on 127.0.0.1.

mod common;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::{TimeZone, Utc};
use parc_collector::http::export::BATCH;
use parc_collector::http::{router, AppState};
use parc_shared::inventory::{
    Bios, Cpu, Disk, Filesystem, LocalGroup, LocalUser, NetworkInterface, Session, Software,
};
use parc_shared::{
    DiscoveredHost, Discovery, Document, DocumentHeader, HardwareId, Inventory, ProbeMethod,
    SourceKind,
};
use serde_json::Value;
use uuid::Uuid;

struct Env {
    _dir: tempfile::TempDir,
    app: Router,
    state: AppState,
    /// Site name → agent token.
    tokens: Vec<(&'static str, String)>,
    /// An admin API token: what a script calling the export over HTTP presents.
    admin: String,
}

impl Env {
    fn token(&self, site: &str) -> &str {
        &self.tokens.iter().find(|(s, _)| *s == site).unwrap().1
    }
}

async fn env() -> Env {
    let (dir, store) = common::store().await;
    let mut tokens = Vec::new();
    for site in ["chu-nord", "chu-sud"] {
        tokens.push((site, store.create_token(site).await.unwrap().1));
    }
    let admin = common::admin_token(&store).await;
    let state = AppState::new(store, parc_shared::limits::MAX_DOCUMENT_BYTES);
    Env {
        _dir: dir,
        app: parc_collector::auth::bootstrap::reads_as(router(state.clone()), admin.clone()),
        state,
        tokens,
        admin,
    }
}

/// A Windows workstation as the agent reports one: two NICs, disks, volumes, users and a few
/// hundred packages.
fn workstation(n: u128, hostname: &str) -> Document<Inventory> {
    let mut inv = Inventory::default();
    inv.host.hostname = hostname.into();
    inv.host.fqdn = Some(format!("{hostname}.chu.example"));
    inv.host.domain = Some("CHU".into());
    inv.host.virtualization = Some("physical".into());
    inv.os.family = "windows".into();
    inv.os.name = Some("Windows 11 Pro".into());
    inv.os.version = Some("10.0.22631".into());
    inv.os.pretty_name = Some("Microsoft Windows 11 Pro".into());
    inv.os.kernel = Some("10.0.22631".into());
    inv.os.arch = "AMD64".into();
    inv.os.install_date = Some(Utc.with_ymd_and_hms(2024, 2, 1, 9, 30, 0).unwrap());
    inv.os.boot_time = Some(Utc.with_ymd_and_hms(2026, 11, 20, 7, 2, 3).unwrap());
    inv.os.timezone = Some("Europe/Paris".into());
    inv.hardware.dmi_available = true;
    inv.hardware.manufacturer = Some("HP".into());
    inv.hardware.model = Some("EliteDesk 800 G6".into());
    inv.hardware.serial = HardwareId::serial(&format!("5CG{n:07}"));
    inv.hardware.uuid = HardwareId::uuid(&format!("4c4c4544-0042-3510-8052-{n:012x}"));
    inv.hardware.chassis_type = Some("Desktop".into());
    inv.hardware.bios = Some(Bios {
        vendor: Some("HP".into()),
        version: Some("S01 Ver. 02.13.00".into()),
        date: Some("03/15/2023".into()),
    });
    inv.cpus = vec![Cpu {
        model: Some("Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz".into()),
        vendor: Some("GenuineIntel".into()),
        arch: "AMD64".into(),
        sockets: 1,
        cores: 6,
        threads: 12,
        frequency_mhz: Some(3100),
        family: Some(6),
        model_number: Some(165),
        stepping: Some(5),
    }];
    inv.memory.total_bytes = 16 << 30;
    inv.memory.swap_bytes = 2 << 30;
    inv.disks = vec![Disk {
        name: "\\\\.\\PHYSICALDRIVE0".into(),
        model: Some("SAMSUNG MZVLB512HBJQ".into()),
        vendor: Some("Samsung".into()),
        serial: Some("S4GENX0N123456".into()),
        size_bytes: 512_110_190_592,
        kind: Some("nvme".into()),
    }];
    inv.filesystems = vec![Filesystem {
        mount_point: "C:\\".into(),
        device: Some("\\\\?\\Volume{4c1b}".into()),
        fs_type: "NTFS".into(),
        total_bytes: 510_000_000_000,
        free_bytes: 200_000_000_000,
    }];
    inv.network.interfaces = vec![
        NetworkInterface {
            name: "Ethernet".into(),
            mac: Some(format!("00:1a:2b:3c:{:02x}:{:02x}", n >> 8, n & 0xff)),
            addresses: vec![
                format!("198.18.{}.{}/21", n >> 8, n & 0xff),
                "fe80::1c2d:3e4f:5a6b:7c8d/64".into(),
            ],
            speed_mbps: Some(1000),
            mtu: Some(1500),
            state: "up".into(),
            is_virtual: false,
            driver: Some("e1000e".into()),
        },
        NetworkInterface {
            name: "Loopback Pseudo-Interface 1".into(),
            mac: None,
            addresses: vec!["127.0.0.1/8".into(), "::1/128".into()],
            state: "unknown".into(),
            is_virtual: true,
            ..Default::default()
        },
    ];
    inv.network.gateways = vec!["198.18.0.1".into()];
    inv.network.dns_servers = vec!["198.18.0.53".into(), "198.18.0.54".into()];
    inv.users.local = vec![LocalUser {
        name: "Administrateur".into(),
        full_name: Some("Compte admin".into()),
        ..Default::default()
    }];
    inv.users.groups = vec![LocalGroup {
        name: "Administrateurs".into(),
        gid: None,
        members: vec!["Administrateur".into(), "CHU\\jdoe".into()],
    }];
    inv.users.logged_in = vec![Session {
        user: "jdoe".into(),
        terminal: Some("console".into()),
        host: None,
        since: Some(Utc.with_ymd_and_hms(2026, 11, 22, 7, 45, 0).unwrap()),
    }];
    inv.software = (0..300)
        .map(|i| Software {
            name: format!("Package {i:03}"),
            version: Some(format!("{}.{}", i / 10, i % 10)),
            arch: Some("x64".into()),
            publisher: (i % 3 == 0).then(|| "Éditeur, \"SA\"".into()),
            size_bytes: Some(1_000_000 + i),
            install_date: (i % 2 == 0).then(|| Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()),
            source: "registry".into(),
        })
        .collect();
    Document {
        header: DocumentHeader::new(Uuid::from_u128(n), SourceKind::AgentInventory, Utc::now()),
        body: inv,
    }
}

fn sweep(hosts: Vec<DiscoveredHost>) -> Document<Discovery> {
    let probed = hosts.len() as u64;
    common::discovery(
        Uuid::from_u128(999),
        &["198.18.0.0/15"],
        probed,
        Utc::now(),
        hosts,
    )
}

/// `n` devices with distinct addresses and MACs, named dev-00000, dev-00001, ...
fn sweep_hosts(n: usize, prefix: &str) -> Vec<DiscoveredHost> {
    (0..n)
        .map(|i| DiscoveredHost {
            ip: format!("198.19.{}.{}", i / 250, i % 250 + 1),
            mac: Some(format!("02:00:00:00:{:02x}:{:02x}", i >> 8, i & 0xff)),
            name: Some(format!("{prefix}{i:05}")),
            methods: vec![ProbeMethod::TcpOpen],
            ..Default::default()
        })
        .collect()
}

async fn post(e: &Env, site: &str, path: &str, doc: &impl serde::Serialize) {
    let req = common::document(path, e.token(site), doc);
    let (status, _, body) = common::respond(&e.app, req).await;
    assert!(
        status.is_success(),
        "{path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
}

async fn get(e: &Env, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    common::respond(&e.app, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn get_json(e: &Env, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(e, path).await;
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

/// Every item the list endpoint returns for `filter`, all pages.
async fn list_all(e: &Env, filter: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let (status, v) = get_json(
            e,
            &format!("/api/v1/assets?per_page=500&page={page}&{filter}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{filter}: {v}");
        let got = v["items"].as_array().unwrap().clone();
        if got.is_empty() {
            break;
        }
        items.extend(got);
    }
    items
}

fn csv_rows(bytes: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r.headers().unwrap().clone();
    let rows = r.records().map(Result::unwrap).collect();
    (header, rows)
}

fn glpi_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/glpi/inventory.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("GLPI's schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

async fn asset_id_by_name(e: &Env, name: &str) -> i64 {
    let items = list_all(e, &format!("q={name}")).await;
    let hit: Vec<&Value> = items.iter().filter(|a| a["name"] == name).collect();
    assert_eq!(hit.len(), 1, "{name}: {items:?}");
    hit[0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn glpi_document_of_an_ingested_computer_validates_against_the_official_schema() {
    let e = env().await;
    let doc = workstation(0x0102, "PC-URG-0102");
    post(&e, "chu-nord", "/api/v1/inventories", &doc).await;
    let id = asset_id_by_name(&e, "PC-URG-0102").await;

    let (status, glpi) = get_json(&e, &format!("/api/v1/assets/{id}/glpi")).await;
    assert_eq!(status, StatusCode::OK, "{glpi}");
    let validator = glpi_validator();
    let errors = schema_errors(&validator, &glpi);
    assert!(errors.is_empty(), "{errors:#?}\n{glpi:#}");

    // The document says what the inventory said, in GLPI's terms.
    assert_eq!(glpi["itemtype"], "Computer");
    assert_eq!(
        glpi["deviceid"],
        format!("parc-{}", Uuid::from_u128(0x0102))
    );
    assert_eq!(glpi["tag"], "chu-nord");
    let c = &glpi["content"];
    assert!(c["versionclient"].as_str().unwrap().starts_with("Parc-"));
    assert_eq!(c["hardware"]["name"], "PC-URG-0102");
    assert_eq!(c["hardware"]["memory"], 16 * 1024);
    assert_eq!(c["bios"]["ssn"], "5CG0000258");
    assert_eq!(c["bios"]["bdate"], "2023-03-15");
    assert_eq!(c["operatingsystem"]["boot_time"], "2026-11-20 07:02:03");
    assert_eq!(c["cpus"][0]["arch"], "x86_64");
    assert_eq!(c["cpus"][0]["core"], 6);
    assert_eq!(c["drives"][0]["letter"], "C:");
    assert_eq!(c["storages"][0]["serial"], "S4GENX0N123456");
    assert_eq!(c["softwares"].as_array().unwrap().len(), 300);
    let with_publisher = c["softwares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Package 000")
        .unwrap();
    assert_eq!(with_publisher["publisher"], "Éditeur, \"SA\"");
    assert_eq!(with_publisher["install_date"], "2025-01-02 03:04:05");
    let addresses: Vec<&str> = c["networks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["ipaddress"].as_str())
        .collect();
    assert_eq!(addresses, ["198.18.1.2", "127.0.0.1"]);
    assert_eq!(c["users"][0]["login"], "jdoe");

    // The validator is not a rubber stamp: the same document with one value GLPI refuses
    // fails it.
    for (pointer, bad) in [
        ("/content/cpus/0/arch", Value::from("AMD64")),
        ("/content/networks/0/status", Value::from("unknown")),
        ("/content/hardware/memory", Value::from("16384")),
        (
            "/content/operatingsystem/boot_time",
            Value::from("20/11/2026"),
        ),
    ] {
        let mut tampered = glpi.clone();
        *tampered.pointer_mut(pointer).unwrap() = bad;
        assert!(
            !schema_errors(&validator, &tampered).is_empty(),
            "{pointer} should have been refused"
        );
    }
    let mut extra = glpi.clone();
    extra["content"]["hardware"]["parc_id"] = Value::from(1);
    assert!(!schema_errors(&validator, &extra).is_empty());
}

#[tokio::test]
async fn glpi_is_404_for_unknown_assets_and_422_for_devices_without_an_agent() {
    let e = env().await;
    post(
        &e,
        "chu-nord",
        "/api/v1/discoveries",
        &sweep(sweep_hosts(1, "printer-")),
    )
    .await;
    let id = asset_id_by_name(&e, "printer-00000").await;

    let (status, v) = get_json(&e, &format!("/api/v1/assets/{id}/glpi")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "no_agent_inventory");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no agent inventory"),
        "{v}"
    );

    let (status, v) = get_json(&e, "/api/v1/assets/999999/glpi").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = get_json(&e, "/api/v1/assets/abc/glpi").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
}

/// Assets over two sites and kinds, more than one export batch in all.
async fn populated() -> Env {
    let e = env().await;
    let n = BATCH as usize * 2 + 37;
    post(
        &e,
        "chu-nord",
        "/api/v1/discoveries",
        &sweep(sweep_hosts(n, "dev-")),
    )
    .await;
    for (i, site) in [(1u128, "chu-nord"), (2, "chu-sud"), (3, "chu-sud")] {
        let doc = workstation(i, &format!("pc-urg-{i:04}"));
        post(&e, site, "/api/v1/inventories", &doc).await;
    }
    e
}

#[tokio::test]
async fn csv_and_json_exports_have_exactly_the_rows_of_the_list_for_the_same_filter() {
    let e = populated().await;
    for filter in [
        "",
        "site=chu-sud",
        "site=chu-nord",
        "kind=computer",
        "q=dev-001",
        "q=198.18.0.2",
        "q=pc-urg&site=chu-sud",
        "q=nothing-matches-this",
        "q=50%25",
    ] {
        let listed = list_all(&e, filter).await;
        let listed_ids: Vec<i64> = listed.iter().map(|a| a["id"].as_i64().unwrap()).collect();

        let (status, headers, body) =
            get(&e, &format!("/api/v1/assets/export?format=csv&{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{filter}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"parc-assets-")
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        let (head, rows) = csv_rows(&body);
        assert_eq!(
            head.iter().collect::<Vec<_>>(),
            parc_collector::export::csv::COLUMNS
        );
        let csv_ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(csv_ids, listed_ids, "{filter}");
        for (row, item) in rows.iter().zip(&listed) {
            assert_eq!(&row[1], item["name"].as_str().unwrap_or(""), "{filter}");
            assert_eq!(&row[3], item["site"].as_str().unwrap());
            let ips: Vec<&str> = item["ip_addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(&row[9], ips.join(" "));
        }

        let (status, headers, body) =
            get(&e, &format!("/api/v1/assets/export?format=json&{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{filter}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let exported: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            exported, listed,
            "{filter}: JSON export differs from the list"
        );
    }
    // The unfiltered export spans several batches.
    let (_, _, body) = get(&e, "/api/v1/assets/export").await;
    assert_eq!(csv_rows(&body).1.len(), BATCH as usize * 2 + 37 + 3);
}

#[tokio::test]
async fn hostile_values_are_exported_safely() {
    let e = env().await;
    let hostile = [
        "=HYPERLINK(\"http://x.example\",\"clic\")",
        "+33 1 23 45",
        "-2+3",
        "@SUM(A1:A9)",
        "comma, \"quoted\" and\nnew line",
        "\ttabbed",
    ];
    for (i, name) in hostile.iter().enumerate() {
        let mut doc = workstation(100 + i as u128, name);
        doc.body.hardware.model = Some("=1+1".into());
        post(&e, "chu-nord", "/api/v1/inventories", &doc).await;
    }
    let (status, _, body) = get(&e, "/api/v1/assets/export?format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let (_, rows) = csv_rows(&body);
    assert_eq!(rows.len(), hostile.len());
    let mut names: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    names.sort_unstable();
    let mut want: Vec<String> = hostile
        .iter()
        .map(|n| match n.chars().next() {
            Some('=' | '+' | '-' | '@' | '\t') => format!("'{n}"),
            _ => n.to_string(),
        })
        .collect();
    want.sort_unstable();
    assert_eq!(names, want);
    for r in &rows {
        assert_eq!(&r[5], "'=1+1");
        assert_eq!(r.len(), parc_collector::export::csv::COLUMNS.len());
    }
    // Seen as raw text, no line of the file starts a formula.
    let text = String::from_utf8(body).unwrap();
    for line in text.split("\r\n") {
        assert!(!line.starts_with(['=', '+', '-', '@']), "{line:?}");
    }

    // JSON is the data itself: nothing to defuse, and it survives exactly.
    let (_, _, body) = get(&e, "/api/v1/assets/export?format=json").await;
    let items: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let mut names: Vec<&str> = items.iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut raw = hostile.to_vec();
    raw.sort_unstable();
    assert_eq!(names, raw);
}

#[tokio::test]
async fn bad_export_queries_are_400_with_the_reason() {
    let e = env().await;
    let long = "x".repeat(300);
    for (query, needle) in [
        ("format=xlsx", "csv or json"),
        ("page=2", "page"),
        ("per_page=10", "per_page"),
        (&format!("q={long}") as &str, "longer than 256"),
    ] {
        let (status, v) = get_json(&e, &format!("/api/v1/assets/export?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{query}: {v}"
        );
    }
}

#[tokio::test]
async fn export_streams_over_a_real_socket() {
    let e = populated().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(parc_collector::serve(
        listener,
        e.state.clone(),
        stop.clone().cancelled_owned(),
    ));
    let url = format!("http://{addr}/api/v1/assets/export?format=csv&site=chu-nord");
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let (_, rows) = csv_rows(&body);
    assert_eq!(rows.len(), list_all(&e, "site=chu-nord").await.len());
    assert_eq!(rows.len(), BATCH as usize * 2 + 37 + 1);
    stop.cancel();
    server.await.unwrap().unwrap();
}
