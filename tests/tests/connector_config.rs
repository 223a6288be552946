//! Channels created, edited and deleted while the connector runs take effect without a
//! restart; editing one channel leaves the others alone.

use std::time::Duration;

use serde_json::json;
use zato_broker::ConfigStore;
use zato_common::model::{AmqpChannel, AmqpDefinition};
use zato_tests::connector::{AMQP_URL, ConnectorProcess, TestQueue, unique_name};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, broker, unique_cluster};

fn channel(name: &str, queue: &str) -> AmqpChannel {
    serde_json::from_value(json!({
        "name": name, "definition": "rabbit", "queue": queue, "service": "zato.record"
    }))
    .expect("channel")
}

#[test]
fn channels_created_edited_and_deleted_live() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(async { broker(&redis, &cluster, "test", "test") });
    let store = ConfigStore::new(client.clone());
    let (q1, q2, q3) = (
        TestQueue::declare("zato-live1"),
        TestQueue::declare("zato-live2"),
        TestQueue::declare("zato-live3"),
    );
    let definition: AmqpDefinition =
        serde_json::from_value(json!({"name": "rabbit", "url": AMQP_URL})).expect("definition");
    rt.block_on(async {
        store.create(&definition).await.expect("definition");
        store.create(&channel("a", &q1.queue)).await.expect("a");
        store
            .create(&channel("other", &q3.queue))
            .await
            .expect("other");
    });
    connector.wait_connected("amqp_channel", "a", Duration::from_secs(15));
    connector.wait_connected("amqp_channel", "other", Duration::from_secs(15));
    let other_since = connector
        .connection("amqp_channel", "other")
        .expect("other")["since_ms"]
        .clone();

    // Created: consumes q1.
    let key = unique_name("live");
    q1.publish(10, &key, 0);
    assert!(eventually(Duration::from_secs(15), || {
        recorded(&redis, &cluster, &key).len() >= 10
    }));

    // Edited to read q2 instead: q2 is consumed, q1 no longer.
    rt.block_on(async {
        store
            .update("a", &channel("a", &q2.queue))
            .await
            .expect("edit");
    });
    assert!(eventually(Duration::from_secs(15), || {
        connector.health().is_some_and(|h| {
            h["connections"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["name"] == "a" && c["state"] == "connected" && c["since_ms"] != other_since
                })
            })
        }) && connector.is_connected("amqp_channel", "a")
    }));
    std::thread::sleep(Duration::from_millis(500));
    q2.publish(10, &key, 10);
    q1.publish(5, &key, 100);
    assert!(eventually(Duration::from_secs(15), || {
        recorded(&redis, &cluster, &key).len() >= 20
    }));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(recorded(&redis, &cluster, &key).len(), 20);
    assert_eq!(q1.ready(), 5, "the old queue is no longer consumed");
    // The other channel was not restarted by the edit.
    assert_eq!(
        connector
            .connection("amqp_channel", "other")
            .expect("other")["since_ms"],
        other_since
    );

    // Deleted: q2 is no longer consumed; the connection is gone from health.
    rt.block_on(async {
        store
            .delete(zato_common::ConfigKind::AmqpChannel, "a")
            .await
            .expect("delete");
    });
    assert!(eventually(Duration::from_secs(10), || {
        connector.connection("amqp_channel", "a").is_none()
    }));
    q2.publish(7, &key, 200);
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(q2.ready(), 7);
    assert_eq!(recorded(&redis, &cluster, &key).len(), 20);
    rt.block_on(async { client.shutdown() });
}
