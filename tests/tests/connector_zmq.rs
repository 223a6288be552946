//! ZeroMQ through the connector, with pyzmq on the other side: PUSH into a PULL channel, PUB
//! into a SUB channel with prefixes (non-matching topics stay out), and an outgoing PUSH
//! into a pyzmq PULL.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use zato_broker::{ConfigStore, Target};
use zato_common::Action;
use zato_common::model::{ZmqChannel, ZmqOutgoing};
use zato_common::outgoing::SendOutcome;
use zato_tests::connector::{ConnectorProcess, peer, run_peer, unique_name};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, broker, free_port, unique_cluster};

#[test]
fn pull_and_sub_channels_reach_zato_record_and_outgoing_push_reaches_pyzmq() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(async { broker(&redis, &cluster, "test", "test") });
    let store = ConfigStore::new(client.clone());
    let pull_address = format!("tcp://127.0.0.1:{}", free_port());
    let sub_address = format!("tcp://127.0.0.1:{}", free_port());
    let out_address = format!("tcp://127.0.0.1:{}", free_port());
    let pull: ZmqChannel = serde_json::from_value(json!({
        "name": "pull", "address": pull_address, "socket_type": "PULL", "bind": true,
        "service": "zato.record"
    }))
    .expect("pull");
    let sub: ZmqChannel = serde_json::from_value(json!({
        "name": "sub", "address": sub_address, "socket_type": "SUB", "bind": true,
        "sub_prefixes": ["orders.", "invoices."], "service": "zato.record"
    }))
    .expect("sub");
    rt.block_on(async {
        store.create(&pull).await.expect("pull");
        store.create(&sub).await.expect("sub");
    });
    connector.wait_connected("zmq_channel", "pull", Duration::from_secs(10));
    connector.wait_connected("zmq_channel", "sub", Duration::from_secs(10));

    // PUSH -> PULL
    let key = unique_name("zpull");
    run_peer("zmq_peer.py", &["push", &pull_address, "200", &key]);
    assert!(
        eventually(Duration::from_secs(20), || recorded(&redis, &cluster, &key)
            .len()
            >= 200),
        "recorded {} of 200; log:\n{}",
        recorded(&redis, &cluster, &key).len(),
        connector.logs()
    );
    let entries = recorded(&redis, &cluster, &key);
    assert_eq!(entries.len(), 200);
    assert_eq!(entries[0]["channel"], "zmq");
    assert_eq!(entries[0]["channel_name"], "pull");

    // PUB -> SUB with prefixes
    let key = unique_name("zsub");
    run_peer(
        "zmq_peer.py",
        &[
            "pub",
            &sub_address,
            &key,
            "orders.new",
            "invoices.paid",
            "other.thing",
            "--rounds",
            "5",
        ],
    );
    assert!(eventually(Duration::from_secs(20), || {
        recorded(&redis, &cluster, &key).len() >= 10
    }));
    std::thread::sleep(Duration::from_millis(500));
    let entries = recorded(&redis, &cluster, &key);
    let topics: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["payload"]["topic"].as_str())
        .collect();
    assert_eq!(
        entries.len(),
        10,
        "only the subscribed prefixes: {topics:?}"
    );
    assert!(
        topics
            .iter()
            .all(|t| t.starts_with("orders.") || t.starts_with("invoices."))
    );
    assert_eq!(
        entries[0]["meta"]["zmq"]["frames"][0]
            .as_str()
            .map(|t| t.split('.').count()),
        Some(2)
    );

    // outgoing PUSH -> pyzmq PULL
    let mut receiver = peer(
        "zmq_peer.py",
        &["pull", &out_address, "3", "--timeout", "30"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("pyzmq pull");
    let mut lines = BufReader::new(receiver.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("ready"));
    let outgoing: ZmqOutgoing = serde_json::from_value(json!({
        "name": "push", "address": out_address, "socket_type": "PUSH"
    }))
    .expect("outgoing");
    rt.block_on(async { store.create(&outgoing).await.expect("outgoing") });
    connector.wait_connected("zmq_outgoing", "push", Duration::from_secs(10));
    for i in 0..3 {
        let outcome: SendOutcome = rt.block_on(async {
            let envelope = client.envelope(
                Action::OutgoingZmqSend,
                json!({"outgoing": "push", "body": {"n": i}}),
            );
            let reply = client
                .request(Target::Connector, envelope, Duration::from_secs(10))
                .await
                .expect("answer");
            serde_json::from_value(reply.payload).expect("outcome")
        });
        assert!(outcome.ok, "{outcome:?}");
    }
    let received: Vec<Value> = lines
        .take(3)
        .filter_map(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect();
    let _ = receiver.wait();
    assert_eq!(
        received,
        vec![
            json!([r#"{"n":0}"#]),
            json!([r#"{"n":1}"#]),
            json!([r#"{"n":2}"#])
        ]
    );
    // An unknown outgoing is answered, not dropped.
    let outcome: SendOutcome = rt.block_on(async {
        let envelope = client.envelope(
            Action::OutgoingZmqSend,
            json!({"outgoing": "nope", "body": "x"}),
        );
        let reply = client
            .request(Target::Connector, envelope, Duration::from_secs(10))
            .await
            .expect("answer");
        serde_json::from_value(reply.payload).expect("outcome")
    });
    assert!(!outcome.ok);
    rt.block_on(async { client.shutdown() });
}
