//! The admin API's OpenAPI document, and a schema-driven fuzzer we did not write
//! (schemathesis) run against a live server: no 5xx, no response that breaks the schema.

use std::process::Command;

use zato_tests::server::{ADMIN_TOKEN, ServerProcess};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn the_openapi_document_is_served_and_schemathesis_finds_no_server_error() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-a", &[]);
    let doc = server.get("/zato/api/openapi.json").expect("answer");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/zato/api/channels/http"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["schemas"]["Job"].is_object());

    if Command::new("st").arg("--version").output().is_err() {
        eprintln!(
            "note: schemathesis (`st`) is not installed; scripts/test installs it. Skipping the fuzzing run."
        );
        return;
    }
    // Sends through outgoing connections answer 503 by design when no connector runs (and
    // 502/504 when the outside system fails): they are not part of this run.
    let run = Command::new("st")
        .args(["run", &format!("{}/zato/api/openapi.json", server.url)])
        .args(["--header", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--exclude-path-regex", "/(publish|send)$"])
        .args([
            "--phases",
            "examples,fuzzing",
            "--max-examples",
            "25",
            "--generation-deterministic",
        ])
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(report.contains("Tested:"), "{report}");
    assert!(
        server.get("/zato/health").is_some_and(|h| h.status == 200),
        "the server is still healthy"
    );
}
