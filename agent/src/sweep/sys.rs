//! The only `unsafe` of the sweep engine: the few libc calls std and socket2 do not wrap
//! (interface addresses, AF_PACKET binding, forced socket buffers, file-descriptor limits).
//! Each function is a safe wrapper; the invariants that make its `unsafe` block sound are
//! written next to it.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// One IPv4 address of a local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddrV4 {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub up: bool,
    pub loopback: bool,
    pub point_to_point: bool,
}

/// IPv4 addresses of the local interfaces (getifaddrs(3)).
pub fn interfaces_v4() -> io::Result<Vec<IfAddrV4>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a valid list head (or null) into `head` on success; the list is
    // only read below and freed exactly once with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list returned by getifaddrs, alive until
        // freeifaddrs; ifa_addr/ifa_netmask are null or point to a sockaddr whose sa_family
        // tells its real type, and AF_INET ones are sockaddr_in; ifa_name is a C string.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let prefix = if ifa.ifa_netmask.is_null() {
                    32
                } else {
                    let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                    u32::from_be(m.sin_addr.s_addr).count_ones() as u8
                };
                let flags = ifa.ifa_flags as libc::c_int;
                out.push(IfAddrV4 {
                    name: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                    addr: Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    prefix,
                    up: flags & libc::IFF_UP != 0,
                    loopback: flags & libc::IFF_LOOPBACK != 0,
                    point_to_point: flags & libc::IFF_POINTOPOINT != 0,
                });
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed once; no reference into the
    // list outlives this point (names were copied).
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// An AF_PACKET socket receiving and sending frames of `ethertype` on one interface only.
pub fn packet_socket(ifindex: u32, ethertype: u16) -> io::Result<socket2::Socket> {
    let proto = i32::from(ethertype.to_be());
    let s = socket2::Socket::new(
        socket2::Domain::PACKET,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(proto)),
    )?;
    // SAFETY: sockaddr_ll is plain data, so all-zero is a valid value; we pass its exact size
    // and the fd is owned by `s`, open for the whole call.
    let rc = unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = ifindex as i32;
        libc::bind(
            s.as_raw_fd(),
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(s)
}

/// Sets send and receive buffers beyond `net.core.{w,r}mem_max` (needs CAP_NET_ADMIN; falls back
/// to the ordinary, capped options). Large buffers absorb the reply burst of a fast sweep.
pub fn force_buffers(s: &socket2::Socket, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    for (force, plain) in [
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
    ] {
        // SAFETY: `v` is a c_int living across the call, its size is passed, the fd is open.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                force,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            // SAFETY: as above.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    plain,
                    &v as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the resulting soft limit.
pub fn raise_nofile() -> io::Result<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit; failure leaves the old limit in place.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            r.rlim_cur = r.rlim_max;
        }
    }
    Ok(r.rlim_cur)
}

/// Number of file descriptors open in this process.
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(64)
}

/// Most packets handed to the kernel by one [`send_batch`].
pub const MAX_BATCH: usize = 32;

/// Sends `packets` (payload, destination) on `sock` with one sendmmsg(2), at most
/// [`MAX_BATCH`] of them. Returns how many were sent: the first `n`, possibly fewer than asked
/// (the caller sends the rest again); an error only when the first could not be sent.
/// One system call per batch instead of one per packet: at 100 kpps the per-call cost shows.
pub fn send_batch(
    sock: &socket2::Socket,
    packets: &[(&[u8], &socket2::SockAddr)],
) -> io::Result<usize> {
    let n = packets.len().min(MAX_BATCH);
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: iovec and mmsghdr are plain data; all-zero is valid (null pointers, zero lengths).
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (i, (payload, to)) in packets[..n].iter().enumerate() {
        // The kernel only reads through these pointers (send path), so casting away const is
        // sound; `payload` and `to` are borrowed for the whole call.
        iov[i] = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        msgs[i].msg_hdr.msg_name = to.as_ptr() as *mut libc::c_void;
        msgs[i].msg_hdr.msg_namelen = to.len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `msgs[..n]` are initialised headers whose name and iovec pointers stay valid (see
    // above) until the call returns; `n` <= MAX_BATCH fits the array; the fd is owned by `sock`.
    let rc = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, UdpSocket};

    #[test]
    fn send_batch_delivers_every_packet_in_order() {
        // UDP on loopback stands in for the raw sockets (same system call, no privileges).
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let to = socket2::SockAddr::from(rx.local_addr().unwrap());
        let tx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let payloads: Vec<Vec<u8>> = (0..MAX_BATCH as u8 + 5)
            .map(|i| vec![i; 1 + i as usize])
            .collect();
        let packets: Vec<(&[u8], &socket2::SockAddr)> =
            payloads.iter().map(|p| (p.as_slice(), &to)).collect();
        assert_eq!(
            send_batch(&tx, &packets).unwrap(),
            MAX_BATCH,
            "one batch at most"
        );
        assert_eq!(send_batch(&tx, &packets[MAX_BATCH..]).unwrap(), 5);
        assert_eq!(send_batch(&tx, &[]).unwrap(), 0);
        let mut buf = [0u8; 256];
        for want in &payloads {
            let (n, from) = rx.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_slice());
            assert!(matches!(from, SocketAddr::V4(_)));
        }
    }

    #[test]
    fn send_batch_reports_a_failed_first_packet() {
        let tx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        // an IPv6 destination on an IPv4 socket: refused by the kernel, nothing leaves
        let to = socket2::SockAddr::from("[::1]:9".parse::<SocketAddr>().unwrap());
        assert!(send_batch(&tx, &[(b"x".as_slice(), &to)]).is_err());
    }
}
