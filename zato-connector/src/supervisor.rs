//! The supervisor: the connector's view of the config, and the workers it runs from it.
//!
//! Every instance keeps the config current (snapshot, then 1:all changes), but only the
//! lease holder runs workers. After every change of config or of leadership the supervisor
//! *reconciles*: it works out which workers should run, each with its spec (the object and,
//! for AMQP, the definition it connects through), stops those whose spec changed or that
//! should not run, and starts the missing ones. So editing one channel restarts only that
//! channel, editing a definition restarts only what uses it, and losing the lease stops
//! everything at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tracing::info;
use zato_broker::{ConfigCache, ConfigSnapshot, SkippedObjects};
use zato_common::model::{AmqpChannel, AmqpDefinition, AmqpOutgoing, ZmqChannel, ZmqOutgoing};
use zato_common::outgoing::{AmqpPublish, ZmqSend, body_bytes};
use zato_common::{ConfigChange, ConfigKind};

use crate::amqp;
use crate::error::SendError;
use crate::worker::{Ctx, Task};
use crate::zmq;

/// The config objects the connector cares about.
#[derive(Default)]
struct Config {
    definitions: ConfigCache<AmqpDefinition>,
    amqp_channels: ConfigCache<AmqpChannel>,
    amqp_outgoing: ConfigCache<AmqpOutgoing>,
    zmq_channels: ConfigCache<ZmqChannel>,
    zmq_outgoing: ConfigCache<ZmqOutgoing>,
}

impl Config {
    /// Empty caches that record the objects they skip in `skipped`.
    fn reporting_to(skipped: &SkippedObjects) -> Self {
        Self {
            definitions: ConfigCache::reporting_to(skipped.clone()),
            amqp_channels: ConfigCache::reporting_to(skipped.clone()),
            amqp_outgoing: ConfigCache::reporting_to(skipped.clone()),
            zmq_channels: ConfigCache::reporting_to(skipped.clone()),
            zmq_outgoing: ConfigCache::reporting_to(skipped.clone()),
        }
    }

    fn load(&mut self, snapshot: &ConfigSnapshot) {
        self.definitions.load(snapshot);
        self.amqp_channels.load(snapshot);
        self.amqp_outgoing.load(snapshot);
        self.zmq_channels.load(snapshot);
        self.zmq_outgoing.load(snapshot);
    }

    /// Applies a change; whether it changed anything the connector runs from.
    fn apply(&mut self, change: &ConfigChange) -> bool {
        let changed = [
            self.definitions.apply(change),
            self.amqp_channels.apply(change),
            self.amqp_outgoing.apply(change),
            self.zmq_channels.apply(change),
            self.zmq_outgoing.apply(change),
        ];
        changed.iter().any(|c| !c.is_empty())
    }

    /// The active definition named `name`.
    fn definition(&self, name: &str) -> Option<&AmqpDefinition> {
        self.definitions.get(name).filter(|d| d.is_active)
    }

    /// Every worker that should run, by key, with its spec.
    fn desired(&self) -> BTreeMap<Key, Desired> {
        let mut out = BTreeMap::new();
        for c in self.amqp_channels.values().filter(|c| c.is_active) {
            if let Some(definition) = self.definition(&c.definition) {
                out.insert(
                    (ConfigKind::AmqpChannel, c.name.clone()),
                    Desired::AmqpChannel(amqp::channel::ChannelSpec {
                        channel: c.clone(),
                        definition: definition.clone(),
                    }),
                );
            }
        }
        for o in self.amqp_outgoing.values().filter(|o| o.is_active) {
            if let Some(definition) = self.definition(&o.definition) {
                out.insert(
                    (ConfigKind::AmqpOutgoing, o.name.clone()),
                    Desired::AmqpOutgoing(amqp::outgoing::OutgoingSpec {
                        outgoing: o.clone(),
                        definition: definition.clone(),
                    }),
                );
            }
        }
        for c in self.zmq_channels.values().filter(|c| c.is_active) {
            out.insert(
                (ConfigKind::ZmqChannel, c.name.clone()),
                Desired::ZmqChannel(c.clone()),
            );
        }
        for o in self.zmq_outgoing.values().filter(|o| o.is_active) {
            out.insert(
                (ConfigKind::ZmqOutgoing, o.name.clone()),
                Desired::ZmqOutgoing(o.clone()),
            );
        }
        out
    }
}

type Key = (ConfigKind, String);

enum Desired {
    AmqpChannel(amqp::channel::ChannelSpec),
    AmqpOutgoing(amqp::outgoing::OutgoingSpec),
    ZmqChannel(ZmqChannel),
    ZmqOutgoing(ZmqOutgoing),
}

impl Desired {
    /// What a running worker is compared by: any difference restarts it.
    fn spec(&self) -> Value {
        let spec = match self {
            Desired::AmqpChannel(s) => serde_json::to_value(s),
            Desired::AmqpOutgoing(s) => serde_json::to_value(s),
            Desired::ZmqChannel(s) => serde_json::to_value(s),
            Desired::ZmqOutgoing(s) => serde_json::to_value(s),
        };
        spec.unwrap_or(Value::Null)
    }
}

/// What callers reach a running outgoing worker through.
#[derive(Clone)]
enum Handle {
    None,
    AmqpOutgoing(Arc<amqp::outgoing::Publisher>),
    ZmqOutgoing(zmq::outgoing::Sender),
}

struct Worker {
    spec: Value,
    task: Task,
    handle: Handle,
}

struct State {
    config: Config,
    leader: bool,
    workers: BTreeMap<Key, Worker>,
}

/// The connector's config and workers.
pub struct Supervisor {
    ctx: Ctx,
    publish_timeout: Duration,
    state: Mutex<State>,
}

impl Supervisor {
    /// A supervisor whose config caches record the objects they skip in `skipped` (the
    /// member's health).
    pub fn new(ctx: Ctx, publish_timeout: Duration, skipped: &SkippedObjects) -> Self {
        Self {
            ctx,
            publish_timeout,
            state: Mutex::new(State {
                config: Config::reporting_to(skipped),
                leader: false,
                workers: BTreeMap::new(),
            }),
        }
    }

    /// Replaces the whole config (on every 1:all (re)connection).
    pub async fn apply_snapshot(&self, snapshot: &ConfigSnapshot) {
        let mut state = self.state.lock().await;
        state.config.load(snapshot);
        self.reconcile(&mut state).await;
    }

    /// Applies one change from 1:all.
    pub async fn apply_change(&self, change: &ConfigChange) {
        let mut state = self.state.lock().await;
        if state.config.apply(change) {
            info!(kind = %change.kind, name = %change.name, deleted = change.value.is_none(), "config change");
            self.reconcile(&mut state).await;
        }
    }

    /// Starts (leader) or stops (standby) every worker.
    pub async fn set_leader(&self, leader: bool) {
        let mut state = self.state.lock().await;
        if state.leader == leader {
            return;
        }
        state.leader = leader;
        if leader {
            info!("active: starting channels and outgoing connections");
        } else {
            info!("standby: stopping channels and outgoing connections");
        }
        self.reconcile(&mut state).await;
    }

    /// Whether this instance runs the workers now.
    pub async fn is_leader(&self) -> bool {
        self.state.lock().await.leader
    }

    /// Stops every worker (graceful stop); they do not start again.
    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        state.leader = false;
        self.reconcile(&mut state).await;
    }

    async fn reconcile(&self, state: &mut State) {
        let desired = if state.leader {
            state.config.desired()
        } else {
            BTreeMap::new()
        };
        let specs: BTreeMap<&Key, Value> = desired.iter().map(|(k, d)| (k, d.spec())).collect();
        let stale: Vec<Key> = state
            .workers
            .iter()
            .filter(|(key, worker)| specs.get(key) != Some(&worker.spec))
            .map(|(key, _)| key.clone())
            .collect();
        // Stop first, all at once: a restarted ZeroMQ channel must unbind before it binds again.
        let mut stopping = Vec::new();
        for key in stale {
            if let Some(worker) = state.workers.remove(&key) {
                info!(kind = %key.0, name = %key.1, "stopping");
                stopping.push(worker.task.stop());
            }
        }
        futures_util::future::join_all(stopping).await;
        for (key, wanted) in desired {
            if state.workers.contains_key(&key) {
                continue;
            }
            info!(kind = %key.0, name = %key.1, "starting");
            let spec = wanted.spec();
            let ctx = self.ctx.clone();
            let worker = match wanted {
                Desired::AmqpChannel(s) => Worker {
                    spec,
                    task: Task::spawn(|cancel| amqp::channel::run(s, ctx, cancel)),
                    handle: Handle::None,
                },
                Desired::ZmqChannel(s) => Worker {
                    spec,
                    task: Task::spawn(|cancel| zmq::channel::run(s, ctx, cancel)),
                    handle: Handle::None,
                },
                Desired::AmqpOutgoing(s) => {
                    let mut handle = Handle::None;
                    let task = Task::spawn(|cancel| {
                        let (publisher, run) = amqp::outgoing::start(s, ctx, cancel);
                        handle = Handle::AmqpOutgoing(Arc::new(publisher));
                        run
                    });
                    Worker { spec, task, handle }
                }
                Desired::ZmqOutgoing(s) => {
                    let mut handle = Handle::None;
                    let timeout = self.publish_timeout;
                    let task = Task::spawn(|cancel| {
                        let (sender, run) = zmq::outgoing::start(s, ctx, cancel, timeout);
                        handle = Handle::ZmqOutgoing(sender);
                        run
                    });
                    Worker { spec, task, handle }
                }
            };
            state.workers.insert(key, worker);
        }
    }

    async fn handle(&self, kind: ConfigKind, name: &str) -> Result<Handle, SendError> {
        let state = self.state.lock().await;
        if !state.leader {
            return Err(SendError::NotLeader);
        }
        state
            .workers
            .get(&(kind, name.to_owned()))
            .map(|w| w.handle.clone())
            .ok_or_else(|| SendError::UnknownOutgoing {
                kind: if kind == ConfigKind::AmqpOutgoing {
                    "AMQP"
                } else {
                    "ZeroMQ"
                },
                name: name.to_owned(),
            })
    }

    /// Publishes through an outgoing AMQP connection.
    pub async fn publish_amqp(&self, request: &AmqpPublish) -> Result<(), SendError> {
        match self
            .handle(ConfigKind::AmqpOutgoing, &request.outgoing)
            .await?
        {
            Handle::AmqpOutgoing(publisher) => {
                publisher.publish(request, self.publish_timeout).await
            }
            _ => Err(SendError::NotLeader),
        }
    }

    /// Sends through an outgoing ZeroMQ connection.
    pub async fn send_zmq(&self, request: &ZmqSend) -> Result<(), SendError> {
        match self
            .handle(ConfigKind::ZmqOutgoing, &request.outgoing)
            .await?
        {
            Handle::ZmqOutgoing(sender) => sender.send(body_bytes(&request.body)).await,
            _ => Err(SendError::NotLeader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(kind: ConfigKind, name: &str, value: Value) -> ConfigChange {
        ConfigChange {
            kind,
            name: name.into(),
            previous_name: None,
            value: Some(value),
        }
    }

    fn config(objects: &[(ConfigKind, Value)]) -> Config {
        let mut config = Config::default();
        for (kind, value) in objects {
            let name = value["name"].as_str().unwrap_or_default();
            assert!(config.apply(&change(*kind, name, value.clone())));
        }
        config
    }

    fn definition(name: &str, active: bool) -> (ConfigKind, Value) {
        (
            ConfigKind::AmqpDefinition,
            json!({"name": name, "url": "amqp://guest:guest@127.0.0.1:5672/%2f", "is_active": active}),
        )
    }

    fn channel(name: &str, definition: &str, active: bool) -> (ConfigKind, Value) {
        (
            ConfigKind::AmqpChannel,
            json!({"name": name, "definition": definition, "queue": "q", "service": "zato.ping", "is_active": active}),
        )
    }

    fn keys(config: &Config) -> Vec<(ConfigKind, String)> {
        config.desired().into_keys().collect()
    }

    #[test]
    fn only_active_objects_on_active_definitions_run() {
        let config = config(&[
            definition("up", true),
            definition("off", false),
            channel("runs", "up", true),
            channel("paused", "up", false),
            channel("on-an-inactive-definition", "off", true),
            channel("on-a-missing-definition", "nowhere", true),
            (
                ConfigKind::ZmqChannel,
                json!({"name": "pull", "address": "tcp://127.0.0.1:1", "socket_type": "PULL",
                       "bind": true, "service": "zato.ping"}),
            ),
        ]);
        assert_eq!(
            keys(&config),
            vec![
                (ConfigKind::AmqpChannel, "runs".to_owned()),
                (ConfigKind::ZmqChannel, "pull".to_owned()),
            ]
        );
    }

    #[test]
    fn a_definition_change_changes_the_spec_of_what_uses_it() {
        let mut config = config(&[definition("up", true), channel("runs", "up", true)]);
        let before = config.desired()[&(ConfigKind::AmqpChannel, "runs".to_owned())].spec();
        let mut edited = definition("up", true).1;
        edited["prefetch"] = json!(7);
        assert!(config.apply(&change(ConfigKind::AmqpDefinition, "up", edited)));
        let after = config.desired()[&(ConfigKind::AmqpChannel, "runs".to_owned())].spec();
        assert_ne!(
            before, after,
            "the channel restarts with the new definition"
        );
        assert_eq!(after["definition"]["prefetch"], 7);
        // Deactivating the definition stops the channel.
        assert!(config.apply(&change(
            ConfigKind::AmqpDefinition,
            "up",
            definition("up", false).1
        )));
        assert!(keys(&config).is_empty());
    }

    #[test]
    fn changes_of_kinds_the_connector_does_not_run_change_nothing() {
        let mut config = Config::default();
        let job = json!({"name": "j", "service": "zato.ping", "kind": "cron", "cron": "@hourly"});
        assert!(!config.apply(&change(ConfigKind::Job, "j", job)));
    }
}
