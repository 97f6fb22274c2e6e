//! The only `unsafe` code of the inventory: three libc calls that have no file to read.
//!
//! - `uname`: the kernel release and machine architecture (the architecture the kernel runs,
//!   not the one this binary was built for).
//! - `statvfs`: size and free space of a mounted filesystem.
//! - `getifaddrs`: every interface address with its netmask. Chosen over netlink (no extra
//!   crate, one call) and over sysinfo (which does not give IPv4 prefixes reliably).
//!
//! Invariants: every buffer handed to libc is zero-initialised and owned by the caller; the
//! C strings read back are NUL-terminated by contract; the getifaddrs list is freed exactly
//! once, after it has been copied into owned Rust values.
// The crate denies unsafe code; this module is the inventory's one audited exception.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub struct Uname {
    pub nodename: String,
    pub release: String,
    pub machine: String,
}

pub fn uname() -> Option<Uname> {
    // SAFETY: utsname is plain old data; a zeroed value is valid and uname fills it in.
    let mut buf: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: buf is a valid, writable utsname.
    if unsafe { libc::uname(&mut buf) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "uname failed");
        return None;
    }
    let field = |chars: &[libc::c_char]| -> String {
        // SAFETY: the kernel NUL-terminates every utsname field within its array.
        unsafe { CStr::from_ptr(chars.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Some(Uname {
        nodename: field(&buf.nodename),
        release: field(&buf.release),
        machine: field(&buf.machine),
    })
}

/// Total and free (for unprivileged users, like `df`) bytes of the filesystem holding `path`.
pub fn statvfs(path: &Path) -> Option<(u64, u64)> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; zeroed is a valid value.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is NUL-terminated and outlives the call; buf is valid and writable.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut buf) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::debug!(path = %path.display(), %error, "statvfs failed");
        return None;
    }
    let frsize = buf.f_frsize as u64;
    Some((
        (buf.f_blocks as u64).saturating_mul(frsize),
        (buf.f_bavail as u64).saturating_mul(frsize),
    ))
}

/// One address of one interface, with its prefix length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub interface: String,
    pub addr: IpAddr,
    pub prefix: u8,
}

pub fn interface_addresses() -> Vec<IfAddr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: head is a valid out-pointer; on success it owns a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, "getifaddrs failed: no interface addresses");
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned and has not been freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let interface = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to a sockaddr whose family tells its real type.
        let (addr, prefix) = match unsafe { sockaddr_ip(ifa.ifa_addr) } {
            Some(addr) => {
                // SAFETY: ifa_netmask, when non-null, has the same family as ifa_addr.
                let mask = (!ifa.ifa_netmask.is_null())
                    .then(|| unsafe { sockaddr_ip(ifa.ifa_netmask) })
                    .flatten();
                (addr, mask.map(mask_prefix).unwrap_or(full_prefix(addr)))
            }
            None => continue,
        };
        out.push(IfAddr {
            interface,
            addr,
            prefix,
        });
    }
    // SAFETY: head came from a successful getifaddrs and every borrowed value was copied.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// # Safety
/// `sa` must point to a valid sockaddr whose storage matches its `sa_family`.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    match (*sa).sa_family as libc::c_int {
        libc::AF_INET => {
            let sin = &*(sa as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6 = &*(sa as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn mask_prefix(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
    }
}

fn full_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uname_reports_this_kernel() {
        let u = uname().expect("uname works on Linux");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(u.release, release.trim());
        assert!(!u.machine.is_empty());
    }

    #[test]
    fn loopback_has_its_address_and_prefix() {
        let addrs = interface_addresses();
        let lo = addrs
            .iter()
            .find(|a| a.addr == IpAddr::V4(Ipv4Addr::LOCALHOST))
            .expect("127.0.0.1 is configured");
        assert_eq!(lo.interface, "lo");
        assert_eq!(lo.prefix, 8);
    }

    #[test]
    fn statvfs_of_root_is_plausible() {
        let (total, free) = statvfs(Path::new("/")).expect("statvfs /");
        assert!(total > 0 && free <= total, "total {total} free {free}");
    }

    #[test]
    fn mask_to_prefix() {
        let cases = [
            ("255.255.255.0", 24),
            ("255.255.252.0", 22),
            ("0.0.0.0", 0),
            ("255.255.255.255", 32),
            ("ffff:ffff:ffff:ffff::", 64),
        ];
        for (mask, want) in cases {
            assert_eq!(mask_prefix(mask.parse().unwrap()), want, "{mask}");
        }
    }
}
