//! A real server's life: bad input, start-up with existing config, restarts, Redis going away,
//! SIGTERM, and systemd's READY notification.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use serde_json::json;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn bad_input_gets_the_documented_status_and_a_clear_message() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(
        &redis,
        &unique_cluster(),
        "server-a",
        &[("ZATO_MAX_BODY_BYTES", "1024")],
    );
    let channel =
        json!({"name": "echo", "url_path": "/echo", "service": "zato.echo", "method": "POST"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    assert!(eventually(Duration::from_secs(1), || server
        .call("POST", "/echo", &[], Some("1"))
        .is_some_and(|r| r.status == 200)));

    let cases: Vec<(&str, &str, Option<String>, u16, &str)> = vec![
        (
            "POST",
            "/echo",
            Some("{\"a\": ".into()),
            400,
            "malformed JSON",
        ),
        (
            "POST",
            "/echo",
            Some(format!("\"{}\"", "x".repeat(2_000))),
            413,
            "larger than 1024 bytes",
        ),
        ("GET", "/nowhere", None, 404, "no channel at /nowhere"),
        ("GET", "/echo", None, 405, "method GET is not allowed"),
    ];
    for (method, path, body, status, message) in cases {
        let answer = server
            .call(method, path, &[], body.as_deref())
            .expect("answer");
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        assert!(
            answer.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{}",
            answer.body
        );
        assert!(answer.json()["cid"].is_string() && answer.header("x-zato-cid").is_some());
    }
    let unknown = server.admin("POST", "/zato/api/invoke/no.such.service", Some(&json!({})));
    assert_eq!(
        (unknown.status, unknown.json()["error"].as_str()),
        (404, Some("no such service: no.such.service"))
    );

    let refused = [
        (
            json!({"name": "x", "url_path": "/x"}),
            400,
            "missing field `service`",
        ),
        (
            json!({"name": "x", "url_path": "/x", "service": "nope"}),
            400,
            "no such service 'nope'",
        ),
        (
            json!({"name": "x", "url_path": "x", "service": "zato.echo"}),
            400,
            "must start with '/'",
        ),
        (
            json!({"name": "x", "url_path": "/a/{1}", "service": "zato.echo"}),
            400,
            "parameter name '1'",
        ),
        (
            json!({"name": "x", "url_path": "/zato/mine", "service": "zato.echo"}),
            400,
            "the server's own paths",
        ),
        (
            json!({"name": "x", "url_path": "/echo", "service": "zato.echo"}),
            409,
            "through channel 'echo'",
        ),
        (
            json!({"name": "echo", "url_path": "/other", "service": "zato.echo"}),
            409,
            "already exists",
        ),
        (
            json!({"name": "x", "url_path": "/x", "service": "zato.echo", "security": "none"}),
            400,
            "no security definition 'none'",
        ),
    ];
    for (body, status, message) in refused {
        let answer = server.admin("POST", "/zato/api/channels/http", Some(&body));
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(
            answer.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{body}: {}",
            answer.body
        );
    }
    let not_json = zato_tests::server::send(
        "POST",
        &format!("{}/zato/api/channels/http", server.url),
        &[(
            "authorization",
            &format!("Bearer {}", zato_tests::server::ADMIN_TOKEN),
        )],
        Some("{oops"),
    )
    .expect("answer");
    assert_eq!(not_json.status, 400);
    let no_token = server
        .call("GET", "/zato/api/services", &[], None)
        .expect("answer");
    assert_eq!(no_token.status, 401);
    assert!(no_token.header("www-authenticate").is_some());
    // Still serving after all of it.
    assert_eq!(
        server
            .call("POST", "/echo", &[], Some("[1]"))
            .expect("answer")
            .body,
        "[1]"
    );
}

#[test]
fn servers_started_or_restarted_later_serve_the_current_configuration() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let mut b = ServerProcess::start(&redis, &cluster, "server-b", &[]);
    for i in 0..5 {
        let c =
            json!({"name": format!("c{i}"), "url_path": format!("/c/{i}"), "service": "zato.ping"});
        assert_eq!(
            a.admin("POST", "/zato/api/channels/http", Some(&c)).status,
            201
        );
    }
    b.kill();
    // Changes B misses while it is down.
    assert_eq!(
        a.admin("DELETE", "/zato/api/channels/http/c0", None).status,
        200
    );
    let moved = json!({"name": "c1", "url_path": "/moved", "service": "zato.ping"});
    assert_eq!(
        a.admin("PUT", "/zato/api/channels/http/c1", Some(&moved))
            .status,
        200
    );
    let b = ServerProcess::start(&redis, &cluster, "server-b", &[]);
    let c = ServerProcess::start(&redis, &cluster, "server-c", &[]);
    for server in [&b, &c] {
        assert_eq!(
            server
                .call("GET", "/c/0", &[], None)
                .expect("answer")
                .status,
            404
        );
        assert_eq!(
            server
                .call("GET", "/c/1", &[], None)
                .expect("answer")
                .status,
            404
        );
        assert_eq!(
            server
                .call("GET", "/moved", &[], None)
                .expect("answer")
                .status,
            200
        );
        assert_eq!(
            server
                .call("GET", "/c/4", &[], None)
                .expect("answer")
                .status,
            200
        );
    }
}

#[test]
fn a_server_recovers_by_itself_when_redis_restarts() {
    let mut redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    redis.kill();
    assert!(
        eventually(Duration::from_secs(10), || server
            .get("/zato/health")
            .is_some_and(|r| r.status == 503)),
        "health goes red"
    );
    let channel = json!({"name": "late", "url_path": "/late", "service": "zato.ping"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        503,
        "a change needs Redis"
    );
    redis.restart();
    assert!(
        eventually(Duration::from_secs(15), || server
            .get("/zato/health")
            .is_some_and(|r| r.status == 200)),
        "health goes green again"
    );
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    assert!(eventually(Duration::from_secs(2), || server
        .call("GET", "/late", &[], None)
        .is_some_and(|r| r.status == 200)));
    server.record_async(
        &redis,
        &cluster,
        json!({"key": "after"}),
        Duration::from_secs(5),
    );
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_zero() {
    let redis = RedisServer::start();
    let mut server = ServerProcess::start(&redis, &unique_cluster(), "server-a", &[]);
    let channel = json!({"name": "slow", "url_path": "/slow", "service": "zato.sleep"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    assert!(eventually(Duration::from_secs(1), || server
        .call("POST", "/slow", &[], Some("{\"ms\": 1}"))
        .is_some_and(|r| r.status == 200)));
    let url = server.url.clone();
    let in_flight = std::thread::spawn(move || {
        zato_tests::server::send("POST", &format!("{url}/slow"), &[], Some("{\"ms\": 1500}"))
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = server
        .terminate(Duration::from_secs(10))
        .expect("exits within the bound");
    assert!(status.success(), "exit status {status:?}");
    let answer = in_flight
        .join()
        .expect("client")
        .expect("the request in flight got its answer");
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"slept_ms": 1500}))
    );
    assert!(server.logs().contains("stopped"));
}

#[test]
fn tells_systemd_when_it_is_ready() {
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("zato-notify-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let notify = path.to_string_lossy().into_owned();
    let _server = ServerProcess::start(
        &redis,
        &unique_cluster(),
        "server-a",
        &[
            ("NOTIFY_SOCKET", &notify),
            ("WATCHDOG_USEC", "400000"),
            ("WATCHDOG_PID", ""),
        ],
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !(seen.iter().any(|m| m == "READY=1") && seen.iter().any(|m| m == "WATCHDOG=1")) {
        let n = socket.recv(&mut buf).expect("a notification within 15 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
