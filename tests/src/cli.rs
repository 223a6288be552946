//! Running the `zato` command line in tests.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::server::{ADMIN_TOKEN, binary};

/// What one `zato` run did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }

    /// Asserts success and returns standard output.
    #[track_caller]
    pub fn expect_ok(&self) -> &str {
        assert!(self.ok(), "zato failed: {self:?}");
        &self.stdout
    }

    /// Asserts a failure (exit 1, nothing on stdout) whose message contains `text`.
    #[track_caller]
    pub fn expect_error(&self, text: &str) {
        assert_eq!(self.code, Some(1), "zato should have failed: {self:?}");
        assert!(
            self.stderr.starts_with("zato: ") && self.stderr.contains(text),
            "expected '{text}' in: {self:?}"
        );
    }
}

/// Runs `zato args` with a clean environment (no ZATO_* of the caller's) plus `env`.
pub fn zato(args: &[&str], env: &[(&str, &str)]) -> Run {
    zato_in(None, args, env)
}

/// Runs `zato args` in `dir`.
pub fn zato_in(dir: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(binary("zato"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("zato runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `zato args` against the server at `url` with the test admin token.
pub fn admin(url: &str, args: &[&str]) -> Run {
    zato(
        args,
        &[("ZATO_URL", url), ("ZATO_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}
