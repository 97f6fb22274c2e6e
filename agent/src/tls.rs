//! Trusting the collector's certificate by its SHA-256 fingerprint.
//!
//! A self-signed collector has no CA to vouch for it; instead the agent pins the exact leaf
//! certificate it saw (and the admin confirmed) at enrolment. [`PinnedVerifier`] accepts that
//! certificate and nothing else: no name or expiry check (the pin is stronger than both), but
//! the handshake signatures are still verified, so only the holder of the certificate's private
//! key passes. Collectors with a certificate from a CA need no pin: the system roots apply.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// How the agent decides the collector's certificate is genuine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// The system's CA roots (a publicly or domain-issued certificate), or plain HTTP.
    System,
    /// Exactly the certificate with this fingerprint (self-signed collectors).
    Pinned(Fingerprint),
    /// Certificates issued by the CA(s) in this PEM file, and only those.
    Ca(PathBuf),
}

/// The CA certificates of a PEM file, with an error naming the file.
pub fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("{} is not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// SHA-256 of a DER certificate.
pub type Fingerprint = [u8; 32];

pub fn fingerprint(cert: &[u8]) -> Fingerprint {
    Sha256::digest(cert).into()
}

/// Upper-case hex pairs joined by colons, as the collector prints it and as
/// `openssl x509 -fingerprint -sha256` shows it.
pub fn display(fp: &Fingerprint) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a fingerprint as people copy it: with or without colons or spaces, any case, with an
/// optional `SHA256:`/`sha256=` prefix.
pub fn parse(text: &str) -> Result<Fingerprint, String> {
    let t = text.trim();
    let t = ["SHA256:", "SHA256=", "SHA256 ", "SHA-256:", "SHA-256 "]
        .iter()
        .find_map(|p| {
            t.get(..p.len())
                .filter(|h| h.eq_ignore_ascii_case(p))
                .map(|_| &t[p.len()..])
        })
        .unwrap_or(t);
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    hex::decode(&digits)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!("{text:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Accepts exactly the certificate whose fingerprint is `pin`.
pub struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for PinnedVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedVerifier({})", display(&self.pin))
    }
}

/// Why a pinned connection was refused, in words an admin acts on.
struct PinMismatch {
    seen: Fingerprint,
    pinned: Fingerprint,
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the collector's certificate (SHA-256 {}) is not the one pinned at enrolment \
             (SHA-256 {}); refusing to send. If the collector's certificate was replaced on \
             purpose, enrol again with --fingerprint",
            display(&self.seen),
            display(&self.pinned)
        )
    }
}

// rustls shows the cause of a certificate error with `{:?}`: make that readable too.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

impl PinnedVerifier {
    pub fn new(pin: Fingerprint) -> Self {
        PinnedVerifier {
            pin,
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint(end_entity);
        if seen == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch {
                    seen,
                    pinned: self.pin,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client configuration that trusts only the pinned certificate.
pub fn pinned_config(pin: Fingerprint) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(pin)))
        .with_no_client_auth()
}

/// Records the leaf certificate the server presents, trusting it for this one handshake only
/// (nothing is sent over it): how `enroll` learns the fingerprint to show and check.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<Vec<u8>>>,
    inner: PinnedVerifier,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Connects to an `https://` collector, completes a handshake and returns its leaf
/// certificate (DER). Nothing is sent over the connection.
pub async fn server_certificate(url: &reqwest::Url, timeout: Duration) -> Result<Vec<u8>> {
    if url.scheme() != "https" {
        bail!("{url} is not an https:// URL");
    }
    let host = url.host_str().context("the collector URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    // Bracketed IPv6 literals come back with their brackets from host_str().
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_string())
        .with_context(|| format!("{host} is not a valid server name"))?;
    let recorder = Arc::new(Recorder {
        seen: Mutex::new(None),
        inner: PinnedVerifier::new([0; 32]),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((bare, port))
            .await
            .with_context(|| format!("cannot connect to {host}:{port}"))?;
        connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port} failed"))
    };
    let stream = tokio::time::timeout(timeout, handshake)
        .await
        .with_context(|| format!("no TLS answer from {host}:{port} within {timeout:?}"))??;
    drop(stream);
    let seen = recorder
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    seen.context("the collector presented no certificate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_people_paste_them() {
        let fp = fingerprint(b"");
        let shown = display(&fp);
        assert!(shown.starts_with("E3:B0:C4:42"), "{shown}");
        let plain = shown.replace(':', "").to_lowercase();
        for text in [
            shown.clone(),
            plain.clone(),
            format!("SHA256:{shown}"),
            format!("sha256={plain}"),
            format!("  {shown}\n"),
        ] {
            assert_eq!(parse(&text), Ok(fp), "{text:?}");
        }
        for bad in ["", "E3:B0", &format!("{plain}00"), &plain.replace('e', "g")] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pinned_verifier_accepts_only_its_certificate() {
        let cert = CertificateDer::from(b"certificate bytes".to_vec());
        let other = CertificateDer::from(b"another certificate".to_vec());
        let v = PinnedVerifier::new(fingerprint(cert.as_ref()));
        let name = ServerName::try_from("collector.example").unwrap();
        assert!(v
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .is_ok());
        let err = v
            .verify_server_cert(&other, &[], &name, &[], UnixTime::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not the one pinned"), "{err}");
        assert!(
            err.contains(&display(&fingerprint(other.as_ref()))),
            "{err}"
        );
    }
}
