//! 1:connector and leases against a real Redis: only the lease holder consumes, a standby
//! takes over a dead holder's pending messages, and there are never two holders at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zato_broker::{Delivery, Lease, Queue, QueueConsumer, Router, Target};
use zato_common::Action;
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

type Seen = Arc<Mutex<Vec<(u64, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_consumes_and_a_standby_finishes_a_dead_holders_work() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let seen: Seen = Arc::default();
    let hang = Arc::new(AtomicBool::new(false));
    let start = |name: &'static str| {
        let b = broker(&redis, &cluster, name, "connector");
        let lease = Lease::spawn(&b, "connector");
        let (seen, hang) = (seen.clone(), hang.clone());
        let router = Router::new().route(Action::OutgoingAmqpPublish, move |d: Delivery| {
            let (seen, hang) = (seen.clone(), hang.clone());
            async move {
                if hang.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                seen.lock().unwrap().push((
                    d.payload::<serde_json::Value>().unwrap_or_default()["n"]
                        .as_u64()
                        .unwrap_or(0),
                    name.to_owned(),
                ));
                Ok(())
            }
        });
        let consumer = QueueConsumer::new(b, Queue::Connector, router)
            .while_leader(lease.handle())
            .spawn();
        (lease, consumer)
    };
    let (lease_a, consumer_a) = start("c-a");
    assert!(wait_until(Duration::from_secs(5), || lease_a.handle().is_leader()).await);
    let (lease_b, consumer_b) = start("c-b");
    let producer = broker(&redis, &cluster, "producer", "test");
    let batch: Vec<_> = (0..100)
        .map(|n| producer.envelope(Action::OutgoingAmqpPublish, json!({"n": n})))
        .collect();
    producer
        .publish_many(Target::Connector, &batch)
        .await
        .expect("publish");
    assert!(
        wait_until(Duration::from_secs(10), || seen.lock().unwrap().len()
            == 100)
        .await
    );
    assert!(
        seen.lock().unwrap().iter().all(|(_, who)| who == "c-a"),
        "only the holder consumed"
    );
    assert!(!lease_b.handle().is_leader());

    // The holder takes 50 more, hangs on them, and dies.
    hang.store(true, Ordering::SeqCst);
    let batch: Vec<_> = (100..150)
        .map(|n| producer.envelope(Action::OutgoingAmqpPublish, json!({"n": n})))
        .collect();
    producer
        .publish_many(Target::Connector, &batch)
        .await
        .expect("publish");
    tokio::time::sleep(Duration::from_millis(300)).await;
    hang.store(false, Ordering::SeqCst);
    consumer_a.abort();
    lease_a.abort();
    let died = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || lease_b.handle().is_leader()).await,
        "standby took over"
    );
    let took_over = died.elapsed();
    assert!(
        took_over < Duration::from_millis(2_000),
        "take-over in {took_over:?} with a 1 s TTL"
    );
    assert!(wait_until(Duration::from_secs(5), || seen.lock().unwrap().len() >= 150).await);
    let seen = seen.lock().unwrap().clone();
    let mut numbers: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..150).collect::<Vec<_>>(),
        "none lost, none twice"
    );
    assert!(seen[100..].iter().all(|(_, who)| who == "c-b"));
    consumer_b.stop().await;
    lease_b.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_many_hand_overs_there_are_never_two_holders() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut candidates: Vec<Lease> = (0..3)
        .map(|i| {
            Lease::spawn(
                &broker(&redis, &cluster, &format!("l{i}"), "scheduler"),
                "scheduler",
            )
        })
        .collect();
    let handles = Arc::new(Mutex::new(
        candidates.iter().map(Lease::handle).collect::<Vec<_>>(),
    ));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (handles, overlaps, done) = (handles.clone(), overlaps.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let leaders = handles
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|h| h.is_leader())
                    .count();
                if leaders > 1 {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut epochs = Vec::new();
    for round in 0..12 {
        assert!(
            wait_until(Duration::from_secs(5), || candidates
                .iter()
                .any(|c| c.handle().is_leader()))
            .await,
            "round {round}: someone leads"
        );
        let holder = candidates
            .iter()
            .position(|c| c.handle().is_leader())
            .expect("a holder");
        epochs.push(candidates[holder].handle().epoch().expect("epoch"));
        let lease = candidates.remove(holder);
        if round % 2 == 0 {
            lease.abort(); // a crash: the lease runs out by itself
        } else {
            lease.release().await; // a clean stop: handed over at once
        }
        let b = broker(&redis, &cluster, &format!("l{}", round + 3), "scheduler");
        candidates.push(Lease::spawn(&b, "scheduler"));
        *handles.lock().unwrap() = candidates.iter().map(Lease::handle).collect();
    }
    done.store(true, Ordering::SeqCst);
    monitor.await.expect("monitor");
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two holders seen at once"
    );
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "every win has a higher epoch: {epochs:?}"
    );
    for c in candidates {
        c.release().await;
    }
}
