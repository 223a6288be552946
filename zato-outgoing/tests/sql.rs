//! `SqlPool` and `SqlTransaction` against real databases, each a server of the test's own:
//! a PostgreSQL and a MariaDB that zato-tests' launchers start on free ports (`scripts/test`
//! installs both; a launcher that cannot start its server panics with the server's log).
//!
//! Starting a server takes seconds, so each engine has one test, which starts its server
//! once, runs every scenario of that engine against it in turn and drops it, with its data,
//! at the end. The scenarios connect as the launchers' `zato` user with its password
//! (MariaDB's root would do over TCP too, but a password is what a definition has);
//! PostgreSQL's superuser only turns TLS on ([`enable_tls`]). Every table is named by a
//! counter, as the scenarios share a database.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use zato_common::Secret;
use zato_common::model::{OutgoingSql, SqlEngine, SqlTlsMode};
use zato_outgoing::sql::{SqlError, SqlPool};
use zato_tests::certs::TestCerts;
use zato_tests::local_server::running_as_root;
use zato_tests::{MariadbServer, PostgresServer, mariadb, postgres};

// ---------------------------------------------------------------------------------------------
// The servers, and every scenario run against them

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_against_a_server_of_its_own() {
    let mut server = tokio::task::block_in_place(PostgresServer::start);
    let base = def(SqlEngine::Postgresql, server.port());
    postgres_tls_modes_refuse_a_server_without_tls(&base).await;
    // From here on `prefer` goes through TLS.
    let ca_pem = tokio::task::block_in_place(|| enable_tls(&server));

    postgres_every_type_reads_back_as_json(&base).await;
    postgres_writes_numerics_intervals_and_addresses_as_psql_does(&base).await;
    postgres_strings_go_into_typed_columns_without_casts(&base).await;
    postgres_a_string_that_is_not_its_type_is_a_parameter_error(&base).await;
    postgres_strings_it_cannot_type_go_as_text(&base).await;
    postgres_numbers_go_into_numerics_losslessly(&base).await;
    postgres_inference_leaves_a_transaction_intact(&base).await;
    transactions_commit_or_roll_back(&base).await;
    postgres_commit_after_a_failed_statement_is_refused(&base).await;
    postgres_syntax_error_has_message_and_sqlstate(&base).await;
    postgres_a_wrong_number_of_parameters_is_a_parameter_error(&base).await;
    parameters_are_data_not_sql(&base).await;
    more_rows_than_max_rows_is_an_error(&base).await;
    postgres_a_cached_statement_never_misreads_a_parameter(&base).await;
    postgres_statement_timeout(&base).await;
    pool_exhaustion_times_out_acquiring(&base).await;
    postgres_verify_full_refuses_an_unknown_certificate(&base, &ca_pem).await;
    postgres_a_wrong_password_is_refused_without_being_shown(&base).await;
    a_closed_pool_refuses_calls(&base).await;
    a_broken_idle_connection_is_replaced(
        &base,
        &mut server,
        "SELECT pg_backend_pid() AS id, current_setting('zato.mark', true) AS mark",
        "SELECT set_config('zato.mark', 'old', false)",
    )
    .await;
    tokio::task::block_in_place(|| drop(server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_against_a_server_of_its_own() {
    let mut server = tokio::task::block_in_place(MariadbServer::start);
    let base = def(SqlEngine::Mysql, server.port());

    mysql_every_type_reads_back_as_json(&base).await;
    mysql_strings_go_into_typed_columns_as_they_are(&base).await;
    transactions_commit_or_roll_back(&base).await;
    mysql_a_deadlocked_transaction_is_not_committed_piecemeal(&base).await;
    mysql_syntax_error_has_message_and_sqlstate(&base).await;
    mysql_a_wrong_number_of_parameters_is_a_parameter_error(&base).await;
    parameters_are_data_not_sql(&base).await;
    more_rows_than_max_rows_is_an_error(&base).await;
    mysql_statement_timeout(&base).await;
    pool_exhaustion_times_out_acquiring(&base).await;
    mysql_a_wrong_password_is_refused_without_being_shown(&base).await;
    a_broken_idle_connection_is_replaced(
        &base,
        &mut server,
        "SELECT CONNECTION_ID() AS id, CAST(@zato_mark AS CHAR) AS mark",
        "SET @zato_mark = 'old'",
    )
    .await;
    tokio::task::block_in_place(|| drop(server));
}

// ---------------------------------------------------------------------------------------------
// Set-up

/// A definition for the launcher's server of `engine` on `port`, as its `zato` user.
fn def(engine: SqlEngine, port: u16) -> OutgoingSql {
    let (username, database) = match engine {
        SqlEngine::Postgresql => (postgres::USER, postgres::DATABASE),
        SqlEngine::Mysql => (mariadb::USER, mariadb::DATABASE),
    };
    OutgoingSql {
        name: "test.sql".into(),
        engine,
        host: "127.0.0.1".into(),
        port,
        database: database.into(),
        username: username.into(),
        // Must be ignored: the opened password is passed on its own.
        password: Secret::new("not-this-one"),
        pool_size: 2,
        connect_timeout_ms: 3_000,
        acquire_timeout_ms: 3_000,
        statement_timeout_ms: 5_000,
        max_rows: 100_000,
        // Plain text against a server without TLS, TLS once `enable_tls` has turned it on.
        tls: SqlTlsMode::Prefer,
        ca_pem: None,
        is_active: true,
    }
}

/// The `zato` user's password for `engine`.
fn password(engine: SqlEngine) -> &'static str {
    match engine {
        SqlEngine::Postgresql => postgres::PASSWORD,
        SqlEngine::Mysql => mariadb::PASSWORD,
    }
}

fn pool(def: &OutgoingSql) -> SqlPool {
    SqlPool::new(def, password(def.engine)).expect("a pool")
}

/// A name no other scenario uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("zato_{prefix}_{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Turns TLS on in `server` with a certificate for `127.0.0.1` and `localhost` from a CA of
/// the test's own (zato-tests' `TestCerts`), and returns the CA's certificate (PEM).
///
/// The launcher's PostgreSQL has no TLS: the certificate and key go into its data directory
/// under the names PostgreSQL looks for (`server.crt`, `server.key`), owned by the user the
/// server runs as (PostgreSQL refuses a key anybody else may read), then `ssl = on` and a
/// reload, which takes effect for new connections.
fn enable_tls(server: &PostgresServer) -> String {
    let certs = TestCerts::generate();
    let data = server.psql("SHOW data_directory");
    let cert = Path::new(&data).join("server.crt");
    let key = Path::new(&data).join("server.key");
    std::fs::copy(&certs.cert, &cert).expect("the certificate into the data directory");
    std::fs::copy(&certs.key, &key).expect("the key into the data directory");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    if running_as_root() {
        // The launcher runs PostgreSQL as the `postgres` OS user when the tests run as root.
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&cert)
            .arg(&key)
            .status()
            .expect("chown");
        assert!(status.success(), "chown of the certificate: {status}");
    }
    server.psql("ALTER SYSTEM SET ssl = on");
    server.psql("SELECT pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.psql("SHOW ssl") != "on" {
        assert!(
            Instant::now() < deadline,
            "TLS never came on; the server's log:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&certs.ca).expect("the CA's certificate")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Waits until `check` holds, for at most two seconds (a connection goes back to the pool in
/// a task of its own).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Type mappings

async fn postgres_every_type_reads_back_as_json(base: &OutgoingSql) {
    let def = OutgoingSql {
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    let table = unique("pg_types");
    let mood = unique("mood");

    pool.execute(&format!("CREATE TYPE {mood} AS ENUM ('sad', 'happy')"), &[])
        .await
        .expect("enum");
    pool.execute(
        &format!(
            "CREATE TABLE {table} (
                i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
                n numeric(10,2), n_free numeric, b boolean,
                t text, vc varchar(10), c char(3), j json, jb jsonb,
                d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, ts_inf timestamp,
                by bytea, u uuid, iv interval, ip inet, net cidr, mac macaddr, bits varbit,
                ints int4[], texts text[], mood {mood}, nothing integer
            )"
        ),
        &[],
    )
    .await
    .expect("table");

    let insert = format!(
        "INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::numeric, $8, $9, $10,
            $11, $12, $13, $14::date, $15::time, $16::timetz, $17::timestamp,
            $18::timestamptz, $19::timestamp, decode($20, 'base64'), $21::uuid, $22::interval,
            $23::inet, $24::cidr, $25::macaddr, $26::varbit, $27::int4[], $28::text[],
            $29::{mood}, $30)"
    );
    let values = [
        json!(32767),
        json!(-2147483648_i64),
        json!(i64::MAX),
        json!(1.5),
        json!(0.1),
        json!("12.5"),
        json!("-0.000100"),
        json!(true),
        json!("héllo ✓"),
        json!("abc"),
        json!("ab"),
        json!({"a": [1, 2]}),
        json!({"k": null, "n": 1.5}),
        json!("2024-02-29"),
        json!("13:14:15.5"),
        json!("01:02:03+02"),
        json!("2024-01-02 03:04:05.123456"),
        json!("2024-01-02T03:04:05+02:00"),
        json!("infinity"),
        json!("AP9oaQ=="),
        json!("123E4567-E89B-12D3-A456-426614174000"),
        json!("1 year 2 mons 3 days 04:05:06.5"),
        json!("192.168.0.1/24"),
        json!("10.0.0.0/8"),
        json!("08:00:2B:01:02:03"),
        json!("10101"),
        json!("{1,NULL,3}"),
        json!("{a,\"b c\"}"),
        json!("happy"),
        json!(null),
    ];
    assert_eq!(pool.execute(&insert, &values).await.expect("insert"), 1);
    // A row of NULLs: an untyped NULL goes into a column of every type.
    let nulls = vec![Value::Null; values.len()];
    assert_eq!(
        pool.execute(&insert, &nulls).await.expect("insert nulls"),
        1
    );

    let rows = pool
        .query(
            &format!("SELECT * FROM {table} ORDER BY i4 NULLS LAST"),
            &[],
        )
        .await
        .expect("select");
    assert_eq!(rows.len(), 2);
    let expected = object(json!({
        "i2": 32767,
        "i4": -2147483648_i64,
        "i8": i64::MAX,
        "f4": 1.5,
        "f8": 0.1,
        "n": "12.50",
        "n_free": "-0.000100",
        "b": true,
        "t": "héllo ✓",
        "vc": "abc",
        "c": "ab ",
        "j": {"a": [1, 2]},
        "jb": {"k": null, "n": 1.5},
        "d": "2024-02-29",
        "tm": "13:14:15.5",
        "ttz": "01:02:03+02:00",
        "ts": "2024-01-02T03:04:05.123456",
        "tstz": "2024-01-02T01:04:05Z",
        "ts_inf": "infinity",
        "by": "AP9oaQ==",
        "u": "123e4567-e89b-12d3-a456-426614174000",
        "iv": "P1Y2M3DT4H5M6.5S",
        "ip": "192.168.0.1/24",
        "net": "10.0.0.0/8",
        "mac": "08:00:2b:01:02:03",
        "bits": "10101",
        "ints": [1, null, 3],
        "texts": ["a", "b c"],
        "mood": "happy",
        "nothing": null,
    }));
    assert_eq!(rows[0], expected);
    let all_null: Map<String, Value> = expected.keys().map(|k| (k.clone(), Value::Null)).collect();
    assert_eq!(rows[1], all_null);

    // Expressions, and types that only appear in them.
    let rows = pool
        .query(
            &format!(
                "SELECT 'NaN'::numeric AS nan, '-Infinity'::numeric AS neg_inf,
                    12345678901234567890.123456789::numeric AS big, 0.00::numeric AS zero,
                    '-infinity'::date AS d_inf, pg_sleep(0) AS v, 7::oid AS o,
                    'x'::name AS nm, ARRAY['sad'::{mood}, 'happy'] AS moods,
                    'NaN'::float8 AS fnan, 'Infinity'::real AS finf, ''::bytea AS empty,
                    ARRAY[]::int[] AS none, '{{\"a\": 1}}'::jsonb AS jb, $1::text AS p"
            ),
            &[json!("param")],
        )
        .await
        .expect("expressions");
    assert_eq!(
        rows[0],
        object(json!({
            "nan": "NaN", "neg_inf": "-Infinity", "big": "12345678901234567890.123456789",
            "zero": "0.00", "d_inf": "-infinity", "v": null, "o": 7, "nm": "x",
            "moods": ["sad", "happy"], "fnan": null, "finf": null, "empty": "", "none": [],
            "jb": {"a": 1}, "p": "param",
        }))
    );

    // A type with no mapping names the column and the type; a cast reads it.
    match pool.query("SELECT point(1, 2) AS p", &[]).await {
        Err(SqlError::Decode { column, message }) => {
            assert_eq!(column, "p");
            assert!(message.contains("POINT"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let rows = pool
        .query("SELECT point(1, 2)::text AS p", &[])
        .await
        .expect("cast");
    assert_eq!(rows[0]["p"], json!("(1,2)"));
}

/// Values whose text PostgreSQL itself writes come back written the same way.
async fn postgres_writes_numerics_intervals_and_addresses_as_psql_does(base: &OutgoingSql) {
    let def = OutgoingSql {
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    // One connection: the interval style stays set for the checks below.
    pool.execute("SET intervalstyle = iso_8601", &[])
        .await
        .expect("set");
    let cases = [
        ("numeric", "0"),
        ("numeric", "0.0001"),
        ("numeric", "-123456789.987654321"),
        ("numeric", "100000000000000000000"),
        ("numeric", "1e-20"),
        ("numeric(20,4)", "3.1"),
        ("interval", "0"),
        ("interval", "-1 hour -30 minutes"),
        ("interval", "1 year -2 months 3 days -04:05:06.000007"),
        ("interval", "-1.5 seconds"),
        ("interval", "100 years"),
        ("inet", "::1"),
        ("inet", "2001:db8::1/64"),
        ("inet", "::ffff:1.2.3.4"),
        ("cidr", "192.168.0.0/16"),
        ("macaddr8", "08:00:2b:01:02:03:04:05"),
    ];
    for (ty, literal) in cases {
        let rows = pool
            // `format('%s')` writes with the type's output function, as psql shows it (a cast
            // to text is another function for inet, which always adds the mask).
            .query(
                &format!("SELECT $1::{ty} AS v, format('%s', $1::{ty}) AS t"),
                &[json!(literal)],
            )
            .await
            .unwrap_or_else(|e| panic!("{ty} {literal}: {e}"));
        assert_eq!(rows[0]["v"], rows[0]["t"], "{ty} {literal}");
    }
}

async fn mysql_every_type_reads_back_as_json(base: &OutgoingSql) {
    let def = base.clone();
    let pool = pool(&def);
    let table = unique("my_types");
    pool.execute(
        &format!(
            "CREATE TABLE {table} (
                ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT,
                iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, f FLOAT, d DOUBLE,
                dc DECIMAL(10,2), b BOOLEAN, c CHAR(3), vc VARCHAR(20),
                vcbin VARCHAR(10) COLLATE utf8mb4_bin, t TEXT, bin BINARY(3), vb VARBINARY(10),
                bl BLOB, j JSON, dt DATE, dz DATE, tm TIME(6), dtm DATETIME(6),
                ts TIMESTAMP(6) NULL, y YEAR, bt BIT(5), e ENUM('a','b'), st SET('x','y'),
                u UUID, nothing INT
            )"
        ),
        &[],
    )
    .await
    .expect("table");

    let insert = format!(
        "INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UNHEX(?),
            UNHEX(?), FROM_BASE64(?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let values = [
        json!(-128),
        json!(255),
        json!(-32768),
        json!(8388607),
        json!(-2147483648_i64),
        json!(4294967295_u64),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(0.1),
        json!("12.5"),
        json!(true),
        json!("ab"),
        json!("héllo ✓"),
        json!("Abc"),
        json!("long text"),
        json!("00FF68"),
        json!("00FF6869"),
        json!("AP9oaQ=="),
        json!({"a": [1, 2]}),
        json!("2024-02-29"),
        json!("0000-00-00"),
        json!("-01:02:03.5"),
        json!("2024-01-02 03:04:05.25"),
        json!("2024-01-02 03:04:05"),
        json!(2024),
        json!(21),
        json!("b"),
        json!("x,y"),
        json!("123e4567-e89b-12d3-a456-426614174000"),
        json!(null),
    ];
    assert_eq!(pool.execute(&insert, &values).await.expect("insert"), 1);
    let nulls = vec![Value::Null; values.len()];
    assert_eq!(
        pool.execute(&insert, &nulls).await.expect("insert nulls"),
        1
    );

    let rows = pool
        .query(
            &format!("SELECT * FROM {table} ORDER BY ti IS NULL, ti"),
            &[],
        )
        .await
        .expect("select");
    assert_eq!(rows.len(), 2);
    let expected = object(json!({
        "ti": -128, "tiu": 255, "si": -32768, "mi": 8388607, "i": -2147483648_i64,
        "iu": 4294967295_u64, "bi": i64::MIN, "biu": u64::MAX,
        "f": 1.5, "d": 0.1,
        "dc": "12.50",
        // BOOLEAN is TINYINT(1): the number stored.
        "b": 1,
        // MySQL strips CHAR's padding (PostgreSQL keeps it).
        "c": "ab",
        "vc": "héllo ✓",
        // A binary *collation* is still text; only the `binary` charset is bytes.
        "vcbin": "Abc",
        "t": "long text",
        "bin": "AP9o", "vb": "AP9oaQ==", "bl": "AP9oaQ==",
        // MariaDB's JSON is text on the wire.
        "j": "{\"a\":[1,2]}",
        "dt": "2024-02-29",
        "dz": null,
        "tm": "-01:02:03.5",
        "dtm": "2024-01-02T03:04:05.25",
        "ts": "2024-01-02T03:04:05Z",
        "y": 2024, "bt": 21, "e": "b", "st": "x,y",
        "u": "123e4567-e89b-12d3-a456-426614174000",
        "nothing": null,
    }));
    assert_eq!(rows[0], expected);
    let all_null: Map<String, Value> = expected.keys().map(|k| (k.clone(), Value::Null)).collect();
    assert_eq!(rows[1], all_null);

    let rows = pool
        .query(
            "SELECT 1 > 0 AS cmp, NULL AS n, 1.50 AS lit, 2.5e0 AS dbl, CAST(7 AS UNSIGNED) AS u,
                TIME('838:59:59') AS long_time, ? AS p",
            &[json!("param")],
        )
        .await
        .expect("expressions");
    assert_eq!(
        rows[0],
        object(json!({
            "cmp": 1, "n": null, "lit": "1.50", "dbl": 2.5, "u": 7,
            "long_time": "838:59:59", "p": "param",
        }))
    );
}

// ---------------------------------------------------------------------------------------------
// Strings and numbers for typed parameters

/// JSON has no dates, decimals or UUIDs, so callers send strings: they go into typed columns
/// without a cast, as the type PostgreSQL inferred, and read back as they were sent.
async fn postgres_strings_go_into_typed_columns_without_casts(base: &OutgoingSql) {
    let pool = pool(base);
    let table = unique("pg_strings");
    let mood = unique("mood");
    let day = unique("day");
    pool.execute(&format!("CREATE TYPE {mood} AS ENUM ('sad', 'happy')"), &[])
        .await
        .expect("enum");
    pool.execute(
        &format!("CREATE DOMAIN {day} AS date CHECK (VALUE > '2000-01-01')"),
        &[],
    )
    .await
    .expect("domain");
    pool.execute(
        &format!(
            "CREATE TABLE {table} (
                id int, d date, tstz timestamptz, ts timestamp, tm time, n numeric,
                n2 numeric(10,2), u uuid, jb jsonb, j json, i2 smallint, i8 bigint, b boolean,
                f4 real, f8 double precision, iv interval, mood {mood}, day {day},
                vc varchar(10), c char(3)
            )"
        ),
        &[],
    )
    .await
    .expect("table");
    let insert = format!(
        "INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
            $14, $15, $16, $17, $18, $19, $20)"
    );
    let values = [
        json!(1),
        json!("2024-01-02"),
        json!("2024-01-02T03:04:05Z"),
        json!("2024-01-02 03:04:05.25"),
        json!("03:04:05"),
        json!("12.50"),
        json!("7"),
        json!("123E4567-E89B-12D3-A456-426614174000"),
        json!("{\"a\": [1, 2.50]}"),
        json!("{\"b\": 1, \"a\": 2}"),
        json!("-32768"),
        json!("9223372036854775807"),
        json!("yes"),
        json!("1.5"),
        json!("-0.25"),
        json!("P1DT2H"),
        json!("happy"),
        json!("2024-02-29"),
        json!("abc"),
        json!("ab"),
    ];
    assert_eq!(pool.execute(&insert, &values).await.expect("insert"), 1);
    let select = format!("SELECT * FROM {table} WHERE id = $1");
    let rows = pool.query(&select, &[json!(1)]).await.expect("select");
    assert_eq!(
        rows,
        vec![object(json!({
            "id": 1,
            "d": "2024-01-02",
            "tstz": "2024-01-02T03:04:05Z",
            "ts": "2024-01-02T03:04:05.25",
            "tm": "03:04:05",
            // The scale the string had: `numeric` keeps it, `numeric(10,2)` sets its own.
            "n": "12.50",
            "n2": "7.00",
            "u": "123e4567-e89b-12d3-a456-426614174000",
            "jb": {"a": [1, 2.5]},
            "j": {"b": 1, "a": 2},
            "i2": -32768,
            "i8": i64::MAX,
            "b": true,
            "f4": 1.5,
            "f8": -0.25,
            "iv": "P1DT2H",
            "mood": "happy",
            "day": "2024-02-29",
            "vc": "abc",
            "c": "ab ",
        }))]
    );

    // An offset says which instant; the column holds it in UTC.
    let insert = format!("INSERT INTO {table} (id, tstz) VALUES ($1, $2)");
    for (id, instant) in [
        (2, "2024-01-02T05:04:05+02:00"),
        (3, "2024-01-02 00:04:05-03"),
        (4, "2024-01-02T08:34:05+0530"),
    ] {
        pool.execute(&insert, &[json!(id), json!(instant)])
            .await
            .unwrap_or_else(|e| panic!("{instant}: {e}"));
        let rows = pool.query(&select, &[json!(id)]).await.expect("select");
        assert_eq!(rows[0]["tstz"], json!("2024-01-02T03:04:05Z"), "{instant}");
    }

    // Strings compare with typed columns as their types.
    let rows = pool
        .query(
            &format!(
                "SELECT id FROM {table} WHERE d = $1 AND u = $2 AND n = $3 AND tstz = $4
                    AND b = $5"
            ),
            &[
                json!("2024-01-02"),
                json!("123e4567-e89b-12d3-a456-426614174000"),
                json!("12.5"),
                json!("2024-01-02T04:04:05+01:00"),
                json!("t"),
            ],
        )
        .await
        .expect("where");
    assert_eq!(rows, vec![object(json!({"id": 1}))]);

    // PostgreSQL's values beyond numbers and dates, as this crate reads them back.
    pool.execute(
        &format!("INSERT INTO {table} (id, d, ts, n) VALUES ($1, $2, $3, $4)"),
        &[
            json!(5),
            json!("infinity"),
            json!("-infinity"),
            json!("NaN"),
        ],
    )
    .await
    .expect("infinities");
    let rows = pool
        .query(
            &format!("SELECT d, ts, n FROM {table} WHERE id = $1"),
            &[json!(5)],
        )
        .await
        .expect("select");
    assert_eq!(
        rows,
        vec![object(
            json!({"d": "infinity", "ts": "-infinity", "n": "NaN"})
        )]
    );

    // A domain's constraint still holds.
    let e = pool
        .execute(
            &format!("INSERT INTO {table} (id, day) VALUES ($1, $2)"),
            &[json!(6), json!("1999-12-31")],
        )
        .await
        .expect_err("the domain's check");
    assert!(
        matches!(&e, SqlError::Database { sqlstate: Some(s), .. } if s == "23514"),
        "{e:?}"
    );

    // With a cast, a string this crate does not parse reaches PostgreSQL's own parser.
    let rows = pool
        .query(
            "SELECT $1::date AS d, $2::interval AS i, $3::timestamptz AS t",
            &[
                json!("January 8, 1999"),
                json!("1 day 2 hours"),
                // No offset: the session's time zone, UTC on the test server.
                json!("2024-01-02 03:04:05"),
            ],
        )
        .await
        .expect("casts");
    assert_eq!(
        rows,
        vec![object(
            json!({"d": "1999-01-08", "i": "P1DT2H", "t": "2024-01-02T03:04:05Z"})
        )]
    );
}

/// A string that is not of the type PostgreSQL inferred, where the statement takes no text,
/// fails before it is sent, naming the parameter, the type and what is wrong.
async fn postgres_a_string_that_is_not_its_type_is_a_parameter_error(base: &OutgoingSql) {
    let pool = pool(base);
    let table = unique("pg_bad");
    pool.execute(
        &format!("CREATE TABLE {table} (id int, d date, u uuid)"),
        &[],
    )
    .await
    .expect("table");
    let insert = format!("INSERT INTO {table} (id, d) VALUES ($1, $2)");
    match pool
        .execute(&insert, &[json!(1), json!("2024-13-01")])
        .await
    {
        Err(SqlError::Parameter { index, message }) => {
            assert_eq!(index, 2);
            for part in ["\"2024-13-01\"", "DATE", "month 13"] {
                assert!(message.contains(part), "{part}: {message}");
            }
        }
        other => panic!("{other:?}"),
    }
    match pool
        .query(
            &format!("SELECT id FROM {table} WHERE u = $1"),
            &[json!("not-a-uuid")],
        )
        .await
    {
        Err(SqlError::Parameter { index: 1, message }) => {
            assert!(message.contains("UUID"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = pool
        .execute(&insert, &[json!(1), json!("2024-01-02T03:04:05")])
        .await
        .expect_err("a timestamp is no date");
    assert!(matches!(&e, SqlError::Parameter { index: 2, .. }), "{e:?}");
    // With a cast, PostgreSQL's own parser judges the string, as it always did.
    match pool
        .query("SELECT $1::date AS d", &[json!("2024-13-01")])
        .await
    {
        Err(SqlError::Database {
            sqlstate: Some(state),
            message,
        }) => assert!(state.starts_with("22"), "{state} {message}"),
        other => panic!("{other:?}"),
    }
    // Nothing went in, and the pool carries on.
    let rows = pool
        .query(&format!("SELECT id FROM {table}"), &[])
        .await
        .expect("select");
    assert!(rows.is_empty(), "{rows:?}");
    pool.execute(&insert, &[json!(1), json!("2024-12-01")])
        .await
        .expect("a good date");
}

/// Where PostgreSQL cannot type an untyped string, or types it as something no string is
/// parsed into here, the string goes as TEXT, as it always did, and what worked works.
async fn postgres_strings_it_cannot_type_go_as_text(base: &OutgoingSql) {
    let pool = pool(base);
    for _ in 0..2 {
        // The second time, as the pool has learnt it.
        let rows = pool
            .query(
                "SELECT concat($1, 'x') AS c, json_build_object('k', $2) AS j, $3 IS NULL AS n,
                    length($4) AS l, $5 AS s",
                &[
                    json!("a"),
                    json!("v"),
                    json!("x"),
                    json!("four"),
                    json!("plain"),
                ],
            )
            .await
            .expect("untyped strings");
        assert_eq!(
            rows,
            vec![object(
                json!({"c": "ax", "j": {"k": "v"}, "n": false, "l": 4, "s": "plain"})
            )]
        );
    }

    // Only the string PostgreSQL cannot type goes as text; the date next to it is a date.
    let table = unique("pg_mixed");
    pool.execute(&format!("CREATE TABLE {table} (d date, label text)"), &[])
        .await
        .expect("table");
    pool.execute(
        &format!("INSERT INTO {table} (d, label) VALUES ($1, concat($2, '!'))"),
        &[json!("2024-01-02"), json!("hi")],
    )
    .await
    .expect("insert");
    let rows = pool
        .query(&format!("SELECT d, label FROM {table}"), &[])
        .await
        .expect("select");
    assert_eq!(
        rows,
        vec![object(json!({"d": "2024-01-02", "label": "hi!"}))]
    );

    // regclass (nextval's argument) has no parser here: text, which PostgreSQL casts.
    let sequence = unique("seq");
    pool.execute(&format!("CREATE SEQUENCE {sequence}"), &[])
        .await
        .expect("sequence");
    for expected in [1, 2] {
        let rows = pool
            .query("SELECT nextval($1) AS n", &[json!(sequence)])
            .await
            .expect("nextval");
        assert_eq!(rows[0]["n"], json!(expected));
    }
}

/// A JSON number where PostgreSQL infers NUMERIC goes as the number the JSON said, not as
/// the nearest binary float; elsewhere floats are FLOAT8, as they always were.
async fn postgres_numbers_go_into_numerics_losslessly(base: &OutgoingSql) {
    let pool = pool(base);
    let table = unique("pg_numbers");
    pool.execute(
        &format!("CREATE TABLE {table} (id int, n numeric, f float8, i int)"),
        &[],
    )
    .await
    .expect("table");
    let insert = format!("INSERT INTO {table} (id, n) VALUES ($1, $2)");
    let select = format!("SELECT n FROM {table} WHERE id = $1");
    for (id, value, expected) in [
        // FLOAT8 cast to NUMERIC would be 0.300000000000000 (15 digits).
        (1, json!(0.30000000000000004), "0.30000000000000004"),
        (2, json!(2.0), "2.0"),
        (3, json!(1e-7), "0.0000001"),
        (4, json!(u64::MAX), "18446744073709551615"),
        (5, json!(-12), "-12"),
    ] {
        pool.execute(&insert, &[json!(id), value.clone()])
            .await
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        let rows = pool.query(&select, &[json!(id)]).await.expect("select");
        assert_eq!(rows[0]["n"], json!(expected), "{value}");
    }
    let rows = pool
        .query(
            &format!("SELECT id FROM {table} WHERE n = $1"),
            &[json!(0.30000000000000004)],
        )
        .await
        .expect("where");
    assert_eq!(rows, vec![object(json!({"id": 1}))]);

    // Elsewhere, FLOAT8: into a float column, into an int one (PostgreSQL rounds), alone.
    pool.execute(
        &format!("INSERT INTO {table} (id, f, i) VALUES ($1, $2, $3)"),
        &[json!(9), json!(0.1), json!(1.7)],
    )
    .await
    .expect("floats");
    let rows = pool
        .query(
            &format!("SELECT f, i FROM {table} WHERE id = $1"),
            &[json!(9)],
        )
        .await
        .expect("select");
    assert_eq!(rows, vec![object(json!({"f": 0.1, "i": 2}))]);
    let rows = pool
        .query(
            "SELECT $1 AS f, $2 * 2 AS g, $3 AS big",
            &[json!(1.5), json!(0.25), json!(u64::MAX)],
        )
        .await
        .expect("alone");
    assert_eq!(
        rows,
        vec![object(
            json!({"f": 1.5, "g": 0.5, "big": "18446744073709551615"})
        )]
    );
}

/// In a transaction a preparation that fails only because a string was left untyped would
/// abort the transaction: it runs under a savepoint instead, so the transaction carries on.
async fn postgres_inference_leaves_a_transaction_intact(base: &OutgoingSql) {
    let pool = pool(base);
    let table = unique("pg_tx_inference");
    pool.execute(&format!("CREATE TABLE {table} (d date, label text)"), &[])
        .await
        .expect("table");
    let mut tx = pool.begin().await.expect("begin");
    tx.execute(
        &format!("INSERT INTO {table} (d, label) VALUES ($1, $2)"),
        &[json!("2024-01-02"), json!("a")],
    )
    .await
    .expect("insert");
    // Statements the pool has not seen, with strings PostgreSQL cannot type.
    let rows = tx
        .query(&format!("SELECT concat($1, '{table}') AS c"), &[json!("x")])
        .await
        .expect("concat");
    assert_eq!(rows[0]["c"], json!(format!("x{table}")));
    tx.execute(
        &format!("INSERT INTO {table} (d, label) VALUES ($1, concat($2, '!'))"),
        &[json!("2024-01-03"), json!("b")],
    )
    .await
    .expect("insert with concat");
    // A string that is not a date is the caller's error, and leaves the transaction as it was.
    let e = tx
        .execute(
            &format!("INSERT INTO {table} (d) VALUES ($1)"),
            &[json!("2024-13-01")],
        )
        .await
        .expect_err("not a date");
    assert!(matches!(&e, SqlError::Parameter { index: 1, .. }), "{e:?}");
    tx.commit().await.expect("commit");
    let rows = pool
        .query(&format!("SELECT d, label FROM {table} ORDER BY d"), &[])
        .await
        .expect("select");
    assert_eq!(
        rows,
        vec![
            object(json!({"d": "2024-01-02", "label": "a"})),
            object(json!({"d": "2024-01-03", "label": "b!"})),
        ]
    );
}

/// MySQL converts strings into dates, decimals and the rest itself: nothing to infer, and the
/// same JSON goes in as on PostgreSQL.
async fn mysql_strings_go_into_typed_columns_as_they_are(base: &OutgoingSql) {
    let pool = pool(base);
    let table = unique("my_strings");
    pool.execute(
        &format!(
            "CREATE TABLE {table} (
                id INT, d DATE, dt DATETIME(6), ts TIMESTAMP(6) NULL, tm TIME, dc DECIMAL(10,2),
                u UUID, j JSON, i INT, b BOOLEAN, f DOUBLE
            )"
        ),
        &[],
    )
    .await
    .expect("table");
    pool.execute(
        &format!("INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        &[
            json!(1),
            json!("2024-01-02"),
            json!("2024-01-02 03:04:05.25"),
            json!("2024-01-02T03:04:05"),
            json!("03:04:05"),
            json!("12.50"),
            json!("123E4567-E89B-12D3-A456-426614174000"),
            json!("{\"a\": [1, 2]}"),
            json!("42"),
            json!("1"),
            json!("1.5"),
        ],
    )
    .await
    .expect("insert");
    let rows = pool
        .query(&format!("SELECT * FROM {table}"), &[])
        .await
        .expect("select");
    assert_eq!(
        rows,
        vec![object(json!({
            "id": 1,
            "d": "2024-01-02",
            "dt": "2024-01-02T03:04:05.25",
            "ts": "2024-01-02T03:04:05Z",
            "tm": "03:04:05",
            "dc": "12.50",
            "u": "123e4567-e89b-12d3-a456-426614174000",
            // MariaDB keeps JSON as the text given.
            "j": "{\"a\": [1, 2]}",
            "i": 42,
            "b": 1,
            "f": 1.5,
        }))]
    );
    let rows = pool
        .query(
            &format!("SELECT id FROM {table} WHERE d = ? AND dc = ? AND u = ?"),
            &[
                json!("2024-01-02"),
                json!("12.5"),
                json!("123e4567-e89b-12d3-a456-426614174000"),
            ],
        )
        .await
        .expect("where");
    assert_eq!(rows, vec![object(json!({"id": 1}))]);
    // What is no date is MariaDB's to refuse (strict mode).
    let e = pool
        .execute(
            &format!("INSERT INTO {table} (id, d) VALUES (?, ?)"),
            &[json!(2), json!("2024-13-01")],
        )
        .await
        .expect_err("not a date");
    assert!(
        matches!(&e, SqlError::Database { sqlstate: Some(s), .. } if s == "22007"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Transactions

async fn transactions_commit_or_roll_back(base: &OutgoingSql) {
    let engine = base.engine;
    // One connection: a statement after a dropped transaction runs on the very connection the
    // transaction had, so if the rollback had not happened it would still see the row.
    let def = OutgoingSql {
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    let table = unique("tx");
    let p = match engine {
        SqlEngine::Postgresql => "$1",
        SqlEngine::Mysql => "?",
    };
    pool.execute(&format!("CREATE TABLE {table} (v VARCHAR(20))"), &[])
        .await
        .expect("table");
    let insert = format!("INSERT INTO {table} (v) VALUES ({p})");
    let count = format!("SELECT COUNT(*) AS n FROM {table} WHERE v = {p}");
    let count_of = |v: &'static str| {
        let pool = &pool;
        let count = &count;
        async move {
            pool.query(count, &[json!(v)]).await.expect("count")[0]["n"]
                .as_i64()
                .expect("a number")
        }
    };

    // Dropped without commit: rolled back.
    {
        let mut tx = pool.begin().await.expect("begin");
        assert_eq!(
            tx.execute(&insert, &[json!("dropped")])
                .await
                .expect("insert"),
            1
        );
        let inside = tx.query(&count, &[json!("dropped")]).await.expect("count");
        assert_eq!(inside[0]["n"], json!(1), "the transaction sees its own row");
        let stats = pool.stats();
        assert_eq!(
            (stats.size, stats.in_use, stats.idle),
            (1, 1, 0),
            "{stats:?}"
        );
    }
    assert_eq!(count_of("dropped").await, 0);

    // Committed: kept, and seen from another pool.
    let mut tx = pool.begin().await.expect("begin");
    tx.execute(&insert, &[json!("committed")])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    let other = self::pool(&def);
    assert_eq!(
        other
            .query(&count, &[json!("committed")])
            .await
            .expect("count")[0]["n"],
        json!(1)
    );
    other.close().await;

    // Rolled back explicitly.
    let mut tx = pool.begin().await.expect("begin");
    tx.execute(&insert, &[json!("rolled back")])
        .await
        .expect("insert");
    tx.rollback().await.expect("rollback");
    assert_eq!(count_of("rolled back").await, 0);

    eventually("the connection is idle again", || pool.stats().in_use == 0).await;
}

/// PostgreSQL answers COMMIT in an aborted transaction with a rollback; the caller hears so.
async fn postgres_commit_after_a_failed_statement_is_refused(base: &OutgoingSql) {
    let def = base.clone();
    let pool = pool(&def);
    let table = unique("tx_failed");
    pool.execute(&format!("CREATE TABLE {table} (v int PRIMARY KEY)"), &[])
        .await
        .expect("table");
    let insert = format!("INSERT INTO {table} VALUES ($1)");

    let mut tx = pool.begin().await.expect("begin");
    tx.execute(&insert, &[json!(1)]).await.expect("insert");
    let duplicate = tx
        .execute(&insert, &[json!(1)])
        .await
        .expect_err("duplicate");
    assert!(
        matches!(&duplicate, SqlError::Database { sqlstate: Some(s), .. } if s == "23505"),
        "{duplicate:?}"
    );
    match tx.commit().await {
        Err(SqlError::Database { sqlstate, .. }) => assert_eq!(sqlstate.as_deref(), Some("25P02")),
        other => panic!("{other:?}"),
    }
    let rows = pool
        .query(&format!("SELECT * FROM {table}"), &[])
        .await
        .expect("select");
    assert!(rows.is_empty(), "{rows:?}");

    // A savepoint the caller rolled back to makes the transaction good again.
    let mut tx = pool.begin().await.expect("begin");
    tx.execute(&insert, &[json!(2)]).await.expect("insert");
    tx.execute("SAVEPOINT s", &[]).await.expect("savepoint");
    assert!(tx.execute(&insert, &[json!(2)]).await.is_err());
    tx.execute("ROLLBACK TO SAVEPOINT s", &[])
        .await
        .expect("rollback to");
    tx.commit().await.expect("commit");
    let rows = pool
        .query(&format!("SELECT v FROM {table}"), &[])
        .await
        .expect("select");
    assert_eq!(rows, vec![object(json!({"v": 2}))]);
}

/// MySQL rolls a deadlocked transaction back whole; what the caller sends next must not run
/// (and commit) outside it.
async fn mysql_a_deadlocked_transaction_is_not_committed_piecemeal(base: &OutgoingSql) {
    let def = base.clone();
    let pool = pool(&def);
    let table = unique("deadlock");
    pool.execute(
        &format!("CREATE TABLE {table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB"),
        &[],
    )
    .await
    .expect("table");
    pool.execute(&format!("INSERT INTO {table} VALUES (1, 0), (2, 0)"), &[])
        .await
        .expect("rows");
    let update = format!("UPDATE {table} SET v = ? WHERE id = ?");

    let mut a = pool.begin().await.expect("begin a");
    let mut b = pool.begin().await.expect("begin b");
    a.execute(&update, &[json!(1), json!(1)])
        .await
        .expect("a locks 1");
    b.execute(&update, &[json!(2), json!(2)])
        .await
        .expect("b locks 2");
    // a waits for row 2; then b asks for row 1: one of them is the deadlock's victim.
    let (a_wants_2, b_wants_1) = ([json!(1), json!(2)], [json!(2), json!(1)]);
    let (ra, rb) = tokio::join!(a.execute(&update, &a_wants_2), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.execute(&update, &b_wants_1).await
    });
    let is_deadlock =
        |e: &SqlError| matches!(e, SqlError::Database { sqlstate: Some(s), .. } if s == "40001");
    let (mut victim, survivor) = match (ra, rb) {
        (Err(e), Ok(_)) if is_deadlock(&e) => (a, b),
        (Ok(_), Err(e)) if is_deadlock(&e) => (b, a),
        other => panic!("expected one deadlock: {other:?}"),
    };
    let e = victim
        .execute(&update, &[json!(9), json!(1)])
        .await
        .expect_err("refused");
    assert!(is_deadlock(&e), "{e:?}");
    let e = victim.commit().await.expect_err("not committed");
    assert!(is_deadlock(&e), "{e:?}");
    survivor.commit().await.expect("the survivor commits");
    let rows = pool
        .query(&format!("SELECT v FROM {table} WHERE v = 9"), &[])
        .await
        .expect("select");
    assert!(rows.is_empty(), "{rows:?}");
}

// ---------------------------------------------------------------------------------------------
// Errors

async fn postgres_syntax_error_has_message_and_sqlstate(base: &OutgoingSql) {
    let pool = pool(base);
    match pool.query("SELEC 1", &[]).await {
        Err(SqlError::Database { message, sqlstate }) => {
            assert_eq!(sqlstate.as_deref(), Some("42601"));
            assert!(message.contains("syntax error"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The connection survives a refused statement.
    assert_eq!(
        pool.query("SELECT 1 AS one", &[]).await.expect("select")[0]["one"],
        json!(1)
    );
}

async fn mysql_syntax_error_has_message_and_sqlstate(base: &OutgoingSql) {
    let pool = pool(base);
    match pool.query("SELEC 1", &[]).await {
        Err(SqlError::Database { message, sqlstate }) => {
            assert_eq!(sqlstate.as_deref(), Some("42000"));
            assert!(message.contains("error in your SQL syntax"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

async fn postgres_a_wrong_number_of_parameters_is_a_parameter_error(base: &OutgoingSql) {
    let pool = pool(base);
    let e = pool
        .query("SELECT $1::int, $2::int", &[json!(1)])
        .await
        .expect_err("refused");
    assert!(matches!(e, SqlError::Parameter { index: 2, .. }), "{e:?}");
    // A parameter the statement does not use is no error to PostgreSQL.
    assert!(pool.query("SELECT 1", &[json!(1)]).await.is_ok());
    // The statement cached by a call with another count does not judge the next call.
    let one = OutgoingSql {
        pool_size: 1,
        ..base.clone()
    };
    let pool = self::pool(&one);
    pool.query("SELECT 1", &[json!(1)])
        .await
        .expect("one unused");
    pool.query("SELECT 1", &[]).await.expect("none");
    let e = pool
        .query("SELECT $1::int AS n", &[])
        .await
        .expect_err("missing");
    assert!(matches!(e, SqlError::Parameter { index: 1, .. }), "{e:?}");
    let rows = pool
        .query("SELECT $1::int AS n", &[json!(7)])
        .await
        .expect("given");
    assert_eq!(rows[0]["n"], json!(7));
}

async fn mysql_a_wrong_number_of_parameters_is_a_parameter_error(base: &OutgoingSql) {
    let pool = pool(base);
    let e = pool.query("SELECT ?", &[]).await.expect_err("refused");
    assert!(matches!(e, SqlError::Parameter { index: 1, .. }), "{e:?}");
}

async fn parameters_are_data_not_sql(base: &OutgoingSql) {
    let engine = base.engine;
    let def = base.clone();
    let pool = pool(&def);
    let table = unique("inject");
    let p = if engine == SqlEngine::Postgresql {
        "$1"
    } else {
        "?"
    };
    pool.execute(&format!("CREATE TABLE {table} (v TEXT)"), &[])
        .await
        .expect("table");
    let evil = format!("x'; DROP TABLE {table}; --");
    pool.execute(
        &format!("INSERT INTO {table} (v) VALUES ({p})"),
        &[json!(evil)],
    )
    .await
    .expect("insert");
    let rows = pool
        .query(
            &format!("SELECT v FROM {table} WHERE v = {p}"),
            &[json!(evil)],
        )
        .await
        .expect("the table is still there");
    assert_eq!(rows, vec![object(json!({ "v": evil }))]);
}

/// A query that returns more than `max_rows` fails instead of filling memory, and the
/// connection it ran on serves the next call.
async fn more_rows_than_max_rows_is_an_error(base: &OutgoingSql) {
    let def = OutgoingSql {
        max_rows: 10,
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    let upto = |n: u32| {
        format!(
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < {n}) SELECT n FROM t"
        )
    };
    let ten = pool.query(&upto(10), &[]).await.expect("exactly max_rows");
    assert_eq!(ten.len(), 10);
    let eleven = pool.query(&upto(11), &[]).await;
    assert!(
        matches!(eleven, Err(SqlError::TooManyRows { max: 10 })),
        "{eleven:?}"
    );
    let after = pool
        .query("SELECT 1 AS one", &[])
        .await
        .expect("the connection still works");
    assert_eq!(after, vec![object(json!({"one": 1}))]);
}

/// sqlx caches statements by their text; a statement first prepared for a NULL (PostgreSQL
/// inferred int4) must not read a later string's bytes as an int4.
async fn postgres_a_cached_statement_never_misreads_a_parameter(base: &OutgoingSql) {
    let def = OutgoingSql {
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    let table = unique("cache");
    pool.execute(&format!("CREATE TABLE {table} (n int)"), &[])
        .await
        .expect("table");
    let insert = format!("INSERT INTO {table} (n) VALUES ($1)");
    pool.execute(&insert, &[json!(null)]).await.expect("null");
    // "1234" is four bytes: read as a binary int4 it would be 825373492. It is parsed as the
    // int4 PostgreSQL inferred instead.
    pool.execute(&insert, &[json!("1234")])
        .await
        .expect("a string into int");
    // A value JSON types itself is declared as that type: refused, not misread.
    let e = pool
        .execute(&insert, &[json!(true)])
        .await
        .expect_err("bool into int");
    assert!(
        matches!(&e, SqlError::Database { sqlstate: Some(s), .. } if s == "42804"),
        "{e:?}"
    );
    let e = pool
        .execute(&insert, &[json!("12ab")])
        .await
        .expect_err("not an int");
    assert!(matches!(&e, SqlError::Parameter { index: 1, .. }), "{e:?}");
    pool.execute(&insert, &[json!(5)]).await.expect("int");
    pool.execute(&insert, &[json!(null)])
        .await
        .expect("null again");
    let rows = pool
        .query(
            &format!("SELECT n FROM {table} WHERE n IS NOT NULL ORDER BY n"),
            &[],
        )
        .await
        .expect("select");
    assert_eq!(
        rows,
        vec![object(json!({"n": 5})), object(json!({"n": 1234}))]
    );

    // Nor does what an earlier call sent decide how a later call's values go: a float here
    // falls back to FLOAT8, a string does not.
    let echo = format!("SELECT $1 AS v -- {table}");
    for value in [
        json!(1.5),
        json!("abc"),
        json!(null),
        json!("2.5"),
        json!(7),
        json!(0.25),
    ] {
        let rows = pool
            .query(&echo, std::slice::from_ref(&value))
            .await
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(rows[0]["v"], value);
    }
}

// ---------------------------------------------------------------------------------------------
// Timeouts and failures

async fn postgres_statement_timeout(base: &OutgoingSql) {
    let def = OutgoingSql {
        statement_timeout_ms: 300,
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    pool.ping().await.expect("connected");
    let started = Instant::now();
    let e = pool
        .query("SELECT pg_sleep(5)", &[])
        .await
        .expect_err("cancelled");
    assert!(
        matches!(
            e,
            SqlError::Timeout {
                what: "statement",
                after_ms: 300
            }
        ),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
    // The database cancelled it: the connection is as good as before.
    assert_eq!(
        pool.query("SELECT 1 AS one", &[]).await.expect("select")[0]["one"],
        json!(1)
    );

    // A session that turned the database's limit off is stopped by the client's guard
    // (300 ms + 500 ms); its connection is closed and replaced.
    pool.execute("SET statement_timeout = 0", &[])
        .await
        .expect("set");
    let started = Instant::now();
    let e = pool
        .query("SELECT pg_sleep(5)", &[])
        .await
        .expect_err("guarded");
    assert!(
        matches!(
            e,
            SqlError::Timeout {
                what: "statement",
                after_ms: 800
            }
        ),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    let rows = pool
        .query("SHOW statement_timeout", &[])
        .await
        .expect("a new connection");
    assert_eq!(rows[0]["statement_timeout"], json!("300ms"));

    // In a transaction, the guard abandons the transaction.
    let mut tx = pool.begin().await.expect("begin");
    tx.execute("SET LOCAL statement_timeout = 0", &[])
        .await
        .expect("set local");
    let e = tx
        .query("SELECT pg_sleep(5)", &[])
        .await
        .expect_err("guarded");
    assert!(
        matches!(
            e,
            SqlError::Timeout {
                what: "statement",
                ..
            }
        ),
        "{e:?}"
    );
    let e = tx.query("SELECT 1", &[]).await.expect_err("abandoned");
    assert!(matches!(e, SqlError::Unreachable(_)), "{e:?}");
    tx.rollback().await.expect("rolled back already");
    pool.ping().await.expect("the pool carries on");
}

async fn mysql_statement_timeout(base: &OutgoingSql) {
    let def = OutgoingSql {
        statement_timeout_ms: 300,
        pool_size: 1,
        ..base.clone()
    };
    let pool = pool(&def);
    pool.ping().await.expect("connected");
    let started = Instant::now();
    let e = pool
        .query("SELECT SLEEP(5)", &[])
        .await
        .expect_err("cancelled");
    assert!(
        matches!(
            e,
            SqlError::Timeout {
                what: "statement",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        pool.query("SELECT 1 AS one", &[]).await.expect("select")[0]["one"],
        json!(1)
    );
}

async fn pool_exhaustion_times_out_acquiring(base: &OutgoingSql) {
    let def = OutgoingSql {
        pool_size: 1,
        acquire_timeout_ms: 300,
        ..base.clone()
    };
    let pool = Arc::new(pool(&def));
    let tx = pool.begin().await.expect("begin");
    let stats = pool.stats();
    assert_eq!(
        (stats.in_use, stats.max, stats.waiting),
        (1, 1, 0),
        "{stats:?}"
    );

    let waiter = {
        let pool = Arc::clone(&pool);
        tokio::spawn(async move {
            let started = Instant::now();
            (pool.query("SELECT 1", &[]).await, started.elapsed())
        })
    };
    eventually("the second call waits", || pool.stats().waiting == 1).await;
    let (outcome, waited) = waiter.await.expect("the waiter");
    match outcome {
        Err(SqlError::Timeout {
            what: "acquire",
            after_ms: 300,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(1_000),
        "{waited:?}"
    );
    assert_eq!(pool.stats().waiting, 0);

    tx.commit().await.expect("commit");
    pool.ping().await.expect("free again");
}

/// What a scenario may do to the server of its own.
trait Server {
    /// kill -9, as in a crash: every open connection breaks at once.
    fn kill(&mut self);
    /// Starts it again on the same port with the same data (after a kill -9 if it runs).
    fn restart(&mut self);
}

impl Server for PostgresServer {
    fn kill(&mut self) {
        PostgresServer::kill(self);
    }
    fn restart(&mut self) {
        PostgresServer::restart(self);
    }
}

impl Server for MariadbServer {
    fn kill(&mut self) {
        MariadbServer::kill(self);
    }
    fn restart(&mut self) {
        MariadbServer::restart(self);
    }
}

/// A connection the database closed while it sat idle in the pool (as a restart does) is
/// replaced, not handed to the next call; while the database is down, calls fail within the
/// connect limit, and once it is back they succeed.
///
/// `whoami` returns the session's `mark`, which `mark` sets to `"old"`: a new connection has
/// none. (MariaDB numbers connections from 1 again after a restart, so an id would not tell
/// a new connection from the old one.)
async fn a_broken_idle_connection_is_replaced(
    base: &OutgoingSql,
    server: &mut impl Server,
    whoami: &str,
    mark: &str,
) {
    let def = OutgoingSql {
        pool_size: 1,
        connect_timeout_ms: 1_000,
        ..base.clone()
    };
    let pool = pool(&def);
    pool.execute(mark, &[]).await.expect("mark");
    let before = pool.query(whoami, &[]).await.expect("whoami").remove(0);
    assert_eq!(before["mark"], json!("old"), "{before:?}");
    // Idle in the pool, not on its way back to it: else the next call waits to acquire it.
    eventually("the connection is idle", || pool.stats().idle == 1).await;

    tokio::task::block_in_place(|| server.restart());
    let after = pool
        .query(whoami, &[])
        .await
        .expect("a new connection")
        .remove(0);
    assert_eq!(
        after["mark"],
        Value::Null,
        "still the old session: {after:?}"
    );
    assert_ne!(before, after);
    eventually("the connection is idle", || pool.stats().idle == 1).await;

    tokio::task::block_in_place(|| server.kill());
    let started = Instant::now();
    let e = pool.query(whoami, &[]).await.expect_err("down");
    assert!(
        matches!(
            &e,
            SqlError::Unreachable(_)
                | SqlError::Timeout {
                    what: "connect",
                    ..
                }
        ),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tokio::task::block_in_place(|| server.restart());
    let back = pool.query(whoami, &[]).await.expect("back").remove(0);
    assert_eq!(back["mark"], Value::Null, "{back:?}");
}

/// Nothing listens on the port: the call fails within the connect limit, and says why
/// without the password.
#[tokio::test]
async fn an_unreachable_database_fails_fast_without_the_password() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    for engine in [SqlEngine::Postgresql, SqlEngine::Mysql] {
        let def = OutgoingSql {
            connect_timeout_ms: 500,
            ..def(engine, port)
        };
        let pool = SqlPool::new(&def, "sekrit-password-123").expect("a pool, lazily");
        let started = Instant::now();
        let e = pool.query("SELECT 1", &[]).await.expect_err("unreachable");
        let elapsed = started.elapsed();
        assert!(
            matches!(&e, SqlError::Unreachable(m) if m.contains(&port.to_string()))
                || matches!(
                    &e,
                    SqlError::Timeout {
                        what: "connect",
                        ..
                    }
                ),
            "{engine:?}: {e:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "{engine:?}: {elapsed:?}");
        let shown = format!("{e} {e:?} {pool:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        println!("{engine:?}: {e} after {elapsed:?}");
    }
}

async fn mysql_a_wrong_password_is_refused_without_being_shown(base: &OutgoingSql) {
    let pool = SqlPool::new(base, "wrong-password-xyz").expect("a pool");
    let e = pool.query("SELECT 1", &[]).await.expect_err("refused");
    match &e {
        SqlError::Database { sqlstate, .. } => assert_eq!(sqlstate.as_deref(), Some("28000")),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{e} {e:?}").contains("wrong-password"), "{e:?}");
}

/// Before [`enable_tls`]: a server without TLS is refused by the modes that need TLS, quickly
/// (sqlx does not fall back to plain text), and `prefer` goes in without it.
async fn postgres_tls_modes_refuse_a_server_without_tls(base: &OutgoingSql) {
    for tls in [SqlTlsMode::VerifyFull, SqlTlsMode::Require] {
        let def = OutgoingSql {
            tls,
            connect_timeout_ms: 2_000,
            ..base.clone()
        };
        let started = Instant::now();
        let e = pool(&def)
            .query("SELECT 1", &[])
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, SqlError::Unreachable(m) if m.contains("TLS")),
            "{tls:?}: {e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{tls:?}: {:?}",
            started.elapsed()
        );
    }
    let rows = pool(base).query(ENCRYPTED, &[]).await.expect("prefer");
    assert_eq!(rows[0]["ssl"], json!(false));
}

/// Whether the connection is encrypted.
const ENCRYPTED: &str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// After [`enable_tls`]: the server's certificate is signed by a CA of the test's own, so
/// `verify_full` refuses it, quickly; `require` (and `prefer`) take it without checking it;
/// with the CA, and a name the certificate was made for, `verify_full` passes.
async fn postgres_verify_full_refuses_an_unknown_certificate(base: &OutgoingSql, ca_pem: &str) {
    let def = OutgoingSql {
        tls: SqlTlsMode::VerifyFull,
        connect_timeout_ms: 2_000,
        ..base.clone()
    };
    let started = Instant::now();
    let e = pool(&def)
        .query("SELECT 1", &[])
        .await
        .expect_err("refused");
    assert!(matches!(&e, SqlError::Unreachable(_)), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    println!("{e}");

    // `require` takes the same certificate without checking it; so does `prefer`.
    for tls in [SqlTlsMode::Require, SqlTlsMode::Prefer] {
        let def = OutgoingSql { tls, ..def.clone() };
        let rows = pool(&def).query(ENCRYPTED, &[]).await.expect("encrypted");
        assert_eq!(rows[0]["ssl"], json!(true), "{tls:?}");
    }

    // With the CA, and a name the certificate was made for, it passes.
    for host in ["localhost", "127.0.0.1"] {
        let def = OutgoingSql {
            host: host.into(),
            ca_pem: Some(ca_pem.to_owned()),
            ..def.clone()
        };
        let rows = pool(&def)
            .query(ENCRYPTED, &[])
            .await
            .unwrap_or_else(|e| panic!("verify_full with the CA, {host}: {e:?}"));
        assert_eq!(rows[0]["ssl"], json!(true), "{host}");
    }
}

/// The role exists and has a password: another one is refused, and not shown.
async fn postgres_a_wrong_password_is_refused_without_being_shown(base: &OutgoingSql) {
    let pool = SqlPool::new(base, "wrong-password-xyz").expect("a pool");
    let e = pool.query("SELECT 1", &[]).await.expect_err("refused");
    match &e {
        SqlError::Database { sqlstate, .. } => assert_eq!(sqlstate.as_deref(), Some("28P01")),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{e} {e:?}").contains("wrong-password"), "{e:?}");
}

async fn a_closed_pool_refuses_calls(base: &OutgoingSql) {
    let pool = pool(base);
    let took = pool.ping().await.expect("ping");
    assert!(took < Duration::from_secs(2), "{took:?}");
    pool.close().await;
    let e = pool.query("SELECT 1", &[]).await.expect_err("closed");
    assert!(
        matches!(&e, SqlError::Unreachable(m) if m.contains("closed")),
        "{e:?}"
    );
}

#[test]
fn a_pool_outside_a_runtime_is_a_config_error() {
    let e = SqlPool::new(&def(SqlEngine::Postgresql, 5432), "").expect_err("no runtime");
    assert!(matches!(e, SqlError::Config(_)), "{e:?}");
}
