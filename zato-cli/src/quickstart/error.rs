//! Why a quickstart could not start or keep running.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    #[error("cannot use {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{name} not found next to {exe} nor on PATH (build it: cargo build --release --bins)")]
    MissingBinary { name: String, exe: String },
    #[error("cannot start {name}: {error}")]
    Spawn { name: String, error: std::io::Error },
    #[error("port {port} is in use (another quickstart? pick others with --base-port)")]
    PortInUse { port: u16 },
    #[error("{name} exited ({status}) before it was ready; its log {log}:\n{tail}")]
    ExitedEarly {
        name: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} was not ready within {secs} s; its log {log}:\n{tail}")]
    NotReady {
        name: String,
        secs: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} exited ({status}) while the cluster was running; see {log}")]
    Died {
        name: String,
        status: String,
        log: PathBuf,
    },
    #[error("cannot make the secret key: {0}")]
    SecretKey(zato_common::sealed::SealError),
    #[error("stopped by a signal before the cluster was ready")]
    Interrupted,
    #[error("cannot create the demo objects: {0}")]
    Demo(String),
}

pub type Result<T> = std::result::Result<T, QuickstartError>;

/// Attaches the path to an I/O error.
pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> QuickstartError {
    let path = path.into();
    move |error| QuickstartError::Io { path, error }
}
