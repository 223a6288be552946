//! The helpers the outgoing REST and SQL tests stand on, checked with clients we did not
//! write (psql, the mariadb CLI, curl): the test's own PostgreSQL and MariaDB accept the
//! right password and refuse a wrong one, and come back with their data after a kill -9 or a
//! stop; the HTTP upstream echoes, fails on purpose, counts, checks credentials, speaks TLS,
//! asks for client certificates when told to, and logs no secret.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use zato_tests::certs::TestCerts;
use zato_tests::curl::curl;
use zato_tests::{HttpUpstream, MariadbServer, PostgresServer, mariadb, postgres};

#[test]
fn postgres_checks_passwords_and_survives_kill_and_stop() {
    let started = Instant::now();
    let mut pg = PostgresServer::start();
    eprintln!("PostgreSQL started in {:?}", started.elapsed());
    assert!(pg.url().contains(&format!(":{}/", pg.port())));

    let whoami = pg.psql_as(
        postgres::USER,
        postgres::PASSWORD,
        "SELECT current_user, current_database()",
    );
    assert_eq!(whoami.as_deref(), Ok("zato|test"));
    let wrong = pg.psql_as(postgres::USER, "not-the-password", "SELECT 1");
    assert!(
        wrong
            .as_ref()
            .is_err_and(|e| e.contains("password authentication failed")),
        "{wrong:?}"
    );
    assert_eq!(pg.psql("SELECT current_user"), "postgres");

    let create = "CREATE TABLE kept (v int); INSERT INTO kept VALUES (1), (2)";
    pg.psql_as(postgres::USER, postgres::PASSWORD, create)
        .expect("zato creates a table in its database");

    pg.kill();
    assert!(
        pg.psql_as(postgres::USER, postgres::PASSWORD, "SELECT 1")
            .is_err(),
        "a killed PostgreSQL answers"
    );
    let restarted = Instant::now();
    pg.restart();
    eprintln!(
        "PostgreSQL restarted after kill -9 in {:?}",
        restarted.elapsed()
    );
    let sum = "SELECT sum(v) FROM kept";
    assert_eq!(
        pg.psql_as(postgres::USER, postgres::PASSWORD, sum)
            .as_deref(),
        Ok("3")
    );

    pg.stop();
    pg.restart();
    assert_eq!(pg.psql(sum), "3");
}

#[test]
fn mariadb_checks_passwords_and_survives_kill_and_stop() {
    let started = Instant::now();
    let mut db = MariadbServer::start();
    eprintln!("MariaDB started in {:?}", started.elapsed());
    assert!(db.url().contains(&format!(":{}/", db.port())));

    let whoami = db.sql_as(
        mariadb::USER,
        mariadb::PASSWORD,
        "SELECT CURRENT_USER(), DATABASE()",
    );
    assert_eq!(whoami.as_deref(), Ok("zato@127.0.0.1\ttest"));
    let wrong = db.sql_as(mariadb::USER, "not-the-password", "SELECT 1");
    assert!(
        wrong.as_ref().is_err_and(|e| e.contains("Access denied")),
        "{wrong:?}"
    );
    assert_eq!(db.sql("SELECT CURRENT_USER()"), "root@localhost");

    let create = "CREATE TABLE kept (v INT) ENGINE=InnoDB; INSERT INTO kept VALUES (1), (2)";
    db.sql_as(mariadb::USER, mariadb::PASSWORD, create)
        .expect("zato creates a table in its database");

    db.kill();
    assert!(
        db.sql_as(mariadb::USER, mariadb::PASSWORD, "SELECT 1")
            .is_err(),
        "a killed MariaDB answers"
    );
    let restarted = Instant::now();
    db.restart();
    eprintln!(
        "MariaDB restarted after kill -9 in {:?}",
        restarted.elapsed()
    );
    let sum = "SELECT SUM(v) FROM kept";
    assert_eq!(
        db.sql_as(mariadb::USER, mariadb::PASSWORD, sum).as_deref(),
        Ok("3")
    );

    db.stop();
    db.restart();
    assert_eq!(db.sql(sum), "3");
}

#[test]
fn http_upstream_echoes_fails_counts_and_checks_credentials() {
    let started = Instant::now();
    let mut up = HttpUpstream::start();
    eprintln!("HTTP upstream started in {:?}", started.elapsed());
    assert_eq!(up.base_url(), format!("http://127.0.0.1:{}", up.port()));

    let echo = get_json(
        None,
        "POST",
        &up.url("/echo/a/b?x=1&x=2"),
        &[("X-Test-Key", "k"), ("Content-Type", "application/json")],
        Some(r#"{"n": 1}"#),
    );
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo/a/b");
    assert_eq!(echo["query"]["x"], serde_json::json!(["1", "2"]));
    assert_eq!(echo["headers"]["x-test-key"], "k");
    assert_eq!(echo["body"], r#"{"n": 1}"#);
    assert_eq!(echo["json"]["n"], 1);
    assert_eq!(echo["form"], Value::Null);
    assert_eq!(echo["client_cert_subject"], Value::Null);

    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let echo = get_json(None, "PUT", &up.url("/echo"), &form, Some("a=1&b=two"));
    assert_eq!(echo["form"]["b"], serde_json::json!(["two"]));

    let flaky: Vec<u16> = (0..3)
        .map(|_| status(None, &up.url("/flaky/f/2"), &[("X-Test-Key", "k")]))
        .collect();
    assert_eq!(flaky, [503, 503, 200]);
    // The echo and the three flaky calls carried the key.
    assert_eq!(
        get_json(None, "GET", &up.url("/calls/k"), &[], None)["calls"],
        4
    );

    assert_eq!(status(None, &up.url("/status/418"), &[]), 418);
    let text = curl(None, "GET", &up.url("/text"), &[], None).expect("curl gets /text");
    assert_eq!(text.body, "hello");
    let delayed = Instant::now();
    assert_eq!(status(None, &up.url("/delay/200"), &[]), 200);
    assert!(delayed.elapsed() >= Duration::from_millis(200));

    let basic = format!("Basic {}", base64_of("user:s3cret-basic"));
    let right = [("Authorization", basic.as_str())];
    assert_eq!(
        status(None, &up.url("/basic/user/s3cret-basic"), &right),
        200
    );
    assert_eq!(status(None, &up.url("/basic/user/other"), &right), 401);
    assert_eq!(status(None, &up.url("/basic/user/s3cret-basic"), &[]), 401);
    let bearer = [("Authorization", "Bearer s3cret-token")];
    assert_eq!(status(None, &up.url("/bearer/s3cret-token"), &bearer), 200);
    assert_eq!(status(None, &up.url("/bearer/other"), &bearer), 401);

    let logs = up.logs();
    assert!(logs.contains("GET /bearer/*** 200"), "{logs}");
    assert!(
        !logs.contains("s3cret"),
        "a secret in the upstream's log:\n{logs}"
    );

    let port = up.port();
    up.kill();
    assert!(curl(None, "GET", &up.url("/text"), &[], None).is_err());
    up.restart();
    assert_eq!(up.port(), port);
    assert_eq!(status(None, &up.url("/text"), &[]), 200);
    // Counters start again.
    assert_eq!(
        get_json(None, "GET", &up.url("/calls/k"), &[], None)["calls"],
        0
    );
    assert!(up.stop(), "the upstream exits on SIGTERM");
}

#[test]
fn http_upstream_over_tls_with_and_without_client_certificates() {
    let certs = TestCerts::generate();
    let started = Instant::now();
    let up = HttpUpstream::start_tls(&certs, None);
    eprintln!("HTTPS upstream started in {:?}", started.elapsed());
    assert_eq!(up.base_url(), format!("https://localhost:{}", up.port()));
    let echo = get_json(Some(&certs.ca), "GET", &up.url("/echo/tls"), &[], None);
    assert_eq!(echo["path"], "/echo/tls");
    assert_eq!(echo["client_cert_subject"], Value::Null);
    assert!(
        curl(None, "GET", &up.url("/text"), &[], None).is_err(),
        "curl trusts the test CA without being told"
    );

    let client = certs.client();
    let mtls = HttpUpstream::start_tls(&certs, Some(&certs.ca));
    let url = mtls.url("/echo/mtls");
    let without = curl(Some(&certs.ca), "GET", &url, &[], None);
    assert!(
        without.is_err(),
        "answered without a client certificate: {without:?}"
    );
    let with = curl_with_client_cert(&certs.ca, &client.cert, &client.key, &url);
    let echo: Value = serde_json::from_str(&with).expect("JSON of /echo");
    assert_eq!(echo["client_cert_subject"], "CN=zato test client");
}

/// The status curl got for GET `url`.
fn status(ca: Option<&Path>, url: &str, headers: &[(&str, &str)]) -> u16 {
    curl(ca, "GET", url, headers, None)
        .unwrap_or_else(|e| panic!("curl {url}: {e:?}"))
        .status
}

/// The JSON body of a 200 answer.
fn get_json(
    ca: Option<&Path>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let answer =
        curl(ca, method, url, headers, body).unwrap_or_else(|e| panic!("curl {url}: {e:?}"));
    assert_eq!(answer.status, 200, "{method} {url}: {}", answer.body);
    serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("JSON from {url}: {e}: {}", answer.body))
}

/// The body curl got for GET `url` with a client certificate.
fn curl_with_client_cert(ca: &Path, cert: &Path, key: &Path, url: &str) -> String {
    let output = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg(url)
        .output()
        .expect("curl on PATH");
    assert!(
        output.status.success(),
        "curl with a client certificate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
