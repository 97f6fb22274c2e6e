//! The sweep engine: opens the sockets, runs the passes, gathers the answers.
//!
//! Shape (zmap-like, stateless): one sender thread per pass walks the targets lazily and puts
//! probes on the wire at the global rate; receiver threads (one per raw socket) recognise
//! answers by their cookies and stream them through a bounded channel to the aggregator task,
//! which owns the host table and starts name lookups as hosts appear. After each pass the engine
//! waits an adaptive time, then sends again to the targets that stayed silent only.
//!
//! Stages: ARP for on-link targets first (it finds firewalled PCs and never queues in the
//! kernel's neighbour table), then ICMP + TCP for routed targets and for the hosts ARP found
//! (to learn their ports). Without raw-socket privileges: datagram ICMP and `connect()`.
//! IPv6 targets get ICMPv6 echo (raw socket as root, else a ping socket) and `connect()`.
//!
//! Silence is the only evidence of absence: send errors (ENOBUFS, EAGAIN) mean "send later",
//! ICMP errors are ignored.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parc_shared::{DiscoveredHost, Discovery, ProbeMethod};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::arp::{self, Mac};
use super::netif::{self, Segment};
use super::probe::Cookies;
use super::rate::RateLimiter;
use super::targets::{Block, Targets};
use super::tcp::PortState;
use super::timing::{AnswerStats, RttStats};
use super::{
    icmp, icmp6, names, oui, scope, sys, tcp, Progress, ProgressSink, SweepError, SweepRequest,
};

/// Answers in flight between receiver threads and the aggregator. Large enough for the reply
/// burst of a /16 at full rate; when full, receivers block and the kernel's (enlarged) socket
/// buffers absorb the rest.
const EVENT_QUEUE: usize = 16_384;
/// Socket buffers: about 10,000 packets of reply burst.
const SOCKET_BUFFER: usize = 16 << 20;
/// How often receiver threads look at the stop flag.
const RECV_POLL: Duration = Duration::from_millis(50);
/// File descriptors kept for everything else (resolver, stdio, raw sockets, the runtime).
const FD_RESERVE: u64 = 64;
/// Room for the largest raw probe (an echo request or a SYN, without the IPv4 header).
const PROBE_MAX: usize = 64;
const _: () = assert!(icmp::REQUEST_LEN <= PROBE_MAX && tcp::SYN_LEN <= PROBE_MAX);
/// One repeat probe (see [`AnswerStats::repeat_sent`]) per this many probes of a first pass:
/// they share its conditions (a queue filling under our burst) at ~3 % more packets.
const REPEAT_EVERY: u32 = 32;
/// Hosts queued for a repeat probe, at most; enough for a loss estimate to a few tenths of a %.
const MAX_REPEATS: usize = 2_048;
/// Unprivileged `connect()` probes in flight at most (further bounded by RLIMIT_NOFILE).
const MAX_CONNECTS: u64 = 8_192;
/// Below this many concurrent `connect()`s a sweep would crawl; refuse with a clear error.
const MIN_CONNECTS: u64 = 16;

/// What happened during a sweep besides the hosts: for the CLI's summary and the benchmarks.
#[derive(Debug, Clone, Default)]
pub struct SweepStats {
    pub privileged: bool,
    pub probes_sent: u64,
    /// Sends postponed because the kernel was out of buffers (retried, never counted as dead).
    pub sends_deferred: u64,
    /// Sends that failed for good, by error (these targets got fewer probes).
    pub send_errors: HashMap<String, u64>,
    pub passes: u32,
    pub max_rtt: Option<Duration>,
    pub cancelled: bool,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Arp {
        ip: Ipv4Addr,
        mac: Mac,
        rtt: Option<Duration>,
    },
    Echo {
        ip: IpAddr,
        rtt: Duration,
        /// The answer to a repeat probe, not to a pass.
        repeat: bool,
    },
    Tcp {
        ip: IpAddr,
        port: u16,
        state: PortState,
        rtt: Option<Duration>,
    },
}

/// State shared by the driver, the sender threads and the aggregator.
struct Shared {
    start: Instant,
    stop: AtomicBool,
    found: Mutex<HashSet<IpAddr>>,
    rtt: Mutex<RttStats>,
    sent_addrs: AtomicU64,
    probes: AtomicU64,
    deferred: AtomicU64,
    errors: Mutex<HashMap<String, u64>>,
    limiter: RateLimiter,
    cookies: Cookies,
    /// Send times of ARP requests (the protocol has no room for a timestamp), on-link only.
    arp_sent: Mutex<HashMap<Ipv4Addr, u64>>,
    /// On-link hosts that answered ARP: their MAC and segment index. IP probes to them are sent
    /// as frames to that MAC.
    arp_macs: Mutex<HashMap<Ipv4Addr, (Mac, usize)>>,
    /// When the last answer arrived (µs since start), to end waits once answers stop.
    last_answer_us: AtomicU64,
    /// Which probes the live hosts answered: whether a retry pass is worth it (loss) and which
    /// ports it sends (ICMP and the ports that found echo-silent hosts: on a /16 most silent
    /// addresses are dead, and resending every port to each would double the sweep for nothing).
    answers: Mutex<AnswerStats>,
    /// Hosts that answered echo, waiting for their repeat probe; and how many ever queued (at
    /// most [`MAX_REPEATS`]).
    repeat_queue: Mutex<(std::collections::VecDeque<Ipv4Addr>, usize)>,
    /// `Methods::first_answer`: addresses that answered get no more probes, unless they are
    /// in [`loss_sample`].
    first_answer: bool,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn lock_answers(&self) -> std::sync::MutexGuard<'_, AnswerStats> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ports to probe in pass `pass` (`all`: the sweep's sorted ports).
    fn ports_for_pass(&self, all: &[u16], pass: u32) -> Vec<u16> {
        if pass == 0 {
            return all.to_vec();
        }
        let answers = self.lock_answers();
        all.iter()
            .enumerate()
            .filter(|(i, _)| answers.retry_port(*i))
            .map(|(_, p)| *p)
            .collect()
    }

    fn next_repeat(&self) -> Option<Ipv4Addr> {
        self.repeat_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .pop_front()
    }

    fn queue_repeat(&self, ip: Ipv4Addr) {
        let mut q = self.repeat_queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.1 < MAX_REPEATS {
            q.0.push_back(ip);
            q.1 += 1;
        }
    }

    fn is_found(&self, ip: IpAddr) -> bool {
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&ip)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn record_error(&self, e: &io::Error) {
        let mut m = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(e.to_string()).or_default() += 1;
    }

    /// Sends one packet, waiting while the kernel is out of buffers: ENOBUFS/EAGAIN say "later",
    /// not "dead" (fping's mistake on large attached subnets). Other errors are recorded per
    /// kind and the probe is skipped.
    fn send_with(&self, mut send: impl FnMut() -> io::Result<usize>) {
        let mut backoff = Duration::from_micros(100);
        loop {
            match send() {
                Ok(_) => {
                    self.probes.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) if is_later(&e) && !self.stopped() => {
                    self.deferred.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(20));
                }
                Err(e) => {
                    self.record_error(&e);
                    return;
                }
            }
        }
    }
}

/// Probes for one raw socket, handed to the kernel [`sys::MAX_BATCH`] at a time.
struct Batch<'a> {
    sock: &'a Socket,
    /// (packet buffer, its length, destination); at most `sys::MAX_BATCH` entries.
    queued: Vec<([u8; PROBE_MAX], usize, SockAddr)>,
}

impl<'a> Batch<'a> {
    fn new(sock: &'a Socket) -> Self {
        Batch {
            sock,
            queued: Vec::with_capacity(sys::MAX_BATCH),
        }
    }

    fn push(&mut self, sh: &Shared, pkt: &[u8], to: SockAddr) {
        let mut buf = [0u8; PROBE_MAX];
        buf[..pkt.len()].copy_from_slice(pkt);
        self.queued.push((buf, pkt.len(), to));
        if self.queued.len() == sys::MAX_BATCH {
            self.flush(sh);
        }
    }

    /// Sends everything queued. Same rules as [`Shared::send_with`]: out of buffers means
    /// "later"; another error skips the packet that caused it, and the rest still go.
    fn flush(&mut self, sh: &Shared) {
        let packets: Vec<(&[u8], &SockAddr)> = self
            .queued
            .iter()
            .map(|(buf, len, to)| (&buf[..*len], to))
            .collect();
        let mut rest = &packets[..];
        let mut backoff = Duration::from_micros(100);
        while !rest.is_empty() && !sh.stopped() {
            match sys::send_batch(self.sock, rest) {
                Ok(n) if n > 0 => {
                    sh.probes.fetch_add(n as u64, Ordering::Relaxed);
                    rest = &rest[n..];
                    backoff = Duration::from_micros(100);
                }
                Err(e) if is_later(&e) => {
                    sh.deferred.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(20));
                }
                Ok(_) => rest = &rest[1..],
                Err(e) => {
                    sh.record_error(&e);
                    rest = &rest[1..];
                }
            }
        }
        self.queued.clear();
    }
}

fn is_later(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::ENOMEM)
    ) || e.kind() == io::ErrorKind::WouldBlock
}

/// The sockets of a privileged sweep.
struct RawSockets {
    icmp: Arc<Socket>,
    tcp: Arc<Socket>,
    icmp_id: u16,
    sport: u16,
}

/// Opens raw ICMP and TCP sockets; `None` when not permitted (not root, no CAP_NET_RAW).
fn open_raw() -> Result<Option<RawSockets>, SweepError> {
    let open = |proto: Protocol, what: &'static str| match Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(proto),
    ) {
        Ok(s) => Ok(Some(s)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => Ok(None),
        Err(source) => Err(SweepError::Socket { what, source }),
    };
    let (Some(icmp), Some(tcp)) = (
        open(Protocol::ICMPV4, "raw ICMP socket")?,
        open(Protocol::TCP, "raw TCP socket")?,
    ) else {
        return Ok(None);
    };
    for s in [&icmp, &tcp] {
        sys::force_buffers(s, SOCKET_BUFFER);
        s.set_read_timeout(Some(RECV_POLL))
            .map_err(|source| SweepError::Socket {
                what: "raw socket",
                source,
            })?;
    }
    Ok(Some(RawSockets {
        icmp: Arc::new(icmp),
        tcp: Arc::new(tcp),
        icmp_id: rand::random(),
        // above the usual ephemeral range's start, so no local connection is likely to own it
        sport: rand::random::<u16>() % 16_384 + 44_000,
    }))
}

/// ICMPv6 echo: a raw socket when privileged (with the echo id to match replies on), else a
/// datagram ping socket (same sysctl as IPv4's). `None` when neither opens.
fn open_ping6(privileged: bool) -> Option<(UdpSocket, Option<u16>)> {
    let (s, id) = if privileged {
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).ok()?;
        (s, Some(rand::random::<u16>()))
    } else {
        (
            Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::ICMPV6)).ok()?,
            None,
        )
    };
    sys::force_buffers(&s, SOCKET_BUFFER);
    s.set_read_timeout(Some(RECV_POLL)).ok()?;
    Some((s.into(), id))
}

/// Unprivileged ICMP: a datagram "ping" socket (Linux, allowed by net.ipv4.ping_group_range).
fn open_ping() -> Option<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).ok()?;
    sys::force_buffers(&s, SOCKET_BUFFER);
    s.set_read_timeout(Some(RECV_POLL)).ok()?;
    // A ping socket reads like a UDP socket (payload + source address), which std wraps safely.
    Some(s.into())
}

/// Runs a sweep; returns the discovery and what happened on the way.
pub async fn run(
    req: SweepRequest,
    progress: Option<ProgressSink>,
    shutdown: CancellationToken,
) -> Result<(Discovery, SweepStats), SweepError> {
    let started_at = chrono::Utc::now();
    let targets = Targets::parse(&req.targets, req.allow_large)?;
    scope::check(targets.blocks(), &req.scopes)?;
    if req.rate_pps == 0 {
        return Err(SweepError::Settings(
            "rate must be at least 1 packet per second".into(),
        ));
    }
    if req.timeout.is_zero() {
        return Err(SweepError::Settings("timeout must be positive".into()));
    }
    if req.ports.contains(&0) {
        return Err(SweepError::Settings(
            "port 0 is not a valid TCP port".into(),
        ));
    }
    let ports: Vec<u16> = if req.methods.tcp {
        req.ports
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };

    let raw = if req.methods.force_unprivileged {
        None
    } else {
        open_raw()?
    };
    let privileged = raw.is_some();
    let ping = if raw.is_none() && req.methods.icmp {
        open_ping()
    } else {
        None
    };
    let ping6 = if req.methods.icmp && targets.blocks().iter().any(|b| b.v6) {
        open_ping6(privileged)
    } else {
        None
    };
    if !privileged && req.methods.icmp && ping.is_none() {
        tracing::warn!("no raw socket and no unprivileged ICMP socket (net.ipv4.ping_group_range): ICMP echo disabled");
    }
    // Unprivileged TCP probes hold one descriptor each: size the budget from RLIMIT_NOFILE.
    let connect_budget = if !ports.is_empty() {
        let limit = sys::raise_nofile()
            .map_err(|e| SweepError::Resources(format!("cannot read RLIMIT_NOFILE: {e}")))?;
        let free = limit.saturating_sub(sys::open_fds() + FD_RESERVE);
        let needs_connect = !privileged || targets.blocks().iter().any(|b| b.v6);
        if needs_connect && free < MIN_CONNECTS {
            return Err(SweepError::Resources(format!(
                "RLIMIT_NOFILE allows {limit} open files and {} are in use; TCP probes need at least {MIN_CONNECTS} more (raise it with `ulimit -n`)",
                sys::open_fds()
            )));
        }
        free.min(MAX_CONNECTS)
    } else {
        0
    };

    // ARP applies to on-link IPv4 targets, and needs an AF_PACKET socket (root).
    let segments = if privileged && req.methods.arp {
        netif::local_segments()
    } else {
        Vec::new()
    };
    let (on_link, routed) = netif::split(targets.blocks(), &segments);
    let mut arp_socks: HashMap<usize, Arc<Socket>> = HashMap::new();
    for (i, _) in &on_link {
        if arp_socks.contains_key(i) {
            continue;
        }
        let s = sys::packet_socket(segments[*i].ifindex, arp::ETH_P_ARP).map_err(|source| {
            SweepError::Socket {
                what: "AF_PACKET socket for ARP",
                source,
            }
        })?;
        sys::force_buffers(&s, SOCKET_BUFFER);
        s.set_read_timeout(Some(RECV_POLL))
            .map_err(|source| SweepError::Socket {
                what: "AF_PACKET socket",
                source,
            })?;
        arp_socks.insert(*i, Arc::new(s));
    }

    let shared = Arc::new(Shared {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        found: Mutex::new(HashSet::new()),
        rtt: Mutex::new(RttStats::default()),
        sent_addrs: AtomicU64::new(0),
        probes: AtomicU64::new(0),
        deferred: AtomicU64::new(0),
        errors: Mutex::new(HashMap::new()),
        limiter: RateLimiter::new(req.rate_pps),
        cookies: Cookies::new(),
        arp_sent: Mutex::new(HashMap::new()),
        arp_macs: Mutex::new(HashMap::new()),
        last_answer_us: AtomicU64::new(0),
        answers: Mutex::new(AnswerStats::default()),
        repeat_queue: Mutex::new((std::collections::VecDeque::new(), 0)),
        first_answer: req.methods.first_answer,
    });
    if req.methods.first_answer {
        // Only the sample answers every probe: its hosts stand for all in the loss estimate.
        shared
            .lock_answers()
            .set_weight(f64::from(LOSS_SAMPLE_EVERY));
    }

    // Receivers.
    let (tx, rx) = mpsc::channel::<Event>(EVENT_QUEUE);
    let mut receivers: Vec<JoinHandle<()>> = Vec::new();
    if let Some(r) = &raw {
        let (sock, sh, tx2, id) = (r.icmp.clone(), shared.clone(), tx.clone(), r.icmp_id);
        receivers.push(spawn_rx(
            sock,
            sh.clone(),
            move |pkt| {
                icmp::parse_raw(&sh.cookies, id, pkt, sh.now_us()).map(|e| Event::Echo {
                    ip: e.from.into(),
                    rtt: e.rtt,
                    repeat: e.seq >= icmp::REPEAT_SEQ,
                })
            },
            tx2,
        ));
        let (sock, sh, tx2, sport) = (r.tcp.clone(), shared.clone(), tx.clone(), r.sport);
        receivers.push(spawn_rx(
            sock,
            sh.clone(),
            move |pkt| {
                tcp::parse_raw(&sh.cookies, sport, pkt, sh.now_us()).map(|a| Event::Tcp {
                    ip: a.from.into(),
                    port: a.port,
                    state: a.state,
                    rtt: a.rtt,
                })
            },
            tx2,
        ));
    }
    for (i, sock) in &arp_socks {
        let (sock, sh, tx2, my_ip, seg_i) = (
            sock.clone(),
            shared.clone(),
            tx.clone(),
            segments[*i].my_ip,
            *i,
        );
        receivers.push(spawn_rx(
            sock,
            sh.clone(),
            move |frame| {
                let r = arp::parse_reply(frame, my_ip)?;
                sh.arp_macs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(r.ip)
                    .or_insert((r.mac, seg_i));
                let sent = sh
                    .arp_sent
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&r.ip)
                    .copied();
                let rtt = sent.map(|s| Duration::from_micros(sh.now_us().saturating_sub(s)));
                Some(Event::Arp {
                    ip: r.ip,
                    mac: r.mac,
                    rtt,
                })
            },
            tx2,
        ));
    }
    let ping = ping.map(Arc::new);
    if let Some(p) = &ping {
        let (sock, sh, tx2) = (p.clone(), shared.clone(), tx.clone());
        receivers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !sh.stopped() {
                match sock.recv_from(&mut buf) {
                    Ok((n, SocketAddr::V4(from))) => {
                        if let Some(e) =
                            icmp::parse_dgram(&sh.cookies, *from.ip(), &buf[..n], sh.now_us())
                        {
                            if tx2
                                .blocking_send(Event::Echo {
                                    ip: e.from.into(),
                                    rtt: e.rtt,
                                    repeat: e.seq >= icmp::REPEAT_SEQ,
                                })
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => std::thread::sleep(RECV_POLL),
                }
            }
        }));
    }

    let ping6 = ping6.map(|(s, id)| (Arc::new(s), id));
    if let Some((sock, id)) = &ping6 {
        let (sock, id, sh, tx2) = (sock.clone(), *id, shared.clone(), tx.clone());
        receivers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !sh.stopped() {
                match sock.recv_from(&mut buf) {
                    Ok((n, SocketAddr::V6(from))) => {
                        let now = sh.now_us();
                        if let Some(e) = icmp6::parse(&sh.cookies, id, *from.ip(), &buf[..n], now) {
                            let ev = Event::Echo {
                                ip: e.from.into(),
                                rtt: e.rtt,
                                repeat: e.seq >= icmp::REPEAT_SEQ,
                            };
                            if tx2.blocking_send(ev).is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => std::thread::sleep(RECV_POLL),
                }
            }
        }));
    }

    // Aggregator: owns the host table, starts reverse DNS as hosts appear.
    let aggregator = {
        let shared = shared.clone();
        let targets = targets.clone();
        let dns = names::ReverseDns::new(req.methods.dns);
        tokio::spawn(aggregate(rx, shared, targets, ports.clone(), dns))
    };

    // Progress reporter.
    let total = u64::try_from(targets.count()).unwrap_or(u64::MAX);
    let ticker = progress.map(|sink| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(100));
            loop {
                iv.tick().await;
                let found = shared.found.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
                sink(Progress {
                    done: shared.sent_addrs.load(Ordering::Relaxed).min(total),
                    total,
                    found,
                });
            }
        })
    });

    let driver = Driver {
        shared: shared.clone(),
        req: &req,
        ports: &ports,
        raw: raw.as_ref(),
        ping: ping.clone(),
        ping6: ping6.clone(),
        segments: &segments,
        arp_socks: &arp_socks,
        connect_permits: Arc::new(Semaphore::new(connect_budget.max(1) as usize)),
        tx: tx.clone(),
    };
    let deadline = async {
        match req.deadline {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tracing::debug!(
        setup_ms = shared.start.elapsed().as_millis() as u64,
        "sockets ready"
    );
    let mut passes = 0;
    let cancelled = tokio::select! {
        n = driver.run(on_link, routed) => { passes = n; false }
        _ = shutdown.cancelled() => true,
        _ = deadline => true,
    };
    drop(driver);
    tracing::debug!(
        at_ms = shared.start.elapsed().as_millis() as u64,
        "probing done"
    );
    shared.stop.store(true, Ordering::Relaxed);
    drop(tx);
    for r in receivers {
        let _ = tokio::task::spawn_blocking(move || r.join()).await;
    }
    if let Some(t) = ticker {
        t.abort();
    }
    let (mut hosts, dns) = aggregator
        .await
        .unwrap_or_else(|_| (HashMap::new(), names::ReverseDns::new(false)));

    // Names: wait for the reverse lookups (unless the user is waiting for us to stop), then
    // NetBIOS for the hosts DNS could not name.
    let mut names = if cancelled {
        HashMap::new()
    } else {
        tokio::select! {
            n = dns.finish() => n,
            _ = shutdown.cancelled() => HashMap::new(),
        }
    };
    if req.methods.netbios && !cancelled {
        // Only hosts that may run NetBIOS: 139 or 445 open, or any host when TCP was not
        // probed. Asking the others would only add a timeout to the end of the sweep.
        let unnamed: Vec<Ipv4Addr> = hosts
            .iter()
            .filter(|(ip, h)| {
                !names.contains_key(*ip)
                    && (ports.is_empty()
                        || h.open_ports.contains(&139)
                        || h.open_ports.contains(&445))
            })
            .filter_map(|(ip, _)| match ip {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let wait = shared
            .rtt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait_after_pass(0, req.timeout);
        tokio::select! {
            nb = names::netbios_names(&unnamed, wait, &shared.limiter) => names.extend(nb),
            _ = shutdown.cancelled() => {}
        }
    }

    tracing::debug!(
        at_ms = shared.start.elapsed().as_millis() as u64,
        "names done"
    );
    let mut list: Vec<DiscoveredHost> = hosts
        .drain()
        .map(|(ip, h)| DiscoveredHost {
            ip: ip.to_string(),
            mac: h.mac.map(|m| arp::format_mac(&m)),
            vendor: h.mac.and_then(|m| oui::vendor(&m)).map(str::to_string),
            name: names.remove(&ip),
            methods: h.methods.into_iter().collect(),
            open_ports: h.open_ports.into_iter().collect(),
            rtt_us: h.rtt.map(|d| d.as_micros() as u64),
            device: None,
        })
        .collect();
    list.sort_by_key(|h| h.ip.parse::<IpAddr>().ok());
    let stats = SweepStats {
        privileged,
        probes_sent: shared.probes.load(Ordering::Relaxed),
        sends_deferred: shared.deferred.load(Ordering::Relaxed),
        send_errors: shared
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        passes,
        max_rtt: {
            let r = shared.rtt.lock().unwrap_or_else(|e| e.into_inner());
            (r.samples() > 0).then(|| r.max())
        },
        cancelled,
    };
    let discovery = Discovery {
        targets: req.targets.clone(),
        addresses_probed: total,
        started_at,
        finished_at: chrono::Utc::now(),
        hosts: list,
        job_id: None,
    };
    Ok((discovery, stats))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A receiver thread: reads packets until the sweep stops, forwards the recognised answers.
fn spawn_rx(
    sock: Arc<Socket>,
    shared: Arc<Shared>,
    parse: impl Fn(&[u8]) -> Option<Event> + Send + 'static,
    tx: mpsc::Sender<Event>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !shared.stopped() {
            match (&*sock).read(&mut buf) {
                Ok(n) => {
                    if let Some(ev) = parse(&buf[..n]) {
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                    }
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "receive failed");
                    std::thread::sleep(RECV_POLL);
                }
            }
        }
    })
}

#[derive(Debug, Default)]
struct HostState {
    mac: Option<Mac>,
    methods: BTreeSet<ProbeMethod>,
    open_ports: BTreeSet<u16>,
    rtt: Option<Duration>,
    /// Kinds of probe answered, as [`AnswerStats`] numbers them.
    kinds: u32,
}

async fn aggregate(
    mut rx: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    targets: Targets,
    ports: Vec<u16>,
    mut dns: names::ReverseDns,
) -> (HashMap<IpAddr, HostState>, names::ReverseDns) {
    let mut hosts: HashMap<IpAddr, HostState> = HashMap::new();
    while let Some(ev) = rx.recv().await {
        let (ip, method, rtt) = match ev {
            Event::Arp { ip, rtt, .. } => (IpAddr::V4(ip), ProbeMethod::Arp, rtt),
            Event::Echo { repeat: true, .. } => {
                shared
                    .last_answer_us
                    .store(shared.now_us(), Ordering::Relaxed);
                shared.lock_answers().repeat_answered();
                continue;
            }
            Event::Echo { ip, rtt, .. } => (ip, ProbeMethod::IcmpEcho, Some(rtt)),
            Event::Tcp {
                ip,
                state: PortState::Open,
                rtt,
                ..
            } => (ip, ProbeMethod::TcpOpen, rtt),
            Event::Tcp {
                ip,
                state: PortState::Closed,
                rtt,
                ..
            } => (ip, ProbeMethod::TcpClosed, rtt),
        };
        shared
            .last_answer_us
            .store(shared.now_us(), Ordering::Relaxed);
        // Answers are only taken from addresses we probed (cookies already make forgeries
        // unlikely; this also drops answers to the sweep's own traffic).
        if !targets.contains(ip) {
            continue;
        }
        let h = hosts.entry(ip).or_insert_with(|| {
            shared
                .found
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ip);
            dns.submit(ip);
            HostState::default()
        });
        // One sample per host, from its first answer with a time: later ones include
        // retransmissions (a SYN-ACK repeated after our kernel's RST was lost).
        if let (None, Some(r)) = (h.rtt, rtt) {
            shared
                .rtt
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(r);
        }
        let kind = match ev {
            Event::Arp { .. } => None,
            Event::Echo { .. } => Some(0),
            Event::Tcp { port, .. } => ports.binary_search(&port).ok().map(|i| i + 1),
        };
        if let Some(k) = kind.filter(|_| !shared.first_answer || loss_sample(ip)) {
            let before = h.kinds;
            h.kinds = shared.lock_answers().add(before, k);
            if let (0, 0, IpAddr::V4(v4)) = (k, before & 1, ip) {
                shared.queue_repeat(v4);
            }
        }
        h.methods.insert(method);
        if h.rtt.is_none() {
            h.rtt = rtt;
        }
        match ev {
            Event::Arp { mac, .. } => h.mac = Some(mac),
            Event::Tcp {
                port,
                state: PortState::Open,
                ..
            } => {
                h.open_ports.insert(port);
            }
            _ => {}
        }
    }
    (hosts, dns)
}

/// Runs the stages and their passes.
struct Driver<'a> {
    shared: Arc<Shared>,
    req: &'a SweepRequest,
    ports: &'a [u16],
    raw: Option<&'a RawSockets>,
    ping: Option<Arc<UdpSocket>>,
    /// ICMPv6 echo socket and, for a raw one, the echo id replies must carry.
    ping6: Option<(Arc<UdpSocket>, Option<u16>)>,
    segments: &'a [Segment],
    arp_socks: &'a HashMap<usize, Arc<Socket>>,
    connect_permits: Arc<Semaphore>,
    tx: mpsc::Sender<Event>,
}

impl Driver<'_> {
    /// Returns the number of passes run.
    async fn run(&self, on_link: Vec<(usize, Block)>, routed: Vec<Block>) -> u32 {
        let ip_probes = self.req.methods.icmp || !self.ports.is_empty();
        let mut passes = 0;
        // ARP first pass, so the IP stage knows which on-link hosts exist.
        if !on_link.is_empty() && self.arp_pass(&on_link, 0).await > 0 {
            passes += 1;
            self.wait(0).await;
        }
        let arp_found = self.found_snapshot();
        // Then, at the same time: ARP retries for the silent on-link addresses, and the IP stage
        // (routed targets + the hosts ARP found, for their ports). Overlapping them hides the
        // retry's wait behind the IP probes.
        let arp_retries = async {
            let mut n = 0;
            if !on_link.is_empty() {
                for pass in 1..=self.req.retries {
                    if self.arp_pass(&on_link, pass).await == 0 {
                        break;
                    }
                    n += 1;
                    self.wait(pass).await;
                }
            }
            n
        };
        let ip_stage = async {
            if !ip_probes {
                return 0;
            }
            let mut blocks = routed;
            blocks.extend(arp_found.iter().map(|ip| single(*ip)));
            self.ip_stage(&Targets::from_blocks(blocks)).await
        };
        let (a, b) = tokio::join!(arp_retries, ip_stage);
        passes += a + b;
        // Hosts only ARP retries found still get their ports probed (once).
        let late: Vec<Block> = {
            let macs = self
                .shared
                .arp_macs
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            macs.keys()
                .map(|ip| IpAddr::V4(*ip))
                .filter(|ip| !arp_found.contains(ip))
                .map(single)
                .collect()
        };
        if ip_probes && !late.is_empty() && self.ip_pass(&Targets::from_blocks(late), 0).await > 0 {
            passes += 1;
            self.wait(0).await;
        }
        passes
    }

    fn found_snapshot(&self) -> HashSet<IpAddr> {
        self.shared
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn links(&self) -> Vec<(usize, Arc<Socket>, Segment)> {
        self.arp_socks
            .iter()
            .map(|(i, s)| (*i, s.clone(), self.segments[*i].clone()))
            .collect()
    }

    async fn arp_pass(&self, on_link: &[(usize, Block)], pass: u32) -> u64 {
        let blocks = on_link.to_vec();
        let sh = self.shared.clone();
        let socks = self.links();
        tokio::task::spawn_blocking(move || arp_pass(&sh, &blocks, &socks, pass > 0))
            .await
            .unwrap_or(0)
    }

    async fn ip_stage(&self, targets: &Targets) -> u32 {
        let mut passes = 0;
        for pass in 0..=self.req.retries {
            if pass > 0 && !self.retry_is_useful(pass) {
                break;
            }
            if self.ip_pass(targets, pass).await == 0 {
                break;
            }
            passes += 1;
            self.wait(pass).await;
        }
        passes
    }

    /// Whether the silent targets get pass `pass` (> 0): only while the loss measured on live
    /// hosts says some could still be hiding.
    fn retry_is_useful(&self, pass: u32) -> bool {
        let answers = self.shared.lock_answers();
        let useful = answers.retry_is_useful(pass);
        tracing::debug!(
            pass,
            miss_rate = answers.miss_rate(),
            expected_missed = answers.expected_missed(pass),
            useful,
            "retry?"
        );
        useful
    }

    /// Waits for late answers after a pass: up to an adaptive bound, less when answers stop.
    async fn wait(&self, pass: u32) {
        let pass_end = self.shared.now_us();
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = self.shared.now_us();
            let last = self
                .shared
                .last_answer_us
                .load(Ordering::Relaxed)
                .max(pass_end);
            let waited = Duration::from_micros(now - pass_end);
            let quiet = Duration::from_micros(now.saturating_sub(last));
            let over = self
                .shared
                .rtt
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wait_is_over(pass, self.req.timeout, waited, quiet);
            if over {
                tracing::debug!(
                    pass,
                    waited_ms = waited.as_millis() as u64,
                    at_ms = now / 1000,
                    "wait over"
                );
                return;
            }
        }
    }

    /// One pass of ICMP + TCP probes. Pass 0 probes every target; later passes only the silent
    /// ones. Returns the number of addresses probed.
    async fn ip_pass(&self, targets: &Targets, pass: u32) -> u64 {
        let retry = pass > 0;
        let v4: Vec<Block> = targets.blocks().iter().filter(|b| !b.v6).copied().collect();
        let v6: Vec<Block> = targets.blocks().iter().filter(|b| b.v6).copied().collect();
        let mut sent = 0;
        let raw_v4 = async {
            match self.raw {
                Some(r) if !v4.is_empty() => {
                    let sh = self.shared.clone();
                    let (icmp_s, tcp_s, id, sport) =
                        (r.icmp.clone(), r.tcp.clone(), r.icmp_id, r.sport);
                    let icmp_on = self.req.methods.icmp;
                    let ports = self.ports.to_vec();
                    let links = self.links();
                    tokio::task::spawn_blocking(move || {
                        let socks = RawPassSockets {
                            icmp: icmp_on.then_some((&*icmp_s, id)),
                            tcp: (&*tcp_s, sport),
                            links: &links,
                        };
                        raw_pass(&sh, Targets::from_blocks(v4), retry, pass, socks, &ports)
                    })
                    .await
                    .unwrap_or(0)
                }
                _ => 0,
            }
        };
        // Everything the raw path does not cover goes through unprivileged sockets.
        let connect_blocks: Vec<Block> = if self.raw.is_some() {
            v6
        } else {
            targets.blocks().to_vec()
        };
        let unpriv = self.unprivileged_pass(Targets::from_blocks(connect_blocks), retry, pass);
        let (a, b) = tokio::join!(raw_v4, unpriv);
        sent += a + b;
        sent
    }

    async fn unprivileged_pass(&self, targets: Targets, retry: bool, pass: u32) -> u64 {
        if targets.count() == 0 {
            return 0;
        }
        let ports = self.shared.ports_for_pass(self.ports, pass);
        let mut tasks = tokio::task::JoinSet::new();
        let mut sent = 0;
        for ip in targets.iter() {
            if self.shared.stopped() {
                break;
            }
            if retry && self.shared.is_found(ip) {
                continue;
            }
            sent += 1;
            self.shared
                .sent_addrs
                .fetch_add(u64::from(!retry), Ordering::Relaxed);
            let echo = match (ip, &self.ping, &self.ping6) {
                (IpAddr::V4(v4), Some(p), _) => Some((
                    p,
                    icmp::echo_request(
                        &self.shared.cookies,
                        0,
                        pass as u16,
                        v4,
                        self.shared.now_us(),
                    ),
                )),
                (IpAddr::V6(v6), _, Some((p, id))) => Some((
                    p,
                    icmp6::echo_request(
                        &self.shared.cookies,
                        id.unwrap_or(0),
                        pass as u16,
                        v6,
                        self.shared.now_us(),
                    ),
                )),
                _ => None,
            };
            if let Some((p, pkt)) = echo {
                self.shared.limiter.acquire().await;
                let dst = SocketAddr::new(ip, 0);
                let mut backoff = Duration::from_micros(200);
                loop {
                    match p.send_to(&pkt, dst) {
                        Ok(_) => {
                            self.shared.probes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(e) if is_later(&e) && !self.shared.stopped() => {
                            self.shared.deferred.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_millis(20));
                        }
                        Err(e) => {
                            self.shared.record_error(&e);
                            break;
                        }
                    }
                }
            }
            // Re-read per address: the first answers (ICMP takes microseconds on a LAN) shrink
            // the connect timeout of everything after them.
            let timeout = self
                .shared
                .rtt
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .wait_after_pass(pass, self.req.timeout);
            for &port in &ports {
                self.shared.limiter.acquire().await;
                let Ok(permit) = self.connect_permits.clone().acquire_owned().await else {
                    break;
                };
                let tx = self.tx.clone();
                let sh = self.shared.clone();
                sh.probes.fetch_add(1, Ordering::Relaxed);
                tasks.spawn(async move {
                    let _permit = permit;
                    if let Some((state, rtt)) =
                        tcp::connect_probe(SocketAddr::new(ip, port), timeout).await
                    {
                        let _ = tx
                            .send(Event::Tcp {
                                ip,
                                port,
                                state,
                                rtt: Some(rtt),
                            })
                            .await;
                    }
                });
                // reap finished probes as we go so the set stays small
                while tasks.try_join_next().is_some() {}
            }
        }
        while tasks.join_next().await.is_some() {}
        sent
    }
}

struct RawPassSockets<'a> {
    icmp: Option<(&'a Socket, u16)>,
    tcp: (&'a Socket, u16),
    /// AF_PACKET sockets of the attached segments, for hosts whose MAC ARP gave us.
    links: &'a [(usize, Arc<Socket>, Segment)],
}

/// Raw-socket pass over IPv4 targets: one echo request and one SYN per port per address.
/// Hosts that answered ARP get their probes as Ethernet frames to their MAC; others go through
/// the kernel's routing.
///
/// The walk is kind-major (echo to every address, then the first port to every address...), as
/// zmap and masscan spread theirs: a host's probes leave far apart in time, so a burst of loss
/// (a queue overflowing on the path under our own burst) takes one probe from many hosts rather
/// than every probe from a few. The first is survivable and shows in [`AnswerStats`], which then
/// asks for a retry; the second would be invisible.
fn raw_pass(
    sh: &Shared,
    targets: Targets,
    retry: bool,
    pass: u32,
    socks: RawPassSockets<'_>,
    ports: &[u16],
) -> u64 {
    let ports = sh.ports_for_pass(ports, pass);
    // None: ICMP echo; Some(port): a SYN.
    let kinds: Vec<Option<u16>> = socks
        .icmp
        .map(|_| None)
        .into_iter()
        .chain(ports.iter().map(|&p| Some(p)))
        .collect();
    let mut sources: HashMap<u32, Option<Ipv4Addr>> = HashMap::new();
    let macs = sh
        .arp_macs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut sent = 0;
    // Progress counts an address once all its kinds were sent, in steps of one address.
    let mut progress_units = 0usize;
    let mut ip_id: u16 = rand::random();
    let mut since_repeat = 0u32;
    for (k, kind) in kinds.iter().enumerate() {
        let mut batch = match (kind, socks.icmp) {
            (None, Some((sock, _))) => Batch::new(sock),
            _ => Batch::new(socks.tcp.0),
        };
        for ip in targets.iter() {
            if sh.stopped() {
                return sent;
            }
            let IpAddr::V4(dst) = ip else { continue };
            if retry && sh.is_found(ip) {
                continue;
            }
            if k == 0 {
                sent += 1;
            }
            if !retry {
                progress_units += 1;
                if progress_units == kinds.len() {
                    progress_units = 0;
                    sh.sent_addrs.fetch_add(1, Ordering::Relaxed);
                }
            }
            if k > 0 && sh.first_answer && !loss_sample(ip) && sh.is_found(ip) {
                continue;
            }
            let link = macs.get(&dst).and_then(|(mac, seg_i)| {
                socks
                    .links
                    .iter()
                    .find(|(i, _, _)| i == seg_i)
                    .map(|(_, s, seg)| (*mac, &**s, seg))
            });
            // The TCP checksum covers the source address the kernel will pick; ask the routing
            // table once per /24 (a UDP connect sends nothing).
            let src = match link {
                Some((_, _, seg)) => Some(seg.my_ip),
                None => *sources
                    .entry(u32::from(dst) >> 8)
                    .or_insert_with(|| route_source(dst)),
            };
            let mut buf = [0u8; PROBE_MAX];
            let (protocol, len) = match (kind, socks.icmp) {
                (None, Some((_, id))) => {
                    let p = icmp::echo_request(&sh.cookies, id, pass as u16, dst, sh.now_us());
                    buf[..p.len()].copy_from_slice(&p);
                    (1, p.len())
                }
                (None, None) => continue,
                (Some(port), _) => {
                    let Some(src) = src else {
                        // once per address, not once per port
                        if k + 1 == kinds.len() {
                            sh.record_error(&io::Error::other("no route to target"));
                        }
                        continue;
                    };
                    let p = tcp::syn(&sh.cookies, src, socks.tcp.1, dst, *port, sh.now_us());
                    buf[..p.len()].copy_from_slice(&p);
                    (6, p.len())
                }
            };
            let pkt = &buf[..len];
            if let (false, Some((sock, id))) = (retry, socks.icmp) {
                since_repeat += 1;
                if since_repeat >= REPEAT_EVERY {
                    since_repeat = 0;
                    send_repeat(sh, sock, id);
                }
            }
            sh.limiter.take_blocking(1);
            match (link, src) {
                (Some((mac, sock, seg)), Some(src)) => {
                    ip_id = ip_id.wrapping_add(1);
                    let frame =
                        super::probe::ipv4_frame(mac, seg.mac, src, dst, protocol, ip_id, pkt);
                    sh.send_with(|| (&*sock).write(&frame));
                }
                _ => batch.push(sh, pkt, SockAddr::from(SocketAddr::from((dst, 0)))),
            }
        }
        batch.flush(sh);
    }
    sent
}

/// One address in this many gets every probe even once it answered, under
/// `Methods::first_answer`: the agreement between probe kinds that estimates loss needs hosts
/// that were asked everything.
const LOSS_SAMPLE_EVERY: u32 = 8;

/// Whether `ip` is in the fixed sample of [`LOSS_SAMPLE_EVERY`]. A hash (splitmix64's
/// finaliser), so the sample spreads over every part of a range rather than taking every
/// eighth address, which on a real network lines up with how addresses are handed out.
fn loss_sample(ip: IpAddr) -> bool {
    let (_, n) = super::targets::ip_key(ip);
    let mut z = (n as u64) ^ ((n >> 64) as u64).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.is_multiple_of(u64::from(LOSS_SAMPLE_EVERY))
}

/// Sends the next repeat probe, if a host is waiting for one: an echo request it answered
/// before, marked by its sequence number. Through the kernel, even to on-link hosts: they are
/// live, so their neighbour entry resolves.
fn send_repeat(sh: &Shared, sock: &Socket, id: u16) {
    let Some(host) = sh.next_repeat() else {
        return;
    };
    sh.limiter.take_blocking(1);
    let pkt = icmp::echo_request(&sh.cookies, id, icmp::REPEAT_SEQ, host, sh.now_us());
    sh.lock_answers().repeat_sent();
    sh.send_with(|| sock.send_to(&pkt, &SockAddr::from(SocketAddr::from((host, 0)))));
}

fn single(ip: IpAddr) -> Block {
    let (v6, n) = super::targets::ip_key(ip);
    Block {
        v6,
        first: n,
        last: n,
    }
}

fn route_source(dst: Ipv4Addr) -> Option<Ipv4Addr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect((dst, 9)).ok()?;
    match s.local_addr().ok()?.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// ARP pass over on-link blocks. Returns the number of requests sent.
fn arp_pass(
    sh: &Shared,
    blocks: &[(usize, Block)],
    socks: &[(usize, Arc<Socket>, Segment)],
    retry: bool,
) -> u64 {
    let mut sent = 0;
    for (seg_i, b) in blocks {
        let Some((_, sock, seg)) = socks.iter().find(|(i, _, _)| i == seg_i) else {
            continue;
        };
        for n in b.first..=b.last {
            if sh.stopped() {
                return sent;
            }
            let IpAddr::V4(dst) = b.addr(n) else { continue };
            if dst == seg.my_ip || (retry && sh.is_found(IpAddr::V4(dst))) {
                continue;
            }
            sent += 1;
            if !retry {
                sh.sent_addrs.fetch_add(1, Ordering::Relaxed);
            }
            sh.limiter.take_blocking(1);
            let frame = arp::request(seg.mac, seg.my_ip, dst);
            sh.arp_sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(dst, sh.now_us());
            sh.send_with(|| (&**sock).write(&frame));
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::Methods;

    fn request(targets: &[&str], ports: Vec<u16>) -> SweepRequest {
        SweepRequest {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            scopes: Vec::new(),
            allow_large: false,
            ports,
            rate_pps: 10_000,
            timeout: Duration::from_millis(500),
            retries: 1,
            deadline: None,
            // connect() on loopback works for any user; raw sockets would need root
            methods: Methods {
                arp: false,
                icmp: false,
                dns: false,
                netbios: false,
                force_unprivileged: true,
                tcp: true,
                first_answer: false,
            },
        }
    }

    #[tokio::test]
    async fn loopback_open_and_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (d, stats) = run(
            request(&["127.0.0.1"], vec![open, closed]),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(d.hosts.len(), 1);
        let h = &d.hosts[0];
        assert_eq!(h.ip, "127.0.0.1");
        assert_eq!(h.open_ports, [open]);
        assert_eq!(h.methods, [ProbeMethod::TcpOpen, ProbeMethod::TcpClosed]);
        assert!(h.rtt_us.is_some());
        assert_eq!(d.addresses_probed, 1);
        assert!(!stats.privileged && !stats.cancelled);
        assert_eq!(stats.probes_sent, 2, "found at once: no retry");
    }

    #[tokio::test]
    async fn cancellation_returns_what_was_found() {
        let token = CancellationToken::new();
        token.cancel();
        let t0 = Instant::now();
        // 4,094 addresses at 10 pps would take minutes
        let (d, stats) = run(request(&["127.0.1.0/20"], vec![9]), None, token)
            .await
            .unwrap();
        assert!(stats.cancelled);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(d.addresses_probed, 4_094);
    }

    #[tokio::test]
    async fn deadline_ends_the_sweep() {
        let mut req = request(&["127.0.1.0/20"], vec![9]);
        req.rate_pps = 10;
        req.deadline = Some(Duration::from_millis(300));
        let t0 = Instant::now();
        let (_, stats) = run(req, None, CancellationToken::new()).await.unwrap();
        assert!(stats.cancelled);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn refusals_happen_before_any_socket() {
        let mut req = request(&["127.0.0.0/24"], vec![9]);
        req.scopes = vec!["127.0.0.0/25".parse().unwrap()];
        assert!(matches!(
            run(req, None, CancellationToken::new()).await,
            Err(SweepError::Scope(_))
        ));
        let req = request(&["10.0.0.0/8"], vec![9]);
        assert!(matches!(
            run(req, None, CancellationToken::new()).await,
            Err(SweepError::Target(_))
        ));
        let mut req = request(&["127.0.0.1"], vec![0]);
        req.ports = vec![0];
        assert!(matches!(
            run(req, None, CancellationToken::new()).await,
            Err(SweepError::Settings(_))
        ));
    }

    #[test]
    fn the_loss_sample_is_an_eighth_spread_over_the_range() {
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0));
        let mut per_24 = [0u32; 256];
        for n in 0..65_536u32 {
            if loss_sample(IpAddr::V4(Ipv4Addr::from(base + n))) {
                per_24[(n >> 8) as usize] += 1;
            }
        }
        let total: u32 = per_24.iter().sum();
        assert!((7_600..=8_800).contains(&total), "{total} of 65,536");
        // Every /24 (a typical subnet) holds some of the sample, and none holds most of it.
        assert!(per_24.iter().all(|&n| (12..=52).contains(&n)), "{per_24:?}");
        // Not every eighth address: neighbours are not in lockstep.
        let runs = (0..4096u32)
            .filter(|n| {
                let a = |k: u32| loss_sample(IpAddr::V4(Ipv4Addr::from(base + k)));
                a(*n) && a(n + 8)
            })
            .count();
        assert!(runs < 200, "{runs}");
    }
}
