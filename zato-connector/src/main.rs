//! `zato-connector [--config connector.toml]`

use anyhow::{Context as _, anyhow};
use zato_common::process::config_path_from_args;
use zato_connector::{Connector, ConnectorSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let path = config_path_from_args("zato-connector").map_err(|usage| anyhow!(usage))?;
    let settings = ConnectorSettings::load(path.as_deref()).context("loading settings")?;
    Connector::new(settings)
        .run()
        .await
        .context("zato-connector")
}
