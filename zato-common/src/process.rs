//! What every binary does the same way at its edges: reading `--config`, naming itself, and
//! waiting for SIGTERM or SIGINT.

use std::path::PathBuf;

use tracing::{info, warn};

/// The `--config FILE` of a binary's command line (`None` without one).
///
/// `--help` prints the usage and exits; anything else is an error carrying the usage.
pub fn config_path_from_args(binary: &str) -> Result<Option<PathBuf>, String> {
    let usage = format!(
        "usage: {binary} [--config {}.toml]",
        binary.trim_start_matches("zato-")
    );
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--config" | "-c"), Some(path), None) => Ok(Some(PathBuf::from(path))),
        (Some("--help" | "-h"), _, _) => {
            println!(
                "{usage}\n\nEvery setting can also be given as a ZATO_* environment variable \
                 (ZATO_REDIS_URL, ZATO_CLUSTER, ZATO_MEMBER, ZATO_BIND, ...; nested ones with __, \
                 e.g. ZATO_BROKER__LEASE_TTL_MS)."
            );
            std::process::exit(0);
        }
        _ => Err(usage),
    }
}

/// The member name a binary takes when none is configured: `<role>-<host>-<port>`, which is
/// stable across restarts and unique per host and listening port.
pub fn default_member(role: &str, bind: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let port = bind.rsplit(':').next().unwrap_or("0");
    format!("{role}-{host}-{port}")
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_members_name_role_and_port() {
        let member = default_member("server", "127.0.0.1:17010");
        assert!(
            member.starts_with("server-") && member.ends_with("-17010"),
            "{member}"
        );
    }
}
