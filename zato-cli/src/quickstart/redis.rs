//! The quickstart's own `redis-server`: data in the quickstart's directory with
//! `appendonly yes` (so a second run finds the same cluster) and `noeviction` (Redis holds
//! the cluster's queues and config: evicting any of it would lose work), as in production.
//!
//! The command line and the readiness check are the shared launcher's
//! ([`zato_common::redis_server`]); the process itself is a [`Supervised`] child like every
//! other the quickstart runs, so it shares their process group, their death signal, their log
//! directory and their stop order (the Zato processes first, then Redis, each with SIGTERM).

use std::path::Path;
use std::time::{Duration, Instant};

use zato_common::redis_server::Launch;

use super::error::{QuickstartError, Result, io};
use super::processes::{Supervised, find_binary};
use super::signals;

/// How long Redis may take to answer `PING` (it reloads the appendonly file of earlier runs).
const READY_WITHIN: Duration = Duration::from_secs(20);

/// Starts `redis-server` on `port` with its data in `dir`, and waits until it answers.
pub fn start(dir: &Path, port: u16, logs: &Path) -> Result<Supervised> {
    let data = dir.join("redis");
    std::fs::create_dir_all(&data).map_err(io(&data))?;
    let launch = Launch::new(port, &data)
        .program(find_binary("redis-server")?)
        .appendonly()
        .args(["--maxmemory-policy", "noeviction"]);
    let mut redis = Supervised::spawn(
        "redis-server",
        launch.program_path(),
        launch.command_args(),
        &logs.join("redis.log"),
    )?;
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if launch.is_ready() {
            return Ok(redis);
        }
        if signals::stop_requested() {
            return Err(QuickstartError::Interrupted);
        }
        if let Some(status) = redis.exited() {
            return Err(QuickstartError::ExitedEarly {
                name: redis.name.clone(),
                status,
                log: redis.log.clone(),
                tail: redis.log_tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(QuickstartError::NotReady {
        name: redis.name.clone(),
        secs: READY_WITHIN.as_secs(),
        log: redis.log.clone(),
        tail: redis.log_tail(),
    })
}
