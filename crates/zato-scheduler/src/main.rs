//! `zato-scheduler [--config scheduler.toml]`

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use zato_scheduler::SchedulerSettings;

fn config_path() -> anyhow::Result<Option<PathBuf>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--config" | "-c"), Some(path), None) => Ok(Some(PathBuf::from(path))),
        (Some("--help" | "-h"), _, _) => {
            println!(
                "usage: zato-scheduler [--config scheduler.toml]\n\nEvery setting can also be given as a ZATO_* environment variable (see README)."
            );
            std::process::exit(0);
        }
        _ => bail!("usage: zato-scheduler [--config scheduler.toml]"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let settings =
        SchedulerSettings::load(config_path()?.as_deref()).context("loading settings")?;
    zato_scheduler::run_until(settings, zato_scheduler::shutdown_signal())
        .await
        .context("zato-scheduler")
}
