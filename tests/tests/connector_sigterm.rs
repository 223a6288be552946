//! SIGTERM to the connector while an AMQP stream runs: it exits 0 and loses nothing: every
//! message was either handed over (and recorded) or is still in the queue.

use std::collections::BTreeSet;
use std::time::Duration;

use zato_tests::connector::{
    ConnectorProcess, TestQueue, configure_amqp_channel, numbers, run_peer, settled, stream,
    unique_name,
};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn sigterm_during_an_amqp_stream_exits_0_and_loses_nothing() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let mut connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-sigterm");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("sigterm");
    let total = 3_000u64;
    let mut publisher = stream(&queue.queue, total as usize, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    let logs = connector.logs();
    let status = connector.terminate(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}; log:\n{logs}{}",
        connector.logs()
    );
    assert!(
        publisher.wait().is_ok_and(|s| s.success()),
        "pika published all"
    );

    // What the connector handed over is run by the server; the rest waits in the queue.
    let entries = settled(Duration::from_secs(20), Duration::from_secs(1), || {
        recorded(&redis, &cluster, &key)
    });
    let handed_over = numbers(&entries);
    let in_queue: BTreeSet<u64> = run_peer("amqp_peer.py", &["drain", &queue.queue])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|b| b["n"].as_u64())
        .collect();
    let both = handed_over.intersection(&in_queue).count();
    println!(
        "{} handed over ({} recorded), {} left in the queue, {both} in both",
        handed_over.len(),
        entries.len(),
        in_queue.len()
    );
    let missing: Vec<u64> = (0..total)
        .filter(|n| !handed_over.contains(n) && !in_queue.contains(n))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(
        handed_over.len() >= 500,
        "the stream was under way when stopped"
    );
}
