//! Redis killed (kill -9) and restarted with appendonly in the middle of traffic: every
//! consumer resumes by itself and no acknowledged publish is lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zato_broker::{BroadcastConsumer, Delivery, Queue, QueueConsumer, Router, Target};
use zato_common::Action;
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_resume_by_themselves_and_no_acknowledged_publish_is_lost() {
    init_logging();
    let mut redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let handled: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let broadcast: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let router = {
        let handled = handled.clone();
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            let handled = handled.clone();
            async move {
                handled.lock().unwrap().insert(
                    d.payload::<serde_json::Value>().unwrap_or_default()["n"]
                        .as_u64()
                        .unwrap_or(u64::MAX),
                );
                Ok(())
            }
        })
    };
    let all_router = {
        let broadcast = broadcast.clone();
        Router::new().route(Action::SchedulerJobExecute, move |d: Delivery| {
            let broadcast = broadcast.clone();
            async move {
                broadcast.lock().unwrap().insert(
                    d.payload::<serde_json::Value>().unwrap_or_default()["n"]
                        .as_u64()
                        .unwrap_or(u64::MAX),
                );
                Ok(())
            }
        })
    };
    let servers: Vec<_> = ["s1", "s2"]
        .iter()
        .map(|name| {
            QueueConsumer::new(
                broker(&redis, &cluster, name, "server"),
                Queue::Server,
                router.clone(),
            )
            .spawn()
        })
        .collect();
    let member =
        BroadcastConsumer::new(broker(&redis, &cluster, "s1", "server"), all_router).spawn();
    assert!(wait_until(Duration::from_secs(5), || member.health().last_read_ms > 0).await);

    // A producer that keeps publishing through the outage, and on until 500 publishes got
    // through after Redis came back (or a minute passed); it records what Redis acknowledged
    // and returns how many it tried.
    let producer = broker(&redis, &cluster, "producer", "test");
    let acknowledged: Arc<Mutex<Vec<u64>>> = Arc::default();
    let restarted = Arc::new(AtomicBool::new(false));
    let publishing = {
        let (producer, acknowledged) = (producer.clone(), acknowledged.clone());
        let restarted = restarted.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut after_restart = 0;
            for n in 0.. {
                let came_back = restarted.load(Ordering::SeqCst);
                let any = producer.envelope(Action::ServiceInvoke, json!({"n": n}));
                let all = producer.envelope(Action::SchedulerJobExecute, json!({"n": n}));
                if producer.publish(Target::Any, &any).await.is_ok()
                    && producer.publish(Target::All, &all).await.is_ok()
                {
                    acknowledged.lock().unwrap().push(n);
                    after_restart += u32::from(came_back);
                }
                if after_restart == 500 {
                    return Some(n + 1);
                }
                if Instant::now() > deadline {
                    return None;
                }
                if n % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            None
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), || handled.lock().unwrap().len()
            > 500)
        .await
    );
    redis.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        wait_until(Duration::from_secs(5), || servers
            .iter()
            .all(|s| !s.health().connected))
        .await,
        "health shows the consumers disconnected"
    );
    redis.restart();
    restarted.store(true, Ordering::SeqCst);
    let attempted = publishing
        .await
        .expect("producer")
        .expect("the producer got 500 publishes through after the restart");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() < usize::try_from(attempted).expect("fits"),
        "the outage was noticed by the producer"
    );
    let all_handled = |set: &Arc<Mutex<HashSet<u64>>>| {
        let set = set.lock().unwrap();
        acknowledged.iter().all(|n| set.contains(n))
    };
    assert!(
        wait_until(Duration::from_secs(20), || all_handled(&handled)).await,
        "every acknowledged 1:any publish handled"
    );
    assert!(
        wait_until(Duration::from_secs(20), || all_handled(&broadcast)).await,
        "every acknowledged 1:all publish applied"
    );
    assert!(servers.iter().all(|s| s.health().connected));
    // And they keep working after it.
    producer
        .publish(
            Target::Any,
            &producer.envelope(Action::ServiceInvoke, json!({"n": 99_999})),
        )
        .await
        .expect("publish");
    assert!(
        wait_until(Duration::from_secs(5), || handled
            .lock()
            .unwrap()
            .contains(&99_999))
        .await
    );
    for s in servers {
        s.stop().await;
    }
    member.stop().await;
}

/// The writer keeps its connection between writes; after a Redis restart with no traffic in
/// between, that connection is dead, and the first publish finds out. It is sent again on a
/// fresh connection: the caller gets the stream id, not the old connection's broken pipe.
/// (No member runtime here, so no health probe heals the writer first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_publish_after_a_quiet_redis_restart_gets_through() {
    init_logging();
    let mut redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let producer = broker(&redis, &cluster, "producer", "test");
    let envelope = producer.envelope(Action::ServiceInvoke, json!({"n": 1}));
    producer
        .publish(Target::Any, &envelope)
        .await
        .expect("the writer connects");
    redis.kill();
    redis.restart();
    assert!(redis.connection().is_ok(), "Redis answers again");
    let after = producer
        .publish(Target::Any, &envelope)
        .await
        .expect("the first publish after the restart");
    assert!(after.contains('-'), "a stream id: {after}");
    producer.shutdown();
}
