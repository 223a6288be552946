//! Python services built into WebAssembly components for the tests, the way a user builds
//! them (`zato service build`, which runs componentize-py), and deploying them.
//!
//! A build takes seconds, so each is kept under `target/wasm-guests`, named by the SHA-256 of
//! everything that goes into it (the service's source, the SDK, the WIT), and reused by
//! every later test and run until one of those changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::server::{ADMIN_TOKEN, Answer, ServerProcess, binary};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where built guests and the test servers' compiled code are kept.
pub fn target_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join(name)
}

/// The hash of what a guest is built from.
fn inputs_hash(source: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    let sdk = workspace().join("sdk/python/zato_service");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sdk)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.push(workspace().join("zato-wasm/wit/service.wit"));
    files.sort();
    for file in files {
        hasher.update(std::fs::read(&file).unwrap_or_default());
    }
    hasher
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `tests/peers/wasm/<name>.py` built into a component.
pub fn guest(name: &str) -> PathBuf {
    let path = workspace().join(format!("tests/peers/wasm/{name}.py"));
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} reads: {e}", path.display()));
    build(name, &source)
}

/// A Python service module called `module` with this source, built into a component.
pub fn build(module: &str, source: &str) -> PathBuf {
    let dir = target_dir("wasm-guests");
    let output = dir.join(format!("{module}-{}.wasm", inputs_hash(source)));
    if output.exists() {
        return output;
    }
    let work = std::env::temp_dir().join(format!("zato-guest-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&work).expect("a temporary directory");
    let file = work.join(format!("{module}.py"));
    std::fs::write(&file, source).expect("the service's source is written");
    std::fs::create_dir_all(&dir).expect("target/wasm-guests");
    // Built beside the final name and renamed, so tests building the same guest at once
    // never read half a file.
    let partial = work.join("out.wasm");
    let built = Command::new(binary("zato"))
        .args(["service", "build"])
        .arg(&file)
        .arg("-o")
        .arg(&partial)
        .output()
        .expect("zato runs");
    assert!(
        built.status.success(),
        "zato service build {module}.py failed (is componentize-py installed? scripts/test installs it):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::copy(&partial, output.with_extension("partial")).expect("the component is kept");
    std::fs::rename(output.with_extension("partial"), &output).expect("the component is kept");
    let _ = std::fs::remove_dir_all(&work);
    output
}

/// Deploys the component at `path` as `name` through the admin API, with `query` (e.g.
/// `deadline_ms=500`).
pub fn deploy(server: &ServerProcess, name: &str, path: &Path, query: &str) -> Answer {
    let bytes = std::fs::read(path).expect("the component reads");
    deploy_bytes(server, name, bytes, query)
}

/// Deploys `bytes` as `name`.
pub fn deploy_bytes(server: &ServerProcess, name: &str, bytes: Vec<u8>, query: &str) -> Answer {
    let url = format!("{}/zato/api/services/{name}?{query}", server.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .build()
        .into();
    let mut response = agent
        .post(&url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/wasm")
        .header("x-zato-actor", "tests@zato")
        .send(&bytes[..])
        .unwrap_or_else(|e| panic!("{} did not answer the deployment: {e}", server.member));
    Answer {
        status: response.status().as_u16(),
        headers: Vec::new(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}
