//! Members on a Redis Cluster (`redis+cluster://`): 1:any, 1:all and request/reply work as
//! on one Redis, and with `broker.min_replicas_ack` a master killed under load loses
//! nothing a publish acknowledged: its replica takes over and the members follow it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zato_broker::{
    Broker, BrokerError, ConsumerHandle, DeadLetters, Delivery, Queue, QueueConsumer, Router,
    Target,
};
use zato_common::Action;
use zato_common::settings::BrokerSettings;
use zato_tests::failover::{FAILOVER_WITHIN, HANDLED_WITHIN, Load, Outcome, under_load, unhandled};
use zato_tests::peers_in_process::{Received, all_member, echo_server, publish_all};
use zato_tests::{
    RedisCluster, broker_with, init_logging, test_settings, unique_cluster, wait_until,
};

/// Envelope ids (or payload numbers) with the consumer that handled them, each handling.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A 1:any consumer that records the envelope id of everything it handles, and who it is.
fn recording_consumer(broker: Broker, seen: &Seen) -> ConsumerHandle {
    let seen = seen.clone();
    let who = broker.member().to_owned();
    let router = Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let (seen, who) = (seen.clone(), who.clone());
        async move {
            seen.lock()
                .expect("seen")
                .push((d.envelope.id.to_string(), who));
            Ok(())
        }
    });
    QueueConsumer::new(broker, Queue::Server, router).spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_any_on_a_cluster_runs_each_message_once() {
    init_logging();
    let started = Instant::now();
    let redis = RedisCluster::start();
    let cluster = unique_cluster();
    let seen: Seen = Arc::default();
    let consumers: Vec<ConsumerHandle> = ["s1", "s2"]
        .iter()
        .map(|name| {
            recording_consumer(
                broker_with(&redis, &cluster, name, "server", test_settings()),
                &seen,
            )
        })
        .collect();
    let producer = broker_with(&redis, &cluster, "producer", "test", test_settings());
    let mut sent = Vec::with_capacity(2_000);
    for chunk in 0..4 {
        let batch: Vec<_> = (0..500)
            .map(|i| producer.envelope(Action::ServiceInvoke, json!({"n": chunk * 500 + i})))
            .collect();
        producer
            .publish_many(Target::Any, &batch)
            .await
            .expect("publish_many on the cluster");
        sent.extend(batch.iter().map(|e| e.id.to_string()));
    }
    assert!(
        wait_until(Duration::from_secs(60), || seen.lock().expect("seen").len()
            >= 2_000)
        .await,
        "handled only {} of 2000",
        seen.lock().expect("seen").len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = seen.lock().expect("seen").clone();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut per_consumer: HashMap<&str, usize> = HashMap::new();
    for (id, who) in &seen {
        *counts.entry(id).or_default() += 1;
        *per_consumer.entry(who).or_default() += 1;
    }
    assert_eq!(
        seen.len(),
        2_000,
        "no message handled twice: {per_consumer:?}"
    );
    assert!(
        sent.iter().all(|id| counts.get(id.as_str()) == Some(&1)),
        "every message handled once"
    );
    let dead = DeadLetters::new(producer.clone());
    assert_eq!(
        dead.len("server")
            .await
            .expect("dead letters on the cluster"),
        0,
        "no dead letters"
    );
    // The queue lives on the master of its slot, and only there.
    // The master of one partition (the first past the control plane's).
    let stream = producer.stream_of(Target::Any, 1).to_owned();
    let master = redis.master_of(&stream);
    assert!(
        redis.keys_on(master, "zato:*").contains(&stream),
        "{stream} is on {master}, the master of its slot"
    );
    for other in redis.masters().into_iter().filter(|m| *m != master) {
        assert!(
            !redis.keys_on(other, "zato:*").contains(&stream),
            "{stream} is not on {other}"
        );
    }
    eprintln!(
        "per consumer: {per_consumer:?}; took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for consumer in consumers {
        consumer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_all_and_request_reply_on_a_cluster() {
    init_logging();
    let started = Instant::now();
    let redis = RedisCluster::start();
    let cluster = unique_cluster();
    let at =
        |member: &str, role: &str| broker_with(&redis, &cluster, member, role, test_settings());

    // 1:all: every member gets every message in order; one that was down catches up.
    let received: Vec<Received> = (0..3).map(|_| Received::default()).collect();
    let names = ["m1", "m2", "m3"];
    let mut members: Vec<Option<ConsumerHandle>> = names
        .iter()
        .zip(&received)
        .map(|(name, r)| Some(all_member(at(name, "server"), r)))
        .collect();
    let producer = at("producer", "test");
    assert!(
        wait_until(Duration::from_secs(30), || members
            .iter()
            .flatten()
            .all(|m| m.health().last_read_ms > 0))
        .await,
        "every member reads 1:all on the cluster"
    );
    publish_all(&producer, 0..400).await;
    assert!(
        wait_until(Duration::from_secs(30), || received[2]
            .lock()
            .expect("m3")
            .len()
            == 400)
        .await,
        "m3 got {} of 400",
        received[2].lock().expect("m3").len()
    );
    members[2].take().expect("m3").stop().await;
    publish_all(&producer, 400..600).await; // m3 is down for these 200
    assert!(
        wait_until(Duration::from_secs(30), || received[0]
            .lock()
            .expect("m1")
            .len()
            == 600)
        .await
    );
    assert_eq!(
        received[2].lock().expect("m3").len(),
        400,
        "m3 got nothing while down"
    );
    members[2] = Some(all_member(at("m3", "server"), &received[2]));
    publish_all(&producer, 600..1000).await;
    for (name, r) in names.iter().zip(&received) {
        assert!(
            wait_until(Duration::from_secs(30), || r
                .lock()
                .expect("received")
                .len()
                >= 1000)
            .await,
            "{name} got {} of 1000",
            r.lock().expect("received").len()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expected: Vec<u64> = (0..1000).collect();
    for (name, r) in names.iter().zip(&received) {
        assert_eq!(
            *r.lock().expect("received"),
            expected,
            "{name} got all 1000, in order, once"
        );
    }
    for member in members.into_iter().flatten() {
        member.stop().await;
    }

    // Request/reply through 1:any: the reply list and the queue are on the cluster too.
    let server = at("s1", "server");
    let consumer = echo_server(&server);
    let client = at("client", "test");
    for i in 0..20 {
        let request = client.envelope(Action::ServiceInvoke, json!({"i": i}));
        let id = request.id;
        let reply = client
            .request(Target::Any, request, Duration::from_secs(10))
            .await
            .expect("a reply through the cluster");
        assert_eq!(reply.in_reply_to, Some(id));
        assert_eq!(reply.payload, json!({"echo": {"i": i}, "by": "s1"}));
    }
    // Nobody reads the connector queue here.
    let request = client.envelope(Action::OutgoingZmqSend, json!({}));
    let err = client
        .request(Target::Connector, request, Duration::from_millis(300))
        .await
        .expect_err("nobody answers the connector queue");
    assert!(matches!(err, BrokerError::Timeout(_)), "{err}");
    consumer.stop().await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}

/// The stream of the partition whose master was killed, the old and the new master.
type Killed = (String, u16, u16);

/// [`under_load`] on a cluster of 3 masters with `replicas` each and `settings` (four
/// partitions): the master of partition 1 (the first past the control plane's) killed,
/// until its replica took over.
async fn kill_a_partition_master(
    replicas: usize,
    settings: BrokerSettings,
    handled_within: Duration,
) -> (RedisCluster, Outcome<Killed>) {
    let mut redis = RedisCluster::start_with_replicas(replicas);
    let cluster = unique_cluster();
    let outcome = under_load(
        &mut redis,
        &cluster,
        settings,
        handled_within,
        |redis, producer| {
            let stream = producer.stream_of(Target::Any, 1).to_owned();
            let old_master = redis.master_of(&stream);
            redis.kill(old_master);
            let new_master = redis.wait_for_failover(old_master, FAILOVER_WITHIN);
            (stream, old_master, new_master)
        },
    )
    .await;
    (redis, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_loses_nothing_acknowledged() {
    init_logging();
    let started = Instant::now();
    // Two replicas per master: after the failover the promoted replica keeps one to confirm
    // writes, so publishing can go on with nothing restarted.
    let settings = BrokerSettings {
        min_replicas_ack: 1,
        replicas_ack_timeout_ms: 1_000,
        partitions: 4,
        ..test_settings()
    };
    let (mut redis, outcome) = kill_a_partition_master(2, settings, HANDLED_WITHIN).await;
    outcome.assert_nothing_lost();
    let Outcome {
        producer,
        consumer,
        handled,
        failover: (stream, old_master, new_master),
        ..
    } = outcome;

    // The old master comes back as a replica of its successor, with the queue by
    // replication; publishing goes on.
    redis.restart(old_master);
    assert!(
        !redis.masters().contains(&old_master),
        "{old_master} came back as a replica: masters {:?}",
        redis.masters()
    );
    assert_eq!(redis.master_of(&stream), new_master);
    let load = Load::start(producer.clone(), 1_000_000);
    let restarted_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || load.acked_after(restarted_at)
            > 10)
        .await,
        "publishes are acknowledged after the old master came back (last error: {:?})",
        load.last_error()
    );
    let acked = load.stop().await;
    assert!(
        wait_until(HANDLED_WITHIN, || unhandled(&acked, &handled).is_empty()).await,
        "the publishes after the old master came back were handled: {} missing",
        unhandled(&acked, &handled).len()
    );
    assert!(
        wait_until(Duration::from_secs(30), || redis
            .keys_on(old_master, "zato:*")
            .contains(&stream))
        .await,
        "the old master {old_master} has {stream} by replication"
    );
    consumer.stop().await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_acks_the_loss_is_reported() {
    init_logging();
    let started = Instant::now();
    let settings = BrokerSettings {
        partitions: 4,
        ..test_settings()
    };
    let (_redis, outcome) = kill_a_partition_master(1, settings, Duration::from_secs(10)).await;
    outcome.report_loss().await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}
