//! Every RabbitMQ connection closed under load (`rabbitmqctl close_all_connections`):
//! consumption resumes by itself and nothing is lost. In a file of its own, because it
//! closes every connection of the RabbitMQ, including other tests' (test files run one
//! after the other; tests of one file run at once).

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use zato_broker::ConfigStore;
use zato_common::model::{AmqpChannel, AmqpDefinition};
use zato_tests::connector::{
    AMQP_URL, ConnectorProcess, TestQueue, distinct_and_duplicates, peer, unique_name,
};
use zato_tests::server::{ServerProcess, eventually, recorded};
use zato_tests::{RedisServer, broker, unique_cluster};

fn configure(redis: &RedisServer, cluster: &str, queue: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = broker(redis, cluster, "test", "test");
        let store = ConfigStore::new(client.clone());
        let definition: AmqpDefinition =
            serde_json::from_value(json!({"name": "rabbit", "url": AMQP_URL, "prefetch": 20}))
                .expect("definition");
        let channel: AmqpChannel = serde_json::from_value(json!({
            "name": "in", "definition": "rabbit", "queue": queue,
            "service": "zato.record", "consumers": 2
        }))
        .expect("channel");
        store.create(&definition).await.expect("definition");
        store.create(&channel).await.expect("channel");
        client.shutdown();
    });
}

/// Starts pika publishing `count` messages at `rate` per second, in the background.
fn stream(queue: &str, count: usize, key: &str, rate: u32) -> std::process::Child {
    peer(
        "amqp_peer.py",
        &[
            "publish",
            queue,
            &count.to_string(),
            key,
            "--rate",
            &rate.to_string(),
        ],
    )
    .stdout(Stdio::null())
    .spawn()
    .expect("pika publisher")
}

#[test]
fn rabbitmq_connections_closed_under_load_recover_and_lose_nothing() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-close");
    configure(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("close");
    let total = 3_000;
    let mut publisher = stream(&queue.queue, total, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    // Only the connector's connections: the publisher's are named differently.
    let closed = std::process::Command::new("rabbitmqctl")
        .args(["close_all_connections", "zato-test: closed by the test"])
        .stdout(Stdio::null())
        .status()
        .expect("rabbitmqctl");
    assert!(closed.success());
    let _ = publisher.wait();
    // pika's own connection was closed too, so it may have stopped early; what it got out
    // before is checked for gaps below.
    connector.wait_for(Duration::from_secs(15), "reconnected", |h| {
        h["connections"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["name"] == "in"
                    && c["state"] == "connected"
                    && c["reconnects"].as_u64() >= Some(1)
            })
        })
    });
    // Whatever pika got out before its own connection was closed, plus a second batch after
    // the close, must all arrive.
    queue.publish(1_000, &key, total);
    let all = eventually(Duration::from_secs(30), || {
        let entries = recorded(&redis, &cluster, &key);
        entries
            .iter()
            .filter(|e| e["payload"]["n"].as_u64() >= Some(total as u64))
            .count()
            >= 1_000
            && queue.ready() == 0
    });
    let entries = recorded(&redis, &cluster, &key);
    let (distinct, duplicates) = distinct_and_duplicates(&entries);
    println!(
        "{} recorded, {distinct} distinct, {duplicates} duplicates",
        entries.len()
    );
    assert!(all, "consumption resumed; log:\n{}", connector.logs());
    // Every number below the highest one pika published before its connection closed must
    // be there: nothing the queue accepted was lost.
    let before: Vec<u64> = entries
        .iter()
        .filter_map(|e| e["payload"]["n"].as_u64())
        .filter(|n| *n < total as u64)
        .collect();
    let highest = before.iter().copied().max().unwrap_or(0);
    let distinct_before: std::collections::HashSet<u64> = before.into_iter().collect();
    assert_eq!(
        distinct_before.len() as u64,
        highest + 1,
        "no gap among the first batch"
    );
}
