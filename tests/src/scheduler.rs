//! Running real `zato-scheduler` binaries in tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{binary, send};
use crate::{RedisServer, free_port};

/// One `zato-scheduler` process.
pub struct SchedulerProcess {
    child: Option<Child>,
    pub member: String,
    pub url: String,
    pub log: PathBuf,
}

impl SchedulerProcess {
    /// Starts a scheduler of `cluster` called `member` and waits until its health is green.
    pub fn start(redis: &RedisServer, cluster: &str, member: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "zato-test-{member}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary("zato-scheduler"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ZATO_LOG", "info")
            .env("ZATO_CLUSTER", cluster)
            .env("ZATO_MEMBER", member)
            .env("ZATO_REDIS_URL", redis.url())
            .env("ZATO_BIND", format!("127.0.0.1:{port}"))
            .env("ZATO_BROKER__BLOCK_MS", "200")
            .env("ZATO_BROKER__LEASE_TTL_MS", "2000")
            .env("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("zato-scheduler starts");
        let scheduler = Self {
            child: Some(child),
            member: member.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if send("GET", &format!("{}/zato/health", scheduler.url), &[], None)
                .is_some_and(|a| a.status == 200)
            {
                return scheduler;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{member} did not become healthy; its log:\n{}",
            scheduler.logs()
        );
    }

    /// Its `/zato/health` answer.
    pub fn health(&self) -> serde_json::Value {
        send("GET", &format!("{}/zato/health", self.url), &[], None)
            .map_or(serde_json::Value::Null, |a| a.json())
    }

    /// Whether it is the active scheduler now.
    pub fn is_active(&self) -> bool {
        self.health()["active"] == true
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (at most `limit`); whether it exited 0.
    pub fn terminate(&mut self, limit: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SchedulerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
