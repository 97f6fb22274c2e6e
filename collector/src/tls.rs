//! HTTPS for the collector: the server certificate (admin files or a generated self-signed one),
//! its reload without restart, and the listener that hands TLS streams to axum.
//!
//! Why tokio-rustls under `axum::serve` rather than axum-server: axum's own server keeps its
//! graceful shutdown and connection handling (one code path for HTTP and HTTPS), and rustls'
//! [`ResolvesServerCert`] is the natural place for a reload: the next handshake picks the new
//! certificate, open connections keep theirs, nothing is restarted. Handshakes run in their own
//! tasks, bounded in number and time, so a client that stalls mid-handshake holds one slot for
//! [`HANDSHAKE_TIMEOUT`] and never the accept loop.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use parc_config::collector::Tls as TlsConfig;
use rustls::crypto::ring::default_provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond it new connections wait in the kernel's backlog.
pub const HANDSHAKE_SLOTS: usize = 256;

/// Why a certificate or key could not be used; each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    #[error("{path}: the certificate cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path} is not a usable PEM private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the private key {key} does not belong to the certificate {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The SHA-256 of a certificate (DER) as agents pin it: upper-case hex pairs joined by colons,
/// the form `openssl x509 -fingerprint -sha256` prints.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Where the certificate and key files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// The files of a configuration; for a self-signed setup, generated first if absent.
    pub fn prepare(config: &TlsConfig, names: &[String]) -> Result<(CertFiles, bool), TlsError> {
        match config {
            TlsConfig::Files { cert, key } => Ok((
                CertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                false,
            )),
            TlsConfig::SelfSigned { dir } => {
                let files = CertFiles {
                    cert: dir.join("cert.pem"),
                    key: dir.join("key.pem"),
                };
                if files.cert.exists() && files.key.exists() {
                    return Ok((files, false));
                }
                generate_self_signed(&files, names)?;
                Ok((files, true))
            }
        }
    }

    /// Reads and checks both files: the chain parses, the key parses, the key is the
    /// certificate's.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let cert_pem = read(&self.cert)?;
        let key_pem = read(&self.key)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TlsError::NoCertificate(self.cert.clone()))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(self.cert.clone()));
        }
        let bad_key = |reason: String| TlsError::BadKey {
            path: self.key.clone(),
            reason,
        };
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad_key(e.to_string()))?;
        let key = default_provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| bad_key(e.to_string()))?;
        let certified = CertifiedKey::new(chain, key);
        match certified.keys_match() {
            Ok(()) => Ok(Arc::new(certified)),
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(TlsError::Mismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                })
            }
            // Key types whose public half rustls cannot derive: nothing to compare.
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(Arc::new(certified))
            }
            Err(e) => Err(TlsError::BadCertificate {
                path: self.cert.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TlsError::MissingFile(path.to_path_buf())
        } else {
            TlsError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Writes a new self-signed certificate (for `localhost`, loopback and `names`) and its key,
/// the key readable by its owner only. The key is written first: a crash in between leaves no
/// certificate, so the next start generates both again instead of pairing a stale one.
fn generate_self_signed(files: &CertFiles, names: &[String]) -> Result<(), TlsError> {
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    sans.extend(names.iter().filter(|n| !n.is_empty()).cloned());
    sans.dedup();
    let generated =
        rcgen::generate_simple_self_signed(sans).map_err(|e| TlsError::Generate(e.to_string()))?;
    if let Some(dir) = files.cert.parent() {
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write_private(&files.key, generated.key_pair.serialize_pem().as_bytes())?;
    write_private(&files.cert, generated.cert.pem().as_bytes())?;
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file created 0600, then renames it in place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The certificate handshakes use now; replaced whole by [`Reloadable::reload`].
pub struct Reloadable {
    files: CertFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Reloadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloadable")
            .field("files", &self.files)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Reloadable {
    pub fn load(files: CertFiles) -> Result<Arc<Self>, TlsError> {
        let current = RwLock::new(files.load()?);
        Ok(Arc::new(Reloadable { files, current }))
    }

    pub fn files(&self) -> &CertFiles {
        &self.files
    }

    /// Fingerprint of the certificate served now.
    pub fn fingerprint(&self) -> String {
        let key = self.current();
        fingerprint(key.cert.first().map(|c| c.as_ref()).unwrap_or_default())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the files again; on any problem the certificate in use stays and the error is
    /// returned for the log. Returns the new fingerprint.
    pub fn reload(&self) -> Result<String, TlsError> {
        let key = self.files.load()?;
        let fp = fingerprint(key.cert[0].as_ref());
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
        Ok(fp)
    }

    /// The rustls configuration serving this certificate.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// How often the certificate files are checked for replacement (renewal tools that do not
/// send SIGHUP).
pub const WATCH_INTERVAL: Duration = Duration::from_secs(30);

/// Size and modification time of both files: what "the files changed" means here.
type Stamp = Option<[(SystemTime, u64); 2]>;

fn stamp(files: &CertFiles) -> Stamp {
    let one = |p: &Path| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    Some([one(&files.cert)?, one(&files.key)?])
}

/// Reloads the certificate on SIGHUP, and when its files change (checked every `every`),
/// until `shutdown` completes. A failed reload is logged once per change of the files (a
/// renewal that writes the certificate, then the key, succeeds at the next check).
pub fn reload_on_change(
    cert: Arc<Reloadable>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> impl std::future::Future<Output = ()> {
    // Taken now, not on the task's first poll: a change made right after start is seen.
    let mut last = stamp(cert.files());
    async move {
        let mut hangup = Hangup::new();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let forced = tokio::select! {
                _ = &mut shutdown => return,
                _ = hangup.recv() => true,
                _ = tick.tick() => false,
            };
            let now = stamp(cert.files());
            if !forced && now == last {
                continue;
            }
            last = now;
            match cert.reload() {
                Ok(fp) => tracing::info!(fingerprint = %fp, "TLS certificate reloaded"),
                Err(e) => tracing::error!(
                    error = %e,
                    fingerprint = %cert.fingerprint(),
                    "TLS certificate not reloaded; still serving the previous one"
                ),
            }
        }
    }
}

/// SIGHUP where there is one; elsewhere a signal that never comes.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            Hangup { signal }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.signal {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// An axum listener yielding connections whose TLS handshake has completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        // Small: a finished handshake waits here only until axum's loop takes it.
        let (tx, ready) = mpsc::channel(16);
        let acceptor_task = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), tx));
        Ok(TlsListener {
            ready,
            local,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(HANDSHAKE_SLOTS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning; the
                // same policy as axum's plain TCP listener.
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                // Agents that refuse our certificate (a pin mismatch) end up here: worth a
                // line, not an alarm.
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when aborted, i.e. when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(dir: &Path) -> CertFiles {
        let config = TlsConfig::SelfSigned {
            dir: dir.to_path_buf(),
        };
        let (files, created) = CertFiles::prepare(&config, &["parc.example".into()]).unwrap();
        assert!(created);
        files
    }

    #[test]
    fn fingerprint_format() {
        // SHA-256 of the empty input, a well-known value.
        let fp = fingerprint(b"");
        assert!(fp.starts_with("E3:B0:C4:42:98:FC"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }

    #[cfg(unix)]
    #[test]
    fn self_signed_is_generated_once_with_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = self_signed(dir.path());
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = Reloadable::load(files.clone()).unwrap().fingerprint();
        let config = TlsConfig::SelfSigned {
            dir: dir.path().to_path_buf(),
        };
        let (again, created) = CertFiles::prepare(&config, &[]).unwrap();
        assert!(!created);
        assert_eq!(Reloadable::load(again).unwrap().fingerprint(), first);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = self_signed(&dir.path().join("a"));
        let b = self_signed(&dir.path().join("b"));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let missing = dir.path().join("missing.pem");
        let cases: Vec<(CertFiles, &str)> = vec![
            (
                CertFiles {
                    cert: missing.clone(),
                    key: a.key.clone(),
                },
                "does not exist",
            ),
            (
                CertFiles {
                    cert: a.cert.clone(),
                    key: missing.clone(),
                },
                "does not exist",
            ),
            (
                CertFiles {
                    cert: garbage.clone(),
                    key: a.key.clone(),
                },
                "no PEM certificate",
            ),
            (
                CertFiles {
                    cert: a.cert.clone(),
                    key: garbage.clone(),
                },
                "not a usable PEM private key",
            ),
            (
                CertFiles {
                    cert: a.cert.clone(),
                    key: b.key.clone(),
                },
                "does not belong to the certificate",
            ),
        ];
        for (files, expected) in cases {
            let err = files.load().unwrap_err().to_string();
            assert!(err.contains(expected), "{files:?}: {err}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn replaced_files_are_picked_up_without_a_signal() {
        let dir = tempfile::tempdir().unwrap();
        let files = self_signed(dir.path());
        let cert = Reloadable::load(files.clone()).unwrap();
        let first = cert.fingerprint();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let every = Duration::from_secs(30);
        let watcher = tokio::spawn(reload_on_change(cert.clone(), every, async {
            let _ = stopped.await;
        }));

        // A renewal tool writes the certificate first: the pair does not match yet.
        let next = self_signed(&dir.path().join("next"));
        std::fs::copy(&next.cert, &files.cert).unwrap();
        tokio::time::sleep(every + Duration::from_secs(1)).await;
        assert_eq!(cert.fingerprint(), first, "a mismatched pair is not served");

        std::fs::copy(&next.key, &files.key).unwrap();
        tokio::time::sleep(every).await;
        let second = cert.fingerprint();
        assert_ne!(second, first);
        assert_eq!(second, Reloadable::load(next).unwrap().fingerprint());

        stop.send(()).unwrap();
        watcher.await.unwrap();
    }

    #[test]
    fn a_bad_reload_keeps_the_served_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let files = self_signed(dir.path());
        let cert = Reloadable::load(files.clone()).unwrap();
        let before = cert.fingerprint();
        std::fs::write(&files.cert, "truncated").unwrap();
        assert!(cert.reload().is_err());
        assert_eq!(cert.fingerprint(), before);

        let other = self_signed(&dir.path().join("new"));
        std::fs::copy(&other.cert, &files.cert).unwrap();
        std::fs::copy(&other.key, &files.key).unwrap();
        let after = cert.reload().unwrap();
        assert_ne!(after, before);
        assert_eq!(cert.fingerprint(), after);
    }
}
