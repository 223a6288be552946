//! What the failover tests (`redis_sentinel`, `redis_cluster`) share: a producer that keeps
//! publishing numbered payloads while a master is killed ([`Load`]), a consumer that records
//! the numbers it handles ([`numbering_consumer`]), and the check that every acknowledged
//! number was handled ([`unhandled`]).
//!
//! A publish counts as acknowledged only once `publish` returned `Ok`: what a member was told
//! is safe is exactly what must not be lost, whatever Redis did with the publishes that
//! failed or timed out (they are retried with the same number, so a number may be handled
//! more than once, but never acknowledged without being published).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zato_broker::{Broker, ConsumerHandle, Delivery, Queue, QueueConsumer, Router, Target};
use zato_common::Action;
use zato_common::settings::BrokerSettings;

use crate::RedisAccess;

/// How long the Redis group (the sentinels, or Redis Cluster itself) may take to replace a
/// killed master: seconds with the short timeouts the fixtures configure, with room for a
/// loaded two-core machine.
pub const FAILOVER_WITHIN: Duration = Duration::from_secs(30);

/// How long every acknowledged message may take to be handled once the load stops.
pub const HANDLED_WITHIN: Duration = Duration::from_secs(30);

/// How long one publish may take before the producer counts it as failed and retries: longer
/// than the broker's own reconnects, so a hang (not a slow failover) is what it catches.
const PUBLISH_WITHIN: Duration = Duration::from_secs(15);

/// The payload numbers (`n`) handled, once per handling (a redelivery appears twice).
pub type Handled = Arc<Mutex<Vec<u64>>>;

/// A 1:any consumer (`Queue::Server`) that records the `n` of every `ServiceInvoke` payload
/// it handles in `handled` (`u64::MAX` for a payload without one).
pub fn numbering_consumer(broker: Broker, handled: &Handled) -> ConsumerHandle {
    let handled = handled.clone();
    let router = Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let handled = handled.clone();
        async move {
            let n = d.payload::<serde_json::Value>()?["n"]
                .as_u64()
                .unwrap_or(u64::MAX);
            handled.lock().expect("handled").push(n);
            Ok(())
        }
    });
    QueueConsumer::new(broker, Queue::Server, router).spawn()
}

/// The acknowledged numbers in `acked` that are not in `handled` (yet), in `acked`'s order.
pub fn unhandled(acked: &[u64], handled: &Handled) -> Vec<u64> {
    let handled: HashSet<u64> = handled.lock().expect("handled").iter().copied().collect();
    acked
        .iter()
        .copied()
        .filter(|n| !handled.contains(n))
        .collect()
}

/// A producer publishing `{"n": first, first + 1, ...}` to 1:any (`ServiceInvoke`) one at a
/// time, a few ms apart, in a background task until [`Load::stop`]. A publish that fails or
/// gets no answer within 15 s is retried with the same `n` after a short sleep; only one that
/// returned `Ok` is acknowledged, with the instant it returned.
pub struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(u64, Instant)>>>,
    failures: Arc<AtomicU64>,
    last_error: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// Starts publishing from `first` through `producer` (on the current tokio runtime).
    pub fn start(producer: Broker, first: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let failures = Arc::new(AtomicU64::new(0));
        let last_error: Arc<Mutex<Option<String>>> = Arc::default();
        let task = tokio::spawn({
            let (stop, acked, failures, last_error) = (
                stop.clone(),
                acked.clone(),
                failures.clone(),
                last_error.clone(),
            );
            async move {
                let mut n = first;
                while !stop.load(Ordering::SeqCst) {
                    let envelope = producer.envelope(Action::ServiceInvoke, json!({"n": n}));
                    let published = tokio::time::timeout(
                        PUBLISH_WITHIN,
                        producer.publish(Target::Any, &envelope),
                    )
                    .await;
                    match published {
                        Ok(Ok(_)) => {
                            acked.lock().expect("acked").push((n, Instant::now()));
                            n += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        failed => {
                            failures.fetch_add(1, Ordering::SeqCst);
                            let error = match failed {
                                Ok(Err(e)) => e.to_string(),
                                _ => format!("no answer within {} s", PUBLISH_WITHIN.as_secs()),
                            };
                            *last_error.lock().expect("last error") = Some(error);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        });
        Self {
            stop,
            acked,
            failures,
            last_error,
            task,
        }
    }

    /// How many publishes were acknowledged after `instant`: whether publishing works again
    /// after a failover.
    pub fn acked_after(&self, instant: Instant) -> usize {
        let acked = self.acked.lock().expect("acked");
        acked.iter().filter(|(_, at)| *at > instant).count()
    }

    /// How many publishes were acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked.lock().expect("acked").len()
    }

    /// How many publishes failed (or timed out) and were retried so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// The error of the last failed publish, for an assertion's message.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("last error").clone()
    }

    /// The longest time between two successive acknowledgements so far: the outage the
    /// producer saw (zero with fewer than two).
    pub fn longest_gap(&self) -> Duration {
        let acked = self.acked.lock().expect("acked");
        acked
            .windows(2)
            .map(|pair| pair[1].1 - pair[0].1)
            .max()
            .unwrap_or_default()
    }

    /// Stops publishing (after the publish in flight, if any); the `n` of every acknowledged
    /// publish, in order.
    pub async fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the producer's task");
        let acked = self.acked.lock().expect("acked");
        acked.iter().map(|(n, _)| *n).collect()
    }
}

/// What a failover under load came to.
pub struct Outcome<T> {
    pub consumer: ConsumerHandle,
    pub producer: Broker,
    pub handled: Handled,
    /// What the failover step returned (which masters, which stream).
    pub failover: T,
    /// The acknowledged payloads, in order.
    pub acked: Vec<u64>,
    /// The acknowledged payloads not handled by the end of the wait.
    pub lost: Vec<u64>,
    /// Publishes that failed (and were retried).
    pub failures: u64,
}

impl<T> Outcome<T> {
    /// Fails the test when an acknowledged publish was never handled, naming the first few.
    pub fn assert_nothing_lost(&self) {
        assert!(
            self.lost.is_empty(),
            "{} of {} acknowledged publishes were never handled: {:?}",
            self.lost.len(),
            self.acked.len(),
            &self.lost[..self.lost.len().min(20)]
        );
    }

    /// Prints how many acknowledged publishes the failover lost, for a run without
    /// `broker.min_replicas_ack` (where some may be), then stops the consumer.
    pub async fn report_loss(self) {
        eprintln!(
            "without broker.min_replicas_ack: {} of {} acknowledged publishes lost in the \
             failover ({} failed and were retried); handled {} times in all",
            self.lost.len(),
            self.acked.len(),
            self.failures,
            self.handled.lock().expect("handled").len()
        );
        self.consumer.stop().await;
    }
}

/// A consumer and a producer with `settings` on `redis`; the producer publishes for about
/// 1.5 s, then `fail_over` kills a master and returns once another serves in its place, and
/// publishing goes on 5 s more. Asserts that publishing works again by itself (publishes
/// acknowledged after the new master took over, with nothing restarted); then waits up to
/// `handled_within` for every acknowledged payload to be handled.
pub async fn under_load<R: RedisAccess, T>(
    redis: &mut R,
    cluster: &str,
    settings: BrokerSettings,
    handled_within: Duration,
    fail_over: impl FnOnce(&mut R, &Broker) -> T,
) -> Outcome<T> {
    let handled: Handled = Arc::default();
    let consumer = numbering_consumer(
        crate::broker_with(&*redis, cluster, "s1", "server", settings.clone()),
        &handled,
    );
    let producer = crate::broker_with(&*redis, cluster, "producer", "test", settings);
    assert!(
        crate::wait_until(Duration::from_secs(30), || consumer.health().last_read_ms
            > 0)
        .await,
        "the consumer reads from Redis: {:?}",
        consumer.health()
    );
    let load = Load::start(producer.clone(), 0);
    assert!(
        crate::wait_until(Duration::from_secs(30), || load.acked_count() > 0).await,
        "publishes are acknowledged before the failover (last error: {:?})",
        load.last_error()
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before_kill = load.acked_count();
    let killed_at = Instant::now();
    let failover = fail_over(redis, &producer);
    let replaced_at = Instant::now();
    eprintln!(
        "a master killed after {before_kill} acknowledged publishes was replaced {:.1} s later",
        (replaced_at - killed_at).as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The members reconnected by themselves: publishes are acknowledged again.
    assert!(
        crate::wait_until(Duration::from_secs(30), || load.acked_after(replaced_at)
            > 0)
        .await,
        "no publish acknowledged after the new master took over (last error: {:?})",
        load.last_error()
    );
    let outage = load.longest_gap();
    let failures = load.failures();
    let acked = load.stop().await;
    eprintln!(
        "{} publishes acknowledged, {failures} failed (and retried); none acknowledged for \
         {:.1} s at most",
        acked.len(),
        outage.as_secs_f64()
    );
    crate::wait_until(handled_within, || unhandled(&acked, &handled).is_empty()).await;
    Outcome {
        lost: unhandled(&acked, &handled),
        consumer,
        producer,
        handled,
        failover,
        acked,
        failures,
    }
}
