//! Disks from /sys/block and mounted filesystems from /proc/self/mountinfo.
//!
//! Disks: loop, ram, zram and device-mapper nodes are views of other storage, not disks.
//! Filesystems: only those backed by storage or a network share; the same filesystem mounted
//! twice (bind mounts, container overlays of host paths) is reported once, at its first mount.

use std::collections::HashSet;

use parc_shared::inventory::{Disk, Filesystem};

use super::source::Root;

pub fn disks(root: &Root) -> Vec<Disk> {
    root.list_dir("/sys/block")
        .into_iter()
        .filter(|name| !is_pseudo_block(name))
        .filter_map(|name| disk(root, &name))
        .collect()
}

pub fn is_pseudo_block(name: &str) -> bool {
    ["loop", "ram", "zram", "dm-", "nbd", "fd"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn disk(root: &Root, name: &str) -> Option<Disk> {
    let base = format!("/sys/block/{name}");
    let sectors: u64 = root.read_trimmed(&format!("{base}/size"))?.parse().ok()?;
    let removable = root.read_trimmed(&format!("{base}/removable")).as_deref() == Some("1");
    // A card reader with no card: nothing to inventory.
    if sectors == 0 && !removable {
        return None;
    }
    let text = |rel: &str| root.read_trimmed(&format!("{base}/{rel}"));
    let facts = DiskFacts {
        name,
        rotational: text("queue/rotational").map(|r| r == "1"),
        removable,
        driver: root.link_name(&format!("{base}/device/driver")),
        vendor: text("device/vendor"),
        model: text("device/model"),
    };
    Some(Disk {
        name: name.to_string(),
        kind: disk_kind(&facts).map(str::to_string),
        model: facts.model.clone(),
        // vendor files of virtio devices hold a PCI id ("0x1af4"), not a name.
        vendor: facts.vendor.clone().filter(|v| !v.starts_with("0x")),
        serial: text("device/serial")
            .or_else(|| text("serial"))
            .or_else(|| text("device/wwid"))
            .or_else(|| text("wwid")),
        size_bytes: sectors * 512,
    })
}

pub struct DiskFacts<'a> {
    pub name: &'a str,
    pub rotational: Option<bool>,
    pub removable: bool,
    pub driver: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
}

pub fn disk_kind(f: &DiskFacts) -> Option<&'static str> {
    let id = format!(
        "{} {}",
        f.vendor.as_deref().unwrap_or(""),
        f.model.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    let virtual_ids = ["qemu", "vmware", "vbox", "virtual disk", "msft virtual"];
    if f.name.starts_with("vd")
        || f.name.starts_with("xvd")
        || f.driver
            .as_deref()
            .is_some_and(|d| d.starts_with("virtio") || d == "vmw_pvscsi" || d == "xen-blkfront")
        || virtual_ids.iter().any(|v| id.contains(v))
    {
        return Some("virtual");
    }
    if f.removable {
        return Some("removable");
    }
    if f.name.starts_with("nvme") {
        return Some("nvme");
    }
    f.rotational.map(|r| if r { "hdd" } else { "ssd" })
}

/// One line of /proc/self/mountinfo, fields unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device_number: String,
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// Parses mountinfo(5): `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
/// Lines that do not have that shape are skipped (a kernel that adds fields stays readable).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            if left.len() < 6 {
                return None;
            }
            Some(Mount {
                device_number: left[2].to_string(),
                root: unescape(left[3]),
                mount_point: unescape(left[4]),
                fs_type: right.next()?.to_string(),
                source: unescape(right.next()?),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(code).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const DISK_FS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "exfat", "ntfs", "ntfs3", "fuseblk", "f2fs",
    "jfs", "reiserfs", "zfs", "bcachefs", "iso9660", "udf", "hfsplus",
];
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "9p",
    "glusterfs",
    "ceph",
];

/// The mounts worth reporting: storage-backed or network filesystems, each device once
/// (keyed by device number and subtree, so btrfs subvolumes stay while bind mounts go).
pub fn real_filesystems(mounts: &[Mount]) -> Vec<&Mount> {
    let mut seen = HashSet::new();
    mounts
        .iter()
        .filter(|m| {
            DISK_FS.contains(&m.fs_type.as_str()) || NETWORK_FS.contains(&m.fs_type.as_str())
        })
        // A bind mount of a subdirectory or a single file (Docker's /etc/hosts) of a
        // non-subvolume filesystem is a view of a filesystem already listed.
        .filter(|m| {
            m.root == "/" || m.fs_type == "btrfs" || NETWORK_FS.contains(&m.fs_type.as_str())
        })
        .filter(|m| seen.insert((m.device_number.clone(), m.root.clone())))
        .collect()
}

pub fn filesystems(root: &Root) -> Vec<Filesystem> {
    let Some(text) = root.read("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mounts = parse_mountinfo(&text);
    real_filesystems(&mounts)
        .into_iter()
        .filter_map(|m| {
            let (total, free) = if root.is_system() { sizes(m)? } else { (0, 0) };
            Some(Filesystem {
                mount_point: m.mount_point.clone(),
                device: Some(m.source.clone()).filter(|s| !s.is_empty() && s != "none"),
                fs_type: m.fs_type.clone(),
                total_bytes: total,
                free_bytes: free,
            })
        })
        .collect()
}

/// statvfs, with a deadline for network filesystems: a dead NFS server makes statvfs hang
/// forever, and one unreachable share must not stall the whole inventory. The thread of a
/// hung call is abandoned (it holds nothing but its own stack).
#[cfg(unix)]
fn sizes(m: &Mount) -> Option<(u64, u64)> {
    let path = std::path::PathBuf::from(&m.mount_point);
    if !NETWORK_FS.contains(&m.fs_type.as_str()) {
        return super::sys::statvfs(&path);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(super::sys::statvfs(&path));
    });
    rx.recv_timeout(std::time::Duration::from_secs(2))
        .unwrap_or_else(|_| {
            tracing::warn!(
                mount_point = %m.mount_point,
                fs_type = %m.fs_type,
                "statvfs timed out: network filesystem not answering"
            );
            None
        })
}

#[cfg(not(unix))]
fn sizes(_: &Mount) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,mode=755
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
28 27 259:2 / /boot/efi rw,relatime shared:2 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077
29 27 0:33 /@home /home rw,relatime shared:3 - btrfs /dev/nvme0n1p3 rw,ssd,subvol=/@home
30 27 0:33 /@ /srv rw,relatime shared:4 - btrfs /dev/nvme0n1p3 rw,ssd,subvol=/@
31 27 0:25 / /run rw,nosuid,nodev - tmpfs tmpfs rw,size=2468368k
32 31 0:28 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
33 27 0:40 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/x
34 27 254:0 /var/lib/docker/containers/abc/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
35 27 254:0 / /mnt/second\\040view rw,relatime - ext4 /dev/vda rw
36 27 0:50 / /mnt/partage\\040commun rw,relatime - cifs //nas01/Partage\\040Commun rw,vers=3.1.1
37 27 0:51 / /media/usb rw - exfat /dev/sdb1 rw
38 27 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro
bad line without separator
";

    #[test]
    fn mountinfo_parsing_unescapes() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 15, "the malformed line is skipped");
        let cifs = mounts.iter().find(|m| m.fs_type == "cifs").unwrap();
        assert_eq!(cifs.mount_point, "/mnt/partage commun");
        assert_eq!(cifs.source, "//nas01/Partage Commun");
        assert_eq!(
            mounts[3],
            Mount {
                device_number: "254:0".into(),
                root: "/".into(),
                mount_point: "/".into(),
                fs_type: "ext4".into(),
                source: "/dev/vda".into(),
            }
        );
    }

    #[test]
    fn only_real_filesystems_once_each() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let kept: Vec<&str> = real_filesystems(&mounts)
            .iter()
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                "/",
                "/boot/efi",
                "/home",
                "/srv",
                "/mnt/partage commun",
                "/media/usb"
            ]
        );
    }

    #[test]
    fn pseudo_block_devices() {
        let cases = [
            ("loop0", true),
            ("zram0", true),
            ("ram1", true),
            ("dm-0", true),
            ("sda", false),
            ("nvme0n1", false),
            ("vda", false),
            ("mmcblk0", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_pseudo_block(name), want, "{name}");
        }
    }

    #[test]
    fn disk_kinds() {
        let f = |name,
                 rotational,
                 removable,
                 driver: Option<&str>,
                 vendor: Option<&str>,
                 model: Option<&str>| DiskFacts {
            name,
            rotational,
            removable,
            driver: driver.map(str::to_string),
            vendor: vendor.map(str::to_string),
            model: model.map(str::to_string),
        };
        let cases = [
            (
                f(
                    "vda",
                    Some(true),
                    false,
                    Some("virtio_blk"),
                    Some("0x1af4"),
                    None,
                ),
                Some("virtual"),
            ),
            (
                f(
                    "sda",
                    Some(true),
                    false,
                    Some("sd"),
                    Some("VMware"),
                    Some("Virtual disk"),
                ),
                Some("virtual"),
            ),
            (
                f(
                    "sda",
                    Some(true),
                    false,
                    Some("sd"),
                    Some("QEMU"),
                    Some("QEMU HARDDISK"),
                ),
                Some("virtual"),
            ),
            (
                f(
                    "nvme0n1",
                    Some(false),
                    false,
                    None,
                    None,
                    Some("Samsung SSD 980 1TB"),
                ),
                Some("nvme"),
            ),
            (
                f(
                    "sda",
                    Some(false),
                    false,
                    Some("sd"),
                    Some("ATA"),
                    Some("CT500MX500SSD1"),
                ),
                Some("ssd"),
            ),
            (
                f(
                    "sdb",
                    Some(true),
                    false,
                    Some("sd"),
                    Some("ATA"),
                    Some("ST1000DM010-2EP1"),
                ),
                Some("hdd"),
            ),
            (
                f(
                    "sdc",
                    Some(true),
                    true,
                    Some("sd"),
                    Some("Kingston"),
                    Some("DataTraveler 3.0"),
                ),
                Some("removable"),
            ),
            (f("mmcblk0", None, false, None, None, None), None),
        ];
        for (facts, want) in cases {
            assert_eq!(disk_kind(&facts), want, "{} {:?}", facts.name, facts.model);
        }
    }

    #[test]
    fn disks_from_a_fake_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str, s: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, s).unwrap();
        };
        write("sys/block/sda/size", "976773168\n");
        write("sys/block/sda/removable", "0\n");
        write("sys/block/sda/queue/rotational", "0\n");
        write("sys/block/sda/device/vendor", "ATA     \n");
        write("sys/block/sda/device/model", "CT500MX500SSD1  \n");
        write(
            "sys/block/sda/device/wwid",
            "t10.ATA     CT500MX500SSD1                          2117E59AAE21\n",
        );
        write("sys/block/loop0/size", "8\n");
        write("sys/block/sdz/size", "0\n");
        write("sys/block/sdz/removable", "0\n");
        let disks = disks(&Root::at(dir.path()));
        assert_eq!(disks.len(), 1, "{disks:?}");
        let sda = &disks[0];
        assert_eq!(sda.name, "sda");
        assert_eq!(sda.size_bytes, 976773168 * 512);
        assert_eq!(sda.vendor.as_deref(), Some("ATA"));
        assert_eq!(sda.model.as_deref(), Some("CT500MX500SSD1"));
        assert!(sda.serial.as_deref().unwrap().ends_with("2117E59AAE21"));
        assert_eq!(sda.kind.as_deref(), Some("ssd"));
    }
}
