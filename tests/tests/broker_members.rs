//! Heartbeats of live members, and the janitor's queue trimming.

use std::time::Duration;

use serde_json::json;
use zato_broker::janitor::{queue_info, trim_queue};
use zato_broker::members::{list_members, spawn_heartbeat};
use zato_broker::{Delivery, Queue, QueueConsumer, Router, Target};
use zato_common::Action;
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_members_are_listed_and_a_stopped_one_disappears() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = broker(&redis, &cluster, "server-1", "server");
    let scheduler = broker(&redis, &cluster, "scheduler-1", "scheduler");
    let beats = [spawn_heartbeat(&server), spawn_heartbeat(&scheduler)];
    let observer = broker(&redis, &cluster, "cli", "cli");
    let mut members = Vec::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            members = futures_now(list_members(&observer));
            members.len() == 2
        })
        .await
    );
    let s = members
        .iter()
        .find(|m| m.name == "server-1")
        .expect("server listed");
    assert_eq!(s.role, "server");
    assert_eq!(s.pid, std::process::id());
    assert!(s.id.starts_with("server-1:"));
    assert!(s.last_seen >= s.started_at && !s.version.is_empty() && !s.host.is_empty());
    scheduler.shutdown();
    let [server_beat, scheduler_beat] = beats;
    scheduler_beat.await.expect("heartbeat ends");
    let left: Vec<String> = list_members(&observer)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(left, ["server-1"]);
    // A member that dies without a word expires after three intervals.
    server_beat.abort();
    assert!(
        wait_until(Duration::from_secs(3), || futures_now(list_members(
            &observer
        ))
        .is_empty())
        .await
    );
}

fn futures_now<T>(f: impl std::future::Future<Output = zato_broker::Result<Vec<T>>>) -> Vec<T> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_trims_handled_messages_and_keeps_the_rest() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let producer = broker(&redis, &cluster, "producer", "test");
    let server = broker(&redis, &cluster, "s1", "server");
    let router = Router::new().route(Action::ServiceInvoke, |_d: Delivery| async { Ok(()) });
    let consumer = QueueConsumer::new(server.clone(), Queue::Server, router).spawn();
    let batch: Vec<_> = (0..1_000)
        .map(|i| producer.envelope(Action::ServiceInvoke, json!(i)))
        .collect();
    producer
        .publish_many(Target::Any, &batch)
        .await
        .expect("publish");
    assert!(
        wait_until(Duration::from_secs(10), || consumer.health().handled
            == 1_000)
        .await
    );
    consumer.stop().await;
    assert!(
        wait_until(Duration::from_secs(5), || futures_info(&producer)
            .figures
            .pending
            == 0)
        .await
    );
    // Now 300 that nobody reads yet.
    let waiting: Vec<_> = (0..300)
        .map(|i| producer.envelope(Action::ServiceInvoke, json!(i)))
        .collect();
    producer
        .publish_many(Target::Any, &waiting)
        .await
        .expect("publish");
    let removed = trim_queue(&producer, Queue::Server).await.expect("trim");
    assert!(removed >= 999, "removed {removed}");
    let info = queue_info(&producer, Queue::Server).await.expect("info");
    assert!(
        info.figures.length >= 300 && info.figures.length <= 301,
        "{info:?}"
    );
    assert_eq!(info.figures.waiting, Some(300));
    let consumer = QueueConsumer::new(
        server,
        Queue::Server,
        Router::new().route(Action::ServiceInvoke, |_d: Delivery| async { Ok(()) }),
    )
    .spawn();
    assert!(
        wait_until(Duration::from_secs(10), || consumer.health().handled == 300).await,
        "nothing unread was trimmed"
    );
    consumer.stop().await;
}

fn futures_info(broker: &zato_broker::Broker) -> zato_broker::janitor::QueueInfo {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(queue_info(broker, Queue::Server))
    })
    .expect("info")
}
