//! The pub/sub figures this server samples every few seconds: per topic its depth and
//! publish rate, per subscription its backlog, oldest unacknowledged message, delivery rate,
//! retries and dead letters. They feed `/metrics` and the rates the admin API shows; each
//! sample also applies the topics' retention by age, and trims what `reject` topics no
//! longer need.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use tokio::task::JoinHandle;
use tracing::warn;
use zato_broker::member::metrics::{counters, gauges};
use zato_broker::pubsub::figures::{
    SubscriptionFigures, TopicFigures, subscription_figures, topic_figures,
};
use zato_broker::pubsub::retention::{trim_acknowledged, trim_by_age};

use super::PubSub;

/// How often the figures are read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// One sample of every topic and subscription.
#[derive(Debug, Default)]
pub struct Sample {
    pub topics: BTreeMap<String, (TopicFigures, Option<f64>)>,
    pub subscriptions: BTreeMap<String, (SubscriptionFigures, Option<f64>)>,
}

/// The latest sample, and when it was taken.
#[derive(Default)]
pub struct Figures {
    latest: ArcSwap<(Option<Instant>, Sample)>,
}

impl Figures {
    /// Messages published per second to `topic` over the last interval.
    pub fn publish_rate(&self, topic: &str) -> Option<f64> {
        self.latest.load().1.topics.get(topic).and_then(|(_, r)| *r)
    }

    /// Messages delivered per second to `subscription` over the last interval.
    pub fn delivery_rate(&self, subscription: &str) -> Option<f64> {
        self.latest
            .load()
            .1
            .subscriptions
            .get(subscription)
            .and_then(|(_, r)| *r)
    }
}

fn rate(now: u64, before: Option<u64>, elapsed: Option<Duration>) -> Option<f64> {
    let (before, elapsed) = (before?, elapsed?);
    let seconds = elapsed.as_secs_f64();
    (seconds > 0.0).then(|| now.saturating_sub(before) as f64 / seconds)
}

/// Samples until the broker shuts down.
pub fn spawn_sampler(pubsub: &Arc<PubSub>) -> JoinHandle<()> {
    let pubsub: Weak<PubSub> = Arc::downgrade(pubsub);
    tokio::spawn(async move {
        loop {
            let Some(runtime) = pubsub.upgrade() else {
                return;
            };
            let cancel = runtime.broker.cancel_token().clone();
            if let Err(e) = sample(&runtime).await {
                warn!(error = %e, "could not read the pub/sub figures");
            }
            drop(runtime);
            tokio::select! {
                () = tokio::time::sleep(SAMPLE_INTERVAL) => {}
                () = cancel.cancelled() => return,
            }
        }
    })
}

async fn sample(pubsub: &PubSub) -> zato_broker::Result<()> {
    let broker = &pubsub.broker;
    let previous = pubsub.figures.latest.load_full();
    let elapsed = previous.0.map(|at| at.elapsed());
    let mut sample = Sample::default();
    for (name, topic) in pubsub.topics().iter() {
        trim_by_age(broker, topic).await?;
        trim_acknowledged(broker, topic).await?;
        let figures = topic_figures(broker, name).await?;
        let before = previous.1.topics.get(name).map(|(f, _)| f.published);
        let rate = rate(figures.published, before, elapsed);
        sample.topics.insert(name.clone(), (figures, rate));
    }
    for (name, subscription) in pubsub.subscriptions().iter() {
        let figures = subscription_figures(broker, name, &subscription.topic).await?;
        let before = previous.1.subscriptions.get(name).map(|(f, _)| f.delivered);
        let rate = rate(figures.delivered, before, elapsed);
        sample.subscriptions.insert(name.clone(), (figures, rate));
    }
    pubsub
        .figures
        .latest
        .store(Arc::new((Some(Instant::now()), sample)));
    Ok(())
}

/// Reports the latest sample at scrape time.
pub struct PubSubCollector(pub Arc<Figures>);

impl fmt::Debug for PubSubCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PubSubCollector")
    }
}

impl Collector for PubSubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let latest = self.0.latest.load();
        let topics = &latest.1.topics;
        let topic = |name: &String| [("topic", name.clone())];
        gauges(
            &mut encoder,
            "topic_depth",
            "Messages a pub/sub topic holds.",
            topics.iter().map(|(n, (f, _))| (topic(n), f.depth as i64)),
        )?;
        counters(
            &mut encoder,
            "topic_published",
            "Messages ever published to a pub/sub topic.",
            topics.iter().map(|(n, (f, _))| (topic(n), f.published)),
        )?;
        let subs = &latest.1.subscriptions;
        let sub = |name: &String| [("subscription", name.clone())];
        gauges(
            &mut encoder,
            "subscription_backlog",
            "Messages of a subscription not yet acknowledged (pending and waiting).",
            subs.iter().map(|(n, (f, _))| (sub(n), f.backlog as i64)),
        )?;
        gauges(
            &mut encoder,
            "subscription_pending",
            "Messages of a subscription delivered and not yet acknowledged.",
            subs.iter().map(|(n, (f, _))| (sub(n), f.pending as i64)),
        )?;
        gauges(
            &mut encoder,
            "subscription_oldest_unacked_age_seconds",
            "How old the oldest message a subscription has not acknowledged is.",
            subs.iter().map(|(n, (f, _))| {
                let age = f.oldest_unacked_age_ms.unwrap_or(0) as f64 / 1000.0;
                (sub(n), age)
            }),
        )?;
        counters(
            &mut encoder,
            "subscription_delivered",
            "Messages a subscription has read from its topic.",
            subs.iter().map(|(n, (f, _))| (sub(n), f.delivered)),
        )?;
        counters(
            &mut encoder,
            "subscription_retries",
            "Deliveries to a subscription that failed and were tried again.",
            subs.iter().map(|(n, (f, _))| (sub(n), f.retries)),
        )?;
        counters(
            &mut encoder,
            "subscription_expired",
            "Messages that expired before their subscription could take them.",
            subs.iter().map(|(n, (f, _))| (sub(n), f.expired)),
        )?;
        gauges(
            &mut encoder,
            "subscription_dead_letters",
            "Messages in a subscription's dead letters.",
            subs.iter()
                .map(|(n, (f, _))| (sub(n), f.dead_letters as i64)),
        )?;
        Ok(())
    }
}
