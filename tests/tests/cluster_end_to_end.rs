//! The whole platform on a Redis Cluster of 3 masters and 3 replicas: two servers, a
//! scheduler and a connector, all with `redis+cluster://` and four partitions, run the same
//! end-to-end checks as on one Redis (a channel made on one server answers on the other,
//! invoke_async runs each call exactly once on either server, a job fires, AMQP comes in
//! through pika and goes out to it), and the work queues' keys are spread over all three
//! masters.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use zato_broker::{ConfigStore, Target};
use zato_common::Action;
use zato_common::model::{AmqpDefinition, AmqpOutgoing};
use zato_common::outgoing::{AmqpPublish, SendOutcome};
use zato_tests::connector::{
    AMQP_URL, ConnectorProcess, TestQueue, configure_amqp_channel, run_peer, stream,
};
use zato_tests::records::recorded;
use zato_tests::redis_cluster::RedisCluster;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ADMIN_TOKEN, ServerProcess, eventually, send};
use zato_tests::{broker_with, curl, test_settings, unique_cluster};

const PARTITIONS: &str = "4";

#[test]
fn servers_scheduler_and_connector_work_on_a_redis_cluster_with_work_spread_over_its_masters() {
    zato_tests::init_logging();
    let redis = RedisCluster::start();
    let cluster = unique_cluster();
    let env = [("ZATO_BROKER__PARTITIONS", PARTITIONS)];
    let a = ServerProcess::start(&redis, &cluster, "server-a", &env);
    let b = ServerProcess::start(&redis, &cluster, "server-b", &env);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-a", &env);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &env);

    // A channel made on one server answers on the other, called by curl.
    let created = a.admin(
        "POST",
        "/zato/api/channels/http",
        Some(&json!({"name": "hello", "url_path": "/hello/{who}", "service": "zato.echo"})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let call = || {
        curl::curl(
            None,
            "POST",
            &format!("{}/hello/cluster", b.url),
            &[("content-type", "application/json")],
            Some("{\"n\": 1}"),
        )
    };
    assert!(
        eventually(Duration::from_secs(5), || call()
            .is_ok_and(|r| r.status == 200)),
        "the channel answers on the other server: {:?}",
        call().map(|a| a.body)
    );

    // invoke_async: 2,000 calls over both servers, each run exactly once.
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for n in 0..2_000u64 {
        let server = if n % 2 == 0 { &a } else { &b };
        let body = json!({"key": "async", "n": n}).to_string();
        let answer = send(
            "POST",
            &format!("{}/zato/api/invoke-async/zato.record", server.url),
            &[("authorization", &auth)],
            Some(&body),
        )
        .expect("answer");
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
    assert!(
        eventually(Duration::from_secs(60), || recorded(
            &redis, &cluster, "async"
        )
        .len()
            >= 2_000),
        "recorded {} of 2000",
        recorded(&redis, &cluster, "async").len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let entries = recorded(&redis, &cluster, "async");
    assert_eq!(entries.len(), 2_000, "nothing ran twice");
    let numbers: HashSet<u64> = entries
        .iter()
        .filter_map(|e| e["payload"]["n"].as_u64())
        .collect();
    assert_eq!(numbers.len(), 2_000, "every call ran");
    let members: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e["member"].as_str())
        .collect();
    assert_eq!(members, BTreeSet::from(["server-a", "server-b"]));

    // The work queue's partitions, each on its own hash tag: on every master.
    let masters = redis.masters();
    assert_eq!(masters.len(), 3);
    for master in &masters {
        let streams = redis.keys_on(*master, &format!("zato:{{{cluster}*}}:q:server"));
        assert!(
            !streams.is_empty(),
            "master {master} holds a partition of q:server (masters: {masters:?})"
        );
    }

    // A job fires through the active scheduler and runs on a server.
    assert!(
        eventually(Duration::from_secs(10), || scheduler.is_active()),
        "the scheduler wins its lease"
    );
    let job = a.admin(
        "POST",
        "/zato/api/jobs",
        Some(
            &json!({"name": "tick", "service": "zato.record", "kind": "interval",
                     "interval": {"seconds": 1}, "payload": {"key": "ticks"}}),
        ),
    );
    assert_eq!(job.status, 201, "{}", job.body);
    assert!(
        eventually(Duration::from_secs(15), || recorded(
            &redis, &cluster, "ticks"
        )
        .len()
            >= 3),
        "the job fired {} times; scheduler log:\n{}",
        recorded(&redis, &cluster, "ticks").len(),
        scheduler.logs()
    );

    // AMQP in: pika publishes, an AMQP channel of the connector hands each to a server.
    let queue = TestQueue::declare("zato-cluster-in");
    configure_amqp_channel(&redis, &cluster, &queue.queue);
    connector.wait_connected("amqp_channel", "in", Duration::from_secs(15));
    let mut pika = stream(&queue.queue, 300, "amqp", 1_000);
    assert!(pika.wait().expect("pika").success(), "pika published");
    assert!(
        eventually(Duration::from_secs(60), || recorded(
            &redis, &cluster, "amqp"
        )
        .len()
            >= 300),
        "recorded {} of 300 AMQP messages; connector log:\n{}\nserver log:\n{}",
        recorded(&redis, &cluster, "amqp").len(),
        connector.logs(),
        a.logs()
    );

    // AMQP out: a publish through the connector, read by pika.
    let out = TestQueue::declare_bound("zato-cluster-out", "rk.cluster");
    let exchange = out.exchange.clone().expect("exchange");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let settings = zato_common::settings::BrokerSettings {
        partitions: 4,
        ..test_settings()
    };
    let client = rt.block_on(async { broker_with(&redis, &cluster, "test", "test", settings) });
    let outgoing: AmqpOutgoing = serde_json::from_value(json!({
        "name": "out", "definition": "rabbit-out", "exchange": exchange, "routing_key": "rk.cluster"
    }))
    .expect("outgoing");
    let definition: AmqpDefinition =
        serde_json::from_value(json!({"name": "rabbit-out", "url": AMQP_URL})).expect("definition");
    rt.block_on(async {
        let store = ConfigStore::new(client.clone());
        store.create(&definition).await.expect("definition");
        store.create(&outgoing).await.expect("outgoing");
    });
    connector.wait_connected("amqp_outgoing", "out", Duration::from_secs(15));
    let request: AmqpPublish =
        serde_json::from_value(json!({"outgoing": "out", "body": {"hello": "cluster"}}))
            .expect("request");
    let outcome: SendOutcome = rt.block_on(async {
        let envelope = client.envelope(
            Action::OutgoingAmqpPublish,
            serde_json::to_value(&request).expect("json"),
        );
        let reply = client
            .request(Target::Connector, envelope, Duration::from_secs(10))
            .await
            .expect("the connector answers");
        serde_json::from_value(reply.payload).expect("a SendOutcome")
    });
    assert!(outcome.ok, "{outcome:?}");
    let got: Value = serde_json::from_str(run_peer("amqp_peer.py", &["get", &out.queue]).trim())
        .expect("pika's JSON");
    assert_eq!(
        serde_json::from_str::<Value>(got["body"].as_str().unwrap_or_default()).ok(),
        Some(json!({"hello": "cluster"}))
    );
    rt.block_on(async { client.shutdown() });
}
