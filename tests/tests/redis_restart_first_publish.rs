//! After a short Redis restart with no traffic in between, the first write of every kind
//! succeeds: an invoke_async, a config change, a job's fire and a connector's hand-over.
//! Each member's writer still holds its connection from before the restart; the first
//! write finds it dead and must be sent again on a fresh one, not fail to its caller.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use zato_tests::connector::{ConnectorProcess, run_peer, unique_name};
use zato_tests::records::recorded;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, free_port, unique_cluster};

#[test]
fn the_first_write_of_every_kind_after_a_redis_restart_succeeds() {
    let mut redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    assert!(eventually(Duration::from_secs(10), || scheduler.is_active()));
    assert!(eventually(Duration::from_secs(10), || connector.is_active()));

    let pull_address = format!("tcp://127.0.0.1:{}", free_port());
    let pull = json!({"name": "pull", "address": pull_address, "socket_type": "PULL",
                      "bind": true, "service": "zato.record"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/zmq", Some(&pull))
            .status,
        201
    );
    connector.wait_connected("zmq_channel", "pull", Duration::from_secs(10));
    // Fires once, some seconds after the restart: the scheduler's first write then.
    let at = Timestamp::now() + SignedDuration::from_secs(6);
    let job = json!({"name": "after-restart", "service": "zato.record", "kind": "one_time",
                     "start_at": at.to_string(), "payload": {"key": "job"}});
    assert_eq!(
        server.admin("POST", "/zato/api/jobs", Some(&job)).status,
        201
    );

    redis.kill();
    std::thread::sleep(Duration::from_secs(1));
    redis.restart();
    assert!(
        eventually(Duration::from_secs(10), || server
            .get("/zato/health")
            .is_some_and(|r| r.status == 200)),
        "health goes green again; log:\n{}",
        server.logs()
    );

    // invoke_async: the first publish of the server's writer.
    let sent = server.admin(
        "POST",
        "/zato/api/invoke-async/zato.record",
        Some(&json!({"key": "async"})),
    );
    assert_eq!(sent.status, 202, "{}; log:\n{}", sent.body, server.logs());
    // A config change.
    let channel = json!({"name": "late", "url_path": "/late", "service": "zato.ping"});
    let created = server.admin("POST", "/zato/api/channels/http", Some(&channel));
    assert_eq!(created.status, 201, "{}", created.body);
    // The connector's hand-over.
    let key = unique_name("zmq-after");
    run_peer("zmq_peer.py", &["push", &pull_address, "1", &key]);

    for (what, key) in [
        ("invoke_async", "async"),
        ("job fire", "job"),
        ("zmq", &key),
    ] {
        assert!(
            eventually(Duration::from_secs(15), || !recorded(&redis, &cluster, key)
                .is_empty()),
            "the {what} was not recorded; server log:\n{}\nscheduler log:\n{}\nconnector log:\n{}",
            server.logs(),
            scheduler.logs(),
            connector.logs()
        );
    }
    assert!(eventually(Duration::from_secs(5), || server
        .call("GET", "/late", &[], None)
        .is_some_and(|r| r.status == 200)));
}
