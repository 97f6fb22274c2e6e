//! A hostile agent on 127.0.0.1: garbage, floods, loops, oversized replies, endless tables and
//! silence. Each must end in a per-device error (or a device with section errors) in bounded
//! time, never a hang or a crash.

use std::net::IpAddr;
use std::time::Duration;

use snmp2::{MessageType, Pdu};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::codec::{encode_message, Value, VarBind};
use super::oid::Oid;
use super::{query_device_with, CredentialMemory, SnmpCredential, SnmpError, SnmpLimits};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Random-looking bytes for every request.
    Garbage,
    /// 300 garbage datagrams for every request.
    Flood,
    /// Valid system group; walks answered with the OID asked for (never advancing).
    Loop,
    /// Valid system group; walks answered with ever deeper OIDs (a table without end).
    Endless,
    /// Replies carrying far more variables than asked for.
    Oversized,
    /// Well-formed replies with the wrong request id.
    WrongId,
    /// Nothing at all.
    Silent,
}

fn limits() -> SnmpLimits {
    SnmpLimits {
        timeout: Duration::from_millis(200),
        retries: 1,
        max_repetitions: 10,
        bulk_budget: 40,
        max_rows_per_walk: 40,
        walk_time: Duration::from_secs(2),
        device_time: Duration::from_secs(8),
        max_bad_replies: 8,
        depth: Default::default(),
    }
}

/// Starts the hostile agent; returns its port.
async fn hostile_agent(mode: Mode) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let mut counter: u8 = 0;
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(request) = Pdu::from_bytes(&buf[..n]) else {
                // SNMPv3 (encrypted): the hostile modes that need no parsing still answer.
                if mode == Mode::Garbage || mode == Mode::Flood {
                    for i in 0..if mode == Mode::Flood { 300u16 } else { 1 } {
                        let junk = [0x30, 0x82, (i >> 8) as u8, i as u8, 0x02, 0x01, 0x03];
                        let _ = socket.send_to(&junk, peer).await;
                    }
                }
                continue;
            };
            let id = request.req_id;
            let asked: Vec<Oid> = request
                .varbinds
                .clone()
                .filter_map(|(o, _)| Oid::from_ber(&o))
                .collect();
            let reply = |varbinds: &[VarBind], id: i32| {
                encode_message(1, b"public", snmp2::snmp::MSG_RESPONSE, id, 0, 0, varbinds)
            };
            let system = |asked: &[Oid]| -> Vec<VarBind> {
                asked
                    .iter()
                    .map(|o| {
                        let v = if o.arcs() == [1, 3, 6, 1, 2, 1, 1, 2, 0] {
                            Value::Oid("1.3.6.1.4.1.9.1.1".parse().unwrap())
                        } else if o.starts_with(&[1, 3, 6, 1, 2, 1, 1]) {
                            Value::Bytes(b"hostile".to_vec())
                        } else {
                            Value::NoSuchObject
                        };
                        (o.clone(), v)
                    })
                    .collect()
            };
            let mut out: Vec<Vec<u8>> = Vec::new();
            match mode {
                Mode::Silent => continue,
                Mode::Garbage => {
                    counter = counter.wrapping_add(37);
                    out.push((0..64).map(|i| counter.wrapping_mul(i)).collect());
                }
                Mode::Flood => {
                    for i in 0..300u16 {
                        out.push(vec![0x30, 0x82, (i >> 8) as u8, i as u8, 0x02]);
                    }
                }
                Mode::WrongId => out.push(reply(&system(&asked), id.wrapping_add(1000))),
                Mode::Oversized => {
                    let many: Vec<VarBind> = (0..2000u32)
                        .map(|i| (Oid::new(&[1, 3, 6, 1, 2, 1, 1, 1, i]), Value::Int(1)))
                        .collect();
                    out.push(reply(&many, id));
                }
                Mode::Loop | Mode::Endless => {
                    let varbinds = match request.message_type {
                        MessageType::GetRequest => system(&asked),
                        _ => {
                            let start = asked.first().cloned().unwrap_or_default();
                            if mode == Mode::Loop {
                                vec![(start.clone(), Value::Int(1)), (start, Value::Int(1))]
                            } else {
                                (1..=10u32)
                                    .map(|k| (start.child(&vec![1; k as usize]), Value::Int(1)))
                                    .collect()
                            }
                        }
                    };
                    out.push(reply(&varbinds, id));
                }
            }
            for packet in out {
                let _ = socket.send_to(&packet, peer).await;
            }
        }
    });
    port
}

async fn query(mode: Mode) -> (Result<parc_shared::snmp::SnmpDevice, SnmpError>, Duration) {
    query_with(mode, SnmpCredential::v2c("public")).await
}

fn v3_credential() -> SnmpCredential {
    use super::credential::{AuthProtocol, PrivProtocol, V3Auth, V3Privacy};
    SnmpCredential::V3 {
        user: "parcv3".into(),
        auth: Some(V3Auth {
            protocol: AuthProtocol::Sha,
            password: "authpass123".into(),
        }),
        privacy: Some(V3Privacy {
            protocol: PrivProtocol::Aes,
            password: "privpass123".into(),
        }),
    }
}

async fn query_with(
    mode: Mode,
    credential: SnmpCredential,
) -> (Result<parc_shared::snmp::SnmpDevice, SnmpError>, Duration) {
    let port = hostile_agent(mode).await;
    let addr: IpAddr = "127.0.0.1".parse().unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        query_device_with(
            addr,
            port,
            &[credential],
            &limits(),
            &CredentialMemory::default(),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("{mode:?}: query did not finish within 20 s"));
    (result, started.elapsed())
}

#[tokio::test]
async fn garbage_replies_fail_the_device() {
    let (result, took) = query(Mode::Garbage).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("malformed"), "{err}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn a_flood_is_cut_short() {
    let (result, took) = query(Mode::Flood).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("gave up after 8 malformed"), "{err}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn replies_with_wrong_ids_are_not_accepted() {
    let (result, _) = query(Mode::WrongId).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("unexpected request id"), "{err}");
}

#[tokio::test]
async fn oversized_replies_are_refused() {
    let (result, _) = query(Mode::Oversized).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("more than the 6 allowed"), "{err}");
}

#[tokio::test]
async fn silence_times_out_after_the_retries() {
    let (result, took) = query(Mode::Silent).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("no answer within 200 ms after 2 attempts"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn looping_walks_end_with_section_errors() {
    let (result, took) = query(Mode::Loop).await;
    let device = result.expect("the system group answered");
    assert_eq!(device.system.name.as_deref(), Some("hostile"));
    assert!(device.interfaces.is_empty());
    let loops = device
        .errors
        .iter()
        .filter(|e| e.message.contains("OIDs not increasing"))
        .count();
    assert!(loops >= 3, "{:#?}", device.errors);
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[tokio::test]
async fn endless_tables_stop_at_the_row_limit() {
    let (result, took) = query(Mode::Endless).await;
    let device = result.expect("the system group answered");
    assert!(
        device
            .errors
            .iter()
            .any(|e| e.section == "interfaces" && e.message.contains("limit of 40 rows")),
        "{:#?}",
        device.errors
    );
    // Cisco's number made the agent ask for CDP too; the endless table is bounded there too.
    assert!(
        device.errors.iter().any(|e| e.section == "cdp"),
        "{:#?}",
        device.errors
    );
    assert!(
        took <= limits().device_time + Duration::from_secs(1),
        "{took:?}"
    );
}

#[tokio::test]
async fn v3_against_garbage_fails_in_bounded_time() {
    for mode in [Mode::Garbage, Mode::Flood, Mode::Silent] {
        let (result, took) = query_with(mode, v3_credential()).await;
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("v3 user \"parcv3\" authPriv"),
            "{mode:?}: {err}"
        );
        assert!(took < Duration::from_secs(6), "{mode:?}: {took:?}");
    }
}

#[tokio::test]
async fn a_closed_port_fails_at_once() {
    // Bound then released: nothing listens there, so the kernel answers port unreachable.
    let port = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let result = query_device_with(
        "127.0.0.1".parse().unwrap(),
        port,
        &[SnmpCredential::v2c("public"), SnmpCredential::v2c("other")],
        &SnmpLimits::default(),
        &CredentialMemory::default(),
    )
    .await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("port unreachable"), "{err}");
    assert_eq!(
        err.matches("v2c community").count(),
        1,
        "the second credential is not tried: {err}"
    );
    assert!(
        started.elapsed() < SnmpLimits::default().timeout,
        "{:?}",
        started.elapsed()
    );
}
