//! The work-queue consumer: 1:any (every server), 1:connector (the lease holder only) and
//! each push subscription of a pub/sub topic (every server, one group per subscription).
//!
//! Delivery is at-least-once:
//! - a message is acknowledged only after its handler returned;
//! - while a handler runs, its consumer keeps renewing its claim on the message (`XCLAIM ...
//!   JUSTID` resets the idle time), so a slow handler is never mistaken for a dead consumer
//!   and given to a second one, which is the duplicate that plain visibility timeouts cause;
//! - a handler that failed (`Retry`) runs again on the same consumer after a short
//!   back-off, its claim still renewed; one that could not run because something it needs
//!   is down (`Unavailable`) too, without that counting as a delivery, so its message runs
//!   soon after the outage, not a visibility timeout later;
//! - a message whose consumer stopped renewing (crashed, hung) is claimed by a live
//!   consumer once idle for the visibility timeout;
//! - after `max_deliveries` deliveries it goes to the dead-letter stream instead, as does an
//!   entry that is not an envelope at all.
//!
//! Reads take at most as many messages as there are free handler slots, so one process never
//! hoards messages that others could run (the prefetch starvation known from Celery).
//!
//! A work queue of several partitions (`broker.partitions`) is read by one loop per
//! partition, each on its own blocking connection (on a cluster, to the partition's shard),
//! all sharing the process's handler slots; claims, take-over and dead letters stay within
//! each loop's partition.
//!
//! A subscription differs in its settings only (its own retry back-off, delivery limit,
//! dead letters on or off, batch size), plus its ordering keys (`pubsub::ordering`) and the
//! messages replayed from another subscription's dead letters, which it acknowledges unread.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use redis::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, info, warn};
use zato_common::RawEnvelope;
use zato_common::model::{RetryPolicy, Subscription};

use super::handle::{ConsumerHandle, DRAIN_TIMEOUT};
use super::outcome::{Outcome, run_handler};
use crate::Broker;
use crate::backoff::Backoff;
use crate::dead_letter::{Origin, move_cmds};
use crate::error::{BrokerError, Result};
use crate::janitor::create_group;
use crate::keys::{Queue, subscription_source};
use crate::lease::LeaseHandle;
use crate::pubsub::ordering::{Ordering, Turn};
use crate::pubsub::{KEY_FIELD, TARGET_FIELD};
use crate::router::{Delivery, Router};
use crate::stats::ConsumerStats;
use crate::stream_entry::{
    ENVELOPE_FIELD, StreamEntry, parse_entries, parse_read_reply, pending_items,
};
use crate::sync::lock;

/// Most pending entries looked at per reclaim pass.
const RECLAIM_BATCH: usize = 256;

/// After how many reads a subscription's consumer finds its group missing (200 ms apart) it
/// creates the group itself.
const MISSING_GROUP_REPAIR: u32 = 10;

/// Most acknowledgements sent in one `XACK`.
const ACK_BATCH: usize = 1024;

/// What a consumer reads, and how it treats failures.
struct Spec {
    stream: String,
    /// The partition `stream` is (its dead letters go to the same one).
    partition: usize,
    group: String,
    /// The dead-letter source: `server`, `connector`, `sub:<name>`.
    source: String,
    max_deliveries: u64,
    /// A subscription's own retry back-off; `None` for the short one of the work queues.
    retry: Option<RetryPolicy>,
    /// Without, a message that used up its deliveries is dropped (and logged).
    dead_letters: bool,
    concurrency: usize,
    read_batch: usize,
    subscription: Option<SubscriptionSpec>,
}

struct SubscriptionSpec {
    name: String,
    topic: String,
    ordering: Ordering,
    /// The hash of the subscription's cluster-wide counters.
    counters: String,
}

/// Builds and starts a work-queue consumer.
pub struct QueueConsumer {
    broker: Broker,
    /// One per partition read.
    specs: Vec<Spec>,
    router: Router,
    gate: Option<LeaseHandle>,
}

impl QueueConsumer {
    /// A consumer of `queue` that routes messages through `router`.
    pub fn new(broker: Broker, queue: Queue, router: Router) -> Self {
        let settings = broker.settings();
        let specs = (0..broker.partitions())
            .map(|partition| Spec {
                stream: broker.keys().queue(queue, partition),
                partition,
                group: queue.group().to_owned(),
                source: queue.as_str().to_owned(),
                max_deliveries: u64::from(settings.max_deliveries),
                retry: None,
                dead_letters: true,
                concurrency: settings.concurrency,
                read_batch: settings.read_batch,
                subscription: None,
            })
            .collect();
        Self {
            broker,
            specs,
            router,
            gate: None,
        }
    }

    /// A consumer of a push subscription: this process's share of delivering it, each
    /// message routed (as a `PUBSUB_MESSAGE` envelope) through `router`. The group must exist
    /// (`pubsub::subscriptions::attach`); until it does, the consumer waits.
    pub fn subscription(broker: Broker, subscription: &Subscription, router: Router) -> Self {
        let keys = broker.keys();
        let runner = format!("{}#{:016x}", broker.consumer_id(), fastrand::u64(..));
        let specs = (0..broker.partitions())
            .map(|partition| {
                let stream = keys.topic(&subscription.topic, partition);
                Spec {
                    source: subscription_source(&subscription.name),
                    max_deliveries: u64::from(subscription.max_deliveries),
                    retry: Some(subscription.retry.clone()),
                    dead_letters: subscription.dead_letters,
                    concurrency: subscription.batch_size,
                    read_batch: subscription.batch_size,
                    subscription: Some(SubscriptionSpec {
                        name: subscription.name.clone(),
                        topic: subscription.topic.clone(),
                        ordering: Ordering {
                            stream: stream.clone(),
                            group: subscription.name.clone(),
                            consumer: broker.consumer_id().to_owned(),
                            prefix: keys.ordering_prefix(&subscription.name, partition),
                            running: keys.ordering_running(&subscription.name, partition),
                            runner: runner.clone(),
                        },
                        counters: keys.subscription_counters(&subscription.name),
                    }),
                    stream,
                    partition,
                    group: subscription.name.clone(),
                }
            })
            .collect();
        Self {
            broker,
            specs,
            router,
            gate: None,
        }
    }

    /// Consume only while `lease` is held (1:connector). On winning the lease the consumer
    /// first takes over every message the previous holder left pending, at once.
    pub fn while_leader(mut self, lease: LeaseHandle) -> Self {
        self.gate = Some(lease);
        self
    }

    /// Starts the loops (one per partition) on the current tokio runtime.
    pub fn spawn(self) -> ConsumerHandle {
        let stats = Arc::new(ConsumerStats::default());
        let cancel = self.broker.cancel_token().child_token();
        let concurrency = self.specs.first().map_or(1, |s| s.concurrency);
        let slots = Arc::new(Semaphore::new(concurrency));
        // Each partition's loop reads at most its share of the slots at once, so that one
        // loop blocked on an empty partition does not hold the slots another one needs.
        let share = concurrency.div_ceil(self.specs.len().max(1));
        let runs: Vec<_> = self
            .specs
            .into_iter()
            .map(|spec| {
                let run = Run {
                    me: self.broker.consumer_id().to_owned(),
                    in_flight: Arc::default(),
                    slots: slots.clone(),
                    lanes: std::thread::available_parallelism().map_or(2, usize::from),
                    share,
                    spec,
                    broker: self.broker.clone(),
                    router: self.router.clone(),
                    gate: self.gate.clone(),
                    stats: stats.clone(),
                    cancel: cancel.clone(),
                };
                AbortOnDropHandle::new(tokio::spawn(Arc::new(run).run()))
            })
            .collect();
        // Aborting this task (a crash) drops the handles, which aborts every partition's loop.
        let join = tokio::spawn(async move {
            for run in runs {
                let _ = run.await;
            }
        });
        ConsumerHandle {
            stats,
            cancel,
            join,
        }
    }
}

/// The state of one running consumer, shared (behind one `Arc`) by its loop, its handler
/// tasks and its acknowledger: nothing of it is copied per message.
struct Run {
    broker: Broker,
    router: Router,
    gate: Option<LeaseHandle>,
    spec: Spec,
    me: String,
    /// Messages this process is running now; their claims are renewed until acknowledged.
    in_flight: Arc<Mutex<HashSet<String>>>,
    slots: Arc<Semaphore>,
    /// How many tasks a read batch's handlers are spread over: the number of cores.
    lanes: usize,
    /// The most slots this loop takes for one read (its partition's share).
    share: usize,
    stats: Arc<ConsumerStats>,
    cancel: CancellationToken,
}

/// How one message ended, as far as its consumer is concerned.
enum Finish {
    /// Handled (or nothing left to handle): acknowledge it.
    Ack(String),
    /// Moved to the dead letters, or dropped, and acknowledged in the same step.
    Moved,
    /// Left pending: the consumer stops, or Redis could not take the dead letter.
    Left,
}

/// Why the read loop returned.
enum Stop {
    Cancelled,
    LeaseLost,
}

impl Run {
    fn settings(&self) -> &zato_common::settings::BrokerSettings {
        self.broker.settings()
    }

    fn visibility(&self) -> Duration {
        Duration::from_millis(self.settings().visibility_timeout_ms)
    }

    /// Claims are renewed (and the dead looked for) three times per visibility timeout.
    fn sweep_interval(&self) -> Duration {
        self.visibility() / 3
    }

    fn is_leader(&self) -> bool {
        self.gate.as_ref().is_none_or(LeaseHandle::is_leader)
    }

    async fn run(self: Arc<Self>) {
        // Handlers and the acknowledger live in this set: aborting the loop (a crash) drops
        // it and aborts them, so nothing is acknowledged after the "crash".
        let mut tasks = JoinSet::new();
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let acknowledger = AbortOnDropHandle::new(tokio::spawn(self.clone().acknowledge(ack_rx)));
        let mut backoff = Backoff::default();
        let mut takeover = self.gate.is_some();
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            if !self.wait_for_lease(&mut takeover).await {
                break;
            }
            match self
                .read_loop(&mut tasks, &ack_tx, &mut backoff, &mut takeover)
                .await
            {
                Ok(Stop::Cancelled) => break,
                Ok(Stop::LeaseLost) => {
                    info!(queue = %self.spec.source, "lease lost; consumer stands by");
                    takeover = true;
                }
                Err(e) => {
                    self.stats.disconnected();
                    warn!(queue = %self.spec.source, error = %e, "consumer lost redis; reconnecting");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        () = self.cancel.cancelled() => break,
                    }
                }
            }
        }
        self.drain(tasks, ack_tx, acknowledger).await;
    }

    /// Waits until this process may consume; false when cancelled first.
    async fn wait_for_lease(&self, takeover: &mut bool) -> bool {
        let Some(gate) = &self.gate else { return true };
        let mut changes = gate.subscribe();
        while !gate.is_leader() {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return false },
                () = self.cancel.cancelled() => return false,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            *takeover = true;
        }
        true
    }

    async fn read_loop(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        ack_tx: &mpsc::UnboundedSender<Vec<String>>,
        backoff: &mut Backoff,
        takeover: &mut bool,
    ) -> Result<Stop> {
        let mut conn = self.broker.redis().dedicated().await?;
        self.ensure_group().await?;
        // Connected and the group exists: healthy from now, not only after the first
        // blocking read returns.
        self.stats.read_ok();
        let block_ms = (self.settings().block_ms)
            .min(self.sweep_interval().as_millis() as u64)
            .max(1);
        let mut next_sweep = Instant::now();
        let mut missing_group = 0u32;
        loop {
            while tasks.try_join_next().is_some() {}
            if self.cancel.is_cancelled() {
                return Ok(Stop::Cancelled);
            }
            if !self.is_leader() {
                return Ok(Stop::LeaseLost);
            }
            if Instant::now() >= next_sweep || *takeover {
                match self.sweep(tasks, ack_tx, *takeover).await {
                    Ok(()) => {}
                    // A subscription's group that went missing: the read below finds that
                    // too, and has it created again.
                    Err(BrokerError::Redis(e))
                        if e.code() == Some("NOGROUP") && self.spec.subscription.is_some() => {}
                    Err(e) => return Err(e),
                }
                *takeover = false;
                next_sweep = Instant::now() + self.sweep_interval();
            }
            // The slots are taken before the read, not after it: the loops of the other
            // partitions share them, and a message read must never wait for a slot (it
            // would not be in flight, so nobody would renew its claim).
            let free = (self.slots.available_permits())
                .min(self.spec.read_batch)
                .min(self.share);
            let taken = u32::try_from(free)
                .ok()
                .filter(|n| *n > 0)
                .and_then(|n| self.slots.clone().try_acquire_many_owned(n).ok());
            let Some(permits) = taken else {
                tokio::select! {
                    permit = self.slots.acquire() => drop(permit),
                    () = tokio::time::sleep_until(next_sweep) => {}
                    () = self.cancel.cancelled() => return Ok(Stop::Cancelled),
                }
                continue;
            };
            let mut read = redis::cmd("XREADGROUP");
            read.arg("GROUP")
                .arg(&self.spec.group)
                .arg(&self.me)
                .arg("COUNT")
                .arg(free)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&self.spec.stream)
                .arg(">");
            let reply = tokio::select! {
                reply = conn.query_blocking::<Value>(&read, Duration::from_millis(block_ms)) => reply,
                () = self.cancel.cancelled() => return Ok(Stop::Cancelled),
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) if e.code() == Some("NOGROUP") => {
                    if let Some(subscription) = &self.spec.subscription {
                        missing_group += 1;
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                            () = self.cancel.cancelled() => return Ok(Stop::Cancelled),
                        }
                        if missing_group.is_multiple_of(MISSING_GROUP_REPAIR) {
                            self.repair_group(subscription).await;
                        }
                        continue;
                    }
                    self.ensure_group().await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            self.stats.read_ok();
            backoff.reset();
            let entries = parse_read_reply(reply)
                .into_iter()
                .map(|e| (e, 1))
                .collect();
            self.dispatch(tasks, ack_tx, entries, permits);
        }
    }

    /// Creates the stream and the group if missing. A group is created at the start of the
    /// stream: after Redis lost its data nothing that is there now has been read by anyone.
    /// A subscription's group is made with the subscription, at its start position; here its
    /// consumer only waits for it.
    async fn ensure_group(&self) -> Result<()> {
        if self.spec.subscription.is_some() {
            return Ok(());
        }
        let mut conn = self.broker.redis().conn().await?;
        create_group(&mut conn, &self.spec.stream, &self.spec.group, "0").await
    }

    /// Creates a subscription's group that is still missing a while after its consumer
    /// started (its creation failed half-way, or Redis lost it), if the subscription still
    /// exists: otherwise it would deliver nothing, silently, for ever.
    async fn repair_group(&self, subscription: &SubscriptionSpec) {
        let store = crate::ConfigStore::new(self.broker.clone());
        let stored = match store.get::<Subscription>(&subscription.name).await {
            Ok(Some(stored)) if stored.topic == subscription.topic => stored,
            Ok(_) => return,
            Err(e) => {
                warn!(queue = %self.spec.source, error = %e, "the subscription's group is missing; cannot check it now");
                return;
            }
        };
        match crate::pubsub::subscriptions::attach(&self.broker, &stored).await {
            Ok(()) => warn!(
                queue = %self.spec.source,
                "the subscription's group was missing; created it at the subscription's start position"
            ),
            Err(e) => {
                warn!(queue = %self.spec.source, error = %e, "the subscription's group is missing and cannot be created now")
            }
        }
    }

    /// Starts the handlers of `entries` (each with its delivery count), each holding one of
    /// the slots `permits` took for the read that got them (the rest go back).
    ///
    /// The handlers run concurrently, in as many tasks as there are cores (each task drives
    /// its share of the batch), not in one task per message: a task per message cost a
    /// spawn, a cross-thread wake-up and scheduler bookkeeping per message, the largest
    /// single cost of 1:any. One task per core still lets CPU-bound services of one batch run
    /// on every core.
    fn dispatch(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        ack_tx: &mpsc::UnboundedSender<Vec<String>>,
        entries: Vec<(StreamEntry, u64)>,
        mut permits: OwnedSemaphorePermit,
    ) {
        if entries.is_empty() {
            return;
        }
        lock(&self.in_flight).extend(entries.iter().map(|(entry, _)| entry.id.clone()));
        let lanes = self.lanes.min(entries.len());
        let mut shares: Vec<Vec<_>> = (0..lanes).map(|_| Vec::new()).collect();
        for (i, (entry, deliveries)) in entries.into_iter().enumerate() {
            // Each handler holds its own slot, given back the moment it finishes.
            let permit = permits.split(1);
            shares[i % lanes].push((entry, deliveries, permit));
        }
        for share in shares {
            let (run, ack_tx) = (self.clone(), ack_tx.clone());
            tasks.spawn(async move {
                let mut running: FuturesUnordered<_> = share
                    .into_iter()
                    .map(|(entry, deliveries, permit)| {
                        let run = &run;
                        async move {
                            let ack = run.handle(entry, deliveries).await;
                            drop(permit);
                            ack
                        }
                    })
                    .collect();
                // What finished together is acknowledged together: one hand-over to the
                // acknowledger (one wake-up) for every handler that was ready.
                let mut finished = Vec::new();
                while let Some(ack) = running.next().await {
                    finished.extend(ack);
                    while let Some(Some(ack)) = running.next().now_or_never() {
                        finished.extend(ack);
                    }
                    if !finished.is_empty() {
                        let _ = ack_tx.send(std::mem::take(&mut finished));
                    }
                }
            });
        }
    }

    /// Runs one message; the id to acknowledge, if it is finished with and not already moved
    /// to the dead letters (which acknowledges it in the same step) or acknowledged by its
    /// key's ordering.
    async fn handle(&self, entry: StreamEntry, deliveries: u64) -> Option<String> {
        if let Some(subscription) = &self.spec.subscription {
            match entry.field(TARGET_FIELD) {
                // Replayed from another subscription's dead letters.
                Some(target) if target != subscription.name.as_bytes() => {
                    ConsumerStats::bump(&self.stats.skipped);
                    return Some(entry.id);
                }
                Some(_) => {}
                None => {
                    if let Some(key) = entry.field(KEY_FIELD).map(<[u8]>::to_vec) {
                        self.handle_in_order(&subscription.ordering, &key, entry, deliveries)
                            .await;
                        return None;
                    }
                }
            }
        }
        match self.run_entry(entry, deliveries).await {
            Finish::Ack(id) => Some(id),
            Finish::Moved | Finish::Left => None,
        }
    }

    /// Runs a keyed message if it is its key's turn, then each next message of the key that
    /// another consumer parked, one at a time. A message that must wait is left pending,
    /// unrenewed: its key's current message hands it over when done.
    async fn handle_in_order(
        &self,
        ordering: &Ordering,
        key: &[u8],
        entry: StreamEntry,
        deliveries: u64,
    ) {
        let id = entry.id.clone();
        match ordering.may_deliver(&self.broker, &id, key).await {
            Ok(Turn::Run) => {}
            // Its run holds it in flight (renewing its claim) and acknowledges it.
            Ok(Turn::RunningHere) => return,
            Ok(Turn::Wait) => {
                debug!(queue = %self.spec.source, id, "parked behind an earlier message of its key");
                lock(&self.in_flight).remove(&id);
                return;
            }
            Err(e) => {
                // Left pending: claimed again after the visibility timeout.
                warn!(queue = %self.spec.source, id, error = %e, "cannot check the ordering key now");
                lock(&self.in_flight).remove(&id);
                return;
            }
        }
        // The messages handed over by `finish` were approved by it. A consumer that stops
        // takes no more: what it would start could not finish within the drain.
        let mut next = Some((entry, deliveries));
        while let Some((entry, deliveries)) = next.take() {
            let id = entry.id.clone();
            if let Finish::Left = self.run_entry(entry, deliveries).await {
                return;
            }
            next = self.finish_in_order(ordering, &id, key).await;
        }
    }

    /// Acknowledges a keyed message and takes its key's next one, retrying while Redis is
    /// away; stopping meanwhile leaves the message pending, to be delivered again.
    async fn finish_in_order(
        &self,
        ordering: &Ordering,
        id: &str,
        key: &[u8],
    ) -> Option<(StreamEntry, u64)> {
        let mut backoff = Backoff::default();
        loop {
            let take_next = !self.cancel.is_cancelled();
            match ordering.finish(&self.broker, id, key, take_next).await {
                Ok(next) => {
                    let mut in_flight = lock(&self.in_flight);
                    in_flight.remove(id);
                    if let Some((entry, _)) = &next {
                        in_flight.insert(entry.id.clone());
                    }
                    return next;
                }
                Err(e) => {
                    warn!(queue = %self.spec.source, id, error = %e, "acknowledgement failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        () = self.cancel.cancelled() => {
                            lock(&self.in_flight).remove(id);
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// Runs one message to its end: handled, dead-lettered, or left pending.
    async fn run_entry(&self, entry: StreamEntry, deliveries: u64) -> Finish {
        let Some(raw) = entry.field(ENVELOPE_FIELD) else {
            if entry.fields.is_none() {
                // Deleted while pending (or trimmed by a topic's retention): there is
                // nothing left to run or keep.
                return Finish::Ack(entry.id);
            }
            let reason = format!("stream entry has no '{ENVELOPE_FIELD}' field");
            return self
                .dead_letter(&entry.id, &entry.describe_fields(), &reason, deliveries)
                .await;
        };
        let envelope = match RawEnvelope::decode(raw) {
            Ok(envelope) => envelope,
            Err(e) => {
                let raw = String::from_utf8_lossy(raw).into_owned();
                return self
                    .dead_letter(&entry.id, &raw, &e.to_string(), deliveries)
                    .await;
            }
        };
        let max = self.spec.max_deliveries;
        let mut deliveries = deliveries;
        let mut backoff = retry_backoff(self.visibility());
        let envelope = Arc::new(envelope);
        let outcome = loop {
            let delivery = Delivery {
                envelope: envelope.clone(),
                stream_id: crate::partitioned_id::qualify(self.spec.partition, &entry.id),
                deliveries,
            };
            let delay = match run_handler(&self.router, delivery).await {
                Outcome::Retry(_) if deliveries < max => {
                    deliveries += 1;
                    self.record_delivery(&entry.id, deliveries).await;
                    match &self.spec.retry {
                        Some(policy) => Duration::from_millis(policy.delay_ms(deliveries - 1)),
                        None => backoff.next_delay(),
                    }
                }
                Outcome::Unavailable(_) => backoff.next_delay(),
                outcome => break outcome,
            };
            ConsumerStats::bump(&self.stats.failed);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled() => {
                    // Stopping: left pending, for this member's next start or another one.
                    lock(&self.in_flight).remove(&entry.id);
                    return Finish::Left;
                }
            }
        };
        let counter = match outcome {
            Outcome::Ack => &self.stats.handled,
            Outcome::Unknown => &self.stats.unknown_action,
            Outcome::Ignored => &self.stats.skipped,
            // (An unavailable handler never ends the attempts; it is here for completeness.)
            Outcome::Retry(reason) | Outcome::Unavailable(reason) => {
                ConsumerStats::bump(&self.stats.failed);
                let reason = format!("not handled after {deliveries} deliveries: {reason}");
                let raw = String::from_utf8_lossy(raw).into_owned();
                return self.dead_letter(&entry.id, &raw, &reason, deliveries).await;
            }
            Outcome::Reject(reason) => {
                ConsumerStats::bump(&self.stats.failed);
                let raw = String::from_utf8_lossy(raw).into_owned();
                return self.dead_letter(&entry.id, &raw, &reason, deliveries).await;
            }
        };
        ConsumerStats::bump(counter);
        Finish::Ack(entry.id)
    }

    /// Records in Redis that `id` is on its `deliveries`-th delivery (`XCLAIM ... RETRYCOUNT`,
    /// by this consumer, which holds it), so that a consumer taking it over after a crash
    /// counts on from there and `max_deliveries` holds across consumers. If Redis cannot
    /// be reached the count is behind by the attempts since: the message may then be tried
    /// a little more often, never lost.
    async fn record_delivery(&self, id: &str, deliveries: u64) {
        let mut claim = redis::cmd("XCLAIM");
        claim
            .arg(&self.spec.stream)
            .arg(&self.spec.group)
            .arg(&self.me)
            .arg(0)
            .arg(id)
            .arg("RETRYCOUNT")
            .arg(deliveries)
            .arg("JUSTID");
        // The counters are in the control plane's slot, the claim in the partition's: two
        // writes (on a cluster, they may go to two nodes).
        let count = self.spec.subscription.as_ref().map(|subscription| {
            let mut count = redis::cmd("HINCRBY");
            count.arg(&subscription.counters).arg("retries").arg(1);
            self.broker.writer().send(count)
        });
        let (claimed, counted) = tokio::join!(self.broker.writer().send(claim), async {
            match count {
                Some(count) => count.await.map(drop),
                None => Ok(()),
            }
        });
        if let Err(e) = claimed.map(drop).and(counted) {
            debug!(queue = %self.spec.source, id, error = %e, "delivery count not recorded");
        }
    }

    /// Moves an entry to the dead-letter stream (or, when the source keeps none, drops it).
    /// If Redis cannot be reached the entry stays pending and comes back later: nothing is
    /// lost either way.
    async fn dead_letter(&self, id: &str, raw: &str, reason: &str, deliveries: u64) -> Finish {
        let cmds = if self.spec.dead_letters {
            let origin = Origin {
                source: &self.spec.source,
                stream: &self.spec.stream,
                group: &self.spec.group,
                partition: self.spec.partition,
            };
            move_cmds(&self.broker, &origin, id, raw, reason, deliveries)
        } else {
            let mut ack = redis::cmd("XACK");
            ack.arg(&self.spec.stream).arg(&self.spec.group).arg(id);
            vec![ack]
        };
        let finish = match self.broker.writer().send_group(cmds, true).await {
            Ok(_) => {
                ConsumerStats::bump(&self.stats.dead_lettered);
                let what = if self.spec.dead_letters {
                    "message dead-lettered"
                } else {
                    "message dropped (dead letters are off)"
                };
                warn!(queue = %self.spec.source, id, reason, deliveries, "{what}");
                Finish::Moved
            }
            Err(e) => {
                warn!(queue = %self.spec.source, id, error = %e, "cannot dead-letter now; will retry");
                Finish::Left
            }
        };
        lock(&self.in_flight).remove(id);
        finish
    }

    /// Renews the claims on in-flight messages, then claims (or dead-letters) messages whose
    /// consumer stopped renewing. With `takeover`, every pending message not in flight here
    /// is taken at once, whatever its idle time (a new lease holder's first step).
    async fn sweep(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        ack_tx: &mpsc::UnboundedSender<Vec<String>>,
        takeover: bool,
    ) -> Result<()> {
        let mut conn = self.broker.redis().conn().await?;
        let owned: Vec<String> = lock(&self.in_flight).iter().cloned().collect();
        for chunk in owned.chunks(RECLAIM_BATCH) {
            let _: Value = redis::cmd("XCLAIM")
                .arg(&self.spec.stream)
                .arg(&self.spec.group)
                .arg(&self.me)
                .arg(0)
                .arg(chunk)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await?;
        }
        let min_idle = if takeover {
            0
        } else {
            self.settings().visibility_timeout_ms
        };
        // Slots for what this pass takes over, taken first (see the read loop).
        let free = self.slots.available_permits().min(RECLAIM_BATCH);
        let Some(permits) = u32::try_from(free)
            .ok()
            .and_then(|n| self.slots.clone().try_acquire_many_owned(n).ok())
        else {
            return Ok(());
        };
        let pending: Value = redis::cmd("XPENDING")
            .arg(&self.spec.stream)
            .arg(&self.spec.group)
            .arg("IDLE")
            .arg(min_idle)
            .arg("-")
            .arg("+")
            .arg(RECLAIM_BATCH)
            .query_async(&mut conn)
            .await?;
        let max = self.spec.max_deliveries;
        let mut to_claim = Vec::new();
        for item in pending_items(&pending) {
            if lock(&self.in_flight).contains(&item.0) {
                continue;
            }
            if item.1 >= max {
                self.dead_letter_exhausted(&mut conn, &item.0, item.1, min_idle)
                    .await?;
            } else if to_claim.len() < free {
                to_claim.push(item);
            }
        }
        if to_claim.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = to_claim.iter().map(|(id, _)| id.as_str()).collect();
        let claimed: Value = redis::cmd("XCLAIM")
            .arg(&self.spec.stream)
            .arg(&self.spec.group)
            .arg(&self.me)
            .arg(min_idle)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        let entries = parse_entries(claimed)
            .into_iter()
            .map(|entry| {
                let before = to_claim
                    .iter()
                    .find(|(id, _)| *id == entry.id)
                    .map_or(0, |(_, n)| *n);
                ConsumerStats::bump(&self.stats.reclaimed);
                (entry, before + 1)
            })
            .collect();
        self.dispatch(tasks, ack_tx, entries, permits);
        Ok(())
    }

    /// Claims an entry that used up its deliveries and dead-letters it.
    async fn dead_letter_exhausted(
        &self,
        conn: &mut crate::Conn,
        id: &str,
        deliveries: u64,
        min_idle: u64,
    ) -> Result<()> {
        let won: Value = redis::cmd("XCLAIM")
            .arg(&self.spec.stream)
            .arg(&self.spec.group)
            .arg(&self.me)
            .arg(min_idle)
            .arg(id)
            .arg("JUSTID")
            .query_async(conn)
            .await?;
        if !matches!(&won, Value::Array(ids) if !ids.is_empty()) {
            return Ok(()); // another consumer got there first
        }
        let range: Value = redis::cmd("XRANGE")
            .arg(&self.spec.stream)
            .arg(id)
            .arg(id)
            .query_async(conn)
            .await?;
        let raw = parse_entries(range)
            .into_iter()
            .next()
            .map(|entry| match entry.field(ENVELOPE_FIELD) {
                Some(raw) => String::from_utf8_lossy(raw).into_owned(),
                None => entry.describe_fields(),
            })
            .unwrap_or_else(|| "(deleted)".to_owned());
        let reason = format!("not handled after {deliveries} deliveries");
        self.dead_letter(id, &raw, &reason, deliveries).await;
        Ok(())
    }

    /// Acknowledges finished messages in batches, on a connection it keeps. A batch that
    /// fails is retried: an acknowledgement is never dropped while the loop runs, and the
    /// message stays in flight (its claim renewed) until its acknowledgement lands.
    async fn acknowledge(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Vec<String>>) {
        let mut conn: Option<crate::Conn> = None;
        let mut batch: Vec<String> = Vec::with_capacity(ACK_BATCH);
        let mut backoff = Backoff::default();
        while let Some(ids) = rx.recv().await {
            batch.extend(ids);
            while batch.len() < ACK_BATCH {
                match rx.try_recv() {
                    Ok(ids) => batch.extend(ids),
                    Err(_) => break,
                }
            }
            let deadline = Instant::now() + DRAIN_TIMEOUT;
            loop {
                match self.ack_batch(&mut conn, &batch).await {
                    Ok(()) => {
                        backoff.reset();
                        break;
                    }
                    Err(e) => {
                        conn = None;
                        if self.cancel.is_cancelled() && Instant::now() > deadline {
                            warn!(queue = %self.spec.source, error = %e, count = batch.len(), "giving up acknowledgements at shutdown; the messages stay pending");
                            break;
                        }
                        warn!(queue = %self.spec.source, error = %e, "acknowledgement failed; retrying");
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
            let mut in_flight = lock(&self.in_flight);
            for id in batch.drain(..) {
                in_flight.remove(&id);
            }
        }
    }

    async fn ack_batch(&self, conn: &mut Option<crate::Conn>, ids: &[String]) -> Result<()> {
        if conn.is_none() {
            *conn = Some(self.broker.redis().conn().await?);
        }
        let Some(c) = conn.as_mut() else {
            return Ok(());
        };
        let _: u64 = redis::cmd("XACK")
            .arg(&self.spec.stream)
            .arg(&self.spec.group)
            .arg(ids)
            .query_async(c)
            .await?;
        Ok(())
    }

    /// After a stop: let handlers finish (bounded), then let the acknowledger flush what
    /// finished. Handlers still running after the bound are aborted: their messages stay
    /// pending and another consumer takes them after the visibility timeout.
    async fn drain(
        &self,
        mut tasks: JoinSet<()>,
        ack_tx: mpsc::UnboundedSender<Vec<String>>,
        acknowledger: AbortOnDropHandle<()>,
    ) {
        let finished = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            warn!(
                queue = %self.spec.source,
                running = tasks.len(),
                "handlers still running at shutdown; their messages stay pending"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        drop(ack_tx);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, acknowledger).await;
        self.stats.disconnected();
    }
}

/// The back-off between attempts of one message: from 100 ms, doubling, to a third of the
/// visibility timeout (at most 5 s), so that a short outage costs a message well under a
/// second of delay, and a long one a few seconds at most after it ends.
fn retry_backoff(visibility: Duration) -> Backoff {
    let max = (visibility / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
    Backoff::new(Duration::from_millis(100), max)
}
