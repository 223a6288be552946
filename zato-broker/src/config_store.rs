//! The config store: every configuration object of the cluster, in Redis hashes.
//!
//! `config:<kind>` maps names to JSON; `config:version` counts changes. A change is one Lua
//! script that checks, writes the hash, bumps the version and appends the change to the
//! 1:all stream, all at once. Because the write and its announcement are one atomic step, a
//! snapshot taken in a transaction (every hash plus the id of the last 1:all entry) is exactly
//! "every change up to that stream position": a member that loads it and then follows the
//! stream from that position can neither miss a change nor apply one twice.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use redis::{Script, Value};
use serde_json::Value as Json;
use zato_common::model::ConfigObject;
use zato_common::{ConfigChange, ConfigKind};

use crate::Broker;
use crate::error::{BrokerError, Result};
use crate::stream_entry::{as_string, as_u64, id_cmp, parse_entries, parse_flat_map};

/// Writes one object and announces it. Returns the new version, -1 when the name is taken,
/// -2 when the object to edit does not exist.
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local mode, name, json, previous, envelope, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local renaming = previous ~= '' and previous ~= name
if (mode == 'create' or renaming) and redis.call('HEXISTS', KEYS[1], name) == 1 then
  return -1
end
if mode == 'update' then
  local current = name
  if renaming then current = previous end
  if redis.call('HEXISTS', KEYS[1], current) == 0 then return -2 end
end
if renaming then redis.call('HDEL', KEYS[1], previous) end
redis.call('HSET', KEYS[1], name, json)
local version = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'e', envelope)
return version
",
    )
});

/// Deletes one object and announces it. Returns the new version, or -2 when it did not exist.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -2 end
local version = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
return version
",
    )
});

/// Every object of the cluster at one 1:all stream position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSnapshot {
    /// The config version counter at that point.
    pub version: u64,
    /// The id of the last 1:all entry included (`0-0` when the stream was empty).
    pub position: String,
    /// Objects by kind, then by name, as stored.
    pub objects: BTreeMap<ConfigKind, BTreeMap<String, Json>>,
}

impl ConfigSnapshot {
    /// Whether the 1:all entry `stream_id` is already part of this snapshot.
    pub fn includes(&self, stream_id: &str) -> bool {
        id_cmp(stream_id, &self.position).is_le()
    }

    /// The objects of type `T`; an object that no longer parses is an error naming it.
    pub fn list<T: ConfigObject>(&self) -> Result<Vec<T>> {
        self.objects
            .get(&T::KIND)
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                serde_json::from_value(value.clone()).map_err(|e| BrokerError::Corrupt {
                    key: format!("config:{}/{name}", T::KIND),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Reads and changes the cluster's configuration.
#[derive(Clone)]
pub struct ConfigStore {
    broker: Broker,
}

enum Mode {
    Create,
    Update,
    Put,
}

impl ConfigStore {
    /// The config store of `broker`'s cluster.
    pub fn new(broker: Broker) -> Self {
        Self { broker }
    }

    /// Adds a new object; fails if the name is taken.
    pub async fn create<T: ConfigObject>(&self, object: &T) -> Result<u64> {
        self.write(Mode::Create, object, None).await
    }

    /// Replaces the object now called `name` (which `object` may rename); fails if there is
    /// none, or if the new name is taken.
    pub async fn update<T: ConfigObject>(&self, name: &str, object: &T) -> Result<u64> {
        self.write(Mode::Update, object, Some(name)).await
    }

    /// Creates or replaces an object.
    pub async fn put<T: ConfigObject>(&self, object: &T) -> Result<u64> {
        self.write(Mode::Put, object, None).await
    }

    async fn write<T: ConfigObject>(
        &self,
        mode: Mode,
        object: &T,
        previous: Option<&str>,
    ) -> Result<u64> {
        let kind = T::KIND;
        object.validate().map_err(|error| BrokerError::Invalid {
            kind: kind.as_str(),
            error,
        })?;
        let value = serde_json::to_value(object).map_err(|e| BrokerError::Corrupt {
            key: kind.to_string(),
            message: e.to_string(),
        })?;
        let name = object.name().to_owned();
        let previous_name = previous.filter(|p| *p != name).map(str::to_owned);
        let change = ConfigChange {
            kind,
            name: name.clone(),
            previous_name,
            value: Some(value.clone()),
        };
        let envelope = self.broker.envelope(kind.create_edit_action(), &change);
        let mode = match mode {
            Mode::Create => "create",
            Mode::Update => "update",
            Mode::Put => "put",
        };
        let mut conn = self.broker.redis().write_conn().await?;
        let version: i64 = WRITE
            .key(self.broker.keys().config(kind))
            .key(self.broker.keys().config_version())
            .key(self.broker.keys().all())
            .arg(mode)
            .arg(&name)
            .arg(value.to_string())
            .arg(previous.unwrap_or(""))
            .arg(envelope.encode()?)
            .arg(self.broker.settings().all_retention)
            .invoke_async(&mut conn)
            .await?;
        if version > 0 {
            self.broker
                .redis()
                .confirm_replicated(&mut conn, &self.broker.keys().config_version())
                .await?;
        }
        match version {
            -1 => Err(BrokerError::AlreadyExists {
                kind: kind.as_str(),
                name,
            }),
            -2 => Err(BrokerError::NotFound {
                kind: kind.as_str(),
                name: previous.unwrap_or(&name).to_owned(),
            }),
            v => Ok(v as u64),
        }
    }

    /// Deletes an object; fails if there is none.
    pub async fn delete(&self, kind: ConfigKind, name: &str) -> Result<u64> {
        let change = ConfigChange {
            kind,
            name: name.to_owned(),
            previous_name: None,
            value: None,
        };
        let envelope = self.broker.envelope(kind.delete_action(), &change);
        let mut conn = self.broker.redis().write_conn().await?;
        let version: i64 = DELETE
            .key(self.broker.keys().config(kind))
            .key(self.broker.keys().config_version())
            .key(self.broker.keys().all())
            .arg(name)
            .arg(envelope.encode()?)
            .arg(self.broker.settings().all_retention)
            .invoke_async(&mut conn)
            .await?;
        if version > 0 {
            self.broker
                .redis()
                .confirm_replicated(&mut conn, &self.broker.keys().config_version())
                .await?;
        }
        if version < 0 {
            return Err(BrokerError::NotFound {
                kind: kind.as_str(),
                name: name.to_owned(),
            });
        }
        Ok(version as u64)
    }

    /// One object by name.
    pub async fn get<T: ConfigObject>(&self, name: &str) -> Result<Option<T>> {
        let key = self.broker.keys().config(T::KIND);
        let mut conn = self.broker.redis().conn().await?;
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(name)
            .query_async(&mut conn)
            .await?;
        raw.map(|raw| {
            serde_json::from_str(&raw).map_err(|e| BrokerError::Corrupt {
                key: format!("{key}/{name}"),
                message: e.to_string(),
            })
        })
        .transpose()
    }

    /// Every object of type `T`, by name.
    pub async fn list<T: ConfigObject>(&self) -> Result<Vec<T>> {
        let key = self.broker.keys().config(T::KIND);
        let mut conn = self.broker.redis().conn().await?;
        let all: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        all.into_iter()
            .map(|(name, raw)| {
                serde_json::from_str(&raw).map_err(|e| BrokerError::Corrupt {
                    key: format!("{key}/{name}"),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// The config version counter.
    pub async fn version(&self) -> Result<u64> {
        let mut conn = self.broker.redis().conn().await?;
        let version: Option<u64> = redis::cmd("GET")
            .arg(self.broker.keys().config_version())
            .query_async(&mut conn)
            .await?;
        Ok(version.unwrap_or(0))
    }

    /// Every object and the 1:all position they correspond to, read in one transaction.
    pub async fn snapshot(&self) -> Result<ConfigSnapshot> {
        let keys = self.broker.keys();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("GET").arg(keys.config_version());
        pipe.cmd("XREVRANGE")
            .arg(keys.all())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
        for kind in ConfigKind::ALL {
            pipe.cmd("HGETALL").arg(keys.config(kind));
        }
        let mut conn = self.broker.redis().conn().await?;
        let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
        let mut replies = replies.into_iter();
        let version = replies.next().as_ref().and_then(as_u64).unwrap_or(0);
        let position = replies
            .next()
            .and_then(|last| parse_entries(last).into_iter().next())
            .map_or_else(|| "0-0".to_owned(), |entry| entry.id);
        let mut objects = BTreeMap::new();
        for (kind, hash) in ConfigKind::ALL.into_iter().zip(replies) {
            let mut by_name = BTreeMap::new();
            for (name, raw) in parse_flat_map(&hash) {
                let raw = as_string(&raw).unwrap_or_default();
                let value = serde_json::from_str(&raw).map_err(|e| BrokerError::Corrupt {
                    key: format!("{}/{name}", keys.config(kind)),
                    message: e.to_string(),
                })?;
                by_name.insert(name, value);
            }
            objects.insert(kind, by_name);
        }
        Ok(ConfigSnapshot {
            version,
            position,
            objects,
        })
    }
}
