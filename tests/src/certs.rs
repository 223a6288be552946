//! Throw-away certificates for TLS tests, made by the `openssl` command line (a tool we did not
//! write, so the tests do not check our TLS code with our own idea of a certificate): a CA,
//! a server certificate it signed for `127.0.0.1` and `localhost`, and on request a client
//! certificate it signed ([`TestCerts::client`]), for servers that ask for one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private CA and one server certificate, in a directory removed on drop.
pub struct TestCerts {
    dir: PathBuf,
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The server's certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The server certificate's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TestCerts {
    /// A new CA and server certificate, valid for two days.
    pub fn generate() -> Self {
        let dir =
            std::env::temp_dir().join(format!("zato-test-certs-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("certificate dir");
        let certs = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            dir,
        };
        let ca_key = certs.dir.join("ca.key");
        let csr = certs.dir.join("server.csr");
        let extensions = certs.dir.join("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("extensions file");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        // A CA by its extensions, not by openssl.cnf's defaults, which vary between systems.
        let ca_args = [
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=zato test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        openssl(
            &[&["req"], &ec[..], &ca_args[..]].concat(),
            &[("-keyout", &ca_key), ("-out", &certs.ca)],
        );
        openssl(
            &[&["req"], &ec[..], &["-subj", "/CN=localhost"]].concat(),
            &[("-keyout", &certs.key), ("-out", &csr)],
        );
        openssl(
            &["x509", "-req", "-days", "2", "-CAcreateserial"],
            &[
                ("-in", &csr),
                ("-CA", &certs.ca),
                ("-CAkey", &ca_key),
                ("-extfile", &extensions),
                ("-out", &certs.cert),
            ],
        );
        certs
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A client certificate (`CN=zato test client`, extended key usage clientAuth) signed by
    /// the same CA, made on the first call; its files are in [`TestCerts::dir`] and go with it.
    pub fn client(&self) -> ClientCert {
        let client = ClientCert {
            cert: self.dir.join("client.pem"),
            key: self.dir.join("client.key"),
        };
        if client.cert.exists() {
            return client;
        }
        let csr = self.dir.join("client.csr");
        let extensions = self.dir.join("client.ext");
        std::fs::write(
            &extensions,
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = clientAuth\n",
        )
        .expect("extensions file");
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                CLIENT_SUBJECT,
            ],
            &[("-keyout", &client.key), ("-out", &csr)],
        );
        openssl(
            &["x509", "-req", "-days", "2", "-CAcreateserial"],
            &[
                ("-in", &csr),
                ("-CA", &self.ca),
                ("-CAkey", &self.dir.join("ca.key")),
                ("-extfile", &extensions),
                ("-out", &client.cert),
            ],
        );
        client
    }
}

/// The subject of [`TestCerts::client`]'s certificate.
pub const CLIENT_SUBJECT: &str = "/CN=zato test client";

/// A client certificate of [`TestCerts`]'s CA.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `openssl` with `args`, then each option followed by its path; panics with its output
/// if it fails.
fn openssl(args: &[&str], paths: &[(&str, &Path)]) {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    for (option, path) in paths {
        cmd.arg(option).arg(path);
    }
    let output = cmd
        .output()
        .expect("openssl on PATH (scripts/test installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
