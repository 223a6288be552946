//! Members on a Redis with an ACL user instead of the open `default` user
//! (`redis://user:password@host:port`): everything works, the password never reaches a log,
//! and a wrong password shows as a clear error and a red health, not a crash.

use std::time::Duration;

use serde_json::json;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, binary, eventually};
use zato_tests::{RedisServer, unique_cluster};

const PASSWORD: &str = "acl-secret-5b1e9d";

#[test]
fn an_acl_user_works_end_to_end_and_its_password_is_never_logged() {
    let redis = RedisServer::start_with_user("zato", PASSWORD);
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-acl", &[]);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-acl", &[]);

    let records = server.record_async(
        &redis,
        &cluster,
        json!({"key": "acl", "n": 7}),
        Duration::from_secs(10),
    );
    assert_eq!(records[0]["payload"]["n"], 7);
    assert_eq!(server.get("/zato/health").map(|a| a.status), Some(200));
    assert_eq!(scheduler.health()["status"], "ok", "{}", scheduler.health());

    // Whatever the members said, the password was not in it; the cluster view does not show
    // it either.
    let cluster_view = server.admin("GET", "/zato/api/cluster", None);
    assert_eq!(cluster_view.status, 200);
    assert!(!cluster_view.body.contains(PASSWORD));
    for (member, logs) in [("server", server.logs()), ("scheduler", scheduler.logs())] {
        assert!(logs.contains("ready"), "{member}: {logs}");
        assert!(
            !logs.contains(PASSWORD),
            "{member} logged the password:\n{logs}"
        );
    }
}

#[test]
fn a_wrong_password_is_a_clear_error_and_a_red_health_not_a_crash() {
    let redis = RedisServer::start_with_user("zato", PASSWORD);
    let wrong = "wrong-pw-41c7";
    let url = format!("redis://zato:{wrong}@{}", redis.addr());
    let mut server = ServerProcess::spawn(
        binary("zato-server"),
        &redis,
        &unique_cluster(),
        "server-wrong-password",
        &[("ZATO_REDIS_URL", &url)],
    );
    assert!(
        eventually(Duration::from_secs(10), || server
            .logs()
            .contains("Password authentication failed")),
        "{}",
        server.logs()
    );
    // The refusal is logged by the first Redis call, which may come before the listener is
    // up on a loaded machine.
    assert!(
        eventually(Duration::from_secs(10), || server
            .get("/zato/health")
            .is_some()),
        "health does not answer:\n{}",
        server.logs()
    );
    let health = server.get("/zato/health").expect("health answers");
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.json()["redis"]["ok"], false);
    assert!(
        server.wait_exit(Duration::from_millis(200)).is_none(),
        "the server exited:\n{}",
        server.logs()
    );
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(!logs.contains(wrong), "the password was logged:\n{logs}");
}
