//! Metrics the way the Prometheus ecosystem expects them, the same names on every member.
//!
//! The exposition is `prometheus-client`'s (the Prometheus project's own Rust library):
//! `# HELP` and `# TYPE` on every family, escaping, `_total` on counters, histograms with
//! cumulative buckets and durations in seconds, so they add up across servers. What a
//! member counts stays where it is counted, in lock-free striped counters (a `Family` of the
//! library would take a lock and hash its labels on every request); each member hands the
//! library a [`Collector`] that reads its counters at scrape time, with the helpers below.
//!
//! Every member reports, besides its own families:
//! - `zato_healthy`, `zato_config_objects_skipped{kind}`, and per consumer loop `zato_broker_{handled,failed,dead_lettered,
//!   reclaimed,unknown_action,skipped}_total{consumer}`;
//! - per work queue its length, pending, waiting, the age of its oldest pending message and
//!   its dead letters (`zato_queue_*{queue}`), per 1:all member group its lag
//!   (`zato_all_lag{group}`), and per singleton its lease holder and epoch
//!   (`zato_lease_epoch{lease}`, `zato_lease_held{lease,holder}`), read from Redis every
//!   [`CLUSTER_REFRESH`] rather than per scrape, so a scrape never waits on Redis.
//!
//! Every sample carries a `member` label with the member's stable name.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tracing::debug;
use zato_common::histogram::Cumulative;

use super::health::Health;
use crate::Broker;
use crate::dead_letter::DeadLetters;
use crate::janitor::{QueueInfo, all_lags, queue_info};
use crate::keys::Queue;
use crate::lease::{LeaseHolder, SINGLETON_LEASES, holder};

/// The content type of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often the cluster-wide figures are read from Redis.
pub const CLUSTER_REFRESH: Duration = Duration::from_secs(5);

/// A member's registry: its own collectors and the runtime's.
pub struct Metrics {
    registry: RwLock<Registry>,
}

impl Metrics {
    pub(crate) fn new(member: &str) -> Self {
        let labels = [(Cow::Borrowed("member"), Cow::Owned(member.to_owned()))];
        Self {
            registry: RwLock::new(Registry::with_prefix_and_labels("zato", labels.into_iter())),
        }
    }

    /// Adds a collector; its families are named without the `zato_` prefix, which the
    /// registry adds.
    pub fn register(&self, collector: impl Collector) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .register_collector(Box::new(collector));
    }

    /// Every family, in the text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            debug!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// The label set of a family with one sample.
pub const NO_LABELS: [(&str, &str); 0] = [];

/// Writes a counter family: one sample per label set.
pub fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        family
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Writes a gauge family: one sample per label set.
pub fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// Writes a histogram family of durations in seconds: one histogram per label set.
pub fn histograms<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, Cumulative)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in samples {
        family
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
    }
    Ok(())
}

/// The runtime's own families: health and the consumer loops.
#[derive(Clone)]
pub(crate) struct RuntimeCollector {
    pub health: Arc<Health>,
}

impl fmt::Debug for RuntimeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RuntimeCollector")
    }
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        gauges(
            &mut encoder,
            "healthy",
            "Whether the member is healthy (1) or not (0), as /zato/health says.",
            [(NO_LABELS, i64::from(self.health.is_healthy()))],
        )?;
        gauges(
            &mut encoder,
            "config_objects_skipped",
            "Stored config objects this member skips because they do not parse (health lists them).",
            self.health
                .skipped_objects()
                .counts()
                .into_iter()
                .map(|(kind, n)| ([("kind", kind.as_str())], n as i64)),
        )?;
        let consumers: Vec<_> = self
            .health
            .consumers()
            .into_iter()
            .map(|(name, stats)| (name, stats.health()))
            .collect();
        type Pick = fn(&crate::ConsumerHealth) -> u64;
        let families: [(&str, &str, Pick); 6] = [
            (
                "broker_handled",
                "Messages a consumer loop finished.",
                |h| h.handled,
            ),
            (
                "broker_failed",
                "Handler attempts that failed (each retry counts).",
                |h| h.failed,
            ),
            (
                "broker_dead_lettered",
                "Messages moved to a dead-letter stream.",
                |h| h.dead_lettered,
            ),
            (
                "broker_reclaimed",
                "Messages taken over from a consumer that stopped renewing its claim.",
                |h| h.reclaimed,
            ),
            (
                "broker_unknown_action",
                "Messages with an action this build does not know, acknowledged.",
                |h| h.unknown_action,
            ),
            (
                "broker_skipped",
                "Messages acknowledged without a handler (already in the snapshot, or no use here).",
                |h| h.skipped,
            ),
        ];
        for (name, help, pick) in families {
            counters(
                &mut encoder,
                name,
                help,
                consumers
                    .iter()
                    .map(|(consumer, h)| ([("consumer", *consumer)], pick(h))),
            )?;
        }
        Ok(())
    }
}

/// The cluster's figures as last read from Redis.
#[derive(Debug, Default)]
struct ClusterFigures {
    queues: Vec<QueueInfo>,
    /// `None` until the first read.
    all_dead_letters: Option<u64>,
    lags: Vec<(String, Option<u64>)>,
    leases: Vec<(&'static str, Option<LeaseHolder>)>,
}

/// The cluster-wide gauges, refreshed in the background.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterCollector {
    figures: Arc<Mutex<ClusterFigures>>,
}

impl ClusterCollector {
    /// Reads the figures every [`CLUSTER_REFRESH`] until the broker shuts down. A read that
    /// fails keeps the last figures (health says whether Redis answers).
    pub fn spawn_refresh(&self, broker: &Broker) -> JoinHandle<()> {
        let (broker, figures) = (broker.clone(), self.figures.clone());
        tokio::spawn(async move {
            let cancel = broker.cancel_token().clone();
            loop {
                match read_figures(&broker).await {
                    Ok(fresh) => *figures.lock().unwrap_or_else(PoisonError::into_inner) = fresh,
                    Err(e) => debug!(error = %e, "cluster figures not refreshed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(CLUSTER_REFRESH) => {}
                    () = cancel.cancelled() => return,
                }
            }
        })
    }
}

async fn read_figures(broker: &Broker) -> crate::Result<ClusterFigures> {
    let mut queues = Vec::new();
    for queue in [Queue::Server, Queue::Connector] {
        queues.push(queue_info(broker, queue).await?);
    }
    let all_dead_letters = DeadLetters::new(broker.clone()).len("all").await?;
    let mut leases = Vec::new();
    for lease in SINGLETON_LEASES {
        leases.push((lease, holder(broker, lease).await?));
    }
    Ok(ClusterFigures {
        queues,
        all_dead_letters: Some(all_dead_letters),
        lags: all_lags(broker).await?,
        leases,
    })
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let figures = self.figures.lock().unwrap_or_else(PoisonError::into_inner);
        let queues = &figures.queues;
        let by_queue = |pick: fn(&QueueInfo) -> Option<u64>| {
            queues
                .iter()
                .filter_map(move |q| Some(([("queue", q.queue)], pick(q)? as i64)))
        };
        gauges(
            &mut encoder,
            "queue_length",
            "Entries in a work stream (handled ones included until trimmed).",
            by_queue(|q| Some(q.figures.length)),
        )?;
        gauges(
            &mut encoder,
            "queue_pending",
            "Messages delivered to a consumer and not yet acknowledged.",
            by_queue(|q| Some(q.figures.pending)),
        )?;
        gauges(
            &mut encoder,
            "queue_waiting",
            "Messages not yet delivered to any consumer.",
            by_queue(|q| q.figures.waiting),
        )?;
        gauges(
            &mut encoder,
            "queue_oldest_pending_age_seconds",
            "How long ago the oldest message still pending was published.",
            queues.iter().map(|q| {
                let age = q.figures.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0;
                ([("queue", q.queue)], age)
            }),
        )?;
        let dead_letters = queues
            .iter()
            .map(|q| ([("queue", q.queue)], q.figures.dead_letters as i64))
            .chain(
                figures
                    .all_dead_letters
                    .map(|n| ([("queue", "all")], n as i64)),
            );
        gauges(
            &mut encoder,
            "queue_dead_letters",
            "Entries in a queue's dead-letter stream.",
            dead_letters,
        )?;
        gauges(
            &mut encoder,
            "all_lag",
            "1:all entries not yet delivered to a member's group.",
            figures
                .lags
                .iter()
                .filter_map(|(group, lag)| Some(([("group", group.as_str())], (*lag)? as i64))),
        )?;
        gauges(
            &mut encoder,
            "lease_epoch",
            "The fencing epoch of a singleton's lease (rises with every take-over).",
            figures
                .leases
                .iter()
                .filter_map(|(lease, h)| Some(([("lease", *lease)], h.as_ref()?.epoch as i64))),
        )?;
        gauges(
            &mut encoder,
            "lease_held",
            "1 for the process that holds a singleton's lease; no sample while nobody holds it.",
            figures.leases.iter().filter_map(|(lease, h)| {
                let holder = h.as_ref()?.holder.as_str();
                Some(([("lease", *lease), ("holder", holder)], 1i64))
            }),
        )?;
        Ok(())
    }
}
