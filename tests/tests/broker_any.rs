//! 1:any against a real Redis: each message handled by exactly one consumer, take-over of a
//! dead consumer's messages, dead letters, unknown actions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use zato_broker::{DeadLetters, Delivery, HandlerError, Queue, QueueConsumer, Router, Target};
use zato_common::Action;
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

/// Envelope id -> (consumer that handled it, delivery count), for every handling.
type Seen = Arc<Mutex<Vec<(String, String, u64)>>>;

fn recording_router(seen: &Seen, who: &str) -> Router {
    let seen = seen.clone();
    let who = who.to_owned();
    Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let seen = seen.clone();
        let who = who.clone();
        async move {
            tokio::task::yield_now().await;
            seen.lock()
                .unwrap()
                .push((d.envelope.id.to_string(), who, d.deliveries));
            Ok(())
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consumers_handle_20000_messages_each_exactly_once() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let seen: Seen = Arc::default();
    let consumers: Vec<_> = ["s1", "s2", "s3"]
        .iter()
        .map(|name| {
            let b = broker(&redis, &cluster, name, "server");
            QueueConsumer::new(b, Queue::Server, recording_router(&seen, name)).spawn()
        })
        .collect();
    let producer = broker(&redis, &cluster, "producer", "test");
    let mut sent = Vec::with_capacity(20_000);
    for chunk in 0..40 {
        let batch: Vec<_> = (0..500)
            .map(|i| producer.envelope(Action::ServiceInvoke, json!({"n": chunk * 500 + i})))
            .collect();
        producer
            .publish_many(Target::Any, &batch)
            .await
            .expect("publish");
        sent.extend(batch.iter().map(|e| e.id.to_string()));
    }
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().unwrap().len()
            >= 20_000)
        .await,
        "handled only {} of 20000",
        seen.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut per_consumer: HashMap<&str, usize> = HashMap::new();
    for (id, who, _) in &seen {
        *counts.entry(id).or_default() += 1;
        *per_consumer.entry(who).or_default() += 1;
    }
    assert_eq!(seen.len(), 20_000, "no message handled twice");
    assert!(
        sent.iter().all(|id| counts.get(id.as_str()) == Some(&1)),
        "every message handled once"
    );
    assert_eq!(
        per_consumer.len(),
        3,
        "all three consumers took part: {per_consumer:?}"
    );
    for c in consumers {
        c.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_messages_are_finished_by_another() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    // The doomed consumer takes messages and never finishes them.
    let doomed = QueueConsumer::new(
        broker(&redis, &cluster, "doomed", "server"),
        Queue::Server,
        Router::new().route(Action::ServiceInvoke, |_| std::future::pending()),
    )
    .spawn();
    let producer = broker(&redis, &cluster, "producer", "test");
    let batch: Vec<_> = (0..50)
        .map(|i| producer.envelope(Action::ServiceInvoke, json!(i)))
        .collect();
    producer
        .publish_many(Target::Any, &batch)
        .await
        .expect("publish");
    let mut outside = redis.client();
    let stream = producer.keys().queue(Queue::Server, 0);
    let pending = |conn: &mut redis::Connection| -> u64 {
        let summary: (u64, Option<String>, Option<String>, redis::Value) = redis::cmd("XPENDING")
            .arg(&stream)
            .arg("servers")
            .query(conn)
            .unwrap_or((0, None, None, redis::Value::Nil));
        summary.0
    };
    assert!(wait_until(Duration::from_secs(10), || pending(&mut outside) == 50).await);
    // Held well past the visibility timeout by a live consumer: nobody else may take them.
    let seen: Seen = Arc::default();
    let rescuer = QueueConsumer::new(
        broker(&redis, &cluster, "rescuer", "server"),
        Queue::Server,
        recording_router(&seen, "rescuer"),
    )
    .spawn();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "a live consumer's messages were taken from it"
    );
    doomed.abort();
    assert!(
        wait_until(Duration::from_secs(10), || seen.lock().unwrap().len() >= 50).await,
        "rescued {} of 50",
        seen.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 50);
    let ids: std::collections::HashSet<_> = seen.iter().map(|(id, _, _)| id.clone()).collect();
    assert!(
        batch.iter().all(|e| ids.contains(&e.id.to_string())),
        "none lost"
    );
    assert!(
        seen.iter().all(|(_, _, deliveries)| *deliveries == 2),
        "each delivered a second time"
    );
    assert!(
        wait_until(Duration::from_secs(5), || pending(&mut outside) == 0).await,
        "all acknowledged"
    );
    rescuer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_is_not_mistaken_for_a_dead_consumer() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let seen: Seen = Arc::default();
    let slow = |who: &'static str| {
        let seen = seen.clone();
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            let seen = seen.clone();
            async move {
                // Three visibility timeouts.
                tokio::time::sleep(Duration::from_millis(1_800)).await;
                seen.lock().unwrap().push((
                    d.envelope.id.to_string(),
                    who.to_owned(),
                    d.deliveries,
                ));
                Ok(())
            }
        })
    };
    let a = QueueConsumer::new(
        broker(&redis, &cluster, "a", "server"),
        Queue::Server,
        slow("a"),
    )
    .spawn();
    let b = QueueConsumer::new(
        broker(&redis, &cluster, "b", "server"),
        Queue::Server,
        slow("b"),
    )
    .spawn();
    let producer = broker(&redis, &cluster, "producer", "test");
    let batch: Vec<_> = (0..20)
        .map(|i| producer.envelope(Action::ServiceInvoke, json!(i)))
        .collect();
    producer
        .publish_many(Target::Any, &batch)
        .await
        .expect("publish");
    assert!(wait_until(Duration::from_secs(10), || seen.lock().unwrap().len() >= 20).await);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 20, "no slow message was run twice: {seen:?}");
    assert!(seen.iter().all(|(_, _, d)| *d == 1));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_malformed_messages_end_in_the_dead_letter_stream() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let fixed = Arc::new(AtomicBool::new(false));
    let seen: Seen = Arc::default();
    let router = {
        let (fixed, seen) = (fixed.clone(), seen.clone());
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            let (fixed, seen) = (fixed.clone(), seen.clone());
            async move {
                if d.payload::<serde_json::Value>().ok() == Some(json!("poison"))
                    && !fixed.load(Ordering::SeqCst)
                {
                    return Err(HandlerError::Retry("always fails".into()));
                }
                seen.lock().unwrap().push((
                    d.envelope.payload.get().to_owned(),
                    String::new(),
                    d.deliveries,
                ));
                Ok(())
            }
        })
    };
    let consumer_broker = broker(&redis, &cluster, "s1", "server");
    let consumer = QueueConsumer::new(consumer_broker.clone(), Queue::Server, router).spawn();
    let producer = broker(&redis, &cluster, "producer", "test");
    producer
        .publish(
            Target::Any,
            &producer.envelope(Action::ServiceInvoke, json!("poison")),
        )
        .await
        .expect("publish");
    let mut outside = redis.client();
    let stream = producer.keys().queue(Queue::Server, 0);
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("e")
        .arg("{not json")
        .query(&mut outside)
        .expect("raw");
    let _: String = redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("other")
        .arg("x")
        .query(&mut outside)
        .expect("raw");
    producer
        .publish(
            Target::Any,
            &producer.envelope(Action::Unknown("FROM_A_NEWER_BUILD".into()), json!(null)),
        )
        .await
        .expect("publish");
    for i in 0..10 {
        producer
            .publish(
                Target::Any,
                &producer.envelope(Action::ServiceInvoke, json!(i)),
            )
            .await
            .expect("publish");
    }
    let dead = DeadLetters::new(producer.clone());
    assert!(
        wait_until(Duration::from_secs(15), || consumer.health().dead_lettered
            == 3)
        .await,
        "{:?}",
        consumer.health()
    );
    let letters = dead.list("server", 10).await.expect("list");
    assert_eq!(letters.len(), 3);
    let poison = letters
        .iter()
        .find(|l| l.raw.contains("poison"))
        .expect("poison dead-lettered");
    assert_eq!(poison.deliveries, 3, "after max_deliveries");
    assert!(poison.reason.contains("3 deliveries"), "{}", poison.reason);
    assert!(
        letters
            .iter()
            .any(|l| l.raw == "{not json" && l.reason.contains("malformed envelope"))
    );
    assert!(
        letters
            .iter()
            .any(|l| l.raw == "other=x" && l.reason.contains("no 'e' field"))
    );
    assert_eq!(
        consumer.health().unknown_action,
        1,
        "unknown action acknowledged and counted"
    );
    // It kept working through all of it.
    assert!(wait_until(Duration::from_secs(5), || seen.lock().unwrap().len() == 10).await);
    // Once the cause is fixed, a replay runs the poison message; the malformed ones stay.
    fixed.store(true, Ordering::SeqCst);
    let outcome = dead.replay("server", None).await.expect("replay");
    assert_eq!((outcome.replayed, outcome.skipped), (1, 2));
    assert!(
        wait_until(Duration::from_secs(5), || seen
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _, _)| p == "\"poison\""))
        .await
    );
    assert_eq!(dead.len("server").await.expect("len"), 2);
    assert_eq!(dead.purge("server").await.expect("purge"), 2);
    assert_eq!(dead.len("server").await.expect("len"), 0);
    consumer.stop().await;
}

/// A handler that failed, or could not run for want of Redis, runs again within a second
/// (not after the 30 s visibility timeout); "unavailable" attempts do not use up deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_handlers_run_again_after_a_short_back_off() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let settings = zato_common::settings::BrokerSettings {
        visibility_timeout_ms: 30_000,
        max_deliveries: 3,
        ..zato_tests::test_settings()
    };
    let attempts: Arc<Mutex<HashMap<String, Vec<u64>>>> = Arc::default();
    let router = {
        let attempts = attempts.clone();
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            let attempts = attempts.clone();
            async move {
                let kind = d.payload::<String>()?;
                let tries = {
                    let mut attempts = attempts.lock().unwrap();
                    let seen = attempts.entry(kind.clone()).or_default();
                    seen.push(d.deliveries);
                    seen.len()
                };
                match kind.as_str() {
                    "unavailable" if tries <= 5 => Err(HandlerError::Unavailable("redis".into())),
                    "flaky" if tries <= 2 => Err(HandlerError::Retry("flaky".into())),
                    "broken" => Err(HandlerError::Retry("always".into())),
                    _ => Ok(()),
                }
            }
        })
    };
    let consumer_broker =
        zato_tests::broker_with(&redis, &cluster, "s1", "server", settings.clone());
    let consumer = QueueConsumer::new(consumer_broker.clone(), Queue::Server, router).spawn();
    let producer = zato_tests::broker_with(&redis, &cluster, "producer", "test", settings);
    let started = std::time::Instant::now();
    for kind in ["unavailable", "flaky", "broken"] {
        producer
            .publish(Target::Any, &producer.envelope(Action::ServiceInvoke, kind))
            .await
            .expect("publish");
    }
    let letters = DeadLetters::new(producer.clone());
    assert!(
        wait_until(Duration::from_secs(15), || {
            let attempts = attempts.lock().unwrap();
            attempts.get("unavailable").is_some_and(|a| a.len() == 6)
                && attempts.get("flaky").is_some_and(|a| a.len() == 3)
                && attempts.get("broken").is_some_and(|a| a.len() == 3)
        })
        .await,
        "attempts: {:?}",
        attempts.lock().unwrap()
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "well within the visibility timeout"
    );
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(
        attempts["unavailable"],
        vec![1; 6],
        "not counted as deliveries"
    );
    assert_eq!(attempts["flaky"], vec![1, 2, 3]);
    assert_eq!(attempts["broken"], vec![1, 2, 3]);
    let mut dead = Vec::new();
    for _ in 0..50 {
        dead = letters.list("server", 10).await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead.len(), 1, "only the broken one: {dead:?}");
    assert!(
        dead[0].reason.contains("not handled after 3 deliveries"),
        "{dead:?}"
    );
    consumer.stop().await;
}

/// A message retried in place counts its deliveries in Redis too: a consumer that takes it
/// over after a crash goes on from there, so `max_deliveries` holds across consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_retried_in_place_are_counted_across_a_crash() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let settings = zato_common::settings::BrokerSettings {
        max_deliveries: 20,
        ..zato_tests::test_settings()
    };
    let seen: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let failing = |who: &'static str| {
        let seen = seen.clone();
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            seen.lock().unwrap().push((who.to_owned(), d.deliveries));
            async { Err(HandlerError::Retry("keeps failing".into())) }
        })
    };
    let first = QueueConsumer::new(
        zato_tests::broker_with(&redis, &cluster, "s1", "server", settings.clone()),
        Queue::Server,
        failing("first"),
    )
    .spawn();
    let producer = zato_tests::broker_with(&redis, &cluster, "producer", "test", settings.clone());
    producer
        .publish(Target::Any, &producer.envelope(Action::ServiceInvoke, "x"))
        .await
        .expect("publish");
    assert!(wait_until(Duration::from_secs(5), || seen.lock().unwrap().len() >= 3).await);
    first.abort();
    let before_crash = seen.lock().unwrap().len() as u64;
    let second = QueueConsumer::new(
        zato_tests::broker_with(&redis, &cluster, "s2", "server", settings),
        Queue::Server,
        failing("second"),
    )
    .spawn();
    assert!(
        wait_until(Duration::from_secs(10), || seen
            .lock()
            .unwrap()
            .iter()
            .any(|(who, _)| who == "second"))
        .await
    );
    let taken_over_at = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(who, _)| who == "second")
        .map(|(_, d)| *d)
        .unwrap_or(0);
    // The crash may have come after an attempt's count was recorded and before it ran.
    assert!(
        taken_over_at >= before_crash,
        "the second consumer counted on from the first: {:?}",
        seen.lock().unwrap()
    );
    second.stop().await;
}
