//! Broker throughput and latency, each beside a raw Redis baseline measured in the same run.
//!
//! ```sh
//! cargo run --profile dist -p zato-broker --example bench_broker [-- MESSAGES]
//! ```
//!
//! Starts its own `redis-server` on a free port (set `ZATO_BENCH_REDIS_URL` to use another),
//! then prints, for MESSAGES messages (default 200,000):
//! - raw pipelined `XADD` (batches of 512) messages/s: the ceiling of any stream producer;
//! - raw `XREADGROUP` + `XACK` round: the ceiling of any stream consumer;
//! - 1:any end to end (1 producer, 2 consumers), messages/s and the ratio to the raw figures;
//!   then with 2 and 4 partitions on one Redis, and with 1, 2 and 4 partitions on a Redis
//!   Cluster of 3 masters (its own, started for that part only and stopped after it; set
//!   `ZATO_BENCH_CLUSTER_URL` to use another);
//! - 1:all fan-out to 3 members, deliveries/s;
//! - pub/sub: publish to a topic with one push subscription (2 consumers, as 1:any), end to
//!   end, messages/s and the ratio to 1:any; and fan-out to 3 subscriptions, deliveries/s;
//! - request/reply p50 and p99 beside a raw `PING` round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use redis::Value;
use serde_json::json;
use zato_broker::{
    BroadcastConsumer, Broker, BrokerConfig, Delivery, Queue, QueueConsumer, Router, Target,
};
use zato_common::Action;
use zato_common::redis_cluster::RedisCluster;
use zato_common::redis_server::{Launch, RedisServer};
use zato_common::settings::BrokerSettings;

/// The Redis to measure against: `ZATO_BENCH_REDIS_URL`, else one of our own (empty, no
/// persistence: the figures are the broker's and Redis's, not the disk's), stopped when the
/// returned server is dropped.
fn start_redis() -> anyhow::Result<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("ZATO_BENCH_REDIS_URL") {
        return Ok((url, None));
    }
    let redis = Launch::temporary()?.start()?;
    Ok((redis.url(), Some(redis)))
}

/// The Redis Cluster to measure against: `ZATO_BENCH_CLUSTER_URL`, else one of our own with
/// 3 masters and no replicas (the figures are of spreading partitions over masters, not of
/// replication), stopped when the returned cluster is dropped. `None` when ours cannot be
/// started (no `redis-cli`, say): the reason is printed and the cluster figures are skipped,
/// since the rest of the bench does not need them.
fn start_cluster() -> Option<(String, Option<RedisCluster>)> {
    if let Ok(url) = std::env::var("ZATO_BENCH_CLUSTER_URL") {
        return Some((url, None));
    }
    match RedisCluster::start(3, 0) {
        Ok(cluster) => Some((cluster.url(), Some(cluster))),
        Err(e) => {
            println!("no Redis Cluster figures: cannot start one: {e}");
            None
        }
    }
}

fn broker(url: &str, cluster: &str, member: &str) -> anyhow::Result<Broker> {
    partitioned_broker(url, cluster, member, 1)
}

fn partitioned_broker(
    url: &str,
    cluster: &str,
    member: &str,
    partitions: u16,
) -> anyhow::Result<Broker> {
    Ok(Broker::new(BrokerConfig {
        redis_url: url.to_owned(),
        cluster: cluster.to_owned(),
        member: member.to_owned(),
        role: "bench".to_owned(),
        settings: BrokerSettings {
            read_batch: 512,
            concurrency: 1024,
            partitions,
            ..BrokerSettings::default()
        },
    })?)
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One envelope's worth of bytes, for the raw baselines to move the same data.
fn sample_payload(b: &Broker) -> anyhow::Result<String> {
    Ok(
        b.envelope(Action::ServiceInvoke, json!({"service": "bench", "n": 0}))
            .encode()?,
    )
}

async fn raw_xadd(url: &str, messages: u64, payload: &str) -> anyhow::Result<f64> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let mut pipe = redis::pipe();
        for _ in 0..512.min(messages - sent) {
            pipe.cmd("XADD")
                .arg("raw:bench")
                .arg("*")
                .arg("e")
                .arg(payload)
                .ignore();
            sent += 1;
        }
        let () = pipe.query_async(&mut conn).await?;
    }
    Ok(rate(messages, started.elapsed()))
}

async fn raw_read_ack(url: &str, messages: u64) -> anyhow::Result<f64> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("raw:bench")
        .arg("g")
        .arg("0")
        .query_async(&mut conn)
        .await?;
    let started = Instant::now();
    let mut read = 0;
    while read < messages {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("COUNT")
            .arg(512)
            .arg("STREAMS")
            .arg("raw:bench")
            .arg(">")
            .query_async(&mut conn)
            .await?;
        let ids = stream_ids(&reply);
        if ids.is_empty() {
            break;
        }
        read += ids.len() as u64;
        let _: u64 = redis::cmd("XACK")
            .arg("raw:bench")
            .arg("g")
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
    }
    Ok(rate(read, started.elapsed()))
}

/// A raw producer (pipelined `XADD`) and a raw consumer (`XREADGROUP` + `XACK`) running
/// at once: the ceiling of any Redis Streams work queue on this machine.
async fn raw_end_to_end(url: &str, messages: u64, payload: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let mut consumer = client.get_multiplexed_async_connection().await?;
    let _: Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("raw:e2e")
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut consumer)
        .await?;
    let started = Instant::now();
    let producing = {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let payload = payload.to_owned();
        tokio::spawn(async move {
            let mut sent = 0;
            while sent < messages {
                let mut pipe = redis::pipe();
                for _ in 0..500.min(messages - sent) {
                    pipe.cmd("XADD")
                        .arg("raw:e2e")
                        .arg("*")
                        .arg("e")
                        .arg(&payload)
                        .ignore();
                    sent += 1;
                }
                let () = pipe.query_async(&mut conn).await?;
            }
            anyhow::Ok(())
        })
    };
    let mut read = 0;
    while read < messages {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("COUNT")
            .arg(512)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg("raw:e2e")
            .arg(">")
            .query_async(&mut consumer)
            .await?;
        let ids = stream_ids(&reply);
        read += ids.len() as u64;
        if !ids.is_empty() {
            let _: u64 = redis::cmd("XACK")
                .arg("raw:e2e")
                .arg("g")
                .arg(&ids)
                .query_async(&mut consumer)
                .await?;
        }
    }
    producing.await??;
    Ok(rate(messages, started.elapsed()))
}

fn stream_ids(reply: &Value) -> Vec<String> {
    let Value::Array(streams) = reply else {
        return vec![];
    };
    let Some(Value::Array(stream)) = streams.first() else {
        return vec![];
    };
    let Some(Value::Array(entries)) = stream.get(1) else {
        return vec![];
    };
    entries
        .iter()
        .filter_map(|e| match e {
            Value::Array(parts) => match parts.first() {
                Some(Value::BulkString(id)) => String::from_utf8(id.clone()).ok(),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn counting_router(action: Action, counter: &Arc<AtomicU64>) -> Router {
    let counter = counter.clone();
    Router::new().route(action, move |_d: Delivery| {
        counter.fetch_add(1, Ordering::Relaxed);
        async { Ok(()) }
    })
}

async fn wait_for(counter: &AtomicU64, target: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while counter.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            bail!(
                "only {} of {target} after {limit:?}",
                counter.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

async fn publish_all(
    producer: &Broker,
    target: Target,
    action: Action,
    messages: u64,
) -> anyhow::Result<()> {
    let mut sent = 0;
    while sent < messages {
        let batch: Vec<_> = (sent..(sent + 500).min(messages))
            .map(|n| producer.envelope(action.clone(), json!({"service": "bench", "n": n})))
            .collect();
        sent += batch.len() as u64;
        producer.publish_many(target, &batch).await?;
    }
    Ok(())
}

async fn one_to_any(
    url: &str,
    cluster: &str,
    messages: u64,
    partitions: u16,
) -> anyhow::Result<f64> {
    let handled = Arc::new(AtomicU64::new(0));
    let consumers = ["c1", "c2"]
        .into_iter()
        .map(|name| {
            let b = partitioned_broker(url, cluster, name, partitions)?;
            Ok(QueueConsumer::new(
                b,
                Queue::Server,
                counting_router(Action::ServiceInvoke, &handled),
            )
            .spawn())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let producer = partitioned_broker(url, cluster, "producer", partitions)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    publish_all(&producer, Target::Any, Action::ServiceInvoke, messages).await?;
    wait_for(&handled, messages, Duration::from_secs(120)).await?;
    let elapsed = started.elapsed();
    for c in consumers {
        c.stop().await;
    }
    Ok(rate(messages, elapsed))
}

async fn one_to_all(url: &str, cluster: &str, messages: u64) -> anyhow::Result<f64> {
    let applied = Arc::new(AtomicU64::new(0));
    let members = ["m1", "m2", "m3"]
        .into_iter()
        .map(|name| {
            let b = broker(url, cluster, name)?;
            Ok(
                BroadcastConsumer::new(b, counting_router(Action::SchedulerJobExecute, &applied))
                    .spawn(),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let producer = broker(url, cluster, "producer")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    publish_all(
        &producer,
        Target::All,
        Action::SchedulerJobExecute,
        messages,
    )
    .await?;
    wait_for(&applied, messages * 3, Duration::from_secs(120)).await?;
    let elapsed = started.elapsed();
    for m in members {
        m.stop().await;
    }
    Ok(rate(messages * 3, elapsed))
}

/// A topic with `subscriptions` push subscriptions, each delivered by two consumers (two
/// servers), `messages` published 256 at a time (each publish is one script call); the
/// rate of deliveries.
async fn pubsub(
    url: &str,
    cluster: &str,
    messages: u64,
    subscriptions: usize,
) -> anyhow::Result<f64> {
    use futures_util::StreamExt;
    use zato_common::model::{StartPosition, Subscription, SubscriptionDelivery, Topic};
    use zato_common::pubsub::TopicMessage;

    let admin = broker(url, cluster, "pubsub-admin")?;
    let topic = Topic::named(format!("bench{subscriptions}"));
    zato_broker::ConfigStore::new(admin.clone())
        .put(&topic)
        .await?;
    let delivered = Arc::new(AtomicU64::new(0));
    let mut consumers = Vec::new();
    for n in 0..subscriptions {
        let subscription = Subscription {
            name: format!("{}-sub{n}", topic.name),
            topic: topic.name.clone(),
            delivery: SubscriptionDelivery::Service {
                service: "bench".into(),
            },
            start: StartPosition::New,
            batch_size: 512,
            max_deliveries: 5,
            retry: Default::default(),
            dead_letters: true,
            is_active: true,
        };
        zato_broker::pubsub::subscriptions::attach(&admin, &subscription).await?;
        for server in ["s1", "s2"] {
            let b = broker(url, cluster, &format!("{server}-{n}"))?;
            let router = counting_router(Action::PubsubMessage, &delivered);
            consumers.push(QueueConsumer::subscription(b, &subscription, router).spawn());
        }
    }
    let producer = broker(url, cluster, "publisher")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut publishes = futures_util::stream::iter(0..messages)
        .map(|n| {
            let (producer, topic) = (&producer, &topic);
            async move {
                let message = TopicMessage {
                    data: json!({"service": "bench", "n": n}),
                    attributes: Default::default(),
                    ordering_key: None,
                    expires_at_ms: None,
                    publisher: "bench".into(),
                };
                producer.publish_to_topic(topic, &message).await
            }
        })
        .buffer_unordered(256);
    while let Some(published) = publishes.next().await {
        published?;
    }
    let expected = messages * subscriptions as u64;
    wait_for(&delivered, expected, Duration::from_secs(120)).await?;
    let elapsed = started.elapsed();
    for c in consumers {
        c.stop().await;
    }
    Ok(rate(expected, elapsed))
}

async fn request_reply(url: &str, cluster: &str, requests: usize) -> anyhow::Result<Vec<Duration>> {
    let server = broker(url, cluster, "replier")?;
    let router = {
        let server = server.clone();
        Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            let server = server.clone();
            async move {
                server
                    .reply(&d.envelope, &d.envelope.payload)
                    .await
                    .map_err(|e| zato_broker::HandlerError::Retry(e.to_string()))
            }
        })
    };
    let consumer = QueueConsumer::new(server, Queue::Server, router).spawn();
    let client = broker(url, cluster, "client")?;
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests + 200 {
        let request = client.envelope(Action::ServiceInvoke, json!({"i": i}));
        let started = Instant::now();
        client
            .request(Target::Any, request, Duration::from_secs(5))
            .await?;
        if i >= 200 {
            latencies.push(started.elapsed()); // the first 200 warm up
        }
    }
    consumer.stop().await;
    latencies.sort();
    Ok(latencies)
}

async fn raw_ping(url: &str, count: usize) -> anyhow::Result<Vec<Duration>> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let (url, _own) = start_redis()?;
    let cluster = format!("bench{}", std::process::id());
    let payload = sample_payload(&broker(&url, &cluster, "sample")?)?;
    println!(
        "messages: {messages}, envelope: {} bytes, cores: {}",
        payload.len(),
        std::thread::available_parallelism()?
    );

    let raw_add = raw_xadd(&url, messages, &payload).await?;
    let raw_consume = raw_read_ack(&url, messages).await?;
    println!("raw pipelined XADD:            {raw_add:>10.0} msg/s");
    println!("raw XREADGROUP + XACK:         {raw_consume:>10.0} msg/s");
    let raw_e2e = raw_end_to_end(&url, messages, &payload).await?;
    println!("raw produce + consume at once: {raw_e2e:>10.0} msg/s");

    let any = one_to_any(&url, &cluster, messages, 1).await?;
    println!(
        "1:any end to end (1 prod, 2 cons): {any:>10.0} msg/s  = {:.2}x raw produce + consume",
        any / raw_e2e
    );
    for partitions in [2, 4] {
        let cluster = format!("{cluster}-p{partitions}");
        let rate = one_to_any(&url, &cluster, messages, partitions).await?;
        println!(
            "1:any, {partitions} partitions, one Redis: {rate:>10.0} msg/s  = {:.2}x 1 partition",
            rate / any
        );
    }
    // A Redis Cluster to compare with, on this machine unless one is given; ours is stopped
    // before the next figures, which it would otherwise share the cores with.
    if let Some((cluster_url, _own_cluster)) = start_cluster() {
        for partitions in [1, 2, 4] {
            let cluster = format!("{cluster}-c{partitions}");
            let rate = one_to_any(&cluster_url, &cluster, messages, partitions).await?;
            println!(
                "1:any, {partitions} partitions, Redis Cluster: {rate:>10.0} msg/s  = {:.2}x one Redis, 1 partition",
                rate / any
            );
        }
    }

    let all = one_to_all(&url, &cluster, messages / 4).await?;
    println!("1:all fan-out to 3 members:    {all:>10.0} deliveries/s");

    let one = pubsub(&url, &cluster, messages, 1).await?;
    println!(
        "pub/sub, 1 subscription:       {one:>10.0} msg/s  = {:.2}x 1:any end to end",
        one / any
    );
    let fan_out = pubsub(&url, &cluster, messages / 4, 3).await?;
    println!("pub/sub fan-out to 3 subs:     {fan_out:>10.0} deliveries/s");

    let ping = raw_ping(&url, 5_000).await?;
    let rr = request_reply(&url, &cluster, 5_000).await?;
    println!(
        "raw PING round trip:           p50 {:>6.0} us  p99 {:>6.0} us",
        percentile(&ping, 0.5).as_secs_f64() * 1e6,
        percentile(&ping, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "request/reply:                 p50 {:>6.0} us  p99 {:>6.0} us",
        percentile(&rr, 0.5).as_secs_f64() * 1e6,
        percentile(&rr, 0.99).as_secs_f64() * 1e6
    );
    Ok(())
}
