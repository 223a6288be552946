//! The connector with a real RabbitMQ, pika on the other side and real servers behind it:
//! 5,000 messages in through an AMQP channel, and an outgoing publish out with its exchange,
//! routing key, properties and headers.

use std::time::Duration;

use serde_json::{Value, json};
use zato_broker::{ConfigStore, Target};
use zato_common::Action;
use zato_common::model::{AmqpChannel, AmqpDefinition, AmqpOutgoing};
use zato_common::outgoing::{AmqpPublish, SendOutcome};
use zato_tests::connector::{
    AMQP_URL, ConnectorProcess, TestQueue, distinct_and_duplicates, run_peer, unique_name,
};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, broker, unique_cluster};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn definition(name: &str, prefetch: u16) -> AmqpDefinition {
    serde_json::from_value(json!({"name": name, "url": AMQP_URL, "prefetch": prefetch}))
        .expect("definition")
}

#[test]
fn five_thousand_messages_from_pika_all_reach_zato_record() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare("zato-in");
    let rt = runtime();
    let client = rt.block_on(async { broker(&redis, &cluster, "test", "test") });
    let store = ConfigStore::new(client.clone());
    let channel: AmqpChannel = serde_json::from_value(json!({
        "name": "in", "definition": "rabbit", "queue": queue.queue,
        "service": "zato.record", "consumers": 2
    }))
    .expect("channel");
    rt.block_on(async {
        store
            .create(&definition("rabbit", 50))
            .await
            .expect("definition");
        store.create(&channel).await.expect("channel");
    });
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));

    let key = unique_name("amqp");
    let started = std::time::Instant::now();
    queue.publish(5_000, &key, 0);
    let all = eventually(Duration::from_secs(45), || {
        recorded(&redis, &cluster, &key).len() >= 5_000
    });
    let entries = recorded(&redis, &cluster, &key);
    let (distinct, duplicates) = distinct_and_duplicates(&entries);
    println!(
        "recorded {} entries, {distinct} distinct, {duplicates} duplicates, in {:?}",
        entries.len(),
        started.elapsed()
    );
    assert!(
        all,
        "recorded {} of 5000; connector log:\n{}",
        entries.len(),
        connector.logs()
    );
    assert_eq!(distinct, 5_000, "every message arrived");
    assert_eq!(duplicates, 0, "no failure, so no duplicate");
    let first = &entries[0];
    assert_eq!(first["channel"], "amqp");
    assert_eq!(first["channel_name"], "in");
    assert_eq!(first["meta"]["amqp"]["routing_key"], queue.queue.as_str());
    assert_eq!(
        first["meta"]["amqp"]["properties"]["content_type"],
        "application/json"
    );
    assert_eq!(first["meta"]["amqp"]["headers"]["x-test"], "yes");
    assert!(eventually(Duration::from_secs(5), || queue.ready() == 0));
    let metrics = connector.metrics();
    assert!(
        metrics.contains("zato_connector_messages_done_total{member=\"connector-a\",kind=\"amqp\",direction=\"in\"} 5000"),
        "{metrics}"
    );
    rt.block_on(async { client.shutdown() });
}

fn publish(
    rt: &tokio::runtime::Runtime,
    client: &zato_broker::Broker,
    request: &AmqpPublish,
) -> SendOutcome {
    rt.block_on(async {
        let envelope = client.envelope(
            Action::OutgoingAmqpPublish,
            serde_json::to_value(request).expect("json"),
        );
        let reply = client
            .request(Target::Connector, envelope, Duration::from_secs(10))
            .await
            .expect("the connector answers");
        serde_json::from_value(reply.payload).expect("a SendOutcome")
    })
}

#[test]
fn outgoing_publish_reaches_pika_with_exchange_key_properties_and_headers() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let queue = TestQueue::declare_bound("zato-out", "rk.1");
    let exchange = queue.exchange.clone().expect("exchange");
    let rt = runtime();
    let client = rt.block_on(async { broker(&redis, &cluster, "test", "test") });
    let store = ConfigStore::new(client.clone());
    let outgoing: AmqpOutgoing = serde_json::from_value(json!({
        "name": "out", "definition": "rabbit", "exchange": exchange,
        "routing_key": "rk.default", "delivery_mode": 2, "content_type": "application/json",
        "priority": 3, "expiration": "60000", "app_id": "zato-test", "user_id": "guest",
        "headers": {"a": "1", "b": "2"}
    }))
    .expect("outgoing");
    rt.block_on(async {
        store
            .create(&definition("rabbit", 10))
            .await
            .expect("definition");
        store.create(&outgoing).await.expect("outgoing");
    });
    connector.wait_connected("amqp_outgoing", "out", Duration::from_secs(15));

    let request: AmqpPublish = serde_json::from_value(json!({
        "outgoing": "out", "body": {"hello": "pika"}, "routing_key": "rk.1",
        "headers": {"b": "3", "c": "4"},
        "properties": {"correlation_id": "corr-1", "priority": 7}
    }))
    .expect("request");
    let outcome = publish(&rt, &client, &request);
    assert!(outcome.ok, "{outcome:?}");
    let got: Value = serde_json::from_str(run_peer("amqp_peer.py", &["get", &queue.queue]).trim())
        .expect("pika's JSON");
    assert_eq!(got["exchange"], exchange.as_str());
    assert_eq!(got["routing_key"], "rk.1");
    assert_eq!(
        serde_json::from_str::<Value>(got["body"].as_str().unwrap_or_default()).ok(),
        Some(json!({"hello": "pika"}))
    );
    let props = &got["properties"];
    assert_eq!(props["content_type"], "application/json");
    assert_eq!(props["delivery_mode"], 2);
    assert_eq!(props["priority"], 7, "overridden per message");
    assert_eq!(props["correlation_id"], "corr-1");
    assert_eq!(props["expiration"], "60000");
    assert_eq!(props["app_id"], "zato-test");
    assert_eq!(props["user_id"], "guest");
    assert_eq!(got["headers"], json!({"a": "1", "b": "3", "c": "4"}));

    // Failures are answered, never dropped: an unknown connection, a message no queue
    // takes, a bad property.
    let unknown: AmqpPublish =
        serde_json::from_value(json!({"outgoing": "nope", "body": "x"})).expect("request");
    let outcome = publish(&rt, &client, &unknown);
    assert!(!outcome.ok);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("'nope'"),
        "{outcome:?}"
    );
    let unroutable: AmqpPublish = serde_json::from_value(
        json!({"outgoing": "out", "body": "x", "routing_key": "no.such.binding"}),
    )
    .expect("request");
    let outcome = publish(&rt, &client, &unroutable);
    assert!(!outcome.ok);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("unroutable"),
        "{outcome:?}"
    );
    let bad: AmqpPublish = serde_json::from_value(
        json!({"outgoing": "out", "body": "x", "properties": {"priority": 42}}),
    )
    .expect("request");
    let outcome = publish(&rt, &client, &bad);
    assert!(!outcome.ok, "{outcome:?}");
    // And the connection still works afterwards.
    let outcome = publish(&rt, &client, &request);
    assert!(outcome.ok, "{outcome:?}");
    assert!(connector.metrics().contains("direction=\"out\"} 2"));
    rt.block_on(async { client.shutdown() });
}
