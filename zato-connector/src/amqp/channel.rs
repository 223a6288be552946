//! An AMQP channel: consumers of one queue that hand every delivery over to the servers.
//!
//! Each channel has its own AMQP connection with `consumers` AMQP channels on it, each with
//! the definition's prefetch (`basic.qos`) and its own lane: the lane's reader turns each
//! delivery into a `SERVICE_INVOKE` and queues it, and the lane's hand-over sends whatever
//! has queued to Redis as one pipeline ([`Broker::invoke_many`]), in delivery order, while
//! the reader goes on with the next deliveries (at most `prefetch` are ever outstanding on
//! an AMQP channel, RabbitMQ sees to that). A delivery is acknowledged only after Redis
//! holds its `SERVICE_INVOKE`: once a pipeline is stored, one `basic.ack` with `multiple`
//! settles every delivery up to its last, since everything before it on that AMQP channel
//! was settled already (stored and acknowledged, or refused below).
//!
//! - hand-over failed (Redis down): not acknowledged; after a short back-off the pipeline's
//!   deliveries are rejected with `requeue = true` (one `basic.nack` with `multiple`), so
//!   RabbitMQ delivers them again;
//! - the body is not JSON though the channel says `json`: rejected on its own with
//!   `requeue = false`, so it goes to the queue's dead-letter exchange if it has one (else
//!   RabbitMQ drops it); logged and counted as invalid;
//! - the connection is lost (broker restart, `rabbitmqctl close_all_connections`): every
//!   unacknowledged delivery goes back to the queue on RabbitMQ's side, and the worker
//!   reconnects with jittered back-off. A delivery that was handed over but whose ack was
//!   lost with the connection is delivered again: at least once, never lost;
//! - stop: the readers stop taking deliveries, the hand-overs send and settle what was
//!   queued, then the connection closes (RabbitMQ requeues whatever was prefetched but not
//!   yet received).
//!
//! Every acknowledgement of a lane goes out through its AMQP channel in the order it was
//! made (`Channel::basic_ack` queues its frame when first polled, and each is awaited before
//! the next), never through lapin's per-delivery `Acker`, whose frames may overtake each
//! other: a `multiple` acknowledgement must never cover a refusal still to be sent.
//!
//! [`Broker::invoke_many`]: zato_broker::Broker::invoke_many

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zato_common::model::{AmqpChannel, AmqpDefinition};
use zato_common::{ChannelKind, ServiceInvocation};

use super::connection::{connect, target};
use crate::handoff::payload;
use crate::metrics::Flow;
use crate::reconnect::keep_connected;
use crate::worker::{Ctx, STOP_TIMEOUT};

/// A channel with the definition it connects through; a change of either restarts it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSpec {
    pub channel: AmqpChannel,
    pub definition: AmqpDefinition,
}

/// Most deliveries sent to Redis in one pipeline.
const HAND_OVER_BATCH: usize = 256;

/// Most deliveries a lane holds between its reader and its hand-over when the definition
/// sets no prefetch (0: unlimited); otherwise the prefetch bounds them.
const UNLIMITED_PREFETCH_QUEUE: usize = 1024;

type Invocation = ServiceInvocation<Box<RawValue>>;

/// Runs the channel until `cancel` fires, reconnecting whenever the connection is lost.
pub async fn run(spec: ChannelSpec, ctx: Ctx, cancel: CancellationToken) {
    let spec = Arc::new(spec);
    let name = spec.channel.name.clone();
    let shown = target(&spec.definition);
    let link = ctx
        .connections
        .register("amqp_channel", &name, shown.clone());
    keep_connected(&link, &cancel, |_| session(&spec, &ctx, &cancel, &link)).await;
    info!(channel = %name, "AMQP channel stopped");
}

/// One connection's worth of consuming; `Ok` when cancelled, `Err` when the connection or a
/// consumer failed.
async fn session(
    spec: &Arc<ChannelSpec>,
    ctx: &Ctx,
    cancel: &CancellationToken,
    link: &crate::connections::Link,
) -> Result<(), String> {
    let channel = &spec.channel;
    let connection = connect(
        &spec.definition,
        &format!("zato-connector {} channel {}", ctx.member(), channel.name),
    )
    .await?;
    let queue = ShortString::try_new(channel.queue.as_str())
        .map_err(|_| "queue name is longer than 255 bytes".to_owned())?;
    let mut lanes = Vec::with_capacity(usize::from(channel.consumers));
    for i in 0..channel.consumers {
        let amqp = connection
            .create_channel()
            .await
            .map_err(|e| e.to_string())?;
        amqp.basic_qos(spec.definition.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let tag = ShortString::try_new(format!("zato.{}.{}.{i}", ctx.member(), channel.name))
            .unwrap_or_default();
        let consumer = amqp
            .basic_consume(
                queue.clone(),
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("cannot consume queue '{}': {e}", channel.queue))?;
        lanes.push((amqp, consumer));
    }
    link.connected();
    info!(channel = %channel.name, queue = %channel.queue, consumers = channel.consumers, "AMQP channel consuming");
    // Ends every lane's reader: on stop, or when one lane lost its consumer.
    let stop = cancel.child_token();
    let mut running = JoinSet::new();
    for (amqp, consumer) in lanes {
        running.spawn(lane(
            spec.clone(),
            ctx.clone(),
            stop.clone(),
            amqp,
            consumer,
        ));
    }
    let outcome = loop {
        tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            Some(ended) = running.join_next() => match ended {
                Ok(Err(e)) => break Err(e),
                // Stopped because another lane's consumer failed: its reason follows.
                Ok(Ok(())) => {}
                Err(e) => break Err(format!("AMQP channel lane failed: {e}")),
            },
        }
    };
    // No new deliveries from here on; what the lanes hold is handed over and acknowledged
    // (or requeued), then the connection closes and RabbitMQ requeues whatever was
    // prefetched but not received.
    stop.cancel();
    let drained = tokio::time::timeout(STOP_TIMEOUT, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(channel = %channel.name, "hand-overs still running at stop; their deliveries will be redelivered");
    }
    if connection.status().connected() {
        let _ = connection
            .close(200, "zato-connector channel stopped".into())
            .await;
    }
    outcome
}

/// One AMQP channel's consumer: its reader and its hand-over, until `stop` fires (`Ok`) or
/// the consumer ends (`Err`, having fired `stop` for the other lanes); what was queued is
/// handed over before it returns.
async fn lane(
    spec: Arc<ChannelSpec>,
    ctx: Ctx,
    stop: CancellationToken,
    amqp: Channel,
    consumer: Consumer,
) -> Result<(), String> {
    let capacity = match usize::from(spec.definition.prefetch) {
        0 => UNLIMITED_PREFETCH_QUEUE,
        prefetch => prefetch,
    };
    let (queue, received) = mpsc::channel(capacity);
    let read = read(&spec.channel, &ctx, &stop, &amqp, consumer, queue);
    let hand_over = hand_over(&spec.channel, &ctx, &stop, &amqp, received);
    let (outcome, ()) = tokio::join!(read, hand_over);
    outcome
}

/// Takes deliveries until `stop` fires (`Ok`) or the consumer ends (`Err`, and fires
/// `stop`), queueing each as its invocation; refuses (on its own, at once) a body the
/// channel does not take.
async fn read(
    channel: &AmqpChannel,
    ctx: &Ctx,
    stop: &CancellationToken,
    amqp: &Channel,
    mut consumer: Consumer,
    queue: mpsc::Sender<(u64, Invocation)>,
) -> Result<(), String> {
    let flow = &ctx.metrics.amqp_in;
    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => delivery,
                ended => {
                    stop.cancel();
                    return Err(match ended {
                        Some(Err(e)) => e.to_string(),
                        _ => "the broker cancelled the consumer".to_owned(),
                    });
                }
            },
        };
        Flow::bump(&flow.received);
        let tag = delivery.delivery_tag;
        let Some(invocation) = invocation(channel, &delivery) else {
            Flow::bump(&flow.invalid);
            // Sent before anything after it is acknowledged (see the module's doc).
            let refused = BasicNackOptions {
                multiple: false,
                requeue: false,
            };
            if let Err(e) = amqp.basic_nack(tag, refused).await {
                debug!(channel = %channel.name, error = %e, "refusal lost; the message will be redelivered");
            }
            continue;
        };
        tokio::select! {
            sent = queue.send((tag, invocation)) => if sent.is_err() { return Ok(()) },
            // Not queued: the closing connection gives it back to RabbitMQ.
            () = stop.cancelled() => return Ok(()),
        }
    }
}

/// The invocation a delivery becomes; `None` (logged) when its body is not what the channel
/// takes.
fn invocation(channel: &AmqpChannel, delivery: &Delivery) -> Option<Invocation> {
    let body = match payload(channel.data_format, &delivery.data) {
        Ok(body) => body,
        Err(e) => {
            warn!(channel = %channel.name, error = %e, "AMQP message refused (requeue = false: to the queue's dead-letter exchange, if any)");
            return None;
        }
    };
    Some(
        ServiceInvocation::new(&channel.service, ChannelKind::Amqp, body)
            .with_channel_name(&channel.name)
            .with_meta("amqp", super::properties::delivery_meta(delivery)),
    )
}

/// Sends what the reader queued to Redis, whatever has queued as one pipeline, and settles
/// it with RabbitMQ: acknowledged up to its last delivery once stored, else requeued after a
/// short back-off. Ends when the reader is gone and the queue is empty.
async fn hand_over(
    channel: &AmqpChannel,
    ctx: &Ctx,
    stop: &CancellationToken,
    amqp: &Channel,
    mut received: mpsc::Receiver<(u64, Invocation)>,
) {
    let flow = &ctx.metrics.amqp_in;
    let mut batch = Vec::with_capacity(HAND_OVER_BATCH);
    let mut invocations = Vec::with_capacity(HAND_OVER_BATCH);
    while received.recv_many(&mut batch, HAND_OVER_BATCH).await > 0 {
        // Deliveries come in tag order, so the last one's tag covers the whole pipeline.
        let last = batch.last().map_or(0, |(tag, _)| *tag);
        invocations.extend(batch.drain(..).map(|(_, invocation)| invocation));
        let count = invocations.len() as u64;
        match ctx.broker.invoke_many(&invocations).await {
            Ok(()) => {
                Flow::add(&flow.done, count);
                let all_up_to_last = BasicAckOptions { multiple: true };
                if let Err(e) = amqp.basic_ack(last, all_up_to_last).await {
                    // The connection went away with the ack: RabbitMQ delivers them again.
                    debug!(channel = %channel.name, error = %e, count, "ack lost; the messages will be redelivered");
                }
            }
            Err(e) => {
                Flow::add(&flow.failed, count);
                warn!(channel = %channel.name, error = %e, count, "cannot hand AMQP messages over; they go back to the queue");
                // Not at once: RabbitMQ would deliver them again straight away. A stop
                // does not wait (the closing connection would requeue them anyway).
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200 + fastrand::u64(0..300))) => {}
                    () = stop.cancelled() => {}
                }
                let requeue = BasicNackOptions {
                    multiple: true,
                    requeue: true,
                };
                if let Err(e) = amqp.basic_nack(last, requeue).await {
                    debug!(channel = %channel.name, error = %e, count, "requeue lost; RabbitMQ requeues them when the connection closes");
                }
            }
        }
        invocations.clear();
    }
}
