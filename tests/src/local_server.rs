//! What the test's own database servers ([`crate::postgres`], [`crate::mariadb`]) have in
//! common: a scratch directory, finding a binary that may live in an `sbin`, running a setup
//! command or panicking with its output, waiting until the server answers (or panicking with
//! its log), and signals sent by the `kill` command (the crate has no libc).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How many lines of a server's log a panic shows.
const LOG_LINES: usize = 60;

/// A new empty directory `/tmp/zato-test-<kind>-<uuid>`.
pub fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "zato-test-{kind}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("scratch dir {}: {e}", dir.display()));
    dir
}

/// The first of `names` found on PATH or in the `sbin` directories, which a non-login root
/// shell may not have on its PATH (Debian puts `mariadbd` in /usr/sbin).
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Whether the tests run as root (the effective uid in /proc/self/status is 0): PostgreSQL
/// then has to be run as another user, and MariaDB has to be told that root is meant.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            // Uid: real effective saved filesystem
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}

/// Runs `cmd` to its end; its stdout, or a panic naming `what` with everything it printed.
pub fn run(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a client command to its end: its stdout without the final newline, or its stderr
/// (a refused login, an SQL error) if it failed.
pub fn client_output(cmd: &mut Command) -> Result<String, String> {
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if output.status.success() {
        let out = String::from_utf8_lossy(&output.stdout);
        Ok(out.trim_end_matches(['\n', '\r']).to_owned())
    } else {
        Err(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The last lines of the log at `path`, for panic messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
}

/// Waits until `ready` holds, asking every 30 ms; panics (with the log at `log`) if `child`
/// exits first or `limit` passes. `what` names the server in the message.
pub fn wait_ready(
    child: &mut Child,
    what: &str,
    log: &Path,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}) before it accepted connections; its log {}:\n{}",
                log.display(),
                log_tail(log)
            );
        }
        if ready() {
            return;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not accept connections within {} s; its log {}:\n{}",
                limit.as_secs(),
                log.display(),
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Sends `signal` (`KILL`, `TERM`, `INT`) to `target`: a pid, or `-<pgid>` for a whole
/// process group. Quietly: the target may be gone already.
pub fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .stderr(std::process::Stdio::null())
        .status();
}

/// Sends `sig` to `child` and waits up to `grace` for it to exit; SIGKILL after that. How it
/// ended, `None` if it had to be killed.
pub fn stop_child(child: &mut Child, sig: &str, grace: Duration) -> Option<ExitStatus> {
    signal(sig, &child.id().to_string());
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
