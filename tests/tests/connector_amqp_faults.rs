//! The AMQP channel's hand-over under faults, with pika publishing and RabbitMQ settling:
//! bodies that are not JSON among valid ones go to the queue's dead-letter exchange (each on
//! its own, never covered by an acknowledgement of the valid ones around it), and a Redis
//! restart in the middle of a stream loses nothing (what could not be handed over goes back
//! to the queue and comes again).

use std::time::Duration;

use zato_tests::connector::{
    ConnectorProcess, TestQueue, configure_amqp_channel, numbers, stream, stream_with, unique_name,
};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn invalid_bodies_among_valid_ones_are_dead_lettered_one_by_one() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare_with_dead_letters("zato-mixed");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("mixed");
    // 3,000 bodies, every 7th of them not JSON: 429 invalid, 2,571 valid.
    let total = 3_000u64;
    let invalid = (0..total).filter(|n| n % 7 == 0).count() as u64;
    let mut publisher = stream_with(
        &queue.queue,
        total as usize,
        &key,
        3_000,
        &["--invalid-every", "7"],
    );
    let _ = publisher.wait();
    let all = eventually(Duration::from_secs(30), || {
        numbers(&recorded(&redis, &cluster, &key)).len() as u64 == total - invalid
    });
    let handled = numbers(&recorded(&redis, &cluster, &key));
    assert!(
        all,
        "handled {} of {}; log:\n{}",
        handled.len(),
        total - invalid,
        connector.logs()
    );
    assert!(
        handled.iter().all(|n| n % 7 != 0),
        "no invalid body reached a service"
    );
    assert!(
        eventually(Duration::from_secs(10), || queue.dead_lettered() == invalid),
        "dead-lettered {} of {invalid}",
        queue.dead_lettered()
    );
    assert!(eventually(Duration::from_secs(5), || queue.ready() == 0));
    assert_eq!(
        connector
            .connection("amqp_channel", "in")
            .map(|c| c["reconnects"].clone()),
        Some(serde_json::json!(0)),
        "no acknowledgement was refused by RabbitMQ (that closes the channel)"
    );
}

#[test]
fn a_redis_restart_in_the_middle_of_a_stream_loses_nothing() {
    let mut redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-redis-restart");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("redis-restart");
    let total = 4_000;
    let mut publisher = stream(&queue.queue, total, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    redis.kill();
    std::thread::sleep(Duration::from_secs(1));
    redis.restart();
    let _ = publisher.wait();
    let all = eventually(Duration::from_secs(60), || {
        numbers(&recorded(&redis, &cluster, &key)).len() == total
    });
    assert!(
        all,
        "handled {} of {total}; connector log:\n{}\nserver log:\n{}",
        numbers(&recorded(&redis, &cluster, &key)).len(),
        connector.logs(),
        server.logs()
    );
    assert!(eventually(Duration::from_secs(10), || queue.ready() == 0));
}
