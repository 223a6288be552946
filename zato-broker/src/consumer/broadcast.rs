//! The 1:all consumer: every member applies every message, in order.
//!
//! Each member has its own consumer group on the `all` stream, named after the member's
//! stable name, so a member that was down finds its position where it left it and replays
//! what it missed. Every (re)connection starts with a config snapshot ("load, then follow"):
//! the snapshot and the stream position it corresponds to are read in one transaction, the
//! member applies the snapshot, then reads on from its group position, skipping config
//! changes the snapshot already holds. A member whose position fell behind the stream's
//! retention, or whose Redis lost its data, is therefore still exactly up to date.
//!
//! Messages are handled one at a time, in stream order: two config changes never apply out
//! of order (as they could in Zato 2, whose receivers ran messages concurrently).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zato_common::{ConfigKind, RawEnvelope};

use super::handle::ConsumerHandle;
use super::outcome::{Outcome, run_handler};
use crate::Broker;
use crate::backoff::Backoff;
use crate::config_store::{ConfigSnapshot, ConfigStore};
use crate::dead_letter::{Origin, move_cmds};
use crate::error::Result;
use crate::router::{Delivery, Router};
use crate::stats::ConsumerStats;
use crate::stream_entry::{ENVELOPE_FIELD, StreamEntry, as_string, parse_read_reply};

/// Called with a fresh snapshot on every (re)connection, before any message.
pub type SnapshotHandler =
    Arc<dyn Fn(ConfigSnapshot) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Builds and starts a 1:all consumer.
pub struct BroadcastConsumer {
    broker: Broker,
    router: Router,
    on_snapshot: Option<SnapshotHandler>,
}

impl BroadcastConsumer {
    /// A 1:all consumer for this member, routing messages through `router`.
    pub fn new(broker: Broker, router: Router) -> Self {
        Self {
            broker,
            router,
            on_snapshot: None,
        }
    }

    /// Sets what to do with each config snapshot (replace the member's config caches).
    pub fn on_snapshot<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ConfigSnapshot) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_snapshot = Some(Arc::new(move |s| Box::pin(handler(s))));
        self
    }

    /// Starts the loop on the current tokio runtime.
    pub fn spawn(self) -> ConsumerHandle {
        let stats = Arc::new(ConsumerStats::default());
        let cancel = self.broker.cancel_token().child_token();
        let run = Run {
            stream: self.broker.keys().all(),
            group: self.broker.member().to_owned(),
            me: self.broker.consumer_id().to_owned(),
            broker: self.broker,
            router: self.router,
            on_snapshot: self.on_snapshot,
            stats: stats.clone(),
            cancel: cancel.clone(),
        };
        let join = tokio::spawn(run.run());
        ConsumerHandle {
            stats,
            cancel,
            join,
        }
    }
}

struct Run {
    broker: Broker,
    router: Router,
    on_snapshot: Option<SnapshotHandler>,
    stream: String,
    group: String,
    me: String,
    stats: Arc<ConsumerStats>,
    cancel: CancellationToken,
}

impl Run {
    async fn run(self) {
        let mut backoff = Backoff::default();
        while !self.cancel.is_cancelled() {
            match self.session(&mut backoff).await {
                Ok(()) => break,
                Err(e) => {
                    self.stats.disconnected();
                    warn!(member = %self.group, error = %e, "1:all consumer lost redis; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        () = self.cancel.cancelled() => break,
                    }
                }
            }
        }
        self.stats.disconnected();
    }

    /// One connection's worth of work: snapshot, then follow until cancelled or an error.
    async fn session(&self, backoff: &mut Backoff) -> Result<()> {
        let mut conn = self.broker.redis().dedicated().await?;
        let snapshot = ConfigStore::new(self.broker.clone()).snapshot().await?;
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&snapshot.position)
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(e.into()),
            Err(_) => {}
            Ok(()) => {
                info!(member = %self.group, position = %snapshot.position, "1:all group created")
            }
        }
        if let Some(apply) = &self.on_snapshot {
            apply(snapshot.clone()).await;
        }
        self.take_over_pending(&mut conn).await?;
        // Connected, config applied: healthy from now, not only after the first blocking
        // read returns.
        self.stats.read_ok();
        // First this member's pending entries (delivered to an earlier process of the same
        // member, never acknowledged), in order; then new ones.
        let mut pending_from: Option<String> = Some("0".to_owned());
        let block_ms = self.broker.settings().block_ms;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&self.group)
                .arg(&self.me)
                .arg("COUNT")
                .arg(self.broker.settings().read_batch);
            if pending_from.is_none() {
                read.arg("BLOCK").arg(block_ms);
            }
            read.arg("STREAMS")
                .arg(&self.stream)
                .arg(pending_from.as_deref().unwrap_or(">"));
            let reply = tokio::select! {
                reply = conn.query_blocking::<Value>(&read, Duration::from_millis(block_ms)) => reply?,
                () = self.cancel.cancelled() => return Ok(()),
            };
            self.stats.read_ok();
            backoff.reset();
            let entries = parse_read_reply(reply);
            if pending_from.is_some() {
                match entries.last() {
                    Some(last) => pending_from = Some(last.id.clone()),
                    None => pending_from = None,
                }
            }
            let mut done = Vec::with_capacity(entries.len());
            for entry in entries {
                if self.cancel.is_cancelled() {
                    break;
                }
                if !self.process(&entry, &snapshot).await {
                    // Not finished: nothing after it may run first. Read the pending
                    // entries again from the start, this one first.
                    pending_from = Some("0".to_owned());
                    break;
                }
                done.push(entry.id);
            }
            if !done.is_empty() {
                let _: u64 = redis::cmd("XACK")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&done)
                    .query_async(&mut conn)
                    .await?;
            }
        }
    }

    /// Moves every pending entry of this member's group to this process.
    async fn take_over_pending(&self, conn: &mut crate::Conn) -> Result<()> {
        let mut cursor = "0-0".to_owned();
        loop {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(&self.me)
                .arg(0)
                .arg(&cursor)
                .arg("COUNT")
                .arg(1000)
                .arg("JUSTID")
                .query_async(conn)
                .await?;
            let next = match &reply {
                Value::Array(parts) => parts.first().and_then(as_string),
                _ => None,
            };
            match next {
                Some(next) if next != "0-0" => cursor = next,
                _ => return Ok(()),
            }
        }
    }

    /// Handles one entry; true when it is finished with (to acknowledge). Failures are
    /// retried here, in place, so that later messages never overtake it; one that keeps
    /// failing is dead-lettered and the stream moves on.
    async fn process(&self, entry: &StreamEntry, snapshot: &ConfigSnapshot) -> bool {
        let Some(raw) = entry.field(ENVELOPE_FIELD) else {
            if entry.fields.is_none() {
                return true;
            }
            let reason = format!("stream entry has no '{ENVELOPE_FIELD}' field");
            return self
                .dead_letter(entry, &entry.describe_fields(), &reason, 1)
                .await;
        };
        let envelope = match RawEnvelope::decode(raw) {
            Ok(envelope) => envelope,
            Err(e) => {
                return self
                    .dead_letter(entry, &String::from_utf8_lossy(raw), &e.to_string(), 1)
                    .await;
            }
        };
        if ConfigKind::of_action(&envelope.action).is_some() && snapshot.includes(&entry.id) {
            ConsumerStats::bump(&self.stats.skipped);
            return true;
        }
        let max = u64::from(self.broker.settings().max_deliveries);
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let envelope = std::sync::Arc::new(envelope);
        let mut attempt = 1;
        loop {
            let delivery = Delivery {
                envelope: envelope.clone(),
                stream_id: entry.id.clone(),
                deliveries: attempt,
            };
            match run_handler(&self.router, delivery).await {
                Outcome::Ack => {
                    ConsumerStats::bump(&self.stats.handled);
                    return true;
                }
                Outcome::Unknown => {
                    ConsumerStats::bump(&self.stats.unknown_action);
                    return true;
                }
                Outcome::Ignored => {
                    ConsumerStats::bump(&self.stats.skipped);
                    return true;
                }
                Outcome::Reject(reason) => {
                    ConsumerStats::bump(&self.stats.failed);
                    return self
                        .dead_letter(entry, &String::from_utf8_lossy(raw), &reason, attempt)
                        .await;
                }
                Outcome::Retry(reason) => {
                    ConsumerStats::bump(&self.stats.failed);
                    if attempt >= max {
                        let reason = format!("not handled after {max} deliveries: {reason}");
                        return self
                            .dead_letter(entry, &String::from_utf8_lossy(raw), &reason, attempt)
                            .await;
                    }
                    attempt += 1;
                }
                Outcome::Unavailable(_) => ConsumerStats::bump(&self.stats.failed),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = self.cancel.cancelled() => return false,
            }
        }
    }

    async fn dead_letter(
        &self,
        entry: &StreamEntry,
        raw: &str,
        reason: &str,
        deliveries: u64,
    ) -> bool {
        let origin = Origin {
            source: "all",
            stream: &self.stream,
            group: &self.group,
            partition: 0,
        };
        let cmds = move_cmds(&self.broker, &origin, &entry.id, raw, reason, deliveries);
        match self.broker.writer().send_group(cmds, true).await {
            Ok(_) => {
                ConsumerStats::bump(&self.stats.dead_lettered);
                warn!(member = %self.group, id = %entry.id, reason, "1:all message dead-lettered");
                true
            }
            Err(e) => {
                warn!(member = %self.group, id = %entry.id, error = %e, "cannot dead-letter now; will retry");
                false
            }
        }
    }
}
