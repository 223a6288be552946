//! Members on a Redis that speaks TLS only (`rediss://`, no plain port at all, so every
//! connection of every member, pooled or dedicated, must be TLS): trusting a private CA through
//! `broker.redis_ca_path`, refusing a certificate they cannot verify, and `#insecure`.

use std::time::Duration;

use serde_json::json;
use zato_tests::cli::zato;
use zato_tests::records::recorded;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, binary, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn a_server_and_a_scheduler_work_through_a_tls_redis_with_a_private_ca() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let cluster = unique_cluster();
    // Both start with the CA in ZATO_BROKER__REDIS_CA_PATH and wait for a green health.
    let server = ServerProcess::start(&redis, &cluster, "server-tls", &[]);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-tls", &[]);

    // invoke-async: the admin API publishes to 1:any, a consumer on a dedicated connection
    // reads it, zato.record writes through the pool.
    let records = server.record_async(
        &redis,
        &cluster,
        json!({"key": "over-tls", "n": 1}),
        Duration::from_secs(10),
    );
    assert_eq!(records[0]["payload"]["n"], 1);

    // A job: the config change reaches the scheduler over 1:all, its fire comes back on 1:any.
    let job = json!({"name": "tick", "service": "zato.record", "kind": "interval",
                     "interval": {"seconds": 1}, "payload": {"key": "tls-ticks"}});
    let created = server.admin("POST", "/zato/api/jobs", Some(&job));
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        eventually(Duration::from_secs(10), || !recorded(
            &redis,
            &cluster,
            "tls-ticks"
        )
        .is_empty()),
        "the job did not fire; scheduler log:\n{}",
        scheduler.logs()
    );

    assert_eq!(server.get("/zato/health").map(|a| a.status), Some(200));
    assert_eq!(scheduler.health()["status"], "ok", "{}", scheduler.health());
    assert!(scheduler.is_active());

    // The command line reaches the same Redis with the same CA.
    let ca = redis.ca_path().and_then(|p| p.to_str()).expect("CA path");
    let url = redis.url();
    let args = [
        "dlq",
        "list",
        "--json",
        "--redis-url",
        &url,
        "--cluster",
        &cluster,
    ];
    let run = zato(&[&args[..], &["--redis-ca-path", ca]].concat(), &[]);
    assert_eq!(run.json(), json!([]), "{run:?}");
}

#[test]
fn a_certificate_the_member_cannot_verify_is_refused_and_insecure_skips_the_check() {
    let redis = RedisServer::start_tls();
    let cluster = unique_cluster();

    // No CA: the system's roots do not know the test CA, so nothing connects. The server
    // runs, says why in its log, and reports Redis as down.
    let untrusting = ServerProcess::spawn(
        binary("zato-server"),
        &redis,
        &cluster,
        "server-untrusting",
        &[("ZATO_BROKER__REDIS_CA_PATH", "")],
    );
    assert!(
        eventually(Duration::from_secs(10), || untrusting
            .logs()
            .contains("lost redis")),
        "{}",
        untrusting.logs()
    );
    let health = untrusting.get("/zato/health").expect("health answers");
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.json()["redis"]["ok"], false);
    let logs = untrusting.logs();
    assert!(logs.contains("UnknownIssuer"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");

    // `#insecure`: encrypted, certificate not checked.
    let insecure_url = format!("rediss://{}/#insecure", redis.addr());
    let insecure = ServerProcess::start(
        &redis,
        &cluster,
        "server-insecure",
        &[
            ("ZATO_REDIS_URL", &insecure_url),
            ("ZATO_BROKER__REDIS_CA_PATH", ""),
        ],
    );
    insecure.record_async(
        &redis,
        &cluster,
        json!({"key": "insecure"}),
        Duration::from_secs(10),
    );
}

#[test]
fn an_unusable_ca_setting_stops_the_member_naming_the_file() {
    let redis = RedisServer::start_tls();
    let plain = RedisServer::start();
    let ca = redis.ca_path().expect("a TLS redis has a CA").to_owned();
    let ca = ca.to_str().expect("UTF-8 temp path");
    let cases = [
        (
            &redis,
            "/nonexistent/ca.pem",
            "redis_ca_path /nonexistent/ca.pem",
        ),
        (&plain, ca, "but the Redis URL is not rediss://"),
    ];
    for (redis, path, message) in cases {
        let mut server = ServerProcess::spawn(
            binary("zato-server"),
            redis,
            &unique_cluster(),
            "server-bad-ca",
            &[("ZATO_BROKER__REDIS_CA_PATH", path)],
        );
        let status = server
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("kept running with {path}:\n{}", server.logs()));
        assert!(!status.success());
        let logs = server.logs();
        assert!(logs.contains(message), "expected {message:?} in\n{logs}");
        assert!(!logs.contains("panicked"), "{logs}");
    }
}
