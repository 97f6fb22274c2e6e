//! SNMP in sweeps, end to end: a real net-snmp `snmpd` on its own loopback address (v2c
//! community and a v3 authPriv user), found by `parc-agent sweep` and identified by its SNMP
//! stage; silent hosts cost bounded time; `parc-agent snmp` over a range; `--push` reaches the
//! collector's `/api/v1/snmp`.
//!
//! Everything stays on 127.0.0.0/8. Each test uses its own 127.83.N.0/24 addresses so that
//! tests running in parallel never see each other's agents. `--unprivileged` keeps the sweep
//! on `connect()` probes, which find a loopback address through its RST.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parc_tests::snmpd::Snmpd;
use serde_json::Value;

const COMMUNITY: &str = "parc-sweep-ro";
const V3_USER: &str = "parcsweep";
const V3_AUTH: &str = "sweep-auth-123";
const V3_PRIV: &str = "sweep-priv-456";
const SYS_NAME: &str = "parc-sweep-node";

/// `snmpd` on `addr` with the v2c community (for all of 127.0.0.0/8) and the v3 user.
fn start_snmpd(addr: &str) -> Result<Snmpd> {
    Snmpd::start(
        addr,
        &format!(
            "rocommunity {COMMUNITY} 127.0.0.0/8\n\
             createUser {V3_USER} SHA {V3_AUTH} AES {V3_PRIV}\n\
             rouser {V3_USER} priv\n\
             sysName {SYS_NAME}\n"
        ),
    )
}

/// A TCP port closed on every loopback address (bound, then released): probing it draws an RST,
/// which is how the unprivileged sweep finds the host.
fn closed_tcp_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port().to_string()
}

/// Runs `parc-agent --config CONFIG --state-dir STATE ARGS`.
fn agent(state: &Path, config: &str, args: &[&str]) -> Result<Output> {
    std::fs::create_dir_all(state)?;
    let path = state.join("agent.toml");
    std::fs::write(&path, config)?;
    Command::new(parc_tests::agent_bin())
        .arg("--config")
        .arg(&path)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("run parc-agent")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn sweep_args<'a>(target: &'a str, tcp_port: &'a str, snmp_port: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        target,
        "--unprivileged",
        "--no-names",
        "--no-icmp",
        "--ports",
        tcp_port,
        "--snmp-port",
        snmp_port,
        "--format",
        "json",
    ]
}

/// snmpd on `addr` and a collector to push to, with an agent token and state directory.
struct Pushing {
    snmpd: Snmpd,
    _dir: tempfile::TempDir,
    c: parc_tests::Collector,
    token: String,
    state: PathBuf,
}

fn pushing(addr: &str) -> Result<Pushing> {
    let snmpd = start_snmpd(addr)?;
    let dir = tempfile::tempdir()?;
    let c = parc_tests::Collector::start(dir.path())?;
    let token = c.token("site")?;
    let state = dir.path().join("agent");
    Ok(Pushing {
        snmpd,
        _dir: dir,
        c,
        token,
        state,
    })
}

/// The kinds of the sources an asset's detail lists.
fn source_kinds(asset: &Value) -> Vec<&str> {
    asset["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect()
}

fn check_identified(host: &Value) {
    let methods = host["methods"].as_array().expect("methods");
    assert!(methods.contains(&Value::from("snmp")), "{host}");
    assert_eq!(host["device"]["device_type"], "computer", "{host}");
    assert_eq!(host["device"]["vendor"], "Net-SNMP", "{host}");
    assert_eq!(host["device"]["enterprise"], 8072, "{host}");
    // No DNS name asked (--no-names): the sysName fills in.
    assert_eq!(host["name"], SYS_NAME, "{host}");
}

#[test]
fn sweep_with_a_community_identifies_the_snmp_host() -> Result<()> {
    let snmpd = start_snmpd("127.83.1.1")?;
    let dir = tempfile::tempdir()?;
    let (tcp, snmp) = (closed_tcp_port(), snmpd.port.to_string());
    let mut args = sweep_args("127.83.1.1", &tcp, &snmp);
    args.extend(["--community", COMMUNITY]);
    let found = json_of(&agent(dir.path(), "", &args)?);
    let hosts = found["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{found}");
    assert_eq!(hosts[0]["ip"], "127.83.1.1");
    check_identified(&hosts[0]);

    // The table shows the SNMP columns; --no-snmp leaves the host unidentified.
    let table_args: Vec<&str> = args
        .iter()
        .copied()
        .take_while(|a| *a != "--format")
        .chain(["--community", COMMUNITY, "-q"])
        .collect();
    let out = agent(dir.path(), "", &table_args)?;
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("TYPE") && lines[0].contains("MODEL"),
        "{table}"
    );
    assert!(
        lines[1].contains("computer") && lines[1].contains("Net-SNMP"),
        "{table}"
    );
    args.push("--no-snmp");
    let plain = json_of(&agent(dir.path(), "", &args)?);
    assert!(plain["hosts"][0].get("device").is_none(), "{plain}");
    Ok(())
}

/// Credentials from `agent.toml`: a wrong community first (snmpd stays silent to it), then the
/// v3 authPriv user. The v3 user answers, and the agent remembers it for this device.
#[test]
fn sweep_uses_configured_credentials_in_order_and_remembers_the_one_that_worked() -> Result<()> {
    let snmpd = start_snmpd("127.83.2.1")?;
    let dir = tempfile::tempdir()?;
    let config = format!(
        "[snmp]\ntimeout = \"300ms\"\nretries = 0\n\
         [[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"not-the-community\"\n\
         [[snmp.credentials]]\nversion = \"v3\"\nuser = \"{V3_USER}\"\n\
         auth_protocol = \"sha\"\nauth_password = \"{V3_AUTH}\"\n\
         priv_protocol = \"aes\"\npriv_password = \"{V3_PRIV}\"\n"
    );
    let (tcp, snmp) = (closed_tcp_port(), snmpd.port.to_string());
    let found = json_of(&agent(
        dir.path(),
        &config,
        &sweep_args("127.83.2.1", &tcp, &snmp),
    )?);
    check_identified(&found["hosts"][0]);

    let memory: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("snmp-credentials.json"))?)?;
    assert_eq!(memory["devices"]["127.83.2.1"], 1, "{memory}");
    let text = std::fs::read_to_string(dir.path().join("snmp-credentials.json"))?;
    assert!(
        !text.contains(V3_AUTH) && !text.contains("not-the-community"),
        "no secret on disk: {text}"
    );

    // `parc-agent snmp` over a range, with the configured credentials: one device, v3.
    let range = "127.83.2.1-2";
    let out = agent(
        dir.path(),
        &config,
        &["snmp", range, "--port", &snmp, "--format", "json"],
    )?;
    let devices = json_of(&out);
    let devices = devices.as_array().expect("a JSON list");
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(devices[0]["ip"], "127.83.2.1");
    assert_eq!(devices[0]["version"], "v3");
    assert_eq!(devices[0]["credential_index"], 1);
    assert_eq!(devices[0]["system"]["name"], SYS_NAME);
    Ok(())
}

/// Live hosts that never answer SNMP (a UDP socket that swallows every request): each costs at
/// most timeout × (retries + 1) per credential, all in parallel, so eight of them with two
/// credentials take about one host's budget, not eight.
#[test]
fn silent_hosts_cost_bounded_time_in_parallel() -> Result<()> {
    const HOSTS: u8 = 8;
    let first = UdpSocket::bind("127.83.3.1:0")?;
    let port = first.local_addr()?.port();
    let mut holes = vec![first];
    for n in 2..=HOSTS {
        holes.push(UdpSocket::bind((
            "127.83.3.".to_string() + &n.to_string(),
            port,
        ))?);
    }
    let dir = tempfile::tempdir()?;
    // One host: 2 credentials × 2 attempts × 400 ms = 1.6 s. Eight in series: 12.8 s.
    let config = "[snmp]\ntimeout = \"400ms\"\nretries = 1\n\
                  [[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"a-community\"\n\
                  [[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"b-community\"\n";
    let (tcp, snmp) = (closed_tcp_port(), port.to_string());
    // Builds the binaries if needed, outside the timed part.
    parc_tests::agent_bin();
    let started = Instant::now();
    let found = json_of(&agent(
        dir.path(),
        config,
        &sweep_args("127.83.3.1-8", &tcp, &snmp),
    )?);
    let took = started.elapsed();
    let hosts = found["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), HOSTS as usize, "{found}");
    assert!(hosts.iter().all(|h| h.get("device").is_none()), "{found}");
    // The requests really reached the silent agents (so the time bound means something).
    holes[0].set_nonblocking(true)?;
    let mut buf = [0u8; 1500];
    assert!(holes[0].recv(&mut buf).is_ok(), "no SNMP request arrived");
    assert!(took >= Duration::from_millis(1600), "{took:?}");
    assert!(
        took < Duration::from_secs(7),
        "{HOSTS} silent hosts took {took:?}: the SNMP stage serialised them"
    );
    Ok(())
}

/// `sweep --push` sends the discovery and one SNMP document per device; the collector stores
/// the device's SNMP facts on the swept asset.
#[test]
fn sweep_push_delivers_snmp_documents() -> Result<()> {
    let p = pushing("127.83.4.1")?;
    let (tcp, snmp) = (closed_tcp_port(), p.snmpd.port.to_string());
    let mut args = vec!["--server", &p.c.url, "--token", &p.token];
    args.extend(sweep_args("127.83.4.1", &tcp, &snmp));
    args.extend(["--community", COMMUNITY, "--push"]);
    let out = agent(&p.state, "", &args)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    json_of(&out);
    assert!(stderr.contains("delivered 1 SNMP document"), "{stderr}");

    let list = p.c.get("/api/v1/assets?per_page=500")?;
    let ids: Vec<i64> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["id"].as_i64())
        .collect();
    let with_snmp: Vec<Value> = ids
        .iter()
        .map(|id| p.c.get(&format!("/api/v1/assets/{id}")))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|a| !a["snmp"].is_null())
        .collect();
    assert_eq!(with_snmp.len(), 1, "{list}");
    let asset = &with_snmp[0];
    assert!(source_kinds(asset).contains(&"snmp"), "{asset}");
    assert!(
        std::fs::read_dir(p.state.join("spool"))?.all(|e| !e.unwrap().path().is_file()),
        "delivered documents left the spool"
    );
    Ok(())
}

/// Service mode: the scheduled sweep queries SNMP with the configured credentials and delivers
/// the device as an SNMP document next to the discovery.
#[test]
fn scheduled_sweeps_deliver_snmp_devices() -> Result<()> {
    let p = pushing("127.83.5.1")?;
    let extra = format!(
        "[sweep]\nscopes = [\"127.83.5.0/24\"]\ntargets = [\"127.83.5.1\"]\nports = [{}]\n\
         [snmp]\nport = {}\n[[snmp.credentials]]\nversion = \"v2c\"\ncommunity = \"{COMMUNITY}\"\n",
        closed_tcp_port(),
        p.snmpd.port
    );
    let config = parc_tests::service_config(&p.state, &p.c.url, &p.token, &extra)?;
    let mut child = Command::new(parc_tests::agent_bin())
        .args(["--config", config.to_str().expect("utf-8 path"), "run"])
        .env("RUST_LOG", "warn")
        .spawn()?;
    let found = parc_tests::wait_for(Duration::from_secs(90), || {
        let list = p.c.get("/api/v1/assets?per_page=500").ok()?;
        list["items"].as_array()?.iter().find_map(|a| {
            let detail = p.c.get(&format!("/api/v1/assets/{}", a["id"])).ok()?;
            (!detail["snmp"].is_null()).then_some(detail)
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    let asset = found.expect("the scheduled sweep's SNMP device never reached the collector");
    assert!(source_kinds(&asset).contains(&"snmp"), "{asset}");
    let memory: Value =
        serde_json::from_slice(&std::fs::read(p.state.join("snmp-credentials.json"))?)?;
    assert_eq!(memory["devices"]["127.83.5.1"], 0, "{memory}");
    Ok(())
}
