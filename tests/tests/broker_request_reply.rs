//! Request/reply through 1:any, and the time-out error when nobody answers.

use std::time::{Duration, Instant};

use serde_json::json;
use zato_broker::{BrokerError, Target};
use zato_common::Action;
use zato_tests::peers_in_process::echo_server;
use zato_tests::{RedisServer, broker, init_logging, unique_cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_gets_its_reply_and_a_lonely_one_times_out() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = broker(&redis, &cluster, "s1", "server");
    let consumer = echo_server(&server);
    let client = broker(&redis, &cluster, "client", "test");
    for i in 0..20 {
        let request = client.envelope(Action::ServiceInvoke, json!({"i": i}));
        let id = request.id;
        let reply = client
            .request(Target::Any, request, Duration::from_secs(5))
            .await
            .expect("reply");
        assert_eq!(reply.in_reply_to, Some(id));
        assert_eq!(reply.payload, json!({"echo": {"i": i}, "by": "s1"}));
    }
    // Nobody reads the connector queue here.
    let started = Instant::now();
    let request = client.envelope(Action::OutgoingZmqSend, json!({}));
    let err = client
        .request(Target::Connector, request, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Timeout(_)), "{err}");
    assert_eq!(err.to_string(), "no reply within 300ms");
    assert!(started.elapsed() < Duration::from_secs(2));
    consumer.stop().await;
}
