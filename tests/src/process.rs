//! One real member process (server, scheduler, connector) run by a test: its environment,
//! its log file, its health, and how it ends (kill -9 or SIGTERM).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::server::send;
use crate::{RedisServer, free_port};

/// A running member binary.
pub struct MemberProcess {
    child: Option<Child>,
    pub member: String,
    /// `http://127.0.0.1:<port>` of its listener.
    pub url: String,
    pub log: PathBuf,
}

impl MemberProcess {
    /// Starts `program` as `member` of `cluster` on a free port, with the test defaults
    /// `defaults` and then `env` over them (both `ZATO_*` variables), logging to a file.
    pub fn spawn(
        program: PathBuf,
        redis: &RedisServer,
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
        for (k, v) in defaults.iter().chain(env) {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        Self {
            child: Some(child),
            member: member.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits until `/zato/health` answers 200; panics with the log otherwise.
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if send("GET", &format!("{}/zato/health", self.url), &[], None)
                .is_some_and(|a| a.status == 200)
            {
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
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
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
