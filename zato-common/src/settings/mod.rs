//! Settings: a TOML file, then `ZATO_*` environment variables over it, then defaults.
//!
//! Every binary runs on localhost with no file at all, because every field has a default.
//! An environment variable names a field by its path, upper-cased, with `__` between
//! sections: `ZATO_REDIS_URL` sets `redis_url`, `ZATO_BROKER__MAX_DELIVERIES` sets
//! `broker.max_deliveries`. A variable is read as the type of the field it sets, so
//! `ZATO_ADMIN_TOKEN=1234` stays a string. Variables that name no field are ignored: they may
//! be meant for another binary.

mod connector;
mod scheduler;
mod server;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

pub use connector::ConnectorSettings;
pub use scheduler::SchedulerSettings;
pub use server::ServerSettings;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "ZATO_";

/// Loads settings from `path` (if given) and the process environment.
pub fn load<T>(path: Option<&Path>) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Serialize + Default,
{
    load_from(path, std::env::vars())
}

/// Loads settings from `path` (if given) and the given variables.
pub fn load_from<T>(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let table = match path {
        Some(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: shown.clone(),
                source,
            })?;
            let table = text
                .parse::<Table>()
                .map_err(|source| SettingsError::Parse {
                    path: shown,
                    source,
                })?;
            warn_if_exposed(path, &table);
            table
        }
        None => Table::new(),
    };
    overlay(table, vars)
}

/// Settings from TOML text instead of a file, then the variables (tests and fuzzing).
pub fn from_text<T>(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let table = text
        .parse::<Table>()
        .map_err(|source| SettingsError::Parse {
            path: "<text>".into(),
            source,
        })?;
    overlay(table, vars)
}

/// Puts the variables over the table, then reads the result as `T`, defaults filling gaps.
fn overlay<T>(
    mut table: Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, SettingsError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let defaults =
        Table::try_from(T::default()).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    for (var, raw) in vars {
        let Some(field_path) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = field_path.split("__").map(str::to_lowercase).collect();
        let Some(default) = lookup(&defaults, &keys) else {
            continue;
        };
        let value = typed_like(default, &raw).map_err(|message| SettingsError::Env {
            var: var.clone(),
            message,
        })?;
        insert(&mut table, &keys, value);
    }
    T::deserialize(table).map_err(|e| SettingsError::Invalid(e.to_string()))
}

/// Whether a settings table holds a secret: an admin token, or credentials in a URL.
fn holds_secrets(table: &Table) -> bool {
    table.iter().any(|(key, value)| match value {
        Value::String(s) => {
            (key.contains("token") || key.contains("password") || s.contains('@')) && !s.is_empty()
        }
        Value::Table(inner) => holds_secrets(inner),
        _ => false,
    })
}

/// Warns when a file that holds secrets can be read by users other than its owner.
fn warn_if_exposed(path: &Path, table: &Table) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 && holds_secrets(table) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "config file holds secrets and others can read it; chmod 600 it"
        );
    }
}

fn lookup<'a>(table: &'a Table, keys: &[String]) -> Option<&'a Value> {
    let (last, parents) = keys.split_last()?;
    let mut current = table;
    for key in parents {
        current = current.get(key)?.as_table()?;
    }
    current.get(last)
}

fn insert(table: &mut Table, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        current = next;
    }
    current.insert(last.clone(), value);
}

fn typed_like(default: &Value, raw: &str) -> Result<Value, String> {
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Integer(_) => raw
            .trim()
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("'{raw}' is not a whole number")),
        Value::Float(_) => raw
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("'{raw}' is not a number")),
        Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
            _ => Err(format!("'{raw}' is not true or false")),
        },
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Value::Table(_) | Value::Datetime(_) => Err("names a section, not a field".to_owned()),
    }
}

/// How the broker behaves; the `[broker]` section of every binary's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// A message held this long by a consumer that no longer renews its claim is given to
    /// another consumer.
    pub visibility_timeout_ms: u64,
    /// Deliveries after which a message goes to the dead-letter stream.
    pub max_deliveries: u32,
    /// Most messages read from Redis in one call.
    pub read_batch: usize,
    /// Most messages one process handles at once (per queue).
    pub concurrency: usize,
    /// How long one blocking read waits before it checks for shutdown.
    pub block_ms: u64,
    /// Entries kept in the 1:all stream; a member offline for longer than that reloads
    /// its config from the config store instead of replaying.
    pub all_retention: usize,
    /// Entries kept in each dead-letter stream.
    pub dlq_retention: usize,
    /// Lease time-to-live of the singletons (scheduler, connector).
    pub lease_ttl_ms: u64,
    /// How often a member refreshes its heartbeat.
    pub heartbeat_interval_ms: u64,
    /// Connections in the command pool (blocking readers have their own).
    pub pool_size: usize,
    /// A PEM file of CA certificates to trust for a `rediss://` Redis instead of the system's
    /// roots, so a Redis with a certificate from a private CA can be verified rather than
    /// reached with `#insecure`. Empty: the system's roots.
    pub redis_ca_path: String,
    /// Replicas that must have a publish, a config change, a job's fire or a lease's win
    /// before it counts as done (`WAIT`); 0 takes the master's word. Replication is
    /// asynchronous: without this, what a master acknowledged and did not pass on before it
    /// died is lost when its replica takes over.
    pub min_replicas_ack: u32,
    /// How many partitions the work streams (1:any, 1:connector) are split into, each with a
    /// hash tag of its own, so that on a Redis Cluster they spread over the shards. Every
    /// member of a cluster must use the same number; it may grow (restarting the members one
    /// by one), and shrink only once the partitions given up are empty.
    pub partitions: u16,
    /// How long to wait for those replicas; a write they did not confirm in time fails (it
    /// may still be on the master: the caller retries, and a retried publish may run twice).
    pub replicas_ack_timeout_ms: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            visibility_timeout_ms: 30_000,
            max_deliveries: 5,
            read_batch: 256,
            concurrency: 256,
            block_ms: 1_000,
            all_retention: 100_000,
            dlq_retention: 100_000,
            lease_ttl_ms: 10_000,
            heartbeat_interval_ms: 2_000,
            pool_size: 8,
            redis_ca_path: String::new(),
            min_replicas_ack: 0,
            partitions: 1,
            replicas_ack_timeout_ms: 1_000,
        }
    }
}

impl BrokerSettings {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let fail = |m: &str| Err(SettingsError::Invalid(format!("broker.{m}")));
        if self.visibility_timeout_ms < 100 {
            return fail("visibility_timeout_ms must be at least 100");
        }
        if self.max_deliveries == 0 {
            return fail("max_deliveries must be at least 1");
        }
        if self.read_batch == 0 || self.concurrency == 0 || self.pool_size == 0 {
            return fail("read_batch, concurrency and pool_size must be at least 1");
        }
        if self.lease_ttl_ms < 300 {
            return fail("lease_ttl_ms must be at least 300");
        }
        if !(1..=1024).contains(&self.partitions) {
            return fail("partitions must be from 1 to 1024");
        }
        if self.min_replicas_ack > 0 && !(1..=2_500).contains(&self.replicas_ack_timeout_ms) {
            return fail(
                "replicas_ack_timeout_ms must be from 1 to 2500 when min_replicas_ack is set (0 would wait for ever; waits queue on one connection, whose commands time out after 5 s)",
            );
        }
        if self.block_ms == 0 || self.heartbeat_interval_ms == 0 {
            return fail("block_ms and heartbeat_interval_ms must be above 0");
        }
        // Only that the file can be opened, so `zato config check` names a wrong path; the
        // broker parses the certificates when it connects.
        if !self.redis_ca_path.is_empty()
            && let Err(e) = std::fs::File::open(&self.redis_ca_path)
        {
            return fail(&format!("redis_ca_path {}: {e}", self.redis_ca_path));
        }
        Ok(())
    }
}

/// Loads a member's settings, fills the defaults that depend on the machine, then checks
/// them: what every binary and `zato config check` do alike.
fn load_checked<T: DeserializeOwned + Serialize + Default>(
    path: Option<&Path>,
    fill_defaults: fn(&mut T),
    validate: fn(&T) -> Result<(), SettingsError>,
) -> Result<T, SettingsError> {
    let mut settings: T = load(path)?;
    fill_defaults(&mut settings);
    validate(&settings)?;
    Ok(settings)
}

/// Checks what every member's settings share: a cluster name that can be part of a Redis key
/// and a listen address.
fn check_member(cluster: &str, bind: &str) -> Result<(), SettingsError> {
    if cluster.is_empty()
        || !cluster
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(SettingsError::Invalid(format!(
            "cluster '{cluster}' must be letters, digits, '-', '_' or '.'"
        )));
    }
    if bind.parse::<std::net::SocketAddr>().is_err() {
        return Err(SettingsError::Invalid(format!(
            "bind '{bind}' is not host:port (e.g. 127.0.0.1:17010)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Example {
        redis_url: String,
        admin_token: String,
        workers: u32,
        tags: Vec<String>,
        broker: BrokerSettings,
    }

    impl Default for Example {
        fn default() -> Self {
            Self {
                redis_url: "redis://127.0.0.1:6379".into(),
                admin_token: String::new(),
                workers: 2,
                tags: vec![],
                broker: BrokerSettings::default(),
            }
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_with_no_file_and_no_env() {
        let s: Example = load_from(None, vars(&[])).expect("loads");
        assert_eq!(s, Example::default());
    }

    #[test]
    fn env_overrides_file_and_keeps_types() {
        let dir = std::env::temp_dir().join(format!("zato-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("s.toml");
        std::fs::write(
            &file,
            "workers = 4\n[broker]\nmax_deliveries = 7\nblock_ms = 50\n",
        )
        .expect("write");
        let s: Example = load_from(
            Some(&file),
            vars(&[
                ("ZATO_ADMIN_TOKEN", "1234"),
                ("ZATO_BROKER__BLOCK_MS", "60"),
                ("ZATO_TAGS", "a, b"),
                ("ZATO_SOMETHING_ELSE", "ignored"),
                ("HOME", "/root"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.admin_token, "1234");
        assert_eq!(s.workers, 4);
        assert_eq!(s.broker.max_deliveries, 7);
        assert_eq!(s.broker.block_ms, 60);
        assert_eq!(s.tags, ["a", "b"]);
    }

    #[test]
    fn clear_errors() {
        let err = load_from::<Example>(None, vars(&[("ZATO_WORKERS", "many")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable ZATO_WORKERS: 'many' is not a whole number"
        );
        let err =
            load_from::<Example>(Some(Path::new("/nonexistent/zato.toml")), vars(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file /nonexistent/zato.toml")
        );
        let dir = std::env::temp_dir().join(format!("zato-settings-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "wrokers = 4\n").expect("write");
        let err = load_from::<Example>(Some(&file), vars(&[])).unwrap_err();
        assert!(err.to_string().contains("wrokers"), "{err}");
    }

    #[test]
    fn secrets_in_files_are_noticed() {
        let with_token: Table = "admin_token = \"x\"".parse().expect("toml");
        let with_url: Table = "[db]\nurl = \"redis://u:p@h\"".parse().expect("toml");
        let plain: Table = "workers = 2\nbind = \"127.0.0.1:1\"".parse().expect("toml");
        assert!(holds_secrets(&with_token) && holds_secrets(&with_url));
        assert!(!holds_secrets(&plain));
    }

    #[test]
    fn broker_settings_are_checked() {
        let mut b = BrokerSettings::default();
        assert!(b.validate().is_ok());
        b.max_deliveries = 0;
        assert!(
            b.validate()
                .unwrap_err()
                .to_string()
                .contains("max_deliveries")
        );
        let b = BrokerSettings {
            redis_ca_path: "/nonexistent/ca.pem".into(),
            ..BrokerSettings::default()
        };
        let err = b.validate().unwrap_err().to_string();
        assert!(err.contains("redis_ca_path /nonexistent/ca.pem"), "{err}");
    }
}
