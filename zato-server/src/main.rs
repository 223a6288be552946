//! `zato-server [--config server.toml]`

use anyhow::{Context as _, anyhow};
use zato_common::process::config_path_from_args;
use zato_server::{Server, ServerSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let path = config_path_from_args("zato-server").map_err(|usage| anyhow!(usage))?;
    let settings = ServerSettings::load(path.as_deref()).context("loading settings")?;
    Server::new(settings).run().await.context("zato-server")
}
