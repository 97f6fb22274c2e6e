//! SNMP identification against recorded devices: snmpsim serves the fixtures of
//! `tests/fixtures/snmp` (an access switch, a printer, a UPS, a router and a Linux server, and
//! four devices known only through their maker's MIB: an APC and an Eaton UPS, an HP and a
//! Kyocera printer; each under its own community) on 127.0.0.1, and the real
//! `parc-agent snmp` queries each one. The maker's-MIB devices are also pushed to a real
//! collector and checked through its API.
//!
//! The expected values come from `expected.json`, which the fixture generator writes from the
//! same constants as the data, so a check here fails on the agent, not on a typo.
//!
//! snmpsim is a Python package (`pip install snmpsim pysmi`, done by scripts/test.sh). Without
//! it the test says why and passes, unless `PARC_REQUIRE_SNMPSIM` is set (test.sh sets it once
//! the install worked), where a missing simulator is a failure.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use parc_shared::snmp::{DeviceType, SnmpDevice};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    parc_tests::workspace_root().join("tests/fixtures/snmp")
}

/// Python code that starts snmpsim. As root, snmpsim insists on dropping to an unprivileged
/// user before it opens its data files; a Python installed under /root (pyenv) is then out of
/// that user's reach for modules imported late, so the dbm backends it needs are loaded first.
const RESPONDER: &str = "import sys, dbm, dbm.dumb\n\
from snmpsim.commands.responder import main\n\
sys.exit(main())";

fn python() -> String {
    std::env::var("PARC_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The fixtures' expected values and a running simulator serving them; None (the test skips)
/// when snmpsim is missing, unless `PARC_REQUIRE_SNMPSIM` says it must be there.
fn expected_and_simulator(test: &str) -> Result<Option<(Value, Simulator)>> {
    if let Some(why) = snmpsim_missing() {
        if std::env::var_os("PARC_REQUIRE_SNMPSIM").is_some() {
            bail!("PARC_REQUIRE_SNMPSIM is set but {why}");
        }
        eprintln!("skipping the snmpsim {test} test: {why}");
        return Ok(None);
    }
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(
        fixtures_dir().join("expected.json"),
    )?)?;
    Ok(Some((expected, Simulator::start()?)))
}

/// Why the simulator cannot run here, if it cannot.
fn snmpsim_missing() -> Option<String> {
    match Command::new(python())
        .args(["-c", "import snmpsim, pysmi, dbm.dumb"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "snmpsim is not importable ({}); install it with `pip install snmpsim pysmi`",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Some(format!("no {} to run snmpsim: {e}", python())),
    }
}

fn is_root() -> bool {
    // The test runs as root in CI (test.sh installs packages); /proc tells without libc.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                == Some("0")
        })
        .unwrap_or(false)
}

/// snmpsim on 127.0.0.1, serving copies of the fixtures; killed on drop.
struct Simulator {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Simulator {
    fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&cache)?;
        for entry in std::fs::read_dir(fixtures_dir())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "snmprec") {
                std::fs::copy(&path, data.join(path.file_name().expect("a file")))?;
            }
        }
        let root = is_root();
        if root {
            // The unprivileged user snmpsim switches to must read the data and write the index.
            use std::os::unix::fs::PermissionsExt;
            for (path, mode) in [(dir.path(), 0o755), (&data, 0o755), (&cache, 0o777)] {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
        }
        // A free port: bind, note it, release; the simulator binds it right after.
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("snmpsim.log"))?;
        let mut cmd = Command::new(python());
        cmd.args(["-c", RESPONDER])
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if root {
            let group = if Path::new("/etc/group").exists()
                && std::fs::read_to_string("/etc/group")?
                    .lines()
                    .any(|l| l.starts_with("nogroup:"))
            {
                "nogroup"
            } else {
                "nobody"
            };
            cmd.args(["--process-user", "nobody", "--process-group", group]);
        }
        let child = cmd.spawn().context("start snmpsim")?;
        let mut sim = Simulator { child, port, dir };
        sim.wait_ready(Duration::from_secs(60))?;
        Ok(sim)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snmpsim.log")).unwrap_or_default()
    }

    /// Waits until the simulator answers a real GET (it indexes every file before it listens,
    /// so one answer means all devices are served).
    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(("127.0.0.1", self.port))?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let request = get_sys_uptime("ups", 0x50);
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "snmpsim exited ({status}) before answering:\n{}",
                    self.log()
                );
            }
            let _ = socket.send(&request);
            match socket.recv(&mut buf) {
                Ok(n) if n > 0 && buf[0] == 0x30 => return Ok(()),
                // A timeout means "not yet"; so does ECONNREFUSED (nothing bound yet), which
                // comes back at once, so that case is paced to the same poll interval.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                _ => {}
            }
        }
        bail!(
            "snmpsim did not answer on 127.0.0.1:{} within {timeout:?}:\n{}",
            self.port,
            self.log()
        )
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A v2c GetRequest for sysUpTime.0, BER-encoded by hand (every length fits one byte).
fn get_sys_uptime(community: &str, request_id: u8) -> Vec<u8> {
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, u8::try_from(body.len()).expect("short")];
        v.extend_from_slice(body);
        v
    }
    let oid = tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 3, 0]);
    let varbind = tlv(0x30, &[oid, vec![0x05, 0x00]].concat());
    let pdu = tlv(
        0xa0,
        &[
            tlv(0x02, &[request_id]),
            tlv(0x02, &[0]),
            tlv(0x02, &[0]),
            tlv(0x30, &varbind),
        ]
        .concat(),
    );
    tlv(
        0x30,
        &[tlv(0x02, &[1]), tlv(0x04, community.as_bytes()), pdu].concat(),
    )
}

fn query(sim: &Simulator, state: &Path, community: &str) -> Result<SnmpDevice> {
    query_with(sim, state, community, &[])
}

/// `parc-agent [GLOBAL...] snmp 127.0.0.1 ...` for one community; `global` may carry
/// `--server`/`--token`, and then the device is pushed too.
fn query_with(
    sim: &Simulator,
    state: &Path,
    community: &str,
    global: &[&str],
) -> Result<SnmpDevice> {
    let port = sim.port.to_string();
    let mut args: Vec<&str> = global.to_vec();
    args.extend([
        "snmp",
        "127.0.0.1",
        "--port",
        &port,
        "--community",
        community,
        "--format",
        "json",
    ]);
    if !global.is_empty() {
        args.push("--push");
    }
    let out = parc_tests::agent(state, &args)?;
    if !out.status.success() {
        bail!(
            "parc-agent snmp ({community}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "parse the device JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Collects mismatches so one run reports every device that is wrong, not only the first.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    }
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn check_identification(r: &mut Report, name: &str, d: &SnmpDevice, want: &Value) {
    let id = &d.identification;
    r.eq(
        &format!("{name} type"),
        id.device_type.as_str(),
        want["type"].as_str().unwrap_or("?"),
    );
    r.eq(
        &format!("{name} vendor"),
        id.vendor.clone(),
        s(&want["vendor"]),
    );
    r.eq(
        &format!("{name} model"),
        id.model.clone(),
        s(&want["model"]),
    );
    r.eq(
        &format!("{name} serial"),
        id.serial.clone(),
        s(&want["serial"]),
    );
    r.eq(
        &format!("{name} firmware"),
        id.firmware.clone(),
        s(&want["firmware"]),
    );
    r.eq(&format!("{name} section errors"), d.errors.clone(), vec![]);
}

fn check_switch(r: &mut Report, d: &SnmpDevice, want: &Value) {
    r.eq(
        "switch interfaces",
        d.interfaces.len() as u64,
        want["interfaces"].as_u64().unwrap_or(0),
    );
    let by_index = |i: &str| {
        d.interfaces
            .iter()
            .find(|x| x.index.to_string() == i)
            .cloned()
            .unwrap_or_default()
    };
    for (index, name) in want["named_interfaces"].as_object().into_iter().flatten() {
        r.eq(
            &format!("switch ifName of {index}"),
            by_index(index).name,
            s(name),
        );
    }
    for (index, alias) in want["aliases"].as_object().into_iter().flatten() {
        r.eq(
            &format!("switch ifAlias of {index}"),
            by_index(index).alias,
            s(alias),
        );
    }
    for (index, bps) in want["high_speed_bps"].as_object().into_iter().flatten() {
        r.eq(
            &format!("switch speed of {index}"),
            by_index(index).speed_bps,
            bps.as_u64(),
        );
    }
    let bridge = d.bridge.clone().unwrap_or_default();
    r.eq(
        "switch dot1dBaseNumPorts",
        bridge.num_ports.map(u64::from),
        want["bridge_ports"].as_u64(),
    );
    let got: BTreeSet<(String, u32, Option<u32>, Option<u32>)> = bridge
        .forwarding
        .iter()
        .map(|e| (e.mac.clone(), e.bridge_port, e.if_index, e.vlan))
        .collect();
    let expected: BTreeSet<(String, u32, Option<u32>, Option<u32>)> = want["fdb"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let n = |k: &str| e[k].as_u64().and_then(|v| u32::try_from(v).ok());
            (
                s(&e["mac"]).unwrap_or_default(),
                n("bridge_port").unwrap_or(0),
                n("if_index"),
                n("vlan"),
            )
        })
        .collect();
    r.eq("switch FDB size", got.len(), expected.len());
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    r.eq("switch FDB entries missing", missing, vec![]);
    r.eq("switch FDB entries not in the fixture", extra, vec![]);
    // The uplink carries most MACs and each access port a few: the shape "where is this PC
    // plugged in" relies on.
    let uplink = u32::try_from(want["lldp"][0]["local_port"].as_u64().unwrap_or(0)).unwrap_or(0);
    let on_uplink = got.iter().filter(|e| e.1 == uplink).count();
    if on_uplink < 100 || got.iter().any(|e| e.1 != uplink && e.1 > 24) {
        r.0.push(format!(
            "switch FDB: {on_uplink} MACs on the uplink {uplink}, want the bulk of them"
        ));
    }
    let lldp: Vec<_> = d
        .lldp_neighbors
        .iter()
        .map(|n| {
            (
                u64::from(n.local_port),
                n.chassis_id.clone(),
                n.port_id.clone(),
                n.system_name.clone(),
            )
        })
        .collect();
    let want_lldp: Vec<_> = want["lldp"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["local_port"].as_u64().unwrap_or(0),
                s(&n["chassis_id"]),
                s(&n["port_id"]),
                s(&n["system_name"]),
            )
        })
        .collect();
    r.eq("switch LLDP neighbours", lldp, want_lldp);
}

fn check_printer(r: &mut Report, d: &SnmpDevice, want: &Value) {
    let p = d.printer.clone().unwrap_or_default();
    r.eq("printer page counter", p.page_count, want["pages"].as_u64());
    let got: Vec<_> = p
        .supplies
        .iter()
        .map(|s| (s.description.clone(), s.level, s.max))
        .collect();
    let expected: Vec<_> = want["supplies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| (s(&x["description"]), x["level"].as_i64(), x["max"].as_i64()))
        .collect();
    r.eq("printer supplies", got, expected);
}

fn check_ups(r: &mut Report, d: &SnmpDevice, want: &Value) {
    let u = d.ups.clone().unwrap_or_default();
    r.eq(
        "UPS battery status",
        u.battery_status.map(u64::from),
        want["battery_status"].as_u64(),
    );
    r.eq(
        "UPS battery charge",
        u.battery_charge.map(u64::from),
        want["battery_charge"].as_u64(),
    );
}

fn check_router(r: &mut Report, d: &SnmpDevice, want: &Value) {
    r.eq("router ipForwarding", d.ip_forwarding, Some(true));
    let got: BTreeSet<_> = d
        .arp
        .iter()
        .map(|a| (a.ip.clone(), a.mac.clone(), u64::from(a.if_index)))
        .collect();
    let expected: BTreeSet<_> = want["arp"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                s(&a["ip"]).unwrap_or_default(),
                s(&a["mac"]).unwrap_or_default(),
                a["if_index"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    r.eq("router ARP table", got, expected);
    let cdp: Vec<_> = d
        .cdp_neighbors
        .iter()
        .map(|n| {
            (
                u64::from(n.if_index),
                n.device_id.clone(),
                n.port.clone(),
                n.address.clone(),
            )
        })
        .collect();
    let want_cdp: Vec<_> = want["cdp"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["if_index"].as_u64().unwrap_or(0),
                s(&n["device_id"]),
                s(&n["port"]),
                s(&n["address"]),
            )
        })
        .collect();
    r.eq("router CDP neighbours", cdp, want_cdp);
}

fn check_server(r: &mut Report, d: &SnmpDevice, want: &Value) {
    let h = d.host.clone().unwrap_or_default();
    r.eq("server memory", h.memory_kib, want["memory_kib"].as_u64());
    let got: Vec<_> = h
        .storage
        .iter()
        .map(|s| (s.descr.clone(), s.size_bytes, s.used_bytes))
        .collect();
    let expected: Vec<_> = want["storage"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                s(&x["descr"]),
                x["size_bytes"].as_u64(),
                x["used_bytes"].as_u64(),
            )
        })
        .collect();
    r.eq("server storage", got, expected);
    r.eq(
        "server is not taken for network gear",
        d.identification.device_type,
        DeviceType::Computer,
    );
}

/// Devices read through their maker's MIB: exactly the facts the fixture gives there, and
/// none of those the standard MIBs already gave (those are never asked).
fn check_vendor_mib(r: &mut Report, d: &SnmpDevice, want: &Value) {
    let name = want["community"].as_str().unwrap_or("?");
    r.eq(
        &format!("{name} vendor MIB facts"),
        serde_json::to_value(&d.vendor_mib).unwrap_or_default(),
        want["vendor_mib"].clone(),
    );
    if want.get("pages").is_some() {
        r.eq(
            &format!("{name} page counter"),
            d.printer.as_ref().and_then(|p| p.page_count),
            want["pages"].as_u64(),
        );
    }
    if want.get("battery_charge").is_some() {
        check_ups(r, d, want);
    }
}

/// The checks of one kind of device, beyond its identification.
type Check = fn(&mut Report, &SnmpDevice, &Value);

/// The devices whose identity comes (partly) from their maker's MIB.
const VENDOR_MIB_DEVICES: [&str; 4] = ["ups-apc", "ups-xups", "printer-hp", "printer-kyocera"];

#[test]
fn recorded_devices_are_identified_and_their_tables_read() -> Result<()> {
    let Some((expected, sim)) = expected_and_simulator("fixture")? else {
        return Ok(());
    };
    let state = tempfile::tempdir()?;
    let mut report = Report::default();
    let checks: [(&str, Check); 9] = [
        ("switch", check_switch),
        ("printer", check_printer),
        ("ups", check_ups),
        ("router", check_router),
        ("server", check_server),
        (VENDOR_MIB_DEVICES[0], check_vendor_mib),
        (VENDOR_MIB_DEVICES[1], check_vendor_mib),
        (VENDOR_MIB_DEVICES[2], check_vendor_mib),
        (VENDOR_MIB_DEVICES[3], check_vendor_mib),
    ];
    for (community, check) in checks {
        let want = &expected[community];
        let device = match query(&sim, state.path(), community) {
            Ok(d) => d,
            Err(e) => {
                report.0.push(format!("{community}: {e:#}"));
                continue;
            }
        };
        check_identification(&mut report, community, &device, want);
        check(&mut report, &device, want);
    }
    assert!(
        report.0.is_empty(),
        "{} mismatches:\n{}",
        report.0.len(),
        report.0.join("\n")
    );
    Ok(())
}

/// The devices known through their maker's MIB, pushed by `parc-agent snmp --push` to a real
/// collector (each to its own site, so nothing but its own record can merge with it): the
/// asset's kind, manufacturer, model, serial and firmware read back through the API are the
/// fixture's, the vendor serials included.
#[test]
fn vendor_mib_devices_reach_the_cmdb() -> Result<()> {
    let Some((expected, sim)) = expected_and_simulator("collector")? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let collector = parc_tests::Collector::start(dir.path())?;
    let mut report = Report::default();
    for community in VENDOR_MIB_DEVICES {
        let token = collector.token(community)?;
        let state = dir.path().join(community);
        if let Err(e) = query_with(
            &sim,
            &state,
            community,
            &["--server", &collector.url, "--token", &token],
        ) {
            report.0.push(format!("{community}: {e:#}"));
        }
    }
    let list = collector.get("/api/v1/assets?per_page=500")?;
    let mut by_name = std::collections::BTreeMap::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let id = item["id"].as_i64().context("asset id")?;
        let asset = collector.get(&format!("/api/v1/assets/{id}"))?;
        let name = s(&asset["snmp"]["system"]["name"]).unwrap_or_default();
        by_name.insert(name, asset);
    }
    report.eq(
        "assets in the CMDB",
        by_name.len(),
        VENDOR_MIB_DEVICES.len(),
    );
    for community in VENDOR_MIB_DEVICES {
        let want = &expected[community];
        let name = want["name"].as_str().unwrap_or("?");
        let Some(asset) = by_name.get(name) else {
            report.0.push(format!(
                "{community}: no asset named {name:?} among {:?}",
                by_name.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        for (field, key) in [
            ("kind", "type"),
            ("manufacturer", "vendor"),
            ("model", "model"),
            ("serial", "serial"),
            ("firmware", "firmware"),
        ] {
            report.eq(
                &format!("{community} asset {field}"),
                s(&asset[field]),
                s(&want[key]),
            );
        }
        report.eq(
            &format!("{community} stored identification serial"),
            s(&asset["snmp"]["identification"]["serial"]),
            s(&want["serial"]),
        );
    }
    assert!(
        report.0.is_empty(),
        "{} mismatches:\n{}",
        report.0.len(),
        report.0.join("\n")
    );
    Ok(())
}

/// The committed fixtures are what the generator writes: nobody hand-edits a .snmprec and
/// leaves `expected.json` behind.
#[test]
fn fixtures_match_their_generator() -> Result<()> {
    let out = Command::new(python())
        .arg(fixtures_dir().join("make_fixtures.py"))
        .arg("--check")
        .output()
        .context("run make_fixtures.py --check")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
