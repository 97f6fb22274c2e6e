//! A real net-snmp `snmpd` for the SNMP tests: in the foreground on a loopback address, with
//! only the configuration the test gives it and a state directory of its own.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A running `snmpd`; killed on drop.
pub struct Snmpd {
    child: Child,
    /// The UDP port it answers on.
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn snmpd_path() -> Result<PathBuf> {
    for p in ["/usr/sbin/snmpd", "/usr/local/sbin/snmpd"] {
        if Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    bail!("snmpd not found: install the Debian package snmpd (scripts/test.sh does)")
}

impl Snmpd {
    /// Starts `snmpd` on `addr` (a loopback address) at a free UDP port, `config` (snmpd.conf
    /// lines: communities, users, system group) following its `agentAddress`; returns once it
    /// has opened its sockets.
    pub fn start(addr: &str, config: &str) -> Result<Snmpd> {
        let dir = tempfile::tempdir()?;
        // A free port: bind, note it, release; snmpd binds it right after.
        let port = UdpSocket::bind((addr, 0))?.local_addr()?.port();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(&conf, format!("agentAddress udp:{addr}:{port}\n{config}"))?;
        let mut child = Command::new(snmpd_path()?)
            // -f foreground, -Lo log to stdout, -C ignore system configs, -c ours only.
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .env("SNMP_PERSISTENT_DIR", dir.path().join("state"))
            .env("MIBS", "")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start snmpd")?;
        // snmpd logs its banner once its sockets are open: wait for that line, not a delay.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("NET-SNMP version") {
                    let _ = tx.send(());
                }
            }
        });
        let mut snmpd = Snmpd {
            child,
            port,
            _dir: dir,
        };
        if rx.recv_timeout(Duration::from_secs(15)).is_err() {
            let status = snmpd.child.try_wait()?;
            bail!("snmpd did not start on {addr}:{port} (exit status {status:?})");
        }
        Ok(snmpd)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
