//! From an [`OutgoingSql`] definition to sqlx's connect and pool options.
//!
//! The options are built field by field, never from a URL: a password with `@` or `/` in it
//! needs no escaping, and no URL holding the password exists to end up in an error message or
//! a log line. sqlx still reads the libpq environment (`PGSSLROOTCERT`, `PGOPTIONS`, ...) for
//! what a definition does not set; everything a definition does set wins.
//!
//! Limits, and who enforces them:
//! - connecting: `connect_timeout_ms`, by a timer around the pool's acquire when the pool has
//!   room for a new connection (sqlx's connect options have no timeout of their own);
//! - waiting for a connection of a busy pool: `acquire_timeout_ms`, by the same timer;
//! - a statement: `statement_timeout_ms`, by the database (PostgreSQL `statement_timeout`
//!   sent at start-up, MariaDB `max_statement_time` / MySQL `max_execution_time` set on each
//!   new connection), which cancels the statement and keeps the connection usable; and by a
//!   client-side guard a little longer ([`statement_guard`]) for what the database does not
//!   cancel (a network that went silent, MySQL's limit only covering `SELECT`).

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Database, MySql};
use zato_common::model::{ConfigObject, OutgoingSql, SqlTlsMode};

use super::error::SqlError;
use super::mysql;

/// The time limits of one pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub connect: Duration,
    pub acquire: Duration,
    pub statement: Duration,
    /// When the client gives up on a statement the database has not cancelled.
    pub statement_guard: Duration,
    /// The most rows a query may return.
    pub max_rows: u32,
}

impl Limits {
    pub(crate) fn of(def: &OutgoingSql) -> Limits {
        let statement = Duration::from_millis(def.statement_timeout_ms);
        Limits {
            connect: Duration::from_millis(def.connect_timeout_ms),
            acquire: Duration::from_millis(def.acquire_timeout_ms),
            statement,
            statement_guard: statement_guard(statement),
            max_rows: def.max_rows,
        }
    }
}

/// The client-side limit for a statement the database should cancel at `statement`: a tenth
/// longer, at least half a second and at most five seconds longer, so that the database's own
/// cancellation (which leaves the connection usable and says why) always comes first.
pub(crate) fn statement_guard(statement: Duration) -> Duration {
    let margin = (statement / 10).clamp(Duration::from_millis(500), Duration::from_secs(5));
    statement.saturating_add(margin)
}

/// Refuses a definition no pool can be made of: what [`ConfigObject::validate`] refuses
/// (sqlx panics on a pool of 0 connections, and a 0 timeout would fail every call).
pub(crate) fn check(def: &OutgoingSql) -> Result<(), SqlError> {
    def.validate()
        .map_err(|e| SqlError::Config(format!("{}: {e}", def.name)))
}

/// PostgreSQL's connect options for `def`, with the opened `password`. An empty password
/// means none: sqlx would send "" as a password, which MySQL refuses for an account that has
/// none.
pub(crate) fn postgres(def: &OutgoingSql, password: &str) -> Result<PgConnectOptions, SqlError> {
    // `new_without_pgpass`: the definition says which password, not ~/.pgpass.
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&def.host)
        .port(def.port())
        .username(&def.username)
        .database(&def.database)
        .ssl_mode(pg_ssl_mode(def.tls))
        .application_name(&format!("zato/{}", def.name))
        .options([("statement_timeout", def.statement_timeout_ms)]);
    if !password.is_empty() {
        options = options.password(password);
    }
    if let Some(pem) = &def.ca_pem {
        options = options.ssl_root_cert_from_pem(ca_bundle(pem)?);
    }
    Ok(options)
}

/// MySQL's connect options for `def`, with the opened `password` (empty: none).
pub(crate) fn mysql(def: &OutgoingSql, password: &str) -> Result<MySqlConnectOptions, SqlError> {
    let mut options = MySqlConnectOptions::new()
        .host(&def.host)
        .port(def.port())
        .username(&def.username)
        .database(&def.database)
        .ssl_mode(mysql_ssl_mode(def.tls))
        // sqlx would add PIPES_AS_CONCAT to the session's sql_mode, making `a || b` a
        // concatenation instead of MySQL's OR; a service's SQL should mean what it means in
        // the mysql client.
        .pipes_as_concat(false);
    if !password.is_empty() {
        options = options.password(password);
    }
    if let Some(pem) = &def.ca_pem {
        options = options.ssl_ca_from_pem(ca_bundle(pem)?);
    }
    Ok(options)
}

/// The pool options both engines share.
pub(crate) fn pool<DB: Database>(def: &OutgoingSql, limits: &Limits) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(def.pool_size)
        // Connections open on demand: a database that is down at start-up delays nothing.
        .min_connections(0)
        // An idle connection is pinged before it is handed out, so one broken by a database
        // restart is replaced instead of failing the call that got it.
        .test_before_acquire(true)
        // Our own timer (see the module docs) decides first; this is only a backstop.
        .acquire_timeout(
            limits
                .connect
                .saturating_add(limits.acquire)
                .saturating_add(Duration::from_secs(1)),
        )
}

/// MySQL's pool options: the shared ones, and the statement limit set on each new connection.
pub(crate) fn mysql_pool(def: &OutgoingSql, limits: &Limits) -> PoolOptions<MySql> {
    let timeout_ms = def.statement_timeout_ms;
    pool::<MySql>(def, limits).after_connect(move |conn, _meta| {
        Box::pin(async move { mysql::limit_statement_time(conn, timeout_ms).await })
    })
}

/// PostgreSQL's `sslmode` for a TLS mode (the model uses its names).
pub(crate) fn pg_ssl_mode(tls: SqlTlsMode) -> PgSslMode {
    match tls {
        SqlTlsMode::Disable => PgSslMode::Disable,
        SqlTlsMode::Prefer => PgSslMode::Prefer,
        SqlTlsMode::Require => PgSslMode::Require,
        SqlTlsMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

/// MySQL's `ssl-mode` for a TLS mode; `verify_full` is MySQL's `VERIFY_IDENTITY` (CA and
/// host name).
pub(crate) fn mysql_ssl_mode(tls: SqlTlsMode) -> MySqlSslMode {
    match tls {
        SqlTlsMode::Disable => MySqlSslMode::Disabled,
        SqlTlsMode::Prefer => MySqlSslMode::Preferred,
        SqlTlsMode::Require => MySqlSslMode::Required,
        SqlTlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
    }
}

/// The CA bundle's bytes, once every certificate in it parses as a trust anchor.
///
/// sqlx would only find out at the first connection, as a TLS error every call repeats;
/// a definition whose CA cannot work is better refused when the pool is made. The
/// certificates are trusted in addition to the public roots sqlx bundles (webpki-roots).
pub(crate) fn ca_bundle(pem: &str) -> Result<Vec<u8>, SqlError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| SqlError::Config(format!("ca_pem: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| SqlError::Config(format!("ca_pem: {e}")))?;
    }
    if roots.is_empty() {
        return Err(SqlError::Config(
            "ca_pem: no certificate in it (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(pem.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zato_common::Secret;
    use zato_common::model::SqlEngine;

    fn def() -> OutgoingSql {
        OutgoingSql {
            name: "billing".into(),
            engine: SqlEngine::Postgresql,
            host: "db.example.com".into(),
            port: 0,
            database: "b".into(),
            username: "u".into(),
            password: Secret::new("stored-password-must-be-ignored"),
            pool_size: 3,
            connect_timeout_ms: 1_000,
            acquire_timeout_ms: 2_000,
            statement_timeout_ms: 30_000,
            max_rows: 100,
            tls: SqlTlsMode::VerifyFull,
            ca_pem: None,
            is_active: true,
        }
    }

    #[test]
    fn the_guard_comes_after_the_database() {
        assert_eq!(
            statement_guard(Duration::from_millis(300)),
            Duration::from_millis(800)
        );
        assert_eq!(
            statement_guard(Duration::from_secs(30)),
            Duration::from_secs(33)
        );
        assert_eq!(
            statement_guard(Duration::from_secs(600)),
            Duration::from_secs(605)
        );
    }

    #[test]
    fn tls_modes() {
        assert!(matches!(
            pg_ssl_mode(SqlTlsMode::Disable),
            PgSslMode::Disable
        ));
        assert!(matches!(pg_ssl_mode(SqlTlsMode::Prefer), PgSslMode::Prefer));
        assert!(matches!(
            pg_ssl_mode(SqlTlsMode::Require),
            PgSslMode::Require
        ));
        assert!(matches!(
            pg_ssl_mode(SqlTlsMode::VerifyFull),
            PgSslMode::VerifyFull
        ));
        assert!(matches!(
            mysql_ssl_mode(SqlTlsMode::Disable),
            MySqlSslMode::Disabled
        ));
        assert!(matches!(
            mysql_ssl_mode(SqlTlsMode::Prefer),
            MySqlSslMode::Preferred
        ));
        assert!(matches!(
            mysql_ssl_mode(SqlTlsMode::Require),
            MySqlSslMode::Required
        ));
        assert!(matches!(
            mysql_ssl_mode(SqlTlsMode::VerifyFull),
            MySqlSslMode::VerifyIdentity
        ));
    }

    #[test]
    fn options_come_from_the_definition_and_the_opened_password() {
        let options = postgres(&def(), "opened").expect("options");
        assert_eq!(options.get_host(), "db.example.com");
        assert_eq!(options.get_port(), 5432);
        assert_eq!(options.get_username(), "u");
        assert_eq!(options.get_database(), Some("b"));
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
        let options = mysql(
            &OutgoingSql {
                engine: SqlEngine::Mysql,
                ..def()
            },
            "opened",
        )
        .expect("options");
        assert_eq!(options.get_port(), 3306);
        assert_eq!(options.get_username(), "u");
    }

    #[test]
    fn a_ca_that_cannot_work_is_refused_up_front() {
        let e = ca_bundle("not a certificate").expect_err("refused");
        assert!(e.to_string().contains("no certificate"), "{e}");
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(ca_bundle(garbage), Err(SqlError::Config(_))));
        let e = postgres(
            &OutgoingSql {
                ca_pem: Some(garbage.into()),
                ..def()
            },
            "pw",
        )
        .expect_err("refused");
        assert!(matches!(e, SqlError::Config(_)));
    }

    #[test]
    fn a_definition_that_cannot_make_a_pool_is_refused() {
        assert!(check(&def()).is_ok());
        let e = check(&OutgoingSql {
            pool_size: 0,
            ..def()
        })
        .expect_err("refused");
        assert!(e.to_string().contains("pool_size"), "{e}");
    }
}
