//! A MariaDB of the test's own: `mariadb-install-db` into a scratch directory, then `mariadbd`
//! on a free port, so a test may fill it, kill it or restart it without touching anybody
//! else's (a server the machine runs as a service is left alone). `scripts/test` installs
//! the binaries.
//!
//! `--no-defaults` everywhere: nothing of /etc/mysql applies, so the server is the same on
//! every machine (utf8mb4 and UTC are set here because of that). Root logs in over the socket
//! with an empty password; [`USER`] with [`PASSWORD`] (from any host) owns [`DATABASE`], so
//! a test can check both a password that works and one that does not.
//!
//! Quick rather than safe: 16 MB of buffer pool, a 4 MB redo log, no doublewrite, and the
//! redo log written (not flushed) at each commit, so what a client saw committed survives
//! [`MariadbServer::kill`] (a process crash), though not a crash of the machine.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::free_port;
use crate::local_server::{
    client_output, find_program, run, running_as_root, scratch_dir, stop_child, wait_ready,
};

/// The user tests connect as (not root).
pub const USER: &str = "zato";
/// [`USER`]'s password.
pub const PASSWORD: &str = "zato-mariadb-password";
/// The database [`USER`] has every privilege on.
pub const DATABASE: &str = "test";

/// How long a start (crash recovery included) may take on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long [`MariadbServer::stop`] waits for a shutdown before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Server options both `mariadb-install-db` (which bootstraps a server) and `mariadbd` get.
const SERVER_OPTIONS: &[&str] = &[
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=4M",
];

/// A `mariadbd` process owned by one test; its scratch directory (data, socket, log) goes
/// with it.
pub struct MariadbServer {
    server: PathBuf,
    client: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl MariadbServer {
    /// A new server on a free port with [`USER`] and [`DATABASE`], accepting connections.
    pub fn start() -> Self {
        fn missing(what: &str) -> ! {
            panic!("no {what} on PATH or in /usr/sbin (scripts/test installs it)")
        }
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])
            .unwrap_or_else(|| missing("mariadb-install-db"));
        let mut server = Self {
            server: find_program(&["mariadbd", "mysqld"]).unwrap_or_else(|| missing("mariadbd")),
            client: find_program(&["mariadb", "mysql"]).unwrap_or_else(|| missing("mariadb")),
            dir: scratch_dir("mariadb"),
            port: 0,
            child: None,
        };
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", server.data_dir().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(SERVER_OPTIONS)
            .args(server.user_option())
            .current_dir(&server.dir);
        run(
            &mut cmd,
            "mariadb-install-db (scripts/test installs MariaDB)",
        );
        // The port last, so that another test has less time to take it.
        server.port = free_port();
        server.spawn();
        let setup = format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';
             CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
             CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}';
             CREATE DATABASE {DATABASE};
             GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{USER}'@'%', '{USER}'@'127.0.0.1',
                 '{USER}'@'localhost';"
        );
        if let Err(e) = server.try_sql(None, &setup) {
            panic!("setup of the test MariaDB: {e}");
        }
        server
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://zato:<password>@127.0.0.1:<port>/test`: [`USER`] on [`DATABASE`].
    pub fn url(&self) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// kill -9, as in a crash of the server: open connections break at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A clean shutdown (SIGTERM); kill -9 if it takes longer than 30 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take()
            && stop_child(&mut child, "TERM", STOP_GRACE).is_none()
        {
            eprintln!("test MariaDB did not stop within {STOP_GRACE:?}; killed it");
        }
    }

    /// Starts again on the same port with the same data directory (after a kill -9 if it
    /// still runs; [`MariadbServer::stop`] first for a clean restart) and waits until it
    /// accepts connections again, crash recovery included.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs `statements` (one or more, `;`-separated) with the `mariadb` CLI as root over the
    /// socket in [`DATABASE`]; the output in batch mode without column names (one row a line,
    /// columns split by tabs). Panics if the CLI fails.
    pub fn sql(&self, statements: &str) -> String {
        self.try_sql(Some(DATABASE), statements)
            .unwrap_or_else(|e| panic!("mariadb {statements:?}: {e}"))
    }

    /// Runs `statements` in [`DATABASE`] as `user` with `password` over TCP: the output as
    /// [`MariadbServer::sql`] gives it, or the CLI's error (access denied, a failed
    /// statement, a server that is down).
    pub fn sql_as(&self, user: &str, password: &str, statements: &str) -> Result<String, String> {
        let mut cmd = self.client_command(Some(DATABASE), statements);
        cmd.args(["--protocol=TCP", "--host=127.0.0.1"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={user}"))
            .arg(format!("--password={password}"));
        client_output(&mut cmd)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `statements` as root over the socket, in `database` if one is given.
    fn try_sql(&self, database: Option<&str>, statements: &str) -> Result<String, String> {
        let mut cmd = self.client_command(database, statements);
        cmd.arg(format!("--socket={}", self.socket_path().display()))
            .arg("--user=root");
        client_output(&mut cmd)
    }

    /// The client in batch mode running `statements`, giving up on a server that does not
    /// answer within 5 s; the connection options are the caller's.
    fn client_command(&self, database: Option<&str>, statements: &str) -> Command {
        let mut cmd = Command::new(&self.client);
        // --no-defaults first: the client refuses it anywhere else.
        cmd.args(["--no-defaults", "--batch", "--skip-column-names"])
            .arg("--connect-timeout=5")
            .env_remove("MYSQL_PWD")
            .env_remove("MYSQL_HOST")
            .env_remove("MYSQL_TCP_PORT")
            .stdin(Stdio::null());
        if let Some(database) = database {
            cmd.arg(format!("--database={database}"));
        }
        cmd.arg(format!("--execute={statements}"));
        cmd
    }

    /// Starts `mariadbd` and waits until root gets an answer over the socket.
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("MariaDB log file");
        let log_err = log.try_clone().expect("MariaDB log file");
        let mut cmd = Command::new(&self.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket_path().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mariadbd.pid").display()
            ))
            .arg(format!("--tmpdir={}", self.dir.display()))
            .args(self.user_option())
            .args(SERVER_OPTIONS)
            .args([
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-doublewrite=0",
                // io_uring and libaio are often unavailable in containers.
                "--innodb-use-native-aio=0",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--default-time-zone=+00:00",
            ])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("mariadbd starts: {e}"));
        let what = format!("test MariaDB on port {}", self.port);
        wait_ready(&mut child, &what, &self.log_path(), READY_WITHIN, || {
            self.try_sql(None, "SELECT 1").is_ok()
        });
        self.child = Some(child);
    }

    /// `--user=root` when we are root: mariadbd refuses root unless told so.
    fn user_option(&self) -> Option<&'static str> {
        running_as_root().then_some("--user=root")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_path(&self) -> PathBuf {
        self.dir.join("mariadbd.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("mariadbd.log")
    }
}

impl Drop for MariadbServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
