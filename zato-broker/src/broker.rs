//! The broker handle every binary holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::{Cmd, Value};
use serde::Serialize;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use zato_common::settings::BrokerSettings;
use zato_common::{Action, Envelope};

use crate::connection::Redis;
use crate::error::{BrokerError, Result};
use crate::keys::{Keys, Queue};
use crate::partitioned_id;
use crate::reply::ReplyListener;
use crate::stream_entry::{ENVELOPE_FIELD, as_string};
use crate::writer::Writer;

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// 1:any: exactly one server takes it.
    Any,
    /// 1:all: every member applies it, in order.
    All,
    /// 1:connector: the connector holding the lease takes it.
    Connector,
}

/// Who this process is and how to reach Redis.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub redis_url: String,
    /// The cluster; its name prefixes every key.
    pub cluster: String,
    /// This member's stable name (from its config): `server-1`, `scheduler-a`, ...
    /// It names the member's 1:all consumer group, so it must be unique in the cluster and
    /// the same across restarts.
    pub member: String,
    /// `server`, `scheduler`, `connector`, ...
    pub role: String,
    pub settings: BrokerSettings,
}

struct Inner {
    redis: Redis,
    keys: Keys,
    /// The streams of [`Target::Any`] and [`Target::Connector`] by partition, and of
    /// [`Target::All`], formatted once rather than for every publish.
    any: Vec<String>,
    connector: Vec<String>,
    all: String,
    /// Turns round the partitions for messages that ask for no particular one.
    next_partition: AtomicUsize,
    config: BrokerConfig,
    consumer_id: String,
    writer: Writer,
    cancel: CancellationToken,
    replies: OnceCell<ReplyListener>,
}

/// A cheap-to-clone handle on the cluster's broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl Broker {
    /// Prepares the broker client. Nothing connects yet; every loop connects (and
    /// reconnects) by itself, so a member may start before Redis does.
    pub fn new(config: BrokerConfig) -> Result<Self> {
        config
            .settings
            .validate()
            .map_err(|e| BrokerError::Pool(e.to_string()))?;
        let redis = Redis::new(&config.redis_url, &config.settings)?;
        let cancel = CancellationToken::new();
        let writer = Writer::spawn(redis.clone(), cancel.clone());
        let boot = uuid::Uuid::now_v7().simple().to_string();
        let consumer_id = format!(
            "{}:{}:{}",
            config.member,
            std::process::id(),
            &boot[boot.len() - 8..]
        );
        let keys = Keys::partitioned(&config.cluster, config.settings.partitions);
        let streams = |queue| {
            (0..keys.partitions())
                .map(|p| keys.queue(queue, p))
                .collect()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                any: streams(Queue::Server),
                connector: streams(Queue::Connector),
                all: keys.all(),
                next_partition: AtomicUsize::new(fastrand::usize(..)),
                keys,
                redis,
                config,
                consumer_id,
                writer,
                cancel,
                replies: OnceCell::new(),
            }),
        })
    }

    /// The keys of this cluster.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The Redis handle (command pool and dedicated connections).
    pub fn redis(&self) -> &Redis {
        &self.inner.redis
    }

    /// This member's stable name.
    pub fn member(&self) -> &str {
        &self.inner.config.member
    }

    /// This member's role.
    pub fn role(&self) -> &str {
        &self.inner.config.role
    }

    /// This process's unique id, `<member>:<pid>:<boot id>`; never reused.
    pub fn consumer_id(&self) -> &str {
        &self.inner.consumer_id
    }

    /// The broker settings in force.
    pub fn settings(&self) -> &BrokerSettings {
        &self.inner.config.settings
    }

    /// The token that stops every background task of this client.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// Stops every background task of this client (writer, reply listener, and every
    /// consumer, lease and heartbeat started from it).
    pub fn shutdown(&self) {
        self.inner.cancel.cancel();
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    /// A new envelope from this member.
    pub fn envelope<P>(&self, action: Action, payload: P) -> Envelope<P> {
        Envelope::new(action, self.member(), payload)
    }

    /// Whether a write would succeed now: a `PING` through the writer every publish takes
    /// (not through the pool, whose fresh connections say nothing about the writer's). A
    /// writer whose connection died is healed by this very call.
    pub async fn ping(&self) -> Result<()> {
        self.writer().send(redis::cmd("PING")).await.map(drop)
    }

    /// How many partitions the work streams have (`broker.partitions`).
    pub fn partitions(&self) -> usize {
        self.inner.keys.partitions()
    }

    /// The stream of a target's `partition` (taken modulo the partitions; 1:all has one).
    pub fn stream_of(&self, target: Target, partition: usize) -> &str {
        let streams = match target {
            Target::Any => &self.inner.any,
            Target::Connector => &self.inner.connector,
            Target::All => return &self.inner.all,
        };
        &streams[partition % streams.len()]
    }

    /// The partition of the next message that asks for none: each in turn, so that the
    /// partitions (and the shards they are on) share the load evenly.
    pub(crate) fn next_partition(&self) -> usize {
        self.inner.next_partition.fetch_add(1, Ordering::Relaxed)
    }

    /// The `XADD` of an envelope already encoded, to `partition`.
    pub(crate) fn xadd_encoded(&self, target: Target, partition: usize, envelope: &str) -> Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.stream_of(target, partition));
        if target == Target::All {
            cmd.arg("MAXLEN")
                .arg("~")
                .arg(self.settings().all_retention);
        }
        cmd.arg("*").arg(ENVELOPE_FIELD).arg(envelope);
        cmd
    }

    /// Publishes one message; returns its id once Redis has it (its stream id, with its
    /// partition past the first: [`partitioned_id`]).
    pub async fn publish<P: Serialize>(
        &self,
        target: Target,
        envelope: &Envelope<P>,
    ) -> Result<String> {
        let partition = self.partition_of(target, self.next_partition());
        let cmd = self.xadd_encoded(target, partition, &envelope.encode()?);
        let reply = self.writer().send(cmd).await?;
        Ok(partitioned_id::qualify(partition, &stream_id(&reply)?))
    }

    /// The partition `n` is of `target` (1:all has one).
    fn partition_of(&self, target: Target, n: usize) -> usize {
        match target {
            Target::All => 0,
            Target::Any | Target::Connector => n % self.partitions(),
        }
    }

    /// Publishes many messages in one pipeline, all to the same partition (the next one:
    /// one pipeline may only touch one slot of a Redis Cluster, and a batch keeps its
    /// order); their stream ids, in order.
    pub async fn publish_many<P: Serialize>(
        &self,
        target: Target,
        envelopes: &[Envelope<P>],
    ) -> Result<Vec<String>> {
        let partition = self.partition_of(target, self.next_partition());
        let cmds = envelopes
            .iter()
            .map(|e| Ok(self.xadd_encoded(target, partition, &e.encode()?)))
            .collect::<Result<_>>()?;
        let replies = self.writer().send_group(cmds, false).await?;
        replies
            .iter()
            .map(|reply| Ok(partitioned_id::qualify(partition, &stream_id(reply)?)))
            .collect()
    }

    /// Sends a request and waits for its reply (see [`Broker::reply`]).
    pub async fn request<P: Serialize>(
        &self,
        target: Target,
        mut envelope: Envelope<P>,
        timeout: Duration,
    ) -> Result<Envelope> {
        let listener = self
            .inner
            .replies
            .get_or_init(|| async { ReplyListener::spawn(self.clone()) })
            .await;
        envelope.reply_to = Some(listener.key().to_owned());
        let waiter = listener.register(envelope.id);
        self.publish(target, &envelope).await?;
        waiter.wait(timeout).await
    }

    /// Answers `request` with `payload`; does nothing when nobody asked for an answer.
    pub async fn reply<P, R: Serialize>(&self, request: &Envelope<P>, payload: R) -> Result<()> {
        let Some((list, reply)) = request.reply(self.member(), payload) else {
            return Ok(());
        };
        let mut push = redis::cmd("LPUSH");
        push.arg(&list).arg(reply.encode()?);
        let mut expire = redis::cmd("PEXPIRE");
        // The caller may be gone; its list must not outlive it for long.
        expire
            .arg(&list)
            .arg(self.settings().visibility_timeout_ms.max(60_000));
        self.writer().send_group(vec![push, expire], false).await?;
        Ok(())
    }
}

fn stream_id(reply: &Value) -> Result<String> {
    as_string(reply).ok_or_else(|| BrokerError::Corrupt {
        key: "XADD".into(),
        message: format!("unexpected reply {reply:?}"),
    })
}
