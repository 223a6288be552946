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
use tracing::{info, warn};
use zato_broker::ConfigSnapshot;
use zato_common::model::{
    AmqpChannel, AmqpDefinition, AmqpOutgoing, ConfigObject, ZmqChannel, ZmqOutgoing,
};
use zato_common::outgoing::{AmqpPublish, ZmqSend, body_bytes};
use zato_common::{ConfigChange, ConfigKind};

use crate::amqp;
use crate::error::SendError;
use crate::worker::{Ctx, Task};
use crate::zmq;

/// The config objects the connector cares about.
#[derive(Default)]
struct Config {
    definitions: BTreeMap<String, AmqpDefinition>,
    amqp_channels: BTreeMap<String, AmqpChannel>,
    amqp_outgoing: BTreeMap<String, AmqpOutgoing>,
    zmq_channels: BTreeMap<String, ZmqChannel>,
    zmq_outgoing: BTreeMap<String, ZmqOutgoing>,
}

/// Why a config change could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("{kind} '{name}' does not parse: {message}")]
pub struct BadObject {
    kind: ConfigKind,
    name: String,
    message: String,
}

fn parse<T: ConfigObject>(name: &str, value: &Value) -> Result<T, BadObject> {
    serde_json::from_value(value.clone()).map_err(|e| BadObject {
        kind: T::KIND,
        name: name.to_owned(),
        message: e.to_string(),
    })
}

fn upsert<T: ConfigObject>(
    map: &mut BTreeMap<String, T>,
    change: &ConfigChange,
) -> Result<(), BadObject> {
    if let Some(previous) = &change.previous_name {
        map.remove(previous);
    }
    match &change.value {
        Some(value) => {
            map.insert(change.name.clone(), parse(&change.name, value)?);
        }
        None => {
            map.remove(&change.name);
        }
    }
    Ok(())
}

fn load<T: ConfigObject>(snapshot: &ConfigSnapshot) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (name, value) in snapshot.objects.get(&T::KIND).into_iter().flatten() {
        match parse::<T>(name, value) {
            Ok(object) => {
                out.insert(name.clone(), object);
            }
            Err(e) => warn!(error = %e, "config object skipped"),
        }
    }
    out
}

impl Config {
    fn from_snapshot(snapshot: &ConfigSnapshot) -> Self {
        Self {
            definitions: load(snapshot),
            amqp_channels: load(snapshot),
            amqp_outgoing: load(snapshot),
            zmq_channels: load(snapshot),
            zmq_outgoing: load(snapshot),
        }
    }

    fn apply(&mut self, change: &ConfigChange) -> Result<bool, BadObject> {
        match change.kind {
            ConfigKind::AmqpDefinition => upsert(&mut self.definitions, change)?,
            ConfigKind::AmqpChannel => upsert(&mut self.amqp_channels, change)?,
            ConfigKind::AmqpOutgoing => upsert(&mut self.amqp_outgoing, change)?,
            ConfigKind::ZmqChannel => upsert(&mut self.zmq_channels, change)?,
            ConfigKind::ZmqOutgoing => upsert(&mut self.zmq_outgoing, change)?,
            _ => return Ok(false),
        }
        Ok(true)
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
    pub fn new(ctx: Ctx, publish_timeout: Duration) -> Self {
        Self {
            ctx,
            publish_timeout,
            state: Mutex::new(State {
                config: Config::default(),
                leader: false,
                workers: BTreeMap::new(),
            }),
        }
    }

    /// Replaces the whole config (on every 1:all (re)connection).
    pub async fn apply_snapshot(&self, snapshot: &ConfigSnapshot) {
        let mut state = self.state.lock().await;
        state.config = Config::from_snapshot(snapshot);
        self.reconcile(&mut state).await;
    }

    /// Applies one change from 1:all.
    pub async fn apply_change(&self, change: &ConfigChange) -> Result<(), BadObject> {
        let mut state = self.state.lock().await;
        if state.config.apply(change)? {
            info!(kind = %change.kind, name = %change.name, deleted = change.value.is_none(), "config change");
            self.reconcile(&mut state).await;
        }
        Ok(())
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
