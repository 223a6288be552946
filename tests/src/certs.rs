//! Throw-away certificates for TLS tests, made by the `openssl` command line (a tool we did not
//! write, so the tests do not check our TLS code with our own idea of a certificate): a CA,
//! and a server certificate it signed for `127.0.0.1` and `localhost`.

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
