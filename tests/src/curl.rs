//! HTTPS requests through the `curl` command line: a TLS client we did not write, trusting
//! exactly the CA a test names (`--cacert`), so a test passes only if the server's certificate
//! really verifies.

use std::path::Path;
use std::process::Command;

use crate::server::Answer;

/// How curl ended when it got no HTTP answer.
#[derive(Debug)]
pub struct Failed {
    /// curl's exit code (35: TLS handshake failed, 52: empty reply, 56: receive failed,
    /// 60: certificate not trusted, ...).
    pub code: Option<i32>,
    pub stderr: String,
}

/// Sends `method url` with `headers` and `body`, trusting the CA in `ca` (or, with `None`,
/// the system's roots only); the answer, or how curl failed.
pub fn curl(
    ca: Option<&Path>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Answer, Failed> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    for (name, value) in headers {
        cmd.arg("-H").arg(format!("{name}: {value}"));
    }
    if let Some(body) = body {
        cmd.arg("--data-binary").arg(body);
    }
    let output = cmd
        .arg(url)
        .output()
        .expect("curl on PATH (scripts/test installs it)");
    if !output.status.success() {
        return Err(Failed {
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok(Answer {
        status: status.trim().parse().unwrap_or(0),
        headers: vec![],
        body: body.to_owned(),
    })
}
