//! Outgoing SQL connections from services, against a PostgreSQL and a MariaDB of the test's
//! own: the password is sealed and never shown, rows come back as JSON with their types,
//! parameters stay data (an injection attempt is stored as text), a failing service's
//! transaction is rolled back, a SQL error carries the database's message and SQLSTATE, a
//! wrong password is a clear error without the password, and the database restarted under
//! traffic: calls fail clearly during the outage, none hangs, the pool recovers.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{MariadbServer, PostgresServer, RedisServer, mariadb, postgres, unique_cluster};

/// Creates a connection and waits until the server has applied it.
fn create(server: &ServerProcess, connection: &Value) {
    let created = server.admin("POST", "/zato/api/outgoing/sql", Some(connection));
    assert_eq!(created.status, 201, "{}", created.body);
    let name = connection["name"].as_str().unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(3), || server
            .get("/zato/health")
            .is_some_and(|h| !h.json()["outgoing"]["sql"][name].is_null())),
        "the server did not apply outgoing SQL connection {name}"
    );
}

fn query(
    server: &ServerProcess,
    name: &str,
    sql: &str,
    params: Value,
) -> zato_tests::server::Answer {
    server.invoke(
        "demo.sql.query",
        &json!({"connection": name, "sql": sql, "params": params}),
    )
}

fn execute(server: &ServerProcess, name: &str, sql: &str, params: Value) -> Value {
    let answer = server.invoke(
        "demo.sql.execute",
        &json!({"connection": name, "sql": sql, "params": params}),
    );
    assert_eq!(answer.status, 200, "{sql}: {}", answer.body);
    answer.json()
}

/// What both engines must do the same way; `p(n)` is the engine's n-th placeholder.
fn common_behaviour(server: &ServerProcess, name: &str, p: fn(usize) -> String, password: &str) {
    execute(
        server,
        name,
        "CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(200), balance DECIMAL(12,2))",
        json!([]),
    );

    // Parameters are bound: a quote in one stays data, the table survives.
    let attack = "x'); DROP TABLE accounts; --";
    let inserted = execute(
        server,
        name,
        // A string parameter is text: decimals sent as strings (exact) are cast where they land.
        &format!(
            "INSERT INTO accounts (id, owner, balance) VALUES ({}, {}, CAST({} AS DECIMAL(12,2)))",
            p(1),
            p(2),
            p(3)
        ),
        json!([1, attack, "10.50"]),
    );
    assert_eq!(inserted["rows_affected"], 1);
    let rows = query(
        server,
        name,
        &format!(
            "SELECT id, owner, balance FROM accounts WHERE owner = {}",
            p(1)
        ),
        json!([attack]),
    );
    assert_eq!(rows.status, 200, "{}", rows.body);
    assert_eq!(
        rows.json(),
        json!([{"id": 1, "owner": attack, "balance": "10.50"}])
    );

    // A service that fails rolls its transaction back; one that succeeds commits.
    let statements = |id: i64| {
        json!([
            {"sql": format!("INSERT INTO accounts (id, owner, balance) VALUES ({}, {}, {})", p(1), p(2), p(3)), "params": [id, "tx", 1.0]},
            {"sql": format!("UPDATE accounts SET balance = balance - 1 WHERE id = {}", p(1)), "params": [1]}
        ])
    };
    let failed = server.invoke(
        "demo.sql.transaction",
        &json!({"connection": name, "statements": statements(2), "fail": true}),
    );
    assert_eq!(failed.status, 400, "{}", failed.body);
    let committed = server.invoke(
        "demo.sql.transaction",
        &json!({"connection": name, "statements": statements(3)}),
    );
    assert_eq!(committed.status, 200, "{}", committed.body);
    let after = query(
        server,
        name,
        "SELECT id, balance FROM accounts ORDER BY id",
        json!([]),
    );
    assert_eq!(
        after.json(),
        json!([{"id": 1, "balance": "9.50"}, {"id": 3, "balance": "1.00"}]),
        "the failed transaction left nothing, the committed one both changes"
    );

    // The database's own error, with its SQLSTATE; a duplicate key is a conflict.
    let syntax = query(server, name, "SELEC 1", json!([]));
    assert_eq!(syntax.status, 502, "{}", syntax.body);
    assert!(syntax.body.contains("SQLSTATE 42"), "{}", syntax.body);
    let duplicate = server.invoke(
        "demo.sql.execute",
        &json!({"connection": name, "sql": format!("INSERT INTO accounts (id) VALUES ({})", p(1)), "params": [1]}),
    );
    assert_eq!(duplicate.status, 409, "{}", duplicate.body);
    assert!(duplicate.body.contains("SQLSTATE 23"), "{}", duplicate.body);

    // Ping from the server, and what health and the admin API show: never the password.
    let ping = server.admin("POST", &format!("/zato/api/outgoing/sql/{name}/ping"), None);
    assert_eq!(ping.status, 200, "{}", ping.body);
    let shown = server.admin("GET", &format!("/zato/api/outgoing/sql/{name}"), None);
    assert!(shown.json().get("password").is_none(), "{}", shown.body);
    let health = server.get("/zato/health").expect("health");
    assert_eq!(
        health.json()["outgoing"]["sql"][name]["state"],
        "ready",
        "{}",
        health.body
    );
    assert!(!shown.body.contains(password) && !health.body.contains(password));
    assert!(
        !server.logs().contains(password),
        "the password is in the server's log"
    );
}

/// While the database is down, a call fails clearly and quickly.
fn fails_fast_while_down(server: &ServerProcess, name: &str) {
    let started = Instant::now();
    let during = query(server, name, "SELECT 1 AS one", json!([]));
    assert!([502, 503, 504].contains(&during.status), "{}", during.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a call during the outage took {:?}",
        started.elapsed()
    );
}

/// After the database's restart, the pool hands out fresh connections.
fn recovers(server: &ServerProcess, name: &str) {
    assert!(
        eventually(Duration::from_secs(10), || query(
            server,
            name,
            "SELECT 1 AS one",
            json!([])
        )
        .json()
            == json!([{"one": 1}])),
        "the pool did not recover: {}",
        server.logs()
    );
}

#[test]
fn postgresql_from_a_service() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut pg = PostgresServer::start();
    let server = ServerProcess::start_integration(&redis, &cluster, "sql-pg", &[]);
    let definition = json!({"name": "pg", "engine": "postgresql", "host": "127.0.0.1", "port": pg.port(),
                            "database": postgres::DATABASE, "username": postgres::USER,
                            "password": postgres::PASSWORD, "tls": "disable", "pool_size": 4,
                            "connect_timeout_ms": 1000, "acquire_timeout_ms": 1500, "statement_timeout_ms": 1000});
    create(&server, &definition);
    common_behaviour(&server, "pg", |n| format!("${n}"), postgres::PASSWORD);
    assert!(
        !redis.dump_all().contains(postgres::PASSWORD),
        "the password is in Redis in clear"
    );

    // Types as a user reads them.
    let typed = query(
        &server,
        "pg",
        "SELECT 7::int2 AS small, 9000000000::int8 AS big, 1.5::float8 AS f, 12.340::numeric AS n, \
         true AS b, 'é'::text AS t, '{\"k\": [1]}'::jsonb AS j, \
         '2024-02-03 04:05:06.5+00'::timestamptz AS ts, '2024-02-03'::date AS d, \
         '\\x00ff'::bytea AS bytes, NULL::int AS nothing",
        json!([]),
    );
    assert_eq!(
        typed.json(),
        json!([{"small": 7, "big": 9_000_000_000_i64, "f": 1.5, "n": "12.340", "b": true, "t": "é",
                "j": {"k": [1]}, "ts": "2024-02-03T04:05:06.5Z", "d": "2024-02-03", "bytes": "AP8=", "nothing": null}]),
        "{}",
        typed.body
    );

    // A statement longer than its timeout is cancelled: 504.
    let slow = query(&server, "pg", "SELECT pg_sleep(5)", json!([]));
    assert_eq!(slow.status, 504, "{}", slow.body);

    // A wrong password: a clear error that does not hold the password given.
    let wrong = json!({"name": "pg-wrong", "engine": "postgresql", "host": "127.0.0.1", "port": pg.port(),
                       "database": postgres::DATABASE, "username": postgres::USER,
                       "password": "not-the-pw-4f2a", "tls": "disable", "connect_timeout_ms": 1000});
    create(&server, &wrong);
    let refused = query(&server, "pg-wrong", "SELECT 1", json!([]));
    assert!(
        refused.status == 503 || refused.status == 502,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("password authentication failed"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("not-the-pw-4f2a"));

    // The database killed under traffic: calls fail, clearly and quickly; after the restart
    // the pool hands out fresh connections.
    assert_eq!(
        query(&server, "pg", "SELECT 1 AS one", json!([])).status,
        200
    );
    pg.kill();
    fails_fast_while_down(&server, "pg");
    pg.restart();
    recovers(&server, "pg");
}

#[test]
fn mariadb_from_a_service() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut db = MariadbServer::start();
    let server = ServerProcess::start_integration(&redis, &cluster, "sql-maria", &[]);
    let definition = json!({"name": "maria", "engine": "mysql", "host": "127.0.0.1", "port": db.port(),
                            "database": mariadb::DATABASE, "username": mariadb::USER,
                            "password": mariadb::PASSWORD, "tls": "disable", "pool_size": 4,
                            "connect_timeout_ms": 1000, "acquire_timeout_ms": 1500, "statement_timeout_ms": 1000});
    create(&server, &definition);
    common_behaviour(&server, "maria", |_| "?".to_owned(), mariadb::PASSWORD);
    assert!(
        !redis.dump_all().contains(mariadb::PASSWORD),
        "the password is in Redis in clear"
    );

    let typed = query(
        &server,
        "maria",
        "SELECT CAST(7 AS SIGNED) AS big, 1.5e0 AS f, CAST(12.340 AS DECIMAL(6,3)) AS n, 'é' AS t, \
         CAST('2024-02-03 04:05:06' AS DATETIME) AS ts, CAST('2024-02-03' AS DATE) AS d, \
         UNHEX('00FF') AS bytes, NULL AS nothing",
        json!([]),
    );
    assert_eq!(
        typed.json(),
        json!([{"big": 7, "f": 1.5, "n": "12.340", "t": "é", "ts": "2024-02-03T04:05:06",
                "d": "2024-02-03", "bytes": "AP8=", "nothing": null}]),
        "{}",
        typed.body
    );

    let slow = query(&server, "maria", "SELECT SLEEP(5)", json!([]));
    assert_eq!(slow.status, 504, "{}", slow.body);

    db.kill();
    fails_fast_while_down(&server, "maria");
    db.restart();
    recovers(&server, "maria");

    // Live: an edit rebuilds the pool (a database that does not exist is refused), deleting
    // the connection makes calls fail fast.
    let mut edited = definition.clone();
    edited["database"] = json!("no_such_db");
    assert_eq!(
        server
            .admin("PUT", "/zato/api/outgoing/sql/maria", Some(&edited))
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(3), || query(
        &server,
        "maria",
        "SELECT 1",
        json!([])
    )
    .status
        != 200));
    assert_eq!(
        server
            .admin("DELETE", "/zato/api/outgoing/sql/maria", None)
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(2), || query(
        &server,
        "maria",
        "SELECT 1",
        json!([])
    )
    .status
        == 404));
}
