//! ZeroMQ peers that go away and come back: a pyzmq PUSH stops and a new one starts, and the
//! PULL channel keeps receiving, whether the channel binds (peers connect to it) or connects
//! (to a peer that binds, goes away, and binds again).

use std::time::Duration;

use serde_json::json;
use zato_broker::ConfigStore;
use zato_common::model::ZmqChannel;
use zato_tests::connector::{ConnectorProcess, numbers, run_peer, unique_name};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, broker, free_port, unique_cluster};

fn create(redis: &RedisServer, cluster: &str, channel: &ZmqChannel) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = broker(redis, cluster, "test", "test");
        ConfigStore::new(client.clone())
            .create(channel)
            .await
            .expect("channel");
        client.shutdown();
    });
}

fn all_arrive(redis: &RedisServer, cluster: &str, key: &str, count: u64) -> bool {
    eventually(Duration::from_secs(20), || {
        numbers(&recorded(redis, cluster, key)).len() as u64 >= count
    })
}

#[test]
fn a_pull_channel_keeps_receiving_from_push_peers_that_come_and_go() {
    zato_tests::init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);

    // The channel binds; each peer connects, sends and goes away.
    let bound = format!("tcp://127.0.0.1:{}", free_port());
    let channel: ZmqChannel = serde_json::from_value(json!({
        "name": "bound", "address": bound, "socket_type": "PULL", "bind": true,
        "service": "zato.record"
    }))
    .expect("channel");
    create(&redis, &cluster, &channel);
    connector.wait_connected("zmq_channel", "bound", Duration::from_secs(10));
    let key = unique_name("zbound");
    for round in 0..3u64 {
        let start = (round * 100).to_string();
        run_peer(
            "zmq_peer.py",
            &["push", &bound, "100", &key, "--start", &start],
        );
        assert!(
            all_arrive(&redis, &cluster, &key, (round + 1) * 100),
            "round {round}: {} of {}; log:\n{}",
            numbers(&recorded(&redis, &cluster, &key)).len(),
            (round + 1) * 100,
            connector.logs()
        );
    }

    // The channel connects to a peer that binds, sends, goes away, and a new one binds the
    // same address later.
    let peer_address = format!("tcp://127.0.0.1:{}", free_port());
    let channel: ZmqChannel = serde_json::from_value(json!({
        "name": "connecting", "address": peer_address, "socket_type": "PULL", "bind": false,
        "service": "zato.record"
    }))
    .expect("channel");
    create(&redis, &cluster, &channel);
    let key = unique_name("zconnect");
    for round in 0..3u64 {
        let start = (round * 100).to_string();
        // Binds, waits for the channel to connect, sends, lingers until sent, exits.
        run_peer(
            "zmq_peer.py",
            &[
                "push",
                &peer_address,
                "100",
                &key,
                "--start",
                &start,
                "--bind",
            ],
        );
        assert!(
            all_arrive(&redis, &cluster, &key, (round + 1) * 100),
            "round {round}: {} of {}; log:\n{}",
            numbers(&recorded(&redis, &cluster, &key)).len(),
            (round + 1) * 100,
            connector.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let reconnects = connector
        .connection("zmq_channel", "connecting")
        .and_then(|c| c["reconnects"].as_u64())
        .unwrap_or(0);
    println!("connecting PULL channel: {reconnects} reconnects");
    assert!(reconnects >= 2, "the channel reopened after each peer left");
    let entries = recorded(&redis, &cluster, &key);
    assert_eq!(numbers(&entries).len(), 300);
}
