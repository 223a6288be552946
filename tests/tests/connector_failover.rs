//! The active connector killed during an AMQP stream: the standby takes over and every
//! message arrives at least once (duplicates are counted and printed).

use std::process::Stdio;
use std::time::{Duration, Instant};

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
fn killing_the_active_connector_mid_stream_loses_nothing() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let mut connectors = vec![
        ConnectorProcess::start(&redis, &cluster, "connector-a", &[]),
        ConnectorProcess::start(&redis, &cluster, "connector-b", &[]),
    ];
    let queue = TestQueue::declare("zato-failover");
    configure(&redis, &cluster, &queue.queue);
    assert!(
        eventually(Duration::from_secs(10), || connectors
            .iter()
            .filter(|c| c.is_active())
            .count()
            == 1),
        "exactly one connector is active"
    );
    let active = connectors
        .iter()
        .position(ConnectorProcess::is_active)
        .expect("an active connector");
    connectors[active].wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("failover");
    let total = 3_000;
    let mut publisher = stream(&queue.queue, total, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    let mut dead = connectors.remove(active);
    dead.kill();
    let killed_at = Instant::now();
    let standby = &connectors[0];
    standby.wait_connected("amqp_channel", "in", Duration::from_secs(10));
    let took_over = killed_at.elapsed();
    assert!(publisher.wait().expect("publisher").success());
    let all = eventually(Duration::from_secs(30), || {
        let entries = recorded(&redis, &cluster, &key);
        distinct_and_duplicates(&entries).0 >= total
    });
    let entries = recorded(&redis, &cluster, &key);
    let (distinct, duplicates) = distinct_and_duplicates(&entries);
    println!(
        "take-over in {took_over:?}; {} recorded, {distinct} distinct of {total}, {duplicates} duplicates",
        entries.len()
    );
    assert!(
        all,
        "{distinct} of {total} arrived; standby log:\n{}",
        standby.logs()
    );
    assert!(
        took_over < Duration::from_secs(5),
        "took over in {took_over:?}"
    );
    assert!(standby.is_active());
    // A graceful stop settles what it holds, releases the lease and exits 0.
    let status = connectors[0].terminate(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM exit {status:?}"
    );
}
