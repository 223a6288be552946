//! Every admin API command of `zato` against a running server: what it prints, in text and
//! in JSON, and how it fails.

use serde_json::{Value, json};
use std::time::Duration;
use zato_tests::cli::{admin, zato};

use zato_tests::connector::ConnectorProcess;
use zato_tests::records::recorded;
use zato_tests::server::{ADMIN_TOKEN, ServerProcess, eventually};
use zato_tests::{RedisServer, free_port, unique_cluster};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn invoke_sync_async_and_failures() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-1", &[]);
    let url = server.url.as_str();

    let run = admin(
        url,
        &["invoke", "zato.echo", "--payload", r#"{"a": 1}"#, "--json"],
    );
    assert_eq!(run.json(), json!({"a": 1}), "{run:?}");
    let run = admin(url, &["invoke", "zato.echo", "--payload", r#""hello""#]);
    assert_eq!(run.expect_ok().trim(), "hello");

    let run = admin(url, &["invoke", "zato.echo", "--async", "--payload", "{}"]);
    assert!(
        run.expect_ok().starts_with("queued zato.echo, cid "),
        "{run:?}"
    );
    let run = admin(url, &["invoke", "zato.echo", "--async", "--json"]);
    assert!(run.json()["cid"].is_string(), "{run:?}");

    admin(url, &["invoke", "no.such.service"]).expect_error("no such service: no.such.service");
    admin(url, &["invoke", "zato.echo", "--payload", "{bad"])
        .expect_error("--payload is not valid JSON");

    let wrong = zato(
        &["status"],
        &[("ZATO_URL", url), ("ZATO_ADMIN_TOKEN", "not-the-token")],
    );
    wrong.expect_error("the admin token was refused");
    zato(&["status", "--url", url], &[]).expect_error("no admin token");

    let down = format!("http://127.0.0.1:{}", free_port());
    let run = zato(
        &[
            "invoke",
            "zato.echo",
            "--url",
            &down,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    run.expect_error(&format!("cannot reach {down}"));
    run.expect_error("connection refused");
}

#[test]
fn config_collections_round_trip() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-1", &[]);
    let url = server.url.as_str();

    // HTTP channels, with the handy flags.
    let run = admin(
        url,
        &[
            "channel",
            "http",
            "create",
            "--name",
            "hello",
            "--path",
            "/hello",
            "--service",
            "zato.echo",
            "--method",
            "post",
        ],
    );
    assert_eq!(run.expect_ok().trim(), "created HTTP channel 'hello'");
    let answer = server
        .call("POST", "/hello", &[], Some(r#"{"x": 1}"#))
        .expect("the channel answers");
    assert_eq!(answer.json(), json!({"x": 1}));
    let run = admin(url, &["channel", "http", "list"]);
    assert!(run.expect_ok().contains("/hello"), "{run:?}");
    assert!(
        run.stdout.starts_with("name"),
        "a table with headers: {run:?}"
    );
    let run = admin(url, &["channel", "http", "get", "hello"]);
    assert_eq!(run.json()["url_path"], "/hello", "{run:?}");
    admin(url, &["channel", "http", "create", "--data", "[1]"])
        .expect_error("--data must be a JSON object");
    admin(url, &["channel", "http", "create", "--data", "{nope"])
        .expect_error("--data is not valid JSON");
    admin(
        url,
        &[
            "channel",
            "http",
            "create",
            "--name",
            "bad",
            "--path",
            "x",
            "--service",
            "zato.echo",
        ],
    )
    .expect_error("url_path");
    admin(url, &["channel", "http", "delete", "hello"]).expect_ok();
    admin(url, &["channel", "http", "get", "hello"])
        .expect_error("cannot get HTTP channel 'hello'");
    assert_eq!(
        admin(url, &["channel", "http", "list", "--json"]).json(),
        json!([])
    );

    // Security, from a file.
    let dir = std::env::temp_dir().join(format!("zato-cli-{}", free_port()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("key.json");
    std::fs::write(
        &file,
        r#"{"type": "apikey", "name": "key-1", "header": "X-Key", "key": "s3cret"}"#,
    )
    .expect("write");
    let file_arg = file.display().to_string();
    admin(url, &["security", "create", "--file", &file_arg]).expect_ok();
    let run = admin(url, &["security", "list", "--json"]);
    assert_eq!(names(&run.json()), ["key-1"], "{run:?}");
    assert!(!run.stdout.contains("s3cret"), "secrets are never shown");
    admin(url, &["security", "create", "--file", "/no/such/file.json"])
        .expect_error("cannot read /no/such/file.json");
    admin(url, &["security", "delete", "key-1"]).expect_ok();
    let _ = std::fs::remove_dir_all(&dir);

    // AMQP definitions, channels and outgoing connections (config only: no broker needed).
    admin(
        url,
        &[
            "amqp",
            "definition",
            "create",
            "--data",
            r#"{"name": "rabbit", "url": "amqp://guest:guest@127.0.0.1:5672/%2f"}"#,
        ],
    )
    .expect_ok();
    assert_eq!(
        names(&admin(url, &["amqp", "definition", "list", "--json"]).json()),
        ["rabbit"]
    );
    admin(url, &["amqp", "definition", "get", "rabbit"]).expect_ok();
    admin(
        url,
        &[
            "channel",
            "amqp",
            "create",
            "--data",
            r#"{"name": "in", "definition": "rabbit", "queue": "q", "service": "zato.echo"}"#,
        ],
    )
    .expect_ok();
    assert_eq!(
        names(&admin(url, &["channel", "amqp", "list", "--json"]).json()),
        ["in"]
    );
    admin(
        url,
        &[
            "outgoing",
            "amqp",
            "create",
            "--data",
            r#"{"name": "out", "definition": "rabbit", "exchange": "", "routing_key": "q"}"#,
        ],
    )
    .expect_ok();
    assert_eq!(
        names(&admin(url, &["outgoing", "amqp", "list", "--json"]).json()),
        ["out"]
    );
    admin(
        url,
        &["publish", "amqp", "out", "hi", "--header", "novalue"],
    )
    .expect_error("--header 'novalue' is not KEY=VALUE");
    admin(url, &["channel", "amqp", "delete", "in"]).expect_ok();
    admin(url, &["outgoing", "amqp", "delete", "out"]).expect_ok();
    admin(url, &["amqp", "definition", "delete", "rabbit"]).expect_ok();

    // ZeroMQ.
    let zmq = format!("tcp://127.0.0.1:{}", free_port());
    admin(
        url,
        &[
            "channel",
            "zmq",
            "create",
            "--data",
            &json!({"name": "zin", "address": zmq, "socket_type": "PULL", "bind": true,
                  "service": "zato.echo"})
            .to_string(),
        ],
    )
    .expect_ok();
    assert_eq!(
        names(&admin(url, &["channel", "zmq", "list", "--json"]).json()),
        ["zin"]
    );
    admin(
        url,
        &[
            "outgoing",
            "zmq",
            "create",
            "--data",
            &json!({"name": "zout", "address": zmq, "socket_type": "PUSH"}).to_string(),
        ],
    )
    .expect_ok();
    assert_eq!(
        names(&admin(url, &["outgoing", "zmq", "list", "--json"]).json()),
        ["zout"]
    );
    admin(url, &["outgoing", "zmq", "get", "zout"]).expect_ok();
    admin(url, &["channel", "zmq", "delete", "zin"]).expect_ok();
    admin(url, &["outgoing", "zmq", "delete", "zout"]).expect_ok();

    // Jobs.
    let run = admin(
        url,
        &[
            "job",
            "create",
            "--data",
            r#"{"name": "tick", "service": "zato.record", "kind": "interval",
              "interval": {"hours": 1}, "payload": {"key": "cli"}}"#,
        ],
    );
    assert_eq!(run.expect_ok().trim(), "created job 'tick'");
    let run = admin(url, &["job", "list"]);
    assert!(run.expect_ok().contains("tick"), "{run:?}");
    assert_eq!(admin(url, &["job", "list", "--json"]).json()[0]["runs"], 0);
    admin(url, &["job", "get", "tick"]).expect_ok();
    let run = admin(url, &["job", "execute", "tick"]);
    assert!(
        run.expect_ok().starts_with("job 'tick' started, cid "),
        "{run:?}"
    );
    admin(url, &["job", "execute", "nope"]).expect_error("cannot execute job 'nope'");
    admin(url, &["job", "delete", "tick"]).expect_ok();
    admin(url, &["job", "delete", "tick"]).expect_error("cannot delete job 'tick'");
}

#[test]
fn status_shows_members_leases_queues_and_dead_letters() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-1", &[]);
    let run = admin(&server.url, &["status"]);
    let text = run.expect_ok();
    for part in [
        "members",
        "server-1",
        "singletons",
        "scheduler",
        "queues",
        "dead letters",
    ] {
        assert!(text.contains(part), "'{part}' missing from:\n{text}");
    }
    let status = admin(&server.url, &["status", "--json"]).json();
    assert_eq!(status["members"][0]["name"], "server-1", "{status}");
    assert!(status["dead_letters"]["server"].is_number(), "{status}");
}

#[test]
fn send_and_publish_go_through_the_connector() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-1", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-1", &[]);
    let url = server.url.as_str();
    let address = format!("tcp://127.0.0.1:{}", free_port());
    let channel = json!({"name": "pull", "address": address, "socket_type": "PULL",
        "bind": true, "service": "zato.record"});
    admin(
        url,
        &["channel", "zmq", "create", "--data", &channel.to_string()],
    )
    .expect_ok();
    connector.wait_connected("zmq_channel", "pull", Duration::from_secs(10));
    let outgoing = json!({"name": "push", "address": address, "socket_type": "PUSH"});
    admin(
        url,
        &["outgoing", "zmq", "create", "--data", &outgoing.to_string()],
    )
    .expect_ok();

    let key = format!("cli-{}", free_port());
    let body = json!({"key": key}).to_string();
    assert!(
        eventually(Duration::from_secs(15), || {
            let run = admin(url, &["send", "zmq", "push", &body]);
            run.ok() && run.stdout.trim() == "sent through 'push'"
        }),
        "send failed: {:?}",
        admin(url, &["send", "zmq", "push", &body])
    );
    assert!(
        eventually(Duration::from_secs(10), || !recorded(
            &redis, &cluster, &key
        )
        .is_empty()),
        "the message did not reach the channel; connector log:\n{}",
        connector.logs()
    );
    admin(url, &["send", "zmq", "nowhere", "hi"]).expect_error("cannot send through 'nowhere'");
    admin(
        url,
        &[
            "publish",
            "amqp",
            "nowhere",
            "hi",
            "--routing-key",
            "k",
            "--header",
            "a=b",
        ],
    )
    .expect_error("cannot publish through 'nowhere'");
}

#[test]
fn outgoing_rest_and_sql_connections_and_a_key_rotation() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let upstream = zato_tests::HttpUpstream::start();
    let pg = zato_tests::PostgresServer::start();
    let old_key = zato(&["secrets", "new-key"], &[])
        .expect_ok()
        .trim()
        .to_owned();
    assert_eq!(old_key.len(), 44, "32 bytes in base64: {old_key}");
    let mut server = ServerProcess::start(
        &redis,
        &cluster,
        "cli-out",
        &[("ZATO_SECRET_KEY", &old_key)],
    );
    let url = &server.url.clone();

    let rest = json!({"name": "up", "address": upstream.url("/echo"),
                      "security": {"type": "bearer", "token": "cli-token-1"}});
    let run = admin(
        url,
        &["outgoing", "rest", "create", "--data", &rest.to_string()],
    );
    assert_eq!(
        run.expect_ok().trim(),
        "created outgoing REST connection 'up'"
    );
    let sql = json!({"name": "db", "engine": "postgresql", "host": "127.0.0.1", "port": pg.port(),
                     "database": zato_tests::postgres::DATABASE, "username": zato_tests::postgres::USER,
                     "password": zato_tests::postgres::PASSWORD, "tls": "disable"});
    admin(
        url,
        &["outgoing", "sql", "create", "--data", &sql.to_string()],
    )
    .expect_ok();
    let listed = admin(url, &["outgoing", "rest", "list"])
        .expect_ok()
        .to_owned();
    assert!(
        listed.contains("up") && !listed.contains("cli-token-1"),
        "{listed}"
    );
    assert!(eventually(Duration::from_secs(3), || admin(
        url,
        &["outgoing", "rest", "ping", "up"]
    )
    .ok()));
    let pong = admin(url, &["outgoing", "rest", "ping", "up"])
        .expect_ok()
        .to_owned();
    assert!(pong.starts_with("'up' answered 200 in "), "{pong}");
    assert!(eventually(Duration::from_secs(3), || admin(
        url,
        &["outgoing", "sql", "ping", "db"]
    )
    .ok()));
    admin(url, &["outgoing", "sql", "ping", "nope"])
        .expect_error("ping of outgoing SQL connection 'nope' failed");
    admin(url, &["outgoing", "amqp", "ping", "x"])
        .expect_error("ping is for REST and SQL connections");

    // Rotation: the new key with the old one as previous opens everything, reseal moves every
    // secret to the new key, and then the new key alone is enough.
    let new_key = zato(&["secrets", "new-key"], &[])
        .expect_ok()
        .trim()
        .to_owned();
    server.terminate(Duration::from_secs(10));
    let server = ServerProcess::start(
        &redis,
        &cluster,
        "cli-out",
        &[
            ("ZATO_SECRET_KEY", &new_key),
            ("ZATO_PREVIOUS_SECRET_KEY", &old_key),
        ],
    );
    let url = &server.url.clone();
    assert!(eventually(Duration::from_secs(3), || admin(
        url,
        &["outgoing", "sql", "ping", "db"]
    )
    .ok()));
    let resealed = admin(url, &["secrets", "reseal", "--json"]).json();
    assert_eq!(
        resealed["resealed"],
        json!(["outgoing_rest/up", "outgoing_sql/db"]),
        "{resealed}"
    );
    let again = admin(url, &["secrets", "reseal", "--json"]).json();
    assert_eq!(again["resealed"], json!([]), "nothing is left to reseal");
    drop(server);
    let server = ServerProcess::start(
        &redis,
        &cluster,
        "cli-out",
        &[("ZATO_SECRET_KEY", &new_key)],
    );
    let url = &server.url.clone();
    assert!(eventually(Duration::from_secs(3), || admin(
        url,
        &["outgoing", "sql", "ping", "db"]
    )
    .ok()));
    assert!(eventually(Duration::from_secs(3), || admin(
        url,
        &["outgoing", "rest", "ping", "up"]
    )
    .ok()));
}
