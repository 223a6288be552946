//! Two real servers: channels and security definitions created through one server's admin
//! API take effect on the other, live; secrets are never shown or logged.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use zato_broker::Keys;
use zato_common::ConfigKind;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn a_channel_made_on_one_server_answers_on_the_other_and_follows_edits_and_deletes() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let b = ServerProcess::start(&redis, &cluster, "server-b", &[]);

    let created = a.admin(
        "POST",
        "/zato/api/channels/http",
        Some(&json!({"name": "hello", "url_path": "/hello/{who}", "service": "zato.echo"})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        eventually(Duration::from_secs(1), || b
            .call("POST", "/hello/x", &[], Some("{\"n\": 1}"))
            .is_some_and(|r| r.status == 200)),
        "the channel answers on B within 1 s"
    );
    let answer = b
        .call("POST", "/hello/x", &[], Some("{\"n\": 1}"))
        .expect("answer");
    assert_eq!(answer.json(), json!({"n": 1}));
    assert_eq!(answer.header("x-zato-cid").map(str::len), Some(32));

    let edited = a.admin(
        "PUT",
        "/zato/api/channels/http/hello",
        Some(&json!({"name": "hello", "url_path": "/hi/{who}", "service": "zato.echo"})),
    );
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert!(eventually(Duration::from_secs(1), || b
        .call("GET", "/hi/x", &[], None)
        .is_some_and(|r| r.status == 200)));
    assert_eq!(
        b.call("GET", "/hello/x", &[], None).expect("answer").status,
        404,
        "the old path is gone"
    );

    assert_eq!(
        a.admin("DELETE", "/zato/api/channels/http/hello", None)
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(1), || b
        .call("GET", "/hi/x", &[], None)
        .is_some_and(|r| r.status == 404)));
    let listed = b.admin("GET", "/zato/api/channels/http", None);
    assert_eq!(listed.json(), json!([]));
}

#[test]
fn protected_channels_refuse_wrong_credentials_and_secrets_never_show() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let b = ServerProcess::start(&redis, &cluster, "server-b", &[]);
    let password = "pa55-Word-9f3e1";
    let api_key = "key-4c1d7a7e-b0b1";
    for definition in [
        json!({"name": "basic", "type": "basic_auth", "username": "alice", "password": password}),
        json!({"name": "key", "type": "apikey", "header": "X-API-Key", "key": api_key}),
    ] {
        let created = a.admin("POST", "/zato/api/security", Some(&definition));
        assert_eq!(created.status, 201, "{}", created.body);
        assert!(!created.body.contains(password) && !created.body.contains(api_key));
    }
    for (name, path, security) in [("b", "/basic", "basic"), ("k", "/key", "key")] {
        let channel =
            json!({"name": name, "url_path": path, "service": "zato.ping", "security": security});
        assert_eq!(
            a.admin("POST", "/zato/api/channels/http", Some(&channel))
                .status,
            201
        );
    }
    assert!(eventually(Duration::from_secs(1), || b
        .call("GET", "/key", &[], None)
        .is_some_and(|r| r.status != 404)));

    let basic = |user: &str, pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    let missing = b.call("GET", "/basic", &[], None).expect("answer");
    assert_eq!(missing.status, 401);
    assert!(
        missing
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic"))
    );
    assert_eq!(
        b.call(
            "GET",
            "/basic",
            &[("authorization", &basic("alice", "nope"))],
            None
        )
        .expect("answer")
        .status,
        403
    );
    assert_eq!(
        b.call(
            "GET",
            "/basic",
            &[("authorization", &basic("bob", password))],
            None
        )
        .expect("answer")
        .status,
        403
    );
    assert_eq!(
        b.call(
            "GET",
            "/basic",
            &[("authorization", &basic("alice", password))],
            None
        )
        .expect("answer")
        .status,
        200
    );

    let missing = b.call("GET", "/key", &[], None).expect("answer");
    assert_eq!(missing.status, 401);
    assert!(
        missing
            .header("www-authenticate")
            .is_some_and(|h| h.contains("X-API-Key"))
    );
    assert_eq!(
        b.call("GET", "/key", &[("x-api-key", "wrong")], None)
            .expect("answer")
            .status,
        403
    );
    assert_eq!(
        b.call("GET", "/key", &[("x-api-key", api_key)], None)
            .expect("answer")
            .status,
        200
    );

    // curl, a client we did not write, with its own basic-auth encoding.
    let curl = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            &format!("alice:{password}"),
        ])
        .arg(format!("{}/basic", b.url))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "200");

    // A definition in use cannot be deleted from under its channel.
    let refused = a.admin("DELETE", "/zato/api/security/basic", None);
    assert_eq!(refused.status, 409, "{}", refused.body);

    for server in [&a, &b] {
        let listed = server.admin("GET", "/zato/api/security", None);
        assert_eq!(listed.status, 200);
        assert_eq!(listed.json().as_array().map(Vec::len), Some(2));
        assert!(
            !listed.body.contains(password) && !listed.body.contains(api_key),
            "{}",
            listed.body
        );
        let one = server.admin("GET", "/zato/api/security/basic", None);
        assert_eq!(one.json()["username"], "alice");
        assert!(one.json().get("password").is_none());
    }
    let mut conn = redis.client();
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg(Keys::new(&cluster).config(ConfigKind::Security))
        .query(&mut conn)
        .expect("hvals");
    assert!(
        stored
            .iter()
            .all(|s| !s.contains(password) && !s.contains(api_key)),
        "stored hashed: {stored:?}"
    );
    for server in [&a, &b] {
        let logs = server.logs();
        assert!(!logs.is_empty());
        assert!(
            !logs.contains(password) && !logs.contains(api_key),
            "a secret reached the log of {}",
            server.member
        );
    }
}
