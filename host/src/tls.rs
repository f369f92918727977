//! HTTPS from the binary itself: a certificate and key from PEM files, or, for local use, a
//! self-signed certificate made once in the data directory for the listen address and
//! `localhost`, which clients are told to trust (`REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`).
//! Bitrix24's official SDKs insist on `https://`, so integrations need this before a proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How the host serves HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// A certificate chain and its private key, as PEM files.
    Files {
        /// The certificate chain, the server's own certificate first.
        cert: PathBuf,
        /// Its private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A self-signed certificate for the listen address and `localhost`, kept in the data
    /// directory's `tls/` folder and made anew when the names it must cover change.
    SelfSigned,
}

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A PEM file holds no certificate or no private key, or is not PEM.
    #[error("{path}: {why}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the certificate and key (a key that does not match, say).
    #[error("the certificate and key cannot serve TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("making the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate to serve, where it is on disk, and whether the host made it itself.
pub struct Certificate {
    /// The rustls configuration serving it, with HTTP/2 and HTTP/1.1 offered by ALPN.
    pub config: Arc<ServerConfig>,
    /// The certificate's PEM file.
    pub cert_path: PathBuf,
    /// Whether it is the self-signed one, which clients must be told to trust.
    pub self_signed: bool,
}

impl Tls {
    /// Loads (or, self-signed, makes) the certificate for a host listening on `listen`.
    pub fn certificate(&self, data_dir: &Path, listen: SocketAddr) -> Result<Certificate, TlsError> {
        let (cert, key, self_signed) = match self {
            Self::Files { cert, key } => (cert.clone(), key.clone(), false),
            Self::SelfSigned => {
                let (cert, key) = self_signed(&data_dir.join("tls"), listen)?;
                (cert, key, true)
            }
        };
        Ok(Certificate {
            config: server_config(&cert, &key)?,
            cert_path: cert,
            self_signed,
        })
    }
}

/// The rustls configuration for a PEM certificate chain and key.
fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let pem_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: rustls::pki_types::pem::Error| match e {
            rustls::pki_types::pem::Error::Io(source) => TlsError::File { path, source },
            other => TlsError::Pem {
                path,
                why: other.to_string(),
            },
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            why: "holds no certificate".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The names a self-signed certificate for `listen` covers: `localhost`, 127.0.0.1, and the
/// listen address when it is a particular one.
fn names_for(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), Ipv4Addr::LOCALHOST.to_string()];
    let ip = listen.ip();
    if !ip.is_unspecified() && ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        names.push(ip.to_string());
    }
    names
}

/// The self-signed certificate and key in `dir`, made when missing or when the names they cover
/// (kept beside them in `names`) are not the ones `listen` needs.
fn self_signed(dir: &Path, listen: SocketAddr) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key, names_file) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("names"));
    let names = names_for(listen);
    let wanted = names.join("\n");
    let kept = std::fs::read_to_string(&names_file).ok();
    if kept.as_deref() == Some(wanted.as_str()) && cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let made = rcgen::generate_simple_self_signed(names)?;
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|source| TlsError::File {
            path: path.to_path_buf(),
            source,
        })
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    write(&cert, &made.cert.pem())?;
    write(&key, &made.signing_key.serialize_pem())?;
    restrict_to_owner(&key)?;
    write(&names_file, &wanted)?;
    Ok((cert, key))
}

/// Makes the private key readable by its owner only.
fn restrict_to_owner(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| TlsError::File {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_again_for_other_names() {
        let dir = tempfile::tempdir().unwrap();
        let local: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let first = Tls::SelfSigned.certificate(dir.path(), local).unwrap();
        assert!(first.self_signed);
        let pem = std::fs::read_to_string(&first.cert_path).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let again = Tls::SelfSigned.certificate(dir.path(), local).unwrap();
        assert_eq!(std::fs::read_to_string(&again.cert_path).unwrap(), pem, "kept");

        let lan: SocketAddr = "10.1.2.3:8443".parse().unwrap();
        let other = Tls::SelfSigned.certificate(dir.path(), lan).unwrap();
        assert_ne!(std::fs::read_to_string(&other.cert_path).unwrap(), pem, "made anew");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("tls/names")).unwrap(),
            "localhost\n127.0.0.1\n10.1.2.3"
        );
    }

    #[test]
    fn pem_files_without_a_certificate_or_key_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let tls = Tls::Files {
            cert: empty.clone(),
            key: empty.clone(),
        };
        let local: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let error = tls.certificate(dir.path(), local).err().unwrap().to_string();
        assert!(error.contains("empty.pem: holds no certificate"), "{error}");

        let missing = Tls::Files {
            cert: dir.path().join("missing.pem"),
            key: empty,
        };
        let error = missing.certificate(dir.path(), local).err().unwrap().to_string();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
