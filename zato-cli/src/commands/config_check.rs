//! `zato config check FILE [--kind]`: loads a config file with the binary's own loader (the
//! file, then `ZATO_*` variables, then the checks), so what passes here starts there.

use std::path::Path;

use serde_json::json;
use zato_common::secret::url_without_password;
use zato_common::settings::{ConnectorSettings, SchedulerSettings, ServerSettings};

use crate::cli::ConfigKind;
use crate::output::Output;

pub fn run(out: Output, file: &Path, kind: Option<ConfigKind>) -> anyhow::Result<()> {
    let kind = kind.unwrap_or_else(|| guess(file));
    let (name, summary) = match kind {
        ConfigKind::Server => {
            let s = ServerSettings::load(Some(file)).map_err(|e| invalid(file, "server", e))?;
            (
                "server",
                json!({"cluster": s.cluster, "member": s.member, "bind": s.bind,
                "redis_url": url_without_password(&s.redis_url), "admin_token_set": !s.admin_token.is_empty()}),
            )
        }
        ConfigKind::Scheduler => {
            let s =
                SchedulerSettings::load(Some(file)).map_err(|e| invalid(file, "scheduler", e))?;
            (
                "scheduler",
                json!({"cluster": s.cluster, "member": s.member, "bind": s.bind,
                "redis_url": url_without_password(&s.redis_url)}),
            )
        }
        ConfigKind::Connector => {
            let s =
                ConnectorSettings::load(Some(file)).map_err(|e| invalid(file, "connector", e))?;
            (
                "connector",
                json!({"cluster": s.cluster, "member": s.member, "bind": s.bind,
                "redis_url": url_without_password(&s.redis_url)}),
            )
        }
    };
    let report = json!({"file": file.display().to_string(), "kind": name, "valid": true,
        "settings": summary});
    out.show(&report, |_| {
        println!("{} is a valid {name} config", file.display());
        for (field, value) in summary.as_object().into_iter().flatten() {
            println!("  {field}: {}", crate::output::cell(Some(value)));
        }
    });
    Ok(())
}

fn invalid(file: &Path, kind: &str, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{} is not a valid {kind} config: {error}", file.display())
}

/// The binary a file is for, from its name (`scheduler.toml`, `connector-b.toml`); a server
/// otherwise.
fn guess(file: &Path) -> ConfigKind {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains("scheduler") {
        ConfigKind::Scheduler
    } else if name.contains("connector") {
        ConfigKind::Connector
    } else {
        ConfigKind::Server
    }
}
