//! RabbitMQ restarted under a running connector (`rabbitmqctl stop_app`, then `start_app`:
//! the broker stops and starts again inside a running node): consumption resumes by itself
//! and nothing is lost. In a file of its own, because it takes RabbitMQ away from every
//! other user (test files run one after the other; do not run it beside other RabbitMQ
//! tests). `start_app` is run whatever happens, from a guard's `Drop`.

use std::time::Duration;

use zato_tests::connector::{
    ConnectorProcess, TestQueue, configure_amqp_channel, distinct_and_duplicates, numbers, stream,
    unique_name,
};
use zato_tests::rabbitmq::rabbitmqctl;
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

/// Stops the RabbitMQ application; starts it again on drop, even when the test panics.
struct StoppedRabbit;

impl StoppedRabbit {
    fn stop() -> Self {
        let guard = StoppedRabbit;
        assert_eq!(rabbitmqctl(&["stop_app"]), Ok(()));
        guard
    }
}

impl Drop for StoppedRabbit {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["start_app"]) {
            eprintln!("{e}: start RabbitMQ by hand");
        }
        // Until it answers AMQP again.
        let _ = rabbitmqctl(&["await_startup"]);
    }
}

#[test]
fn a_rabbitmq_restart_under_load_recovers_by_itself_and_loses_nothing() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-restart");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("restart");
    let total = 3_000;
    let mut publisher = stream(&queue.queue, total, &key, 1_000);
    assert!(eventually(Duration::from_secs(10), || {
        recorded(&redis, &cluster, &key).len() >= 500
    }));
    {
        let _stopped = StoppedRabbit::stop();
        // pika's connection goes with the broker: it stops publishing.
        let _ = publisher.wait();
        connector.wait_for(Duration::from_secs(10), "aware of the outage", |h| {
            h["connections"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["name"] == "in" && c["state"] != "connected")
            })
        });
        std::thread::sleep(Duration::from_secs(1));
    } // start_app
    connector.wait_for(Duration::from_secs(30), "reconnected", |h| {
        h["connections"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["name"] == "in"
                    && c["state"] == "connected"
                    && c["reconnects"].as_u64() >= Some(1)
            })
        })
    });
    // A second batch after the restart, and whatever of the first the queue kept (it is
    // durable and the messages persistent), must all arrive.
    queue.publish(1_000, &key, total);
    let all = eventually(Duration::from_secs(30), || {
        let got = numbers(&recorded(&redis, &cluster, &key));
        (total as u64..total as u64 + 1_000).all(|n| got.contains(&n)) && queue.ready() == 0
    });
    let entries = recorded(&redis, &cluster, &key);
    let (distinct, duplicates) = distinct_and_duplicates(&entries);
    println!(
        "{} recorded, {distinct} distinct, {duplicates} duplicates",
        entries.len()
    );
    assert!(all, "consumption resumed; log:\n{}", connector.logs());
    // Every number below the highest one pika published before the broker stopped must be
    // there: nothing the queue accepted was lost.
    let got = numbers(&entries);
    let before: Vec<u64> = got.iter().copied().filter(|n| *n < total as u64).collect();
    let highest = before.iter().copied().max().unwrap_or(0);
    assert!(highest >= 500, "the first batch was under way: {highest}");
    assert_eq!(
        before.len() as u64,
        highest + 1,
        "no gap among the first batch"
    );
}
