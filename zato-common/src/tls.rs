//! HTTPS for the listener: the rustls server config from `tls_cert_path` and `tls_key_path`.
//!
//! The config is built with the aws-lc-rs provider named explicitly rather than from the
//! process default, so checking the files (`ServerSettings::validate`, `zato config check`)
//! works before, and independently of, anything else in the process installing one. It is the
//! same provider the broker installs for `rediss://`, so one crypto library is compiled.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or the key cannot serve HTTPS; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls_cert_path and tls_key_path go together: set both for HTTPS, or neither")]
    Half,
    #[error("cannot read {setting} {path}: {source}")]
    Read {
        setting: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{setting} {path} is not valid PEM: {source}")]
    Pem {
        setting: &'static str,
        path: String,
        source: pem::Error,
    },
    #[error("tls_cert_path {path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("tls_key_path {path} holds no PEM private key")]
    NoKey { path: String },
    #[error("tls_cert_path {cert} and tls_key_path {key} cannot be used together: {source}")]
    Unusable {
        cert: String,
        key: String,
        source: rustls::Error,
    },
}

/// The server config for a certificate chain and its key, both PEM; `None` when neither path
/// is set (plain HTTP).
pub fn server_config(cert_path: &str, key_path: &str) -> Result<Option<ServerConfig>, TlsError> {
    match (cert_path.is_empty(), key_path.is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => return Err(TlsError::Half),
    }
    let chain = certificates(cert_path)?;
    let key = private_key(key_path)?;
    let unusable = |source| TlsError::Unusable {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        source,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        // Also checks that the key belongs to the first certificate.
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    Ok(Some(config))
}

fn read(setting: &'static str, path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(Path::new(path)).map_err(|source| TlsError::Read {
        setting,
        path: path.to_owned(),
        source,
    })
}

/// The chain, leaf first, as the file lists it.
fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read("tls_cert_path", path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            setting: "tls_cert_path",
            path: path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The first private key of the file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read("tls_key_path", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        source => TlsError::Pem {
            setting: "tls_key_path",
            path: path.to_owned(),
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("zato-server-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    #[test]
    fn neither_path_is_plain_http_and_one_alone_is_refused() {
        assert!(server_config("", "").expect("plain").is_none());
        assert!(matches!(server_config("a.pem", ""), Err(TlsError::Half)));
        assert!(matches!(server_config("", "k.pem"), Err(TlsError::Half)));
    }

    #[test]
    fn bad_files_are_named() {
        let err = server_config("/nonexistent/cert.pem", "/nonexistent/key.pem")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read tls_cert_path /nonexistent/cert.pem"),
            "{err}"
        );

        let empty = temp_file("empty.pem", "nothing here\n");
        let err = server_config(&empty, &empty).unwrap_err().to_string();
        assert!(
            err.contains("holds no PEM certificate") && err.contains("empty.pem"),
            "{err}"
        );

        let broken = temp_file(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        );
        let err = server_config(&broken, &empty).unwrap_err().to_string();
        assert!(
            err.contains("tls_cert_path") && err.contains("not valid PEM"),
            "{err}"
        );
    }
}
