//! The documented example of a user's own server (`zato-server/examples/custom_service.rs`)
//! runs, and its services answer on a channel next to the built-in ones.

use std::time::Duration;

use serde_json::json;
use zato_tests::server::{ServerProcess, binary, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn a_users_own_services_run_on_their_own_server_binary() {
    let redis = RedisServer::start();
    let server = ServerProcess::start_binary(
        binary("examples/custom_service"),
        &redis,
        &unique_cluster(),
        "custom-1",
        &[],
    );
    let channel = json!({"name": "greet", "url_path": "/greet/{who}", "service": "demo.greet"});
    let created = server.admin("POST", "/zato/api/channels/http", Some(&channel));
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(eventually(Duration::from_secs(1), || server
        .call("GET", "/greet/ada", &[], None)
        .is_some_and(|r| r.status == 200)));
    let second = server.call("GET", "/greet/ada", &[], None).expect("answer");
    assert_eq!(second.json(), json!({"greeting": "hello, ada", "times": 2}));
    let third = server
        .call("GET", "/greet/ada", &[("X-Greeting", "ahoy")], None)
        .expect("answer");
    assert_eq!(third.json(), json!({"greeting": "ahoy, ada", "times": 3}));
    let services = server.admin("GET", "/zato/api/services", None).json();
    let names: Vec<&str> = services
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"demo.count") && names.contains(&"zato.ping"));
}
