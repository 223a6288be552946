//! The server's listener over HTTPS (`tls_cert_path`, `tls_key_path`), checked with curl
//! trusting only the test's CA: ping, health, the admin API and a channel answer over HTTPS;
//! plain HTTP and an untrusting client get nothing; unusable certificate settings stop the
//! server with a message naming the file, not a panic.

use std::time::Duration;

use serde_json::json;
use zato_tests::certs::TestCerts;
use zato_tests::cli::zato;
use zato_tests::curl::curl;
use zato_tests::server::{ADMIN_TOKEN, ServerProcess, binary, send};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn the_listener_serves_https_only() {
    let certs = TestCerts::generate();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start_https(&redis, &cluster, "server-https", &certs);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = Some(certs.ca.as_path());

    let ping = curl(ca, "GET", &format!("{}/zato/ping", server.url), &[], None).expect("ping");
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(ping.json()["pong"], true);
    let health = curl(ca, "GET", &format!("{}/zato/health", server.url), &[], None);
    assert_eq!(health.expect("health").json()["status"], "ok");

    // The admin API and a channel, over HTTPS.
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let channel = json!({"name": "hello", "url_path": "/hello/{who}", "service": "zato.echo"});
    let created = curl(
        ca,
        "POST",
        &format!("{}/zato/api/channels/http", server.url),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(&channel.to_string()),
    )
    .expect("admin API over HTTPS");
    assert_eq!(created.status, 201, "{}", created.body);
    let url = format!("{}/hello/ada", server.url);
    let json_body = [("content-type", "application/json")];
    let echoed = curl(ca, "POST", &url, &json_body, Some(r#"{"hi": 1}"#)).expect("channel");
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    assert_eq!(echoed.json(), json!({"hi": 1}));

    // The `zato` CLI over HTTPS, trusting the CA given by `--ca-cert`; without it the
    // certificate is refused with a message, not a panic.
    let ca_path = certs.ca.display().to_string();
    let base = ["--url", server.url.as_str(), "--token", ADMIN_TOKEN];
    let listed = zato(
        &[
            &base[..],
            &["--ca-cert", &ca_path, "channel", "http", "list", "--json"],
        ]
        .concat(),
        &[],
    );
    assert!(listed.expect_ok().contains("hello"), "{listed:?}");
    let by_env = zato(
        &[&base[..], &["channel", "http", "get", "hello"]].concat(),
        &[("ZATO_CA_CERT", &ca_path)],
    );
    assert!(by_env.expect_ok().contains("/hello/{who}"), "{by_env:?}");
    zato(&[&base[..], &["channel", "http", "list"]].concat(), &[]).expect_error("cannot reach");
    zato(
        &[
            &base[..],
            &["--ca-cert", "/no/such/ca.pem", "channel", "http", "list"],
        ]
        .concat(),
        &[],
    )
    .expect_error("cannot use the CA certificate /no/such/ca.pem");

    // A client that does not trust the CA refuses the certificate (curl: 60).
    let untrusting = curl(None, "GET", &format!("{}/zato/ping", server.url), &[], None);
    let failed = untrusting.expect_err("a certificate of an unknown CA is refused");
    assert_eq!(failed.code, Some(60), "{}", failed.stderr);

    // Plain HTTP to the same port gets no HTTP answer at all.
    let plain = server.url.replacen("https://", "http://", 1);
    assert!(send("GET", &format!("{plain}/zato/ping"), &[], None).is_none());
    let by_curl = curl(None, "GET", &format!("{plain}/zato/ping"), &[], None);
    assert!(by_curl.is_err(), "plain HTTP answered: {by_curl:?}");

    // Still serving after the bad handshakes.
    let again = curl(ca, "GET", &format!("{}/zato/ping", server.url), &[], None);
    assert_eq!(again.expect("ping").status, 200);
    let logs = server.logs();
    assert!(
        logs.contains("listening") && logs.contains("https"),
        "{logs}"
    );
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Starts a server with `env` and returns its exit status and log; it must stop by itself.
fn refused(redis: &RedisServer, env: &[(&str, &str)]) -> (bool, String) {
    let mut server =
        ServerProcess::spawn(binary("zato-server"), redis, &unique_cluster(), "bad", env);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the server kept running; its log:\n{}", server.logs()));
    (status.success(), server.logs())
}

#[test]
fn unusable_certificate_settings_stop_the_server_naming_the_file() {
    let certs = TestCerts::generate();
    let other = TestCerts::generate();
    let redis = RedisServer::start();
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 temp path").to_owned();
    let (cert, key, other_key) = (path(&certs.cert), path(&certs.key), path(&other.key));
    let missing = certs.dir().join("missing.pem");
    let missing = path(&missing);

    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("ZATO_TLS_CERT_PATH", &cert)],
            "tls_cert_path and tls_key_path go together",
        ),
        (
            &[
                ("ZATO_TLS_CERT_PATH", &missing),
                ("ZATO_TLS_KEY_PATH", &key),
            ],
            &format!("cannot read tls_cert_path {missing}"),
        ),
        (
            // The certificate file where the key should be: it holds no key.
            &[("ZATO_TLS_CERT_PATH", &cert), ("ZATO_TLS_KEY_PATH", &cert)],
            &format!("tls_key_path {cert} holds no PEM private key"),
        ),
        (
            &[
                ("ZATO_TLS_CERT_PATH", &cert),
                ("ZATO_TLS_KEY_PATH", &other_key),
            ],
            &format!("tls_cert_path {cert} and tls_key_path {other_key} cannot be used together"),
        ),
    ];
    for (env, message) in cases {
        let (success, logs) = refused(&redis, env);
        assert!(!success, "started with {env:?}");
        assert!(
            logs.contains(message),
            "{env:?}: expected {message:?} in\n{logs}"
        );
        assert!(!logs.contains("panicked"), "{logs}");
    }
}
