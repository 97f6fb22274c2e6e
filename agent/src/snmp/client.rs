//! The network side: one session per device and credential, requests with timeouts, retries
//! and a cap on garbage, and bounded walks.
//!
//! v1/v2c use our own transport over snmp2's BER codec, so a reply that arrives after its
//! timeout is still accepted by the retry (no cascade of mismatched ids on slow agents) and
//! garbage or foreign datagrams are counted and dropped. v3 goes through snmp2's
//! `AsyncSession` (its USM encoding is not public), wrapped in the same timeouts and retries.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::codec::{self, CommunityVersion, DecodeError, Request, VarBind};
use super::credential::{SnmpCredential, SnmpLimits};
use super::many::Pacer;
use super::oid::Oid;
use super::walk::{Columns, WalkEnd};

/// Why a device (or one request to it) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("no SNMP credentials configured")]
    NoCredentials,
    #[error("no answer within {timeout_ms} ms after {attempts} attempts")]
    Timeout { timeout_ms: u128, attempts: u32 },
    #[error("gave up after {count} malformed or foreign replies (last: {last})")]
    Garbage { count: u32, last: String },
    #[error("the device's time budget of {0:?} ran out")]
    DeviceDeadline(Duration),
    #[error("SNMPv3 {0}")]
    V3(String),
    #[error("agent answered with error {status} ({name}) at variable {index}")]
    ErrorStatus {
        status: u32,
        name: &'static str,
        index: u32,
    },
    #[error("invalid credential: {0}")]
    BadCredential(String),
    #[error("socket error: {0}")]
    Io(String),
    #[error("no SNMP agent: the host answered \"port unreachable\"")]
    PortUnreachable,
    #[error("the agent answered but shows no system group to this credential")]
    NothingVisible,
    #[error("no credential worked: {0}")]
    AllCredentialsFailed(String),
}

impl SnmpError {
    fn is_retryable(&self) -> bool {
        matches!(self, SnmpError::Timeout { .. } | SnmpError::Garbage { .. })
    }
}

pub fn error_status_name(status: u32) -> &'static str {
    match status {
        0 => "noError",
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        16 => "authorizationError",
        _ => "other",
    }
}

/// A reply's variables, or the agent's error status.
#[derive(Debug)]
pub struct Answer {
    pub error_status: u32,
    pub error_index: u32,
    pub varbinds: Vec<VarBind>,
}

/// A session with one device using one credential.
pub struct Session {
    transport: Transport,
    limits: SnmpLimits,
    deadline: Instant,
    /// Shared by every session of a batch, so the batch's packet rate stays under its cap.
    pacer: Option<Arc<Pacer>>,
}

enum Transport {
    Community(CommunityTransport),
    V3(Box<snmp2::AsyncSession>),
}

struct CommunityTransport {
    socket: UdpSocket,
    version: CommunityVersion,
    community: Vec<u8>,
    next_id: i32,
    buf: Vec<u8>,
}

impl Session {
    /// Opens a session; for v3 this includes engine discovery, which is the first round trip.
    pub async fn open(
        addr: IpAddr,
        port: u16,
        credential: &SnmpCredential,
        limits: &SnmpLimits,
        deadline: Instant,
        pacer: Option<Arc<Pacer>>,
    ) -> Result<Session, SnmpError> {
        let target = SocketAddr::new(addr, port);
        let transport = match credential {
            SnmpCredential::V1 { community } | SnmpCredential::V2c { community } => {
                let version = if matches!(credential, SnmpCredential::V1 { .. }) {
                    CommunityVersion::V1
                } else {
                    CommunityVersion::V2c
                };
                let bind: SocketAddr = if addr.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let socket = UdpSocket::bind(bind)
                    .await
                    .map_err(|e| SnmpError::Io(e.to_string()))?;
                // Connected: the kernel drops datagrams from anyone but the device.
                socket
                    .connect(target)
                    .await
                    .map_err(|e| SnmpError::Io(e.to_string()))?;
                Transport::Community(CommunityTransport {
                    socket,
                    version,
                    community: community.as_bytes().to_vec(),
                    next_id: rand::random::<i32>() & 0x3fff_ffff,
                    buf: vec![0; 65_536],
                })
            }
            SnmpCredential::V3 { .. } => {
                let security = credential.security().map_err(SnmpError::BadCredential)?;
                let session = snmp2::AsyncSession::new_v3(
                    target,
                    rand::random::<i32>() & 0x3fff_ffff,
                    security,
                )
                .await
                .map_err(|e| SnmpError::Io(e.to_string()))?;
                Transport::V3(Box::new(session))
            }
        };
        let mut session = Session {
            transport,
            limits: limits.clone(),
            deadline,
            pacer,
        };
        if matches!(session.transport, Transport::V3(_)) {
            session.pace().await;
            session.v3_init().await?;
        }
        Ok(session)
    }

    /// Waits for the batch's rate cap, if any. Counted per request: resends after a timeout
    /// are not paced again, they are bounded by `retries` instead.
    async fn pace(&self) {
        if let Some(p) = &self.pacer {
            p.acquire().await;
        }
    }

    pub fn is_v1(&self) -> bool {
        matches!(
            &self.transport,
            Transport::Community(CommunityTransport {
                version: CommunityVersion::V1,
                ..
            })
        )
    }

    async fn v3_init(&mut self) -> Result<(), SnmpError> {
        let Transport::V3(session) = &mut self.transport else {
            return Ok(());
        };
        let attempts = self.limits.retries + 1;
        let mut last = SnmpError::Timeout {
            timeout_ms: self.limits.timeout.as_millis(),
            attempts,
        };
        for _ in 0..attempts {
            let wait = wait_until(self.limits.timeout, self.deadline)?;
            match tokio::time::timeout_at(wait, session.init()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => {
                    last = v3_error(e);
                    if !last.is_retryable() {
                        return Err(last);
                    }
                }
                Err(_) => {}
            }
        }
        Err(last)
    }

    /// One request, with retries. The agent's error status is returned as data for the caller
    /// to interpret (noSuchName ends a v1 walk, tooBig shrinks a bulk).
    pub async fn request(&mut self, request: &Request) -> Result<Answer, SnmpError> {
        self.pace().await;
        match &mut self.transport {
            Transport::Community(t) => t.request(request, &self.limits, self.deadline).await,
            Transport::V3(s) => v3_request(s, request, &self.limits, self.deadline).await,
        }
    }

    /// GET of several scalars; absent ones are simply missing from the result. v1 agents fail
    /// the whole PDU with noSuchName when one is missing, so v1 falls back to one at a time.
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let answer = self.request(&Request::Get(oids.to_vec())).await?;
        match answer.error_status {
            0 => Ok(answer
                .varbinds
                .into_iter()
                .filter(|(_, v)| !v.is_absent())
                .collect()),
            2 if oids.len() > 1 => {
                let mut found = Vec::new();
                for oid in oids {
                    let answer = self.request(&Request::Get(vec![oid.clone()])).await?;
                    if answer.error_status == 0 {
                        found.extend(answer.varbinds.into_iter().filter(|(_, v)| !v.is_absent()));
                    }
                }
                Ok(found)
            }
            2 => Ok(Vec::new()),
            status => Err(SnmpError::ErrorStatus {
                status,
                name: error_status_name(status),
                index: answer.error_index,
            }),
        }
    }

    /// Walks a subtree within the walk limits (rows, time) and the device deadline.
    pub async fn walk(&mut self, root: &Oid) -> (Vec<VarBind>, WalkEnd) {
        self.walk_columns(std::slice::from_ref(root), false)
            .await
            .pop()
            .expect("one column asked, one returned")
    }

    /// Walks several columns together (see [`Columns`]) within the walk limits: rows per
    /// column, the walk time for all of them, replies sized to `limits.bulk_budget` varbinds.
    /// Returns each column's rows and end, in the order given. With `first_decides`, an empty
    /// first column means the table is absent and the others are not read further.
    pub async fn walk_columns(
        &mut self,
        roots: &[Oid],
        first_decides: bool,
    ) -> Vec<(Vec<VarBind>, WalkEnd)> {
        let mut walk = Columns::new(
            roots.to_vec(),
            self.limits.max_rows_per_walk,
            self.limits.max_repetitions,
            self.limits.bulk_budget,
            first_decides,
        );
        let v1 = self.is_v1();
        if v1 {
            walk = walk.one_at_a_time();
        }
        let walk_deadline = (Instant::now() + self.limits.walk_time).min(self.deadline);
        while let Some((oids, max_repetitions)) = walk.next_request() {
            let request = if v1 {
                Request::GetNext(oids.into_iter().next().expect("one column asked"))
            } else {
                Request::GetBulk {
                    oids,
                    max_repetitions,
                }
            };
            let answer = tokio::select! {
                answer = self.request(&request) => answer,
                _ = tokio::time::sleep_until(walk_deadline) => {
                    walk.stop(|rows| WalkEnd::OutOfTime { rows });
                    break;
                }
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(SnmpError::DeviceDeadline(_)) => {
                    walk.stop(|rows| WalkEnd::OutOfTime { rows });
                    break;
                }
                Err(e) => {
                    let e = e.to_string();
                    walk.stop(|_| WalkEnd::Failed(e.clone()));
                    break;
                }
            };
            match answer.error_status {
                0 => walk.absorb(answer.varbinds),
                // v1's end of MIB.
                2 if v1 => walk.end_of_mib(),
                1 if walk.too_big() => {}
                status => {
                    let e = format!(
                        "agent answered with error {status} ({})",
                        error_status_name(status)
                    );
                    walk.stop(|_| WalkEnd::Failed(e.clone()));
                    break;
                }
            }
        }
        walk.finish()
    }
}

fn wait_until(timeout: Duration, deadline: Instant) -> Result<Instant, SnmpError> {
    let now = Instant::now();
    if now >= deadline {
        return Err(SnmpError::DeviceDeadline(timeout));
    }
    Ok((now + timeout).min(deadline))
}

impl CommunityTransport {
    async fn request(
        &mut self,
        request: &Request,
        limits: &SnmpLimits,
        deadline: Instant,
    ) -> Result<Answer, SnmpError> {
        let max_varbinds = request.max_varbinds();
        let attempts = limits.retries + 1;
        // Ids of every attempt of this request: a reply to an earlier attempt that arrives
        // late is as good as the latest one.
        let mut ids = Vec::with_capacity(attempts as usize);
        let mut bad = 0u32;
        let mut last_bad = String::new();
        for _ in 0..attempts {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1) & 0x3fff_ffff;
            ids.push(id);
            let packet = codec::encode_request(self.version, &self.community, id, request);
            let wait = wait_until(limits.timeout, deadline)?;
            self.socket
                .send(&packet)
                .await
                .map_err(|e| SnmpError::Io(e.to_string()))?;
            loop {
                let received =
                    match tokio::time::timeout_at(wait, self.socket.recv(&mut self.buf)).await {
                        Err(_) => break,
                        // ICMP port unreachable surfaces here on a connected socket: the
                        // host is up and runs no agent, as most hosts of a sweep do; no
                        // point waiting.
                        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            return Err(SnmpError::PortUnreachable);
                        }
                        Ok(Err(e)) => return Err(SnmpError::Io(e.to_string())),
                        Ok(Ok(n)) => n,
                    };
                match codec::decode_reply(&self.buf[..received], &self.community, max_varbinds) {
                    Ok(reply) if ids.contains(&reply.request_id) => {
                        return Ok(Answer {
                            error_status: reply.error_status,
                            error_index: reply.error_index,
                            varbinds: reply.varbinds,
                        });
                    }
                    Ok(reply) => last_bad = format!("unexpected request id {}", reply.request_id),
                    Err(DecodeError::WrongCommunity) => {
                        last_bad = "reply for another community".into()
                    }
                    Err(e) => last_bad = e.to_string(),
                }
                bad += 1;
                if bad >= limits.max_bad_replies {
                    return Err(SnmpError::Garbage {
                        count: bad,
                        last: last_bad,
                    });
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(SnmpError::DeviceDeadline(limits.device_time));
        }
        if bad > 0 {
            return Err(SnmpError::Garbage {
                count: bad,
                last: last_bad,
            });
        }
        Err(SnmpError::Timeout {
            timeout_ms: limits.timeout.as_millis(),
            attempts,
        })
    }
}

fn v3_error(e: snmp2::Error) -> SnmpError {
    use snmp2::Error as E;
    match e {
        E::AuthFailure(kind) => SnmpError::V3(format!(
            "authentication failed ({kind:?}): check the user, passwords and protocols"
        )),
        E::Crypto(c) => SnmpError::V3(format!("decryption failed: {c}")),
        E::Send | E::Receive => SnmpError::Timeout {
            timeout_ms: 0,
            attempts: 1,
        },
        // Malformed, stale (id mismatch) or a Report instead of a Response: retryable garbage.
        other => SnmpError::Garbage {
            count: 1,
            last: other.to_string(),
        },
    }
}

async fn v3_request(
    session: &mut snmp2::AsyncSession,
    request: &Request,
    limits: &SnmpLimits,
    deadline: Instant,
) -> Result<Answer, SnmpError> {
    let attempts = limits.retries + 1;
    let max_varbinds = request.max_varbinds();
    let mut last = SnmpError::Timeout {
        timeout_ms: limits.timeout.as_millis(),
        attempts,
    };
    let mut bad = 0;
    let mut timeouts = 0;
    // Garbage costs an attempt here (snmp2 reads one datagram per call), so allow as many
    // extra tries as garbage replies tolerated.
    let mut tries = 0;
    while tries < attempts + limits.max_bad_replies {
        tries += 1;
        let wait = wait_until(limits.timeout, deadline)?;
        let result = tokio::time::timeout_at(wait, async {
            let pdu = match request {
                Request::Get(oids) => {
                    let oids: Vec<snmp2::Oid<'static>> = oids.iter().filter_map(to_ber).collect();
                    let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
                    session.get_many(&refs).await
                }
                Request::GetNext(oid) => {
                    let oid = to_ber(oid).ok_or(snmp2::Error::ValueOutOfRange)?;
                    session.getnext(&oid).await
                }
                Request::GetBulk {
                    oids,
                    max_repetitions,
                } => {
                    let oids = oids
                        .iter()
                        .map(|o| to_ber(o).ok_or(snmp2::Error::ValueOutOfRange))
                        .collect::<Result<Vec<_>, _>>()?;
                    let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
                    session.getbulk(&refs, 0, *max_repetitions).await
                }
            }?;
            let varbinds = codec::owned_varbinds(pdu.varbinds.clone(), max_varbinds)
                .map_err(|e| snmp2::Error::Mib(e.to_string()))?;
            Ok::<_, snmp2::Error>(Answer {
                error_status: pdu.error_status,
                error_index: pdu.error_index,
                varbinds,
            })
        })
        .await;
        match result {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(snmp2::Error::AuthUpdated)) => continue,
            Ok(Err(e)) => {
                last = v3_error(e);
                if !last.is_retryable() {
                    return Err(last);
                }
                if matches!(last, SnmpError::Garbage { .. }) {
                    bad += 1;
                    if bad >= limits.max_bad_replies {
                        return Err(last);
                    }
                }
            }
            Err(_) => {
                timeouts += 1;
                last = SnmpError::Timeout {
                    timeout_ms: limits.timeout.as_millis(),
                    attempts: timeouts,
                };
                if timeouts >= attempts {
                    break;
                }
            }
        }
    }
    if Instant::now() >= deadline {
        return Err(SnmpError::DeviceDeadline(limits.device_time));
    }
    Err(last)
}

fn to_ber(oid: &Oid) -> Option<snmp2::Oid<'static>> {
    let arcs: Vec<u64> = oid.arcs().iter().map(|&a| u64::from(a)).collect();
    snmp2::Oid::from(&arcs).ok()
}
