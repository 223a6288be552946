//! TLS to Redis (`rediss://`): the process's crypto provider and a private CA.
//!
//! redis-rs builds its rustls client config with the process-wide default crypto provider
//! (and its `#insecure` mode refuses to work without one), so every binary installs the one
//! provider the workspace compiles, aws-lc-rs, before its first connection. Installing it
//! explicitly, rather than leaving rustls to pick one from its crate features, keeps a build
//! that one day also enables `ring` from failing at the first TLS handshake.

use std::path::Path;

use redis::{ErrorKind, RedisError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::error::{BrokerError, Result};

/// Makes aws-lc-rs the process's rustls crypto provider, unless one is installed already
/// (by an earlier call, or by the embedding program, whose choice wins).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another thread installing one is fine: either is aws-lc-rs, or
        // the embedding program's choice.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// The PEM bytes of the CA file at `path`, checked here so that a wrong path or a file that
/// holds no certificate is refused at start-up, naming the file, instead of at every
/// connection attempt with redis-rs's generic message.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| refused(format!("cannot read broker.redis_ca_path {shown}: {e}")))?;
    let mut certificates = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificate.map_err(|e| {
            refused(format!(
                "broker.redis_ca_path {shown} is not valid PEM: {e}"
            ))
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(refused(format!(
            "broker.redis_ca_path {shown} holds no PEM certificate"
        )));
    }
    Ok(pem)
}

/// A TLS set-up the Redis client cannot work with, as the error redis-rs itself gives for a
/// bad client config (`BrokerError` stays as it is for the code that matches on it).
pub(crate) fn refused(detail: String) -> BrokerError {
    BrokerError::Redis(RedisError::from((
        ErrorKind::InvalidClientConfig,
        "cannot set up TLS",
        detail,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("zato-broker-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing.pem");
        let err = read_ca_file(&missing).unwrap_err().to_string();
        assert!(
            err.contains("cannot read") && err.contains("missing.pem"),
            "{err}"
        );

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = read_ca_file(&empty).unwrap_err().to_string();
        assert!(
            err.contains("holds no PEM certificate") && err.contains("empty.pem"),
            "{err}"
        );

        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = read_ca_file(&broken).unwrap_err().to_string();
        assert!(
            err.contains("not valid PEM") && err.contains("broken.pem"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
