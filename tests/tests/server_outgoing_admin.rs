//! The admin API of AMQP and ZeroMQ objects on a real server: references are checked,
//! credentials never shown, and a send with no connector running fails clearly.

use serde_json::json;
use zato_tests::server::ServerProcess;
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn amqp_and_zmq_objects_are_checked_and_credentials_hidden() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-a", &[]);
    let definition = json!({"name": "rabbit", "url": "amqp://guest:s3cr3t-pw@127.0.0.1:5672/%2f"});
    let created = server.admin("POST", "/zato/api/amqp/definitions", Some(&definition));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["url"], "amqp://guest:***@127.0.0.1:5672/%2f");
    let listed = server.admin("GET", "/zato/api/amqp/definitions", None);
    assert!(!listed.body.contains("s3cr3t-pw"), "{}", listed.body);

    let orphan = json!({"name": "c", "definition": "nope", "queue": "q", "service": "zato.record"});
    let refused = server.admin("POST", "/zato/api/channels/amqp", Some(&orphan));
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("no AMQP definition 'nope'")),
        "{}",
        refused.body
    );
    let channel =
        json!({"name": "c", "definition": "rabbit", "queue": "q", "service": "zato.record"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/amqp", Some(&channel))
            .status,
        201
    );
    let outgoing =
        json!({"name": "out", "definition": "rabbit", "exchange": "x", "routing_key": "k"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/outgoing/amqp", Some(&outgoing))
            .status,
        201
    );
    let in_use = server.admin("DELETE", "/zato/api/amqp/definitions/rabbit", None);
    assert_eq!(in_use.status, 409, "{}", in_use.body);

    let zmq = json!({"name": "z", "address": "tcp://127.0.0.1:5999", "socket_type": "PULL", "bind": true, "service": "zato.record"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/zmq", Some(&zmq))
            .status,
        201
    );
    let bad_zmq = json!({"name": "z2", "address": "5999", "socket_type": "PUSH"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/outgoing/zmq", Some(&bad_zmq))
            .status,
        400
    );

    // Nobody holds the connector lease: the publish says so at once instead of hanging.
    let started = std::time::Instant::now();
    let publish = server.admin(
        "POST",
        "/zato/api/outgoing/amqp/out/publish",
        Some(&json!({"body": "hi"})),
    );
    assert_eq!(publish.status, 503, "{}", publish.body);
    assert!(
        publish.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("no connector is active"))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
