//! `zato-connector [--config connector.toml]`

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use zato_connector::{Connector, ConnectorSettings};

const USAGE: &str = "usage: zato-connector [--config connector.toml]";

fn config_path() -> anyhow::Result<Option<PathBuf>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--config" | "-c"), Some(path), None) => Ok(Some(PathBuf::from(path))),
        (Some("--help" | "-h"), _, _) => {
            println!(
                "{USAGE}\n\nEvery setting can also be given as a ZATO_* environment variable (ZATO_REDIS_URL, ZATO_CLUSTER, ZATO_MEMBER, ZATO_BIND, ...)."
            );
            std::process::exit(0);
        }
        _ => bail!(USAGE),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let path = config_path()?;
    let settings = ConnectorSettings::load(path.as_deref()).context("loading settings")?;
    Connector::new(settings)
        .run()
        .await
        .context("zato-connector")
}
