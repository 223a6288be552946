//! Every RabbitMQ connection closed under load (`rabbitmqctl close_all_connections`):
//! consumption resumes by itself and nothing is lost. In a file of its own, because it
//! closes every connection of the RabbitMQ, including other tests' (test files run one
//! after the other; tests of one file run at once).

use std::time::Duration;

use zato_tests::connector::{
    ConnectorProcess, TestQueue, configure_amqp_channel, distinct_and_duplicates, stream,
    unique_name,
};
use zato_tests::rabbitmq::rabbitmqctl;
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn rabbitmq_connections_closed_under_load_recover_and_lose_nothing() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-close");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("close");
    let total = 3_000;
    let mut publisher = stream(&queue.queue, total, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    // Only the connector's connections: the publisher's are named differently.
    let closed = rabbitmqctl(&["close_all_connections", "zato-test: closed by the test"]);
    assert_eq!(closed, Ok(()));
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
