//! An HTTP(S) upstream for outgoing REST connections: `tests/peers/http_upstream.py`, a
//! server on Python's standard library (not ours, so our client is checked against somebody
//! else's idea of HTTP). It echoes requests, answers any status, delays, fails a given number
//! of times, counts requests by their `X-Test-Key` header and checks basic and bearer auth;
//! the peer's docstring lists the endpoints. A test may kill it and restart it on the same
//! port.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::certs::TestCerts;
use crate::local_server::{log_tail, stop_child};

/// How long the peer may take to print `ready`.
const READY_WITHIN: Duration = Duration::from_secs(15);

/// The peer's certificate files when it speaks HTTPS.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

/// A running `http_upstream.py`, killed on drop.
pub struct HttpUpstream {
    port: u16,
    tls: Option<Tls>,
    child: Option<Child>,
    log: PathBuf,
}

impl HttpUpstream {
    /// Plain HTTP on a port the peer picks, `http://127.0.0.1:<port>`.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// HTTPS with `certs`' server certificate (for `127.0.0.1` and `localhost`), on
    /// `https://localhost:<port>`. With `client_ca`, only clients with a certificate signed
    /// by that CA get in (e.g. `certs.ca` and a [`TestCerts::client`] certificate). The peer
    /// reads the files again on [`HttpUpstream::restart`]: `certs` must outlive it.
    pub fn start_tls(certs: &TestCerts, client_ca: Option<&Path>) -> Self {
        Self::launch(Some(Tls {
            cert: certs.cert.clone(),
            key: certs.key.clone(),
            client_ca: client_ca.map(Path::to_path_buf),
        }))
    }

    fn launch(tls: Option<Tls>) -> Self {
        let log = std::env::temp_dir().join(format!(
            "zato-test-http-upstream-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let mut upstream = Self {
            port: 0,
            tls,
            child: None,
            log,
        };
        upstream.spawn();
        upstream
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` for TLS (the name a client
    /// verifies the certificate against).
    pub fn base_url(&self) -> String {
        match self.tls {
            None => format!("http://127.0.0.1:{}", self.port),
            Some(_) => format!("https://localhost:{}", self.port),
        }
    }

    /// [`HttpUpstream::base_url`] followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// kill -9: open connections break at once, new ones are refused.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; whether it exited by itself within 5 s (it is killed otherwise).
    pub fn stop(&mut self) -> bool {
        self.child.take().is_some_and(|mut child| {
            stop_child(&mut child, "TERM", Duration::from_secs(5)).is_some()
        })
    }

    /// Starts again on the same port (after a kill -9 if it still runs), with fresh counters.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Its log so far: one line per request, `METHOD /path STATUS`.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the peer on [`HttpUpstream::port`] (0: one it picks) and waits for its `ready`
    /// line, which gives the port.
    fn spawn(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/http_upstream.py");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("http upstream log file");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &self.port.to_string()])
            .env("PYTHONUNBUFFERED", "1");
        if let Some(tls) = &self.tls {
            cmd.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
            if let Some(ca) = &tls.client_ca {
                cmd.arg("--client-ca").arg(ca);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs the http upstream: {e}"));
        let stdout = child.stdout.take().expect("the peer's stdout");
        // Its first line in a thread of its own: the wait is bounded even if it hangs.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(READY_WITHIN).unwrap_or_default();
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "http_upstream.py (port {}) did not print `ready PORT` (got {line:?}); its log:\n{}",
                self.port,
                log_tail(&self.log)
            );
        };
        assert!(
            self.port == 0 || self.port == port,
            "http_upstream.py restarted on {port}, not {}",
            self.port
        );
        self.port = port;
        self.child = Some(child);
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
