//! `zato-scheduler [--config scheduler.toml]`

use anyhow::{Context as _, anyhow};
use zato_common::process::{config_path_from_args, shutdown_signal};
use zato_scheduler::SchedulerSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let path = config_path_from_args("zato-scheduler").map_err(|usage| anyhow!(usage))?;
    let settings = SchedulerSettings::load(path.as_deref()).context("loading settings")?;
    zato_scheduler::run_until(settings, shutdown_signal())
        .await
        .context("zato-scheduler")
}
