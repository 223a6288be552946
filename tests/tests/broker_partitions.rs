//! Work queues split into partitions (`broker.partitions`), on one real Redis: messages
//! spread evenly, every partition is read, dead letters stay in and return to their
//! partition, and a cluster that grows from one partition keeps what it had queued.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use zato_broker::janitor::queue_info;
use zato_broker::{
    Broker, DeadLetters, Delivery, HandlerError, Queue, QueueConsumer, Router, Target,
};
use zato_common::Action;
use zato_common::settings::BrokerSettings;
use zato_tests::{
    RedisServer, broker_with, init_logging, test_settings, unique_cluster, wait_until,
};

fn partitioned(partitions: u16) -> BrokerSettings {
    BrokerSettings {
        partitions,
        ..test_settings()
    }
}

/// A router recording the `n` of every message it handles; it fails while `failing` is set.
fn router(seen: &Arc<Mutex<Vec<u64>>>, failing: &Arc<AtomicBool>) -> Router {
    let (seen, failing) = (seen.clone(), failing.clone());
    Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let (seen, failing) = (seen.clone(), failing.clone());
        async move {
            if failing.load(Ordering::SeqCst) {
                return Err(HandlerError::Retry("the service is failing".into()));
            }
            let payload: serde_json::Value =
                serde_json::from_str(d.envelope.payload.get()).unwrap_or_default();
            let n = payload.get("n").and_then(serde_json::Value::as_u64);
            seen.lock().expect("seen").push(n.unwrap_or(u64::MAX));
            Ok(())
        }
    })
}

async fn publish(producer: &Broker, range: std::ops::Range<u64>) {
    let batch: Vec<_> = range
        .map(|n| producer.envelope(Action::ServiceInvoke, json!({ "n": n })))
        .collect();
    producer
        .publish_many(Target::Any, &batch)
        .await
        .expect("publish");
}

fn stream_lengths(redis: &RedisServer, producer: &Broker) -> Vec<u64> {
    let mut conn = redis.connection().expect("redis");
    (0..producer.partitions())
        .map(|p| {
            redis::cmd("XLEN")
                .arg(producer.stream_of(Target::Any, p))
                .query(&mut conn)
                .expect("XLEN")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_spread_over_every_partition_and_each_runs_once() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let producer = broker_with(&redis, &cluster, "producer", "test", partitioned(4));
    for batch in 0..4 {
        publish(&producer, batch * 500..(batch + 1) * 500).await;
    }
    assert_eq!(
        stream_lengths(&redis, &producer),
        [500, 500, 500, 500],
        "batches that ask for no partition take each in turn"
    );
    let info = queue_info(&producer, Queue::Server).await.expect("figures");
    assert_eq!(info.figures.length, 2_000);
    assert_eq!(info.partitions.len(), 4);
    assert!(info.partitions.iter().all(|p| p.length == 500), "{info:?}");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = ["s1", "s2"]
        .iter()
        .map(|name| {
            let b = broker_with(&redis, &cluster, name, "server", partitioned(4));
            QueueConsumer::new(b, Queue::Server, router(&seen, &failing)).spawn()
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(30), || seen.lock().expect("seen").len()
            >= 2_000)
        .await,
        "handled {} of 2000",
        seen.lock().expect("seen").len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for n in seen.lock().expect("seen").iter() {
        *counts.entry(*n).or_default() += 1;
    }
    assert_eq!(counts.len(), 2_000);
    assert!(counts.values().all(|c| *c == 1), "each message ran once");
    let info = queue_info(&producer, Queue::Server).await.expect("figures");
    assert_eq!((info.figures.pending, info.figures.waiting), (0, Some(0)));
    for consumer in consumers {
        consumer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_stay_in_their_partition_and_replay_back_to_it() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let producer = broker_with(&redis, &cluster, "producer", "test", partitioned(3));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(AtomicBool::new(true));
    let server = broker_with(&redis, &cluster, "s1", "server", partitioned(3));
    let consumer = QueueConsumer::new(server, Queue::Server, router(&seen, &failing)).spawn();
    for n in 0..6 {
        publish(&producer, n..n + 1).await;
    }
    let dead = DeadLetters::new(producer.clone());
    assert!(
        wait_until(Duration::from_secs(30), || {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(dead.len("server"))
            })
            .is_ok_and(|n| n == 6)
        })
        .await,
        "all six dead-lettered"
    );
    let letters = dead.list("server", 100).await.expect("list");
    let mut partitions: Vec<usize> = letters.iter().map(|l| l.partition).collect();
    partitions.sort_unstable();
    assert_eq!(partitions, [0, 0, 1, 1, 2, 2], "two in each partition");
    for letter in &letters {
        match letter.partition {
            0 => assert!(!letter.id.contains('/'), "{}", letter.id),
            p => assert!(letter.id.starts_with(&format!("{p}/")), "{}", letter.id),
        }
        assert!(letter.reason.contains("failing"), "{}", letter.reason);
    }
    let info = queue_info(&producer, Queue::Server).await.expect("figures");
    assert_eq!(info.figures.dead_letters, 6);
    assert!(
        info.partitions.iter().all(|p| p.dead_letters == 2),
        "{info:?}"
    );

    failing.store(false, Ordering::SeqCst);
    let one = letters
        .iter()
        .find(|l| l.partition == 2)
        .expect("one in partition 2");
    let outcome = dead
        .replay("server", Some(std::slice::from_ref(&one.id)))
        .await
        .expect("replay one");
    assert_eq!(outcome.replayed, 1);
    assert_eq!(dead.len("server").await.expect("len"), 5);
    let outcome = dead.replay("server", None).await.expect("replay the rest");
    assert_eq!(outcome.replayed, 5);
    assert!(
        wait_until(Duration::from_secs(30), || seen.lock().expect("seen").len()
            >= 6)
        .await,
        "replayed messages ran"
    );
    let mut ran = seen.lock().expect("seen").clone();
    ran.sort_unstable();
    assert_eq!(ran, [0, 1, 2, 3, 4, 5]);
    assert_eq!(dead.len("server").await.expect("len"), 0);
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_growing_from_one_partition_keeps_what_was_queued() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let before = broker_with(&redis, &cluster, "producer", "test", partitioned(1));
    publish(&before, 0..100).await;
    let after = broker_with(&redis, &cluster, "producer-2", "test", partitioned(4));
    assert_eq!(
        after.stream_of(Target::Any, 0),
        before.stream_of(Target::Any, 0),
        "partition 0 is the stream one partition used"
    );
    publish(&after, 100..200).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let failing = Arc::new(AtomicBool::new(false));
    let server = broker_with(&redis, &cluster, "s1", "server", partitioned(4));
    let consumer = QueueConsumer::new(server, Queue::Server, router(&seen, &failing)).spawn();
    assert!(
        wait_until(Duration::from_secs(30), || seen.lock().expect("seen").len()
            >= 200)
        .await,
        "handled {} of 200",
        seen.lock().expect("seen").len()
    );
    let mut ran = seen.lock().expect("seen").clone();
    ran.sort_unstable();
    assert_eq!(ran, (0..200).collect::<Vec<_>>());
    consumer.stop().await;
}
