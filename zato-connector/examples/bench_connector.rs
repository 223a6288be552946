//! Connector throughput beside raw lapin consumers and 1:any alone, all in the same run.
//!
//! ```sh
//! cargo run --profile dist -p zato-connector --example bench_connector -- [MESSAGES]
//! ```
//!
//! Starts its own `redis-server` on a free port (set `ZATO_BENCH_REDIS_URL` to use another)
//! and uses the RabbitMQ at `ZATO_BENCH_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). For MESSAGES messages (default 100,000) it
//! prints:
//! - **raw lapin, one ack per delivery**: a queue pre-filled with MESSAGES JSON bodies
//!   drained by lapin alone (the same consumers and prefetch as the channel below), each
//!   delivery acknowledged on its own, messages/s;
//! - **raw lapin, batched acks**: the same from a second queue, acknowledged as the channel
//!   does: per consumer a reader queues the delivery tags and an acknowledger settles
//!   whatever has queued (at most 256) with one `basic.ack` with `multiple`, awaited before
//!   the next, while the reader goes on: the ceiling of an AMQP consumer here, and the
//!   baseline of the channel;
//! - **AMQP channel to service**: the same MESSAGES, pre-filled in a third queue, drained by
//!   a connector (run in this process through the library) whose AMQP channel hands each one
//!   over to the servers' 1:any queue, where a `QueueConsumer` standing in for a server runs
//!   a counting handler for every `SERVICE_INVOKE`; from the channel's creation until the
//!   last invocation was handled; messages/s and the ratio to both raw figures;
//! - **1:any end to end**: MESSAGES `SERVICE_INVOKE` envelopes of the size the ZeroMQ channel
//!   makes, published by a producer in this process (`Broker::invoke_many`, pipelines of 256,
//!   the channel's largest) to 1:any and counted by the same stand-in server: the ceiling of
//!   any hand-over to the servers, and the baseline of the ZeroMQ channel;
//! - **ZeroMQ PUSH to PULL channel to service**: MESSAGES sent by a `zeromq` PUSH socket in
//!   this process into a connector PULL channel, until the last invocation was handled;
//!   messages/s and the ratio to 1:any.
//!
//! The queues have unique names and are deleted at the end.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::json;
use zato_broker::{Broker, BrokerConfig, ConfigStore, Delivery, Queue, QueueConsumer, Router};
use zato_common::model::{AmqpChannel, AmqpDefinition, ZmqChannel};
use zato_common::redis_server::{Launch, RedisServer};
use zato_common::settings::BrokerSettings;
use zato_common::{Action, ChannelKind, ServiceInvocation};
use zato_connector::{Connector, ConnectorSettings};
use zeromq::{PushSocket, Socket, SocketSend, ZmqMessage};

/// AMQP consumers per queue, for lapin alone and for the channel alike.
const CONSUMERS: u16 = 2;
/// Unacknowledged deliveries per consumer, for lapin alone and for the channel alike.
const PREFETCH: u16 = 200;

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The Redis to measure against: `ZATO_BENCH_REDIS_URL`, else one of our own (empty, no
/// persistence), stopped when the returned server is dropped.
fn start_redis() -> anyhow::Result<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("ZATO_BENCH_REDIS_URL") {
        return Ok((url, None));
    }
    let redis = Launch::temporary()?.start()?;
    Ok((redis.url(), Some(redis)))
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn short(s: &str) -> ShortString {
    ShortString::try_new(s).expect("names here are short")
}

/// The body of message `n`: a small JSON document, as a typical integration message.
fn body(n: u64) -> Vec<u8> {
    json!({"n": n, "order": format!("ORD-{n:08}"), "customer": "ACME Ltd", "amount": 1234.5, "currency": "EUR"})
        .to_string()
        .into_bytes()
}

async fn connect(url: &str, name: &str) -> anyhow::Result<Connection> {
    Ok(Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await?)
}

/// Declares `queue` (not durable, deleted at the end) and fills it with `messages` bodies,
/// with publisher confirms, so every one is in the queue when this returns.
async fn fill(admin: &Channel, url: &str, queue: &str, messages: u64) -> anyhow::Result<()> {
    admin
        .queue_declare(
            short(queue),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let connection = connect(url, "zato-bench filler").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut n = 0;
    while n < messages {
        let mut confirms = Vec::with_capacity(1000);
        for _ in 0..1000.min(messages - n) {
            confirms.push(
                channel
                    .basic_publish(
                        short(""),
                        short(queue),
                        BasicPublishOptions::default(),
                        &body(n),
                        BasicProperties::default().with_content_type(short("application/json")),
                    )
                    .await?,
            );
            n += 1;
        }
        for confirm in confirms {
            if confirm.await?.is_nack() {
                bail!("RabbitMQ refused a message while filling {queue}");
            }
        }
    }
    connection.close(200, "filled".into()).await?;
    let ready = ready(admin, queue).await?;
    if ready != messages {
        bail!("{queue} holds {ready} messages, not {messages}");
    }
    Ok(())
}

/// Messages ready in `queue`.
async fn ready(admin: &Channel, queue: &str) -> anyhow::Result<u64> {
    let declared = admin
        .queue_declare(
            short(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(u64::from(declared.message_count()))
}

/// How the raw consumer acknowledges.
#[derive(Clone, Copy)]
enum Acks {
    /// Each delivery on its own, not awaited one by one.
    Each,
    /// Per consumer, what has queued (at most [`ACK_BATCH`]) with one `multiple` ack, awaited.
    Batched,
}

/// Most deliveries settled by one batched ack: the channel's largest hand-over.
const ACK_BATCH: usize = 256;

/// lapin alone: `CONSUMERS` channels with `PREFETCH` each drain the queue.
async fn raw_lapin(url: &str, queue: &str, messages: u64, acks: Acks) -> anyhow::Result<f64> {
    match acks {
        Acks::Each => raw_lapin_each(url, queue, messages).await,
        Acks::Batched => raw_lapin_batched(url, queue, messages).await,
    }
}

/// The consumers of `queue`, `CONSUMERS` channels with `PREFETCH` each.
async fn raw_consumers(
    connection: &Connection,
    queue: &str,
) -> anyhow::Result<Vec<(Channel, lapin::Consumer)>> {
    let mut consumers = Vec::new();
    for i in 0..CONSUMERS {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                short(queue),
                short(&format!("raw-{i}")),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        consumers.push((channel, consumer));
    }
    Ok(consumers)
}

/// Every consumer in a task of its own, split as the channel's lanes are: a reader takes
/// deliveries and queues their tags, an acknowledger takes whatever tags have queued (at
/// most `ACK_BATCH`) and acknowledges up to the last with one `basic.ack` with `multiple`,
/// awaited before the next, while the reader goes on; until `messages` were acknowledged.
async fn raw_lapin_batched(url: &str, queue: &str, messages: u64) -> anyhow::Result<f64> {
    let connection = connect(url, "zato-bench raw consumer").await?;
    let started = Instant::now();
    let acked = Arc::new(AtomicU64::new(0));
    // When the last message was acknowledged, by whichever consumer.
    let finished = Arc::new(std::sync::OnceLock::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let mut lanes = tokio::task::JoinSet::new();
    for (channel, mut consumer) in raw_consumers(&connection, queue).await? {
        let (acked, finished, stop) = (acked.clone(), finished.clone(), stop.clone());
        lanes.spawn(async move {
            let (tags, mut queued) = tokio::sync::mpsc::channel(usize::from(PREFETCH));
            let read = async move {
                loop {
                    let delivery = tokio::select! {
                        () = stop.cancelled() => return anyhow::Ok(()),
                        next = consumer.next() => next.context("raw consumer cancelled")??,
                    };
                    tags.send(delivery.delivery_tag).await?;
                }
            };
            let acknowledge = async move {
                let mut batch = Vec::with_capacity(ACK_BATCH);
                while queued.recv_many(&mut batch, ACK_BATCH).await > 0 {
                    let last = batch[batch.len() - 1];
                    channel
                        .basic_ack(last, BasicAckOptions { multiple: true })
                        .await?;
                    let count = batch.len() as u64;
                    batch.clear();
                    if acked.fetch_add(count, Ordering::Relaxed) + count >= messages {
                        let _ = finished.set(started.elapsed());
                    }
                }
                anyhow::Ok(())
            };
            let (read, acknowledge) = tokio::join!(read, acknowledge);
            read.and(acknowledge)
        });
    }
    let deadline = started + Duration::from_secs(300);
    while acked.load(Ordering::Relaxed) < messages {
        if Instant::now() > deadline {
            bail!("raw consumer stalled");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.cancel();
    while let Some(lane) = lanes.join_next().await {
        lane??;
    }
    let elapsed = *finished.get().context("nothing acknowledged")?;
    connection.close(200, "drained".into()).await?;
    Ok(rate(acked.load(Ordering::Relaxed), elapsed))
}

/// Acknowledges every delivery on its own.
async fn raw_lapin_each(url: &str, queue: &str, messages: u64) -> anyhow::Result<f64> {
    let connection = connect(url, "zato-bench raw consumer").await?;
    let started = Instant::now();
    let (_channels, consumers): (Vec<_>, Vec<_>) =
        raw_consumers(&connection, queue).await?.into_iter().unzip();
    let mut deliveries = futures_util::stream::select_all(consumers);
    // Acknowledgements are sent without waiting for one before taking the next delivery
    // (awaiting each in turn halves the rate here: one wake-up of lapin's I/O loop each).
    let mut acks = futures_util::stream::FuturesUnordered::new();
    let mut received = 0;
    while received < messages {
        tokio::select! {
            next = tokio::time::timeout(Duration::from_secs(30), deliveries.next()) => {
                let delivery = next
                    .context("raw consumer stalled")?
                    .context("raw consumer cancelled")??;
                received += 1;
                acks.push(async move { delivery.ack(BasicAckOptions::default()).await });
            }
            Some(acked) = acks.next(), if !acks.is_empty() => { acked?; }
        }
    }
    while let Some(acked) = acks.next().await {
        acked?;
    }
    let elapsed = started.elapsed();
    drop(deliveries);
    connection.close(200, "drained".into()).await?;
    Ok(rate(messages, elapsed))
}

/// Invocations handled by the stand-in server, per channel kind (and the 1:any baseline's,
/// told apart by their channel name).
#[derive(Default)]
struct Handled {
    amqp: AtomicU64,
    zmq: AtomicU64,
    any: AtomicU64,
}

/// The channel name the 1:any baseline's invocations carry; as long as the ZeroMQ
/// channel's, so that their envelopes are as long as the channel's.
const ANY_NAME: &str = "bench-1any";
const PULL_NAME: &str = "bench-pull";

/// 1:any alone: `messages` invocations like the ZeroMQ channel's (same body, kind, meta and
/// name length) published in pipelines of the channel's largest size, from the first until
/// the stand-in server handled the last.
async fn one_to_any(producer: &Broker, handled: &AtomicU64, messages: u64) -> anyhow::Result<f64> {
    const PIPELINE: u64 = 256;
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let batch = (sent..(sent + PIPELINE).min(messages))
            .map(|n| {
                let body = serde_json::value::RawValue::from_string(String::from_utf8(body(n))?)?;
                Ok(
                    ServiceInvocation::new("bench.count", ChannelKind::Zmq, body)
                        .with_channel_name(ANY_NAME)
                        .with_meta("zmq", json!({"socket_type": "PULL", "frames": []})),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        sent += batch.len() as u64;
        producer.invoke_many(&batch).await?;
    }
    wait_for(handled, messages, Duration::from_secs(300)).await?;
    Ok(rate(messages, started.elapsed()))
}

async fn wait_for(counter: &AtomicU64, target: u64, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while counter.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            bail!(
                "only {} of {target} handled after {limit:?}",
                counter.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// `GET /zato/health` of the in-process connector, as JSON (any status).
async fn health(port: u16) -> Option<serde_json::Value> {
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(b"GET /zato/health HTTP/1.0\r\n\r\n")?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        std::io::Result::Ok(text)
    })
    .await
    .ok()?
    .ok()?;
    serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()
}

async fn wait_health(
    port: u16,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if health(port).await.is_some_and(|h| check(&h)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("connector not {what}: {:?}", health(port).await);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn broker(
    url: &str,
    cluster: &str,
    member: &str,
    settings: BrokerSettings,
) -> anyhow::Result<Broker> {
    Ok(Broker::new(BrokerConfig {
        redis_url: url.to_owned(),
        cluster: cluster.to_owned(),
        member: member.to_owned(),
        role: "bench".to_owned(),
        settings,
    })?)
}

/// Sends `messages` bodies through a PUSH socket connected to the channel's address; returns
/// the socket, to be kept open until everything was received (the crate has no linger).
async fn push_all(address: &str, messages: u64) -> anyhow::Result<PushSocket> {
    let mut push = PushSocket::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = push.connect(address).await {
        if Instant::now() > deadline {
            bail!("cannot connect a PUSH socket to {address}: {e}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..messages {
        push.send(ZmqMessage::from(body(n))).await?;
    }
    Ok(push)
}

/// The queues of one run: one per consumer measured.
struct Queues {
    raw_each: String,
    raw_batched: String,
    channel: String,
}

impl Queues {
    fn all(&self) -> [&str; 3] {
        [&self.raw_each, &self.raw_batched, &self.channel]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let amqp_url = std::env::var("ZATO_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let (redis_url, _own) = start_redis()?;
    let cluster = format!("bench{}", std::process::id());
    let tag = format!(
        "zato-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let queues = Queues {
        raw_each: format!("{tag}-raw-each"),
        raw_batched: format!("{tag}-raw-batched"),
        channel: format!("{tag}-channel"),
    };
    println!(
        "messages: {messages}, body: {} bytes, consumers: {CONSUMERS}, prefetch: {PREFETCH}, cores: {}",
        body(0).len(),
        std::thread::available_parallelism()?
    );

    let admin_connection = connect(&amqp_url, "zato-bench admin").await?;
    let admin = admin_connection.create_channel().await?;
    let outcome = run(&amqp_url, &redis_url, &cluster, &admin, &queues, messages).await;
    for queue in queues.all() {
        let _ = admin
            .queue_delete(short(queue), QueueDeleteOptions::default())
            .await;
    }
    let _ = admin_connection.close(200, "done".into()).await;
    outcome
}

async fn run(
    amqp_url: &str,
    redis_url: &str,
    cluster: &str,
    admin: &Channel,
    queues: &Queues,
    messages: u64,
) -> anyhow::Result<()> {
    for queue in queues.all() {
        fill(admin, amqp_url, queue, messages).await?;
    }

    let each = raw_lapin(amqp_url, &queues.raw_each, messages, Acks::Each).await?;
    println!("raw lapin, one ack per delivery:        {each:>9.0} msg/s");
    let raw = raw_lapin(amqp_url, &queues.raw_batched, messages, Acks::Batched).await?;
    println!("raw lapin, batched acks:                {raw:>9.0} msg/s");

    // A connector in this process, and a stand-in server counting the invocations.
    let handled = Arc::new(Handled::default());
    let server = {
        let handled = handled.clone();
        let router = Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
            // Parsed as a server parses it, so the stand-in costs what a server would.
            let counter = match d.payload::<ServiceInvocation>() {
                Ok(i) if i.channel_name.as_deref() == Some(ANY_NAME) => Some(&handled.any),
                Ok(i) if i.channel == ChannelKind::Amqp => Some(&handled.amqp),
                Ok(i) if i.channel == ChannelKind::Zmq => Some(&handled.zmq),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            async { Ok(()) }
        });
        let settings = BrokerSettings {
            read_batch: 512,
            concurrency: 1024,
            ..BrokerSettings::default()
        };
        QueueConsumer::new(
            broker(redis_url, cluster, "bench-server", settings)?,
            Queue::Server,
            router,
        )
        .spawn()
    };
    let http = free_port()?;
    let settings = ConnectorSettings {
        cluster: cluster.to_owned(),
        member: "bench-connector".into(),
        redis_url: redis_url.to_owned(),
        bind: format!("127.0.0.1:{http}"),
        ..ConnectorSettings::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let connector = tokio::spawn(Connector::new(settings).run_until(async {
        let _ = stop_rx.await;
    }));
    wait_health(http, "active", |h| h["lease"]["role"] == "active").await?;
    let store = ConfigStore::new(broker(
        redis_url,
        cluster,
        "bench-admin",
        BrokerSettings::default(),
    )?);
    let definition: AmqpDefinition = serde_json::from_value(json!({
        "name": "rabbit", "url": amqp_url, "prefetch": PREFETCH
    }))?;
    store.create(&definition).await?;
    let channel: AmqpChannel = serde_json::from_value(json!({
        "name": "bench-in", "definition": "rabbit", "queue": queues.channel,
        "service": "bench.count", "data_format": "json", "consumers": CONSUMERS
    }))?;

    let started = Instant::now();
    store.create(&channel).await?;
    wait_for(&handled.amqp, messages, Duration::from_secs(300)).await?;
    let through = rate(messages, started.elapsed());
    println!(
        "AMQP channel to service:                {through:>9.0} msg/s  = {:.2}x raw lapin batched, {:.2}x one ack each",
        through / raw,
        through / each
    );
    let left = ready(admin, &queues.channel).await?;
    if left != 0 {
        bail!("{left} messages still ready in {}", queues.channel);
    }

    let producer = broker(
        redis_url,
        cluster,
        "bench-producer",
        BrokerSettings::default(),
    )?;
    let any = one_to_any(&producer, &handled.any, messages).await?;
    println!("1:any end to end (invoke_many, 256):    {any:>9.0} msg/s");

    let address = format!("tcp://127.0.0.1:{}", free_port()?);
    let pull: ZmqChannel = serde_json::from_value(json!({
        "name": PULL_NAME, "address": address, "socket_type": "PULL", "bind": true,
        "service": "bench.count", "data_format": "json"
    }))?;
    store.create(&pull).await?;
    wait_health(http, "bound on the PULL channel", |h| {
        h["connections"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["name"] == PULL_NAME && c["state"] == "connected")
        })
    })
    .await?;
    let started = Instant::now();
    let push = push_all(&address, messages).await?;
    wait_for(&handled.zmq, messages, Duration::from_secs(300)).await?;
    let zmq = rate(messages, started.elapsed());
    drop(push);
    println!(
        "ZeroMQ PUSH to PULL channel to service: {zmq:>9.0} msg/s  = {:.2}x 1:any",
        zmq / any
    );

    let _ = stop_tx.send(());
    connector.await??;
    server.stop().await;
    Ok(())
}
