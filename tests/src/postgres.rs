//! A PostgreSQL of the test's own: `initdb` into a scratch directory, then `postgres` on a
//! free port, so a test may fill it, kill it or restart it without touching anybody else's
//! (a cluster the machine runs as a service is left alone). `scripts/test` installs the
//! binaries; the newest `/usr/lib/postgresql/<version>/bin` is used.
//!
//! PostgreSQL refuses to run as root, and the tests do run as root: `initdb` and `postgres`
//! then run as the `postgres` OS user, through `setpriv`, which execs rather than forks (so the
//! child we hold is the postmaster itself), in a directory chown'ed to that user.
//!
//! Two kinds of login, so that a test can check both a password that works and one that does
//! not: the superuser `postgres` is trusted (on the socket and on 127.0.0.1), every other role
//! has to give its password (scram-sha-256) over TCP. [`USER`] with [`PASSWORD`] owns
//! [`DATABASE`].
//!
//! Quick rather than safe: `fsync=off` and 16 MB of shared buffers. A commit is still written
//! to the kernel before it is acknowledged, so what a client saw committed survives
//! [`PostgresServer::kill`] (a process crash), though not a crash of the machine.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;
use crate::local_server::{client_output, run, running_as_root, scratch_dir, signal, wait_ready};

/// The role tests connect as (not a superuser).
pub const USER: &str = "zato";
/// [`USER`]'s password.
pub const PASSWORD: &str = "zato-pg-password";
/// The database [`USER`] owns.
pub const DATABASE: &str = "test";
/// The superuser, trusted without a password.
pub const SUPERUSER: &str = "postgres";
/// The OS user the server runs as when the tests run as root.
const OS_USER: &str = "postgres";

/// Where Debian installs each major version, `<version>/bin`.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";
/// How long a start (crash recovery included) may take on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long [`PostgresServer::stop`] waits for a fast shutdown before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Trust for the superuser, a password for everybody else over TCP (the first matching line
/// wins).
const PG_HBA: &str = "\
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
";

/// A `postgres` process owned by one test; its scratch directory (data, socket, log) goes
/// with it.
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PostgresServer {
    /// A new cluster on a free port with [`USER`] and [`DATABASE`], accepting connections.
    pub fn start() -> Self {
        let mut server = Self {
            bin: bin_dir(),
            dir: scratch_dir("postgres"),
            port: 0,
            child: None,
        };
        std::fs::create_dir_all(server.socket_dir()).expect("PostgreSQL socket dir");
        if running_as_root() {
            run(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{OS_USER}:{OS_USER}"))
                    .arg(&server.dir),
                "chown of the PostgreSQL scratch dir",
            );
        }
        run(
            server
                .as_owner("initdb")
                .arg("-D")
                .arg(server.data_dir())
                .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
                .args(["--no-sync", "--no-instructions"]),
            "initdb (scripts/test installs PostgreSQL)",
        );
        std::fs::write(server.data_dir().join("pg_hba.conf"), PG_HBA).expect("pg_hba.conf");
        // The port last, so that another test has less time to take it.
        server.port = free_port();
        server.spawn();
        // One statement a call: CREATE DATABASE cannot run in the implicit transaction of a
        // multi-statement query.
        let setup = [
            format!("CREATE ROLE {USER} LOGIN"),
            format!("ALTER ROLE {USER} PASSWORD '{PASSWORD}'"),
            format!("CREATE DATABASE {DATABASE} OWNER {USER}"),
        ];
        for sql in setup {
            if let Err(e) = server.try_psql("postgres", &sql) {
                panic!("setup of the test PostgreSQL, {sql:?}: {e}");
            }
        }
        server
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgresql://zato:<password>@127.0.0.1:<port>/test`: [`USER`] on [`DATABASE`].
    pub fn url(&self) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// `postgresql://postgres@127.0.0.1:<port>/test`: the superuser, without a password.
    pub fn superuser_url(&self) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// kill -9 of the postmaster and every backend (its whole process group), as in a crash
    /// of the server: open connections break at once. Returns once they are all gone, so
    /// that [`PostgresServer::restart`] finds no old process holding the shared memory.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(child);
        }
    }

    /// A fast shutdown (SIGINT: open transactions are rolled back, clients disconnected, a
    /// checkpoint written); kill -9 if it takes longer than 20 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal("INT", &child.id().to_string());
        let deadline = Instant::now() + STOP_GRACE;
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if Instant::now() >= deadline {
                eprintln!("test PostgreSQL did not stop within {STOP_GRACE:?}; killing it");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(child);
    }

    /// Starts again on the same port with the same data directory (after a kill -9 if it
    /// still runs; [`PostgresServer::stop`] first for a clean restart) and waits until it
    /// accepts connections again, crash recovery included.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs `sql` (one or more statements) with the `psql` CLI as the superuser in
    /// [`DATABASE`]; its output unaligned and without headers (`-At`: one row a line,
    /// columns split by `|`). Panics if psql fails.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(DATABASE, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }

    /// Runs `sql` in [`DATABASE`] as `user` with `password` over TCP (so pg_hba.conf's
    /// password rule applies): the output as [`PostgresServer::psql`] gives it, or psql's
    /// error (a refused password, a failed statement, a server that is down).
    pub fn psql_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        client_output(
            self.psql_command(DATABASE, sql)
                .args(["-h", "127.0.0.1", "-U", user])
                .env("PGPASSWORD", password),
        )
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `sql` in `database` as the superuser over the socket.
    fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        client_output(
            self.psql_command(database, sql)
                .arg("-h")
                .arg(self.socket_dir())
                .args(["-U", SUPERUSER]),
        )
    }

    /// psql on our port running `sql` in `database`, stopping at the first error, with no
    /// psqlrc, password file or `PG*` settings of the environment.
    fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        for var in ["PGPASSWORD", "PGUSER", "PGDATABASE", "PGHOST", "PGSERVICE"] {
            cmd.env_remove(var);
        }
        cmd.env("PGPASSFILE", self.dir.join("no-pgpass"))
            .env("PGCONNECT_TIMEOUT", "5")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .stdin(Stdio::null());
        cmd
    }

    /// Starts the postmaster in a process group of its own (so [`PostgresServer::kill`] can
    /// take its backends too) and waits until it accepts connections.
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("PostgreSQL log file");
        let log_err = log.try_clone().expect("PostgreSQL log file");
        let settings = [
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "full_page_writes=off",
            "shared_buffers=16MB",
            "huge_pages=off",
            "timezone=UTC",
        ];
        let mut cmd = self.as_owner("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.socket_dir());
        for setting in settings {
            cmd.args(["-c", setting]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("postgres starts: {e}"));
        let what = format!("test PostgreSQL on port {}", self.port);
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        wait_ready(&mut child, &what, &self.log_path(), READY_WITHIN, || {
            Command::new(&isready)
                .args(["-q", "-h", "127.0.0.1", "-p", &port])
                .args(["-U", SUPERUSER, "-d", "postgres", "-t", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        self.child = Some(child);
    }

    /// `program` of the PostgreSQL installation, run as [`OS_USER`] when we are root, in the
    /// scratch directory (which that user may enter, unlike root's working directory).
    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if running_as_root() {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={OS_USER}"))
                .arg(format!("--regid={OS_USER}"))
                .args(["--init-groups", "--"])
                .arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir).env("LC_ALL", "C");
        cmd
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("socket")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `bin` directory of the newest PostgreSQL under /usr/lib/postgresql.
fn bin_dir() -> PathBuf {
    let newest = std::fs::read_dir(INSTALL_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max();
    match newest {
        Some((_, bin)) => bin,
        None => panic!("no PostgreSQL in {INSTALL_ROOT}/*/bin (scripts/test installs it)"),
    }
}

/// kill -9 of the process group `postmaster` leads; returns once none of it runs any more
/// (within 10 s).
fn kill_group(mut postmaster: Child) {
    let group = postmaster.id();
    signal("KILL", &format!("-{group}"));
    let _ = postmaster.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while group_alive(group) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process of group `group` still runs (zombies, which hold nothing, do not count).
fn group_alive(group: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1);
        state != Some("Z") && pgrp == Some(group.to_string().as_str())
    })
}
