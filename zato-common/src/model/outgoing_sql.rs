//! Outgoing SQL connections: a pool of connections to a PostgreSQL or MySQL/MariaDB database
//! that services query by name (`ctx.outgoing().sql("billing")`).

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name, check_not_empty};
use super::{ConfigKind, ConfigObject, default_true};
use crate::Secret;

/// The database a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SqlEngine {
    /// PostgreSQL (10 and later).
    Postgresql,
    /// MySQL (5.7 and later) or MariaDB (10.3 and later): one wire protocol.
    Mysql,
}

impl SqlEngine {
    /// The port the engine listens on unless told otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            SqlEngine::Postgresql => 5432,
            SqlEngine::Mysql => 3306,
        }
    }
}

/// Whether and how the connection uses TLS (the names PostgreSQL's `sslmode` uses).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SqlTlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain TCP otherwise.
    #[default]
    Prefer,
    /// TLS or no connection, without checking the server's certificate.
    Require,
    /// TLS with the certificate checked against the CA and the host name.
    VerifyFull,
}

/// An outgoing SQL connection (a pool, per server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingSql {
    pub name: String,
    pub engine: SqlEngine,
    pub host: String,
    /// 0 (or absent): the engine's default port.
    #[serde(default)]
    pub port: u16,
    pub database: String,
    pub username: String,
    /// Stored encrypted, never shown; on edit, an empty password keeps the stored one.
    #[serde(default)]
    pub password: Secret,
    /// The most connections each server keeps open to the database.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How long opening one connection may take.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a call waits for a free connection when all `pool_size` are in use.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// How long one statement may run before the call fails with a timeout.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// The most rows one query may return: more fails the call instead of filling the
    /// server's memory (page large results with `LIMIT`).
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
    #[serde(default)]
    pub tls: SqlTlsMode,
    /// A PEM bundle of the CA(s) that signed the database's certificate (`verify_full`),
    /// trusted besides the public CAs the driver bundles (Mozilla's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_pool_size() -> u32 {
    10
}

fn default_max_rows() -> u32 {
    100_000
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}

fn default_acquire_timeout_ms() -> u64 {
    5_000
}

fn default_statement_timeout_ms() -> u64 {
    30_000
}

impl OutgoingSql {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        if self.port == 0 {
            self.engine.default_port()
        } else {
            self.port
        }
    }
}

impl ConfigObject for OutgoingSql {
    const KIND: ConfigKind = ConfigKind::OutgoingSql;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_not_empty("host", &self.host)?;
        check_not_empty("database", &self.database)?;
        check_not_empty("username", &self.username)?;
        if !(1..=1000).contains(&self.pool_size) {
            return Err(ValidationError::new("pool_size", "must be 1 to 1000"));
        }
        if self.max_rows == 0 {
            return Err(ValidationError::new("max_rows", "must be at least 1"));
        }
        for (field, value) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("acquire_timeout_ms", self.acquire_timeout_ms),
            ("statement_timeout_ms", self.statement_timeout_ms),
        ] {
            if value == 0 || value > super::outgoing_rest::MAX_TIMEOUT_MS {
                return Err(ValidationError::new(
                    field,
                    "must be above 0 and at most a day (86400000)",
                ));
            }
        }
        if let Some(ca) = &self.ca_pem
            && !ca.contains("-----BEGIN CERTIFICATE-----")
        {
            return Err(ValidationError::new(
                "ca_pem",
                "must hold PEM certificates (-----BEGIN CERTIFICATE-----)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_validation() {
        let sql: OutgoingSql = serde_json::from_value(json!({
            "name": "billing", "engine": "postgresql", "host": "db", "database": "b",
            "username": "u", "password": "p"
        }))
        .expect("parses");
        assert!(sql.validate().is_ok());
        assert_eq!(sql.port(), 5432);
        assert_eq!(sql.tls, SqlTlsMode::Prefer);
        assert!(!format!("{sql:?}").contains("\"p\""));
        let bad = OutgoingSql {
            pool_size: 0,
            ..sql.clone()
        };
        assert_eq!(bad.validate().unwrap_err().field, "pool_size");
        let bad = OutgoingSql {
            host: " ".into(),
            ..sql
        };
        assert_eq!(bad.validate().unwrap_err().field, "host");
        assert!(
            serde_json::from_value::<OutgoingSql>(json!({
                "name": "x", "engine": "oracle", "host": "h", "database": "d", "username": "u"
            }))
            .is_err()
        );
    }
}
