//! Outgoing REST connections against an HTTP server this project did not write (Python's
//! http.server, `tests/peers/http_upstream.py`), plain and over HTTPS with a private CA:
//! path templates and query strings, JSON, text and form bodies, every security type (the
//! upstream sees the credentials; the admin API, Redis and the logs never show them),
//! timeouts, pool exhaustion, retries only for idempotent methods, an upstream that goes
//! down and comes back, a server without the secret key, and the ping route.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato_tests::certs::{CLIENT_SUBJECT, TestCerts};
use zato_tests::server::{Answer, ServerProcess, eventually};
use zato_tests::{HttpUpstream, RedisServer, unique_cluster};

const TOKEN: &str = "bearer-s3cret-9f1c";
const PASSWORD: &str = "basic-s3cret-77ab";
const API_KEY: &str = "apikey-s3cret-d04e";

/// Creates a connection and waits until the server has applied it (over 1:all, like every
/// other server of the cluster).
fn create(server: &ServerProcess, connection: Value) {
    let created = server.admin("POST", "/zato/api/outgoing/rest", Some(&connection));
    assert_eq!(created.status, 201, "{}", created.body);
    let name = connection["name"].as_str().unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(3), || server
            .get("/zato/health")
            .is_some_and(|h| !h.json()["outgoing"]["rest"][name].is_null())),
        "the server did not apply outgoing REST connection {name}"
    );
}

/// One call through `demo.rest`, which answers the upstream's status, headers and body.
fn call(server: &ServerProcess, payload: Value) -> Answer {
    server.invoke("demo.rest", &payload)
}

#[test]
fn calls_fill_paths_send_bodies_and_credentials_that_are_never_shown() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let upstream = HttpUpstream::start();
    let server = ServerProcess::start_integration(&redis, &cluster, "rest-1", &[]);
    create(
        &server,
        json!({"name": "crm", "address": upstream.url("/echo"), "path": "/customers/{id}/orders",
               "headers": {"X-Default": "from-definition"},
               "security": {"type": "bearer", "token": TOKEN}}),
    );

    // Path parameters are filled (percent-encoded: no parameter can add a segment), the rest
    // go to the query string, the body is JSON, the credentials and default headers are sent.
    let answer = call(
        &server,
        json!({"connection": "crm", "method": "POST", "params": {"id": "a/b c", "status": "open", "tag": ["x", "y"]},
               "headers": {"X-Call": "1"}, "body": {"amount": 12.5}}),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen = &answer.json()["body"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/echo/customers/a%2Fb%20c/orders");
    assert_eq!(
        seen["query"],
        json!({"status": ["open"], "tag": ["x", "y"]})
    );
    assert_eq!(seen["json"], json!({"amount": 12.5}));
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert_eq!(seen["headers"]["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(seen["headers"]["x-default"], "from-definition");
    assert_eq!(seen["headers"]["x-call"], "1");
    assert_eq!(answer.json()["status"], 200);

    // A missing path parameter is the caller's error, said plainly; nothing is sent.
    let missing = call(&server, json!({"connection": "crm", "params": {}}));
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(
        missing.body.contains("path parameter 'id' is missing"),
        "{}",
        missing.body
    );

    // Form and text bodies.
    create(
        &server,
        json!({"name": "form", "address": upstream.url("/echo"), "method": "POST", "data_format": "form"}),
    );
    let form = call(
        &server,
        json!({"connection": "form", "body": {"a": "1 2", "b": true}}),
    );
    assert_eq!(
        form.json()["body"]["form"],
        json!({"a": ["1 2"], "b": ["true"]}),
        "{}",
        form.body
    );
    create(
        &server,
        json!({"name": "text", "address": upstream.url("/echo"), "method": "PUT", "data_format": "text"}),
    );
    let text = call(
        &server,
        json!({"connection": "text", "body": "plain words"}),
    );
    assert_eq!(text.json()["body"]["body"], "plain words");
    assert!(
        text.json()["body"]["headers"]["content-type"]
            .as_str()
            .is_some_and(|t| t.starts_with("text/plain"))
    );

    // A text answer stays text.
    create(
        &server,
        json!({"name": "hello", "address": upstream.base_url(), "path": "/text"}),
    );
    assert_eq!(
        call(&server, json!({"connection": "hello"})).json()["body"],
        "hello"
    );

    // Basic auth and API keys reach the upstream as they should; the upstream's own 401 is
    // an answer the service sees, not an error.
    create(
        &server,
        json!({"name": "basic", "address": upstream.url("/echo"),
               "security": {"type": "basic_auth", "username": "alice", "password": PASSWORD}}),
    );
    let basic = call(&server, json!({"connection": "basic"}));
    let credentials = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("alice:{PASSWORD}"),
    );
    assert_eq!(
        basic.json()["body"]["headers"]["authorization"],
        format!("Basic {credentials}")
    );
    create(
        &server,
        json!({"name": "basic-wrong", "address": upstream.base_url(), "path": "/basic/alice/other",
               "security": {"type": "basic_auth", "username": "alice", "password": PASSWORD}}),
    );
    let refused = call(&server, json!({"connection": "basic-wrong"}));
    assert_eq!(
        refused.status, 200,
        "the upstream's 401 is a response: {}",
        refused.body
    );
    assert_eq!(refused.json()["status"], 401);
    create(
        &server,
        json!({"name": "keyed", "address": upstream.url("/echo"),
               "security": {"type": "apikey", "header": "X-API-Key", "key": API_KEY}}),
    );
    let keyed = call(&server, json!({"connection": "keyed"}));
    assert_eq!(keyed.json()["body"]["headers"]["x-api-key"], API_KEY);

    // No secret in the admin API's answers, in Redis in clear, or in the server's log.
    let listed = server.admin("GET", "/zato/api/outgoing/rest", None);
    let one = server.admin("GET", "/zato/api/outgoing/rest/crm", None);
    assert_eq!(one.json()["security"], json!({"type": "bearer"}));
    let stored = redis.dump_all();
    for secret in [TOKEN, PASSWORD, API_KEY] {
        assert!(!listed.body.contains(secret) && !one.body.contains(secret));
        assert!(!stored.contains(secret), "{secret} is in Redis in clear");
        assert!(
            !server.logs().contains(secret),
            "{secret} is in the server's log"
        );
    }
    assert!(
        stored.contains("zato-sealed:v1:"),
        "the secrets are stored sealed"
    );

    // An edit that leaves the secret out keeps it (secrets are write-only).
    let edit = json!({"name": "crm", "address": upstream.url("/echo"), "path": "/v2/{id}",
                      "security": {"type": "bearer"}});
    let edited = server.admin("PUT", "/zato/api/outgoing/rest/crm", Some(&edit));
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert!(eventually(Duration::from_secs(2), || {
        let answer = call(&server, json!({"connection": "crm", "params": {"id": 1}}));
        answer.json()["body"]["path"] == "/echo/v2/1"
            && answer.json()["body"]["headers"]["authorization"] == format!("Bearer {TOKEN}")
    }));

    // ... but not once the connection goes elsewhere: the secret must then be given again,
    // or anyone allowed to edit could send it to a server of their own.
    let moved = json!({"name": "crm", "address": "http://127.0.0.1:9/elsewhere", "path": "/v2/{id}",
                       "security": {"type": "bearer"}});
    let refused = server.admin("PUT", "/zato/api/outgoing/rest/crm", Some(&moved));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("give it again"), "{}", refused.body);

    // Config changes carry secrets in clear, so they are never queued in Redis.
    let queued = server.admin(
        "POST",
        "/zato/api/invoke-async/zato.outgoing.rest.create",
        Some(&json!({"name": "q", "address": upstream.url("/echo"), "security": {"type": "bearer", "token": TOKEN}})),
    );
    assert_eq!(queued.status, 400, "{}", queued.body);

    // A secret of the wrong type is refused without being quoted.
    let typed = server.admin(
        "POST",
        "/zato/api/outgoing/rest",
        Some(&json!({"name": "n", "address": upstream.url("/echo"), "security": {"type": "bearer", "token": 987654321}})),
    );
    assert_eq!(typed.status, 400, "{}", typed.body);
    assert!(!typed.body.contains("987654321"), "{}", typed.body);

    // Ping: any answer is a pong; it names the server that pinged.
    let ping = server.admin("POST", "/zato/api/outgoing/rest/hello/ping", None);
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(ping.json()["ok"], true);
    assert_eq!(ping.json()["member"], "rest-1");

    // Health and metrics show every connection.
    let health = server.get("/zato/health").expect("health");
    assert_eq!(
        health.json()["outgoing"]["rest"]["crm"]["state"],
        "ready",
        "{}",
        health.body
    );
    assert!(health.json()["outgoing"]["rest"]["crm"]["calls"].as_u64() >= Some(3));
    let metrics = server.get("/metrics").expect("metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("zato_outgoing_calls_total{")
                && l.contains("connection=\"crm\"")
                && l.contains("kind=\"rest\"")),
        "{metrics}"
    );
    assert!(metrics.contains("zato_outgoing_duration_seconds_bucket{"));

    // Invalid definitions are refused with the field.
    let bad = server.admin(
        "POST",
        "/zato/api/outgoing/rest",
        Some(&json!({"name": "bad", "address": "ftp://x"})),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("address"), "{}", bad.body);
}

#[test]
fn timeouts_pools_retries_and_an_upstream_that_goes_down() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut upstream = HttpUpstream::start();
    let server = ServerProcess::start_integration(&redis, &cluster, "rest-faults", &[]);

    // A slow upstream: 504 at the configured time, not later.
    create(
        &server,
        json!({"name": "slow", "address": upstream.base_url(), "path": "/delay/3000", "timeout_ms": 400}),
    );
    let started = Instant::now();
    let slow = call(&server, json!({"connection": "slow"}));
    let took = started.elapsed();
    assert_eq!(slow.status, 504, "{}", slow.body);
    assert!(slow.body.contains("within 400 ms"), "{}", slow.body);
    assert!(
        took >= Duration::from_millis(380) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    // Pool exhaustion: with one slot, a second call waits for it, within the timeout.
    create(
        &server,
        json!({"name": "narrow", "address": upstream.base_url(), "path": "/delay/700",
               "pool_size": 1, "timeout_ms": 1000}),
    );
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let url = server.url.clone();
            std::thread::spawn(move || {
                zato_tests::server::send(
                    "POST",
                    &format!("{url}/zato/api/invoke/demo.rest"),
                    &[(
                        "authorization",
                        &format!("Bearer {}", zato_tests::server::ADMIN_TOKEN),
                    )],
                    Some(&json!({"connection": "narrow"}).to_string()),
                )
                .map(|a| a.status)
            })
        })
        .collect();
    let mut statuses: Vec<_> = calls
        .into_iter()
        .map(|c| c.join().expect("thread").expect("answer"))
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 504],
        "one call had the slot, the other timed out waiting"
    );

    // Retries: an idempotent GET is tried again after 503s, a POST is not.
    create(
        &server,
        json!({"name": "flaky", "address": upstream.base_url(), "path": "/flaky/{key}/2",
               "retries": 2, "retry_backoff_ms": 20}),
    );
    let get = call(
        &server,
        json!({"connection": "flaky", "params": {"key": "get-1"}}),
    );
    assert_eq!(get.json()["status"], 200, "{}", get.body);
    assert_eq!(get.json()["body"]["calls"], 3, "two 503s, then the answer");
    let post = call(
        &server,
        json!({"connection": "flaky", "method": "POST", "params": {"key": "post-1"}}),
    );
    assert_eq!(post.json()["status"], 503, "{}", post.body);
    assert_eq!(
        post.json()["body"]["calls"],
        1,
        "a POST is never sent twice"
    );

    // Down: 502, quickly, and the call names what failed; back up: it answers again.
    create(
        &server,
        json!({"name": "echo", "address": upstream.url("/echo")}),
    );
    assert_eq!(
        call(&server, json!({"connection": "echo"})).json()["status"],
        200
    );
    upstream.kill();
    let down = call(&server, json!({"connection": "echo"}));
    assert_eq!(down.status, 502, "{}", down.body);
    assert!(
        down.body.contains("outgoing REST connection 'echo'"),
        "{}",
        down.body
    );
    upstream.restart();
    assert!(eventually(Duration::from_secs(5), || call(
        &server,
        json!({"connection": "echo"})
    )
    .json()["status"]
        == 200));

    // Inactive and deleted connections fail fast and say so.
    let inactive = json!({"name": "echo", "address": upstream.url("/echo"), "is_active": false});
    assert_eq!(
        server
            .admin("PUT", "/zato/api/outgoing/rest/echo", Some(&inactive))
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(2), || call(
        &server,
        json!({"connection": "echo"})
    )
    .body
    .contains("is inactive")));
    assert_eq!(
        server
            .admin("DELETE", "/zato/api/outgoing/rest/echo", None)
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(2), || {
        let gone = call(&server, json!({"connection": "echo"}));
        gone.status == 404 && gone.body.contains("no outgoing REST connection 'echo'")
    }));
}

#[test]
fn https_with_a_private_ca_and_client_certificates() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let certs = TestCerts::generate();
    let client = certs.client();
    let upstream = HttpUpstream::start_tls(&certs, None);
    let mtls = HttpUpstream::start_tls(&certs, Some(&certs.ca));
    let server = ServerProcess::start_integration(&redis, &cluster, "rest-tls", &[]);
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("PEM file");

    // The system's roots do not know the private CA: the handshake is refused, a 502.
    create(
        &server,
        json!({"name": "system-roots", "address": upstream.url("/echo")}),
    );
    let refused = call(&server, json!({"connection": "system-roots"}));
    assert_eq!(refused.status, 502, "{}", refused.body);
    // Trusting the CA, it works.
    create(
        &server,
        json!({"name": "private-ca", "address": upstream.url("/echo"), "tls": {"ca_pem": read(&certs.ca)}}),
    );
    assert_eq!(
        call(&server, json!({"connection": "private-ca"})).json()["status"],
        200
    );
    // Not verifying at all works too (for a test upstream only).
    create(
        &server,
        json!({"name": "unverified", "address": upstream.url("/echo"), "tls": {"verify": false}}),
    );
    assert_eq!(
        call(&server, json!({"connection": "unverified"})).json()["status"],
        200
    );

    // An upstream that asks for a client certificate: refused without one, and with one it
    // sees who is calling. The key is a secret like any other.
    create(
        &server,
        json!({"name": "no-cert", "address": mtls.url("/echo"), "tls": {"ca_pem": read(&certs.ca)}}),
    );
    assert_eq!(call(&server, json!({"connection": "no-cert"})).status, 502);
    let key = read(&client.key);
    create(
        &server,
        json!({"name": "mtls", "address": mtls.url("/echo"),
               "tls": {"ca_pem": read(&certs.ca), "client_cert_pem": read(&client.cert), "client_key_pem": key}}),
    );
    let answer = call(&server, json!({"connection": "mtls"}));
    assert_eq!(
        answer.json()["body"]["client_cert_subject"].as_str(),
        Some(CLIENT_SUBJECT.trim_start_matches('/')),
        "{}",
        answer.body
    );
    let shown = server.admin("GET", "/zato/api/outgoing/rest/mtls", None);
    assert!(
        shown.json()["tls"].get("client_key_pem").is_none(),
        "{}",
        shown.body
    );
    let key_line = key.lines().nth(1).expect("a PEM body line");
    assert!(
        !redis.dump_all().contains(key_line),
        "the client key is in Redis in clear"
    );
}

#[test]
fn two_servers_apply_edits_live_and_a_server_without_the_key_reports_it() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let upstream = HttpUpstream::start();
    let first = ServerProcess::start_integration(&redis, &cluster, "rest-a", &[]);
    let second = ServerProcess::start_integration(&redis, &cluster, "rest-b", &[]);
    create(
        &first,
        json!({"name": "live", "address": upstream.url("/echo"), "path": "/v1"}),
    );
    for server in [&first, &second] {
        assert!(eventually(Duration::from_secs(2), || call(
            server,
            json!({"connection": "live"})
        )
        .json()["body"]["path"]
            == "/echo/v1"));
    }

    // Edits while calls run: every call answers, from the old definition or the new one.
    let hammer = {
        let url = second.url.clone();
        std::thread::spawn(move || {
            let mut paths = Vec::new();
            let until = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < until {
                let answer = zato_tests::server::send(
                    "POST",
                    &format!("{url}/zato/api/invoke/demo.rest"),
                    &[(
                        "authorization",
                        &format!("Bearer {}", zato_tests::server::ADMIN_TOKEN),
                    )],
                    Some(&json!({"connection": "live"}).to_string()),
                )
                .expect("answer");
                assert_eq!(answer.status, 200, "{}", answer.body);
                paths.push(
                    answer.json()["body"]["path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            paths
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let edit = json!({"name": "live", "address": upstream.url("/echo"), "path": "/v2"});
    assert_eq!(
        first
            .admin("PUT", "/zato/api/outgoing/rest/live", Some(&edit))
            .status,
        200
    );
    let paths = hammer
        .join()
        .expect("the calls during the edit all answered");
    assert!(
        paths.iter().all(|p| p == "/echo/v1" || p == "/echo/v2"),
        "{paths:?}"
    );
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/echo/v2"),
        "the second server applied the edit"
    );

    // A server without the secret key: it cannot store secrets, and reports a connection it
    // cannot open as unusable (degraded, still serving), without crashing.
    let keyless = ServerProcess::start_integration(
        &redis,
        &cluster,
        "rest-nokey",
        &[("ZATO_SECRET_KEY", "")],
    );
    let refused = keyless.admin(
        "POST",
        "/zato/api/outgoing/rest",
        Some(&json!({"name": "x", "address": upstream.url("/echo"), "security": {"type": "bearer", "token": TOKEN}})),
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("no secret key"), "{}", refused.body);
    create(
        &first,
        json!({"name": "secured", "address": upstream.url("/echo"), "security": {"type": "bearer", "token": TOKEN}}),
    );
    assert!(eventually(Duration::from_secs(2), || {
        let health = keyless.get("/zato/health").expect("health").json();
        health["outgoing"]["rest"]["secured"]["state"] == "unusable"
            && health["status"] == "degraded"
    }));
    let unusable = call(&keyless, json!({"connection": "secured"}));
    assert_eq!(unusable.status, 503, "{}", unusable.body);
    assert!(!unusable.body.contains(TOKEN));
    assert_eq!(
        call(&keyless, json!({"connection": "live"})).json()["status"],
        200,
        "the rest still works"
    );
}
