//! A `redis-server` of our own: started on a given or free port with its data in a given or
//! temporary directory, ready once it answers `PING`, and stopped with SIGTERM.
//!
//! The quickstart, the benchmarks and the end-to-end tests each need a Redis that nobody else
//! uses (so they may fill it, restart it or kill it at will), and they must agree on what
//! "started" means: the process is up *and* answers `PING` (a Redis still reading its
//! appendonly file answers `-LOADING`, one whose `default` user is off answers `-NOAUTH`;
//! neither is ready). [`Launch`] says what to start, [`RedisServer`] is the running process.
//! Only the standard library is used: the port is probed with a few lines of RESP over a
//! [`TcpStream`] ([`Resp`], which [`crate::redis_cluster`] asks its nodes with too), and
//! SIGTERM is sent by the `kill` command.

use std::ffi::OsString;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new `redis-server` may take to answer `PING`: long enough for one that reloads
/// a sizeable appendonly file on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long [`RedisServer::stop`] (and drop) waits after SIGTERM before SIGKILL: Redis fsyncs
/// its appendonly file and exits within milliseconds, unless something is badly wrong.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The file in the data directory that a started server's output goes to.
const LOG_FILE: &str = "redis-server.log";
/// How long a readiness probe waits to connect and for each answer: a server that takes
/// longer is not ready yet, and the probe is tried again.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a `redis-server` could not be started, probed or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no free local port for redis-server: {0}")]
    NoFreePort(#[source] std::io::Error),
    #[error("cannot use the Redis data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program} (is redis-server installed and on PATH?): {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "redis-server on port {port} exited ({status}) before it answered PING; its log {log}:\n{tail}"
    )]
    Exited {
        port: u16,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "redis-server on port {port} did not answer PING within {secs} s; its log {log}:\n{tail}"
    )]
    NotReady {
        port: u16,
        secs: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("cannot signal redis-server (pid {pid}): {source}")]
    Signal {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the server exited because another process holds its port: one that was free
    /// when it was picked ([`Launch::temporary`], [`crate::redis_cluster`]) and was taken
    /// before Redis bound it, by another server or by a client connection's local port. Worth
    /// trying again on another port; nothing else is wrong.
    pub fn is_port_taken(&self) -> bool {
        matches!(self, Error::Exited { tail, .. } if tail.contains("Address already in use"))
    }
}

/// The certificate files of a TLS-only server.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA that signed it, which Redis also offers to clients.
    pub ca: PathBuf,
}

/// Tells whether a server on a port is ready.
type Probe = Arc<dyn Fn(u16) -> bool + Send + Sync>;

/// How readiness is checked: a plain `PING`, optionally after `AUTH`, or the caller's probe.
#[derive(Clone)]
enum Readiness {
    Ping {
        credentials: Option<(String, String)>,
    },
    Probe(Probe),
}

/// What to start: the command line of one `redis-server` and how to tell it is ready.
#[derive(Clone)]
pub struct Launch {
    program: PathBuf,
    port: u16,
    dir: PathBuf,
    /// Whether `dir` is ours to create and to remove with the server.
    temporary: bool,
    appendonly: bool,
    tls: Option<TlsFiles>,
    /// A configuration file read before the options (it must be the first argument).
    config_file: Option<PathBuf>,
    args: Vec<OsString>,
    readiness: Readiness,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("program", &self.program)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl Launch {
    /// `redis-server` (from PATH) on `port` with its data in `dir`, which is kept.
    pub fn new(port: u16, dir: impl Into<PathBuf>) -> Self {
        Self {
            program: PathBuf::from("redis-server"),
            port,
            dir: dir.into(),
            temporary: false,
            appendonly: false,
            tls: None,
            config_file: None,
            args: Vec::new(),
            readiness: Readiness::Ping { credentials: None },
        }
    }

    /// `redis-server` on a free port with its data in a new temporary directory, removed
    /// when the [`RedisServer`] is dropped: for benchmarks and tests, which want a Redis that
    /// starts empty and leaves nothing behind.
    pub fn temporary() -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!(
            "zato-redis-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let mut launch = Self::new(free_port()?, dir);
        launch.temporary = true;
        Ok(launch)
    }

    /// Another `redis-server` binary than the one on PATH.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// `appendonly yes`: every write it acknowledged is in its appendonly file (fsynced every
    /// second, Redis's default; `--appendfsync always` through [`Launch::args`] for more), so
    /// it survives a kill -9 and the next start on the same directory finds it.
    pub fn appendonly(mut self) -> Self {
        self.appendonly = true;
        self
    }

    /// Speak TLS only, on the port, with no plain port at all (clients need no certificate
    /// of their own). A plain `PING` cannot reach such a server and this crate has no TLS
    /// client, so `ready` (given the port) says whether it answers.
    pub fn tls_only(
        mut self,
        files: TlsFiles,
        ready: impl Fn(u16) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.tls = Some(files);
        self.readiness = Readiness::Probe(Arc::new(ready));
        self
    }

    /// Probe with `AUTH user password` before `PING`: for a server whose `default` user is
    /// off (set up through [`Launch::args`]).
    pub fn ping_as(mut self, user: &str, password: &str) -> Self {
        self.readiness = Readiness::Ping {
            credentials: Some((user.to_owned(), password.to_owned())),
        };
        self
    }

    /// A configuration file for `redis-server` to read before the options (on the command
    /// line it must come first). Sentinel needs one: it refuses to start without a file it
    /// can rewrite, since it records there what it learns (replicas, the other sentinels, a
    /// failover's new master) to find it again after a restart.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_file = Some(path.into());
        self
    }

    /// More `redis-server` options, after the launcher's own (`--maxmemory-policy`,
    /// `--user`, ...).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `redis-server` binary.
    pub fn program_path(&self) -> &Path {
        &self.program
    }

    /// The options `redis-server` is started with, for a supervisor that spawns it itself.
    ///
    /// Always: only `127.0.0.1` (nothing outside this machine reaches it), no RDB snapshots
    /// (`save ""`: they fork and stall a busy Redis, and the appendonly file is the durable
    /// copy when there is one), and `daemonize no` (a daemon forks away from the pid we
    /// watch and signal).
    pub fn command_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(file) = &self.config_file {
            args.push(file.clone().into());
        }
        let port = self.port.to_string();
        match &self.tls {
            Some(tls) => {
                args.extend(["--port", "0", "--tls-port", &port].map(OsString::from));
                for (option, path) in [
                    ("--tls-cert-file", &tls.cert),
                    ("--tls-key-file", &tls.key),
                    ("--tls-ca-cert-file", &tls.ca),
                ] {
                    args.push(option.into());
                    args.push(path.into());
                }
                args.extend(["--tls-auth-clients", "no"].map(OsString::from));
            }
            None => args.extend(["--port", &port].map(OsString::from)),
        }
        args.extend(["--bind", "127.0.0.1", "--dir"].map(OsString::from));
        args.push(self.dir.clone().into());
        args.extend(["--save", "", "--daemonize", "no"].map(OsString::from));
        if self.appendonly {
            args.extend(["--appendonly", "yes"].map(OsString::from));
        }
        args.extend(self.args.iter().cloned());
        args
    }

    /// Whether the server this launches answers now: for a supervisor that spawns it itself
    /// with [`Launch::command_args`] and waits for it.
    pub fn is_ready(&self) -> bool {
        match &self.readiness {
            Readiness::Ping { credentials } => answers_ping(
                self.port,
                credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            ),
            Readiness::Probe(probe) => probe(self.port),
        }
    }

    /// Starts the server and waits until it answers `PING`.
    pub fn start(self) -> Result<RedisServer, Error> {
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::DataDir {
            path: self.dir.clone(),
            source,
        })?;
        let mut server = RedisServer {
            launch: self,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }
}

/// A running `redis-server` started by [`Launch::start`]; stopped with SIGTERM when dropped
/// (and its directory removed if it was temporary).
#[derive(Debug)]
pub struct RedisServer {
    launch: Launch,
    child: Option<Child>,
}

impl RedisServer {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.launch.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.launch.port)
    }

    /// Where its data (and its log) are.
    pub fn dir(&self) -> &Path {
        &self.launch.dir
    }

    fn log(&self) -> PathBuf {
        self.launch.dir.join(LOG_FILE)
    }

    fn spawn(&mut self) -> Result<(), Error> {
        let log = self.log();
        let log_file = std::fs::File::create(&log).map_err(|source| Error::DataDir {
            path: log.clone(),
            source,
        })?;
        let child = Command::new(&self.launch.program)
            .args(self.launch.command_args())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.launch.program.display().to_string(),
                source,
            })?;
        let child = self.child.insert(child);
        let port = self.launch.port;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(Error::Exited {
                    port,
                    status,
                    tail: log_tail(&log),
                    log,
                });
            }
            if self.launch.is_ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(Error::NotReady {
                    port,
                    secs: READY_WITHIN.as_secs(),
                    tail: log_tail(&log),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would end it; its data stays for [`RedisServer::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it if it still runs (kill -9), then starts it again on the same port with the
    /// same data, and waits until it answers.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn()
    }

    /// SIGTERM, so that Redis finishes its appendonly file and exits cleanly; SIGKILL if it
    /// has not exited after a grace period. Its exit status (`None` if it was not running).
    pub fn stop(&mut self) -> Result<Option<ExitStatus>, Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let pid = child.id();
        // The child is not reaped yet, so its pid cannot have been given to another process.
        let signalled = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(source) = signalled {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Signal { pid, source });
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child
            .wait()
            .map(Some)
            .map_err(|source| Error::Signal { pid, source })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // `stop` ends the process whatever happens (SIGKILL is its fallback); there is no one
        // to report an error to here.
        let _ = self.stop();
        if self.launch.temporary {
            let _ = std::fs::remove_dir_all(&self.launch.dir);
        }
    }
}

/// A port nobody listens on right now (the OS picks it; another process could take it before
/// Redis binds it, which is rare enough for tests and benchmarks).
pub(crate) fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(Error::NoFreePort)
}

/// Whether a Redis on `127.0.0.1:port` answers `PING` with `PONG` (after `AUTH user password`
/// with `credentials`): it is up and has finished loading its data.
fn answers_ping(port: u16, credentials: Option<(&str, &str)>) -> bool {
    let Ok(mut conn) = Resp::connect(port, PROBE_TIMEOUT) else {
        return false;
    };
    if let Some((user, password)) = credentials
        && !conn
            .ask(&["AUTH", user, password])
            .is_ok_and(|reply| reply == "OK")
    {
        return false;
    }
    conn.ask(&["PING"]).is_ok_and(|reply| reply == "PONG")
}

/// A plain connection to a Redis on `127.0.0.1` that speaks just enough RESP for the
/// launchers' own checks (`PING`, `AUTH`, `INFO`, `CLUSTER INFO`, `CLUSTER MYID`): commands
/// whose answer is one line or one bulk string. It keeps this crate free of a Redis client;
/// anything more belongs to the `redis` crate in the code that uses Redis.
pub(crate) struct Resp {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Resp {
    /// Connects to `127.0.0.1:port`, giving up on the connection and on each answer after
    /// `timeout` (a stopped or stalled server must not hang the caller).
    pub(crate) fn connect(port: u16, timeout: Duration) -> io::Result<Self> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Self { stream, reader })
    }

    /// Sends `words` as one command; its answer as text: a simple string (`+OK` is `OK`), a
    /// bulk string, or an integer. An error reply (`-LOADING ...`) is an error with its text;
    /// a nil or an array is `InvalidData`, as is anything that is not RESP.
    pub(crate) fn ask(&mut self, words: &[&str]) -> io::Result<String> {
        self.stream.write_all(&resp_command(words))?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("RESP reply {line:?}"));
        match line.split_at_checked(1) {
            Some(("+" | ":", text)) => Ok(text.to_owned()),
            Some(("-", error)) => Err(io::Error::other(error.to_owned())),
            Some(("$", length)) => {
                let length: usize = length.parse().map_err(|_| invalid())?;
                // The bulk string and its closing CRLF.
                let mut bulk = vec![0; length + 2];
                self.reader.read_exact(&mut bulk)?;
                bulk.truncate(length);
                String::from_utf8(bulk).map_err(|_| invalid())
            }
            _ => Err(invalid()),
        }
    }
}

/// `words` as a RESP array of bulk strings (safe for any bytes, unlike an inline command).
fn resp_command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        out.extend_from_slice(word.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The last lines of a log file, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        assert_eq!(
            resp_command(&["AUTH", "zato", "a b"]),
            b"*3\r\n$4\r\nAUTH\r\n$4\r\nzato\r\n$3\r\na b\r\n"
        );
    }

    #[test]
    fn the_command_line_binds_locally_and_puts_extra_options_last() {
        let args = Launch::new(6400, "/data")
            .appendonly()
            .args(["--maxmemory-policy", "noeviction"])
            .command_args();
        let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(
            args,
            [
                "--port",
                "6400",
                "--bind",
                "127.0.0.1",
                "--dir",
                "/data",
                "--save",
                "",
                "--daemonize",
                "no",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction"
            ]
        );
    }

    #[test]
    fn a_config_file_comes_before_every_option() {
        let args = Launch::new(26400, "/data")
            .config_file("/data/sentinel.conf")
            .args(["--sentinel"])
            .command_args();
        let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(args[..3], ["/data/sentinel.conf", "--port", "26400"]);
        assert_eq!(args.last(), Some(&"--sentinel"));
    }

    #[test]
    fn a_tls_only_server_has_no_plain_port() {
        let files = TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            ca: "ca.pem".into(),
        };
        let args = Launch::new(6400, "/data")
            .tls_only(files, |_| true)
            .command_args();
        let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(args[..4], ["--port", "0", "--tls-port", "6400"]);
    }

    #[test]
    fn answers_are_simple_strings_bulk_strings_or_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local listener");
        let port = listener.local_addr().expect("its address").port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("a connection");
            stream
                .write_all(
                    b"+PONG\r\n$13\r\nrole:master\r\n\r\n-LOADING Redis is loading\r\n$-1\r\n",
                )
                .expect("the replies are sent");
            // Until the client hangs up: closing with its commands unread would reset the
            // connection, and the client could lose replies it has not read yet.
            let _ = stream.read_to_end(&mut Vec::new());
        });
        let mut conn = Resp::connect(port, Duration::from_secs(5)).expect("connected");
        assert_eq!(conn.ask(&["PING"]).expect("a simple string"), "PONG");
        assert_eq!(
            conn.ask(&["INFO", "replication"]).expect("a bulk string"),
            "role:master\r\n"
        );
        let error = conn.ask(&["PING"]).expect_err("an error reply");
        assert_eq!(error.to_string(), "LOADING Redis is loading");
        let nil = conn.ask(&["GET", "k"]).expect_err("a nil is not text");
        assert_eq!(nil.kind(), io::ErrorKind::InvalidData);
        drop(conn);
        server.join().expect("the fake server");
    }

    #[test]
    fn nothing_listening_is_not_ready() {
        let port = free_port().expect("a free port");
        assert!(!answers_ping(port, None));
    }
}
