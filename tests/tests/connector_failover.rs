//! The active connector killed during an AMQP stream: the standby takes over and every
//! message arrives at least once (duplicates are counted and printed).

use std::time::{Duration, Instant};

use zato_tests::connector::{
    ConnectorProcess, TestQueue, configure_amqp_channel, distinct_and_duplicates, stream,
    unique_name,
};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

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
    configure_amqp_channel(&redis, &cluster, &queue.queue);
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
