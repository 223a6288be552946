//! Logging set-up shared by every binary.

use tracing_subscriber::EnvFilter;

/// Sends `tracing` output to stderr, filtered by `ZATO_LOG` (or `RUST_LOG`), e.g.
/// `ZATO_LOG=info,zato_broker=debug`.
///
/// Colour only on a terminal. Under systemd (`JOURNAL_STREAM` is set) lines carry no
/// timestamp either: journald stamps them itself.
pub fn init(default_filter: &str) {
    let filter = std::env::var("ZATO_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests that start several members in one process) keeps the first set-up.
    let _already_set = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).try_init()
    } else {
        builder.try_init()
    };
}
