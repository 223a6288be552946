//! Running real `zato-scheduler` binaries in tests.

use crate::RedisAccess;
use std::time::Duration;

use crate::process::MemberProcess;
use crate::server::{binary, send};

/// One `zato-scheduler` process.
pub struct SchedulerProcess {
    process: MemberProcess,
}

impl std::ops::Deref for SchedulerProcess {
    type Target = MemberProcess;

    fn deref(&self) -> &MemberProcess {
        &self.process
    }
}

impl std::ops::DerefMut for SchedulerProcess {
    fn deref_mut(&mut self) -> &mut MemberProcess {
        &mut self.process
    }
}

impl SchedulerProcess {
    /// Starts a scheduler of `cluster` called `member` and waits until its health is green.
    pub fn start(
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let defaults = [
            ("ZATO_BROKER__BLOCK_MS", "200"),
            ("ZATO_BROKER__LEASE_TTL_MS", "2000"),
            ("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500"),
        ];
        let process = MemberProcess::spawn(
            binary("zato-scheduler"),
            redis,
            cluster,
            member,
            &defaults,
            env,
        );
        process.wait_healthy(Duration::from_secs(15));
        Self { process }
    }

    /// Its `/zato/health` answer.
    pub fn health(&self) -> serde_json::Value {
        send("GET", &format!("{}/zato/health", self.url), &[], None)
            .map_or(serde_json::Value::Null, |a| a.json())
    }

    /// Whether it is the active scheduler now.
    pub fn is_active(&self) -> bool {
        self.health()["lease"]["role"] == "active"
    }
}
