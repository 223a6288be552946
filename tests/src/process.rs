//! One real member process (server, scheduler, connector) run by a test: its environment,
//! its log file, its health, and how it ends (kill -9 or SIGTERM).

use crate::RedisAccess;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;
use crate::server::send;

/// A running member binary.
pub struct MemberProcess {
    child: Option<Child>,
    pub member: String,
    /// `http://127.0.0.1:<port>` of its listener; `https://` when `ZATO_TLS_CERT_PATH` is set.
    pub url: String,
    pub log: PathBuf,
}

impl MemberProcess {
    /// Starts `program` as `member` of `cluster` on a free port, with the test defaults
    /// `defaults` and then `env` over them (both `ZATO_*` variables), logging to a file.
    /// A TLS Redis's CA goes in `ZATO_BROKER__REDIS_CA_PATH` unless `env` says otherwise.
    pub fn spawn(
        program: PathBuf,
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        defaults: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "zato-test-{member}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(&program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ZATO_LOG", "info")
            .env("ZATO_CLUSTER", cluster)
            .env("ZATO_MEMBER", member)
            .env("ZATO_REDIS_URL", redis.url())
            .env("ZATO_BIND", format!("127.0.0.1:{port}"));
        if let Some(ca) = redis.ca_path() {
            cmd.env("ZATO_BROKER__REDIS_CA_PATH", ca);
        }
        for (k, v) in defaults.iter().chain(env) {
            cmd.env(k, v);
        }
        let https = env
            .iter()
            .any(|(k, v)| *k == "ZATO_TLS_CERT_PATH" && !v.is_empty());
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        Self {
            child: Some(child),
            member: member.to_owned(),
            url: format!(
                "{}://127.0.0.1:{port}",
                if https { "https" } else { "http" }
            ),
            log,
        }
    }

    /// Whether `/zato/health` answers 200 now.
    pub fn is_healthy(&self) -> bool {
        send("GET", &format!("{}/zato/health", self.url), &[], None)
            .is_some_and(|a| a.status == 200)
    }

    /// Waits until `/zato/health` answers 200; panics with the log otherwise.
    pub fn wait_healthy(&self, limit: Duration) {
        self.wait_healthy_by(limit, |_| self.is_healthy());
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its resident memory (VmRSS) in kB while it runs.
    pub fn rss_kb(&self) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))
            .ok()?
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Waits until `healthy` holds for the URL of `/zato/health` (for a client other than
    /// the tests' own, such as curl for HTTPS); panics with the log otherwise.
    pub fn wait_healthy_by(&self, limit: Duration, healthy: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        let url = format!("{}/zato/health", self.url);
        while Instant::now() < deadline {
            if healthy(&url) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not become healthy; its log:\n{}",
            self.member,
            self.logs()
        );
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; the exit status once it has stopped (within `limit`, else it is killed).
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        crate::local_server::stop_child(&mut child, "TERM", limit)
    }

    /// Its exit status once it has exited by itself (within `limit`); `None` while it runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for MemberProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
