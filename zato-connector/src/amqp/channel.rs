//! An AMQP channel: consumers of one queue that hand every delivery over to the servers.
//!
//! Each channel has its own AMQP connection with `consumers` AMQP channels on it, each with
//! the definition's prefetch (`basic.qos`). Deliveries are handed over concurrently (at most
//! `prefetch` per consumer are ever outstanding, RabbitMQ sees to that) and each is
//! acknowledged only after Redis holds its `SERVICE_INVOKE`:
//!
//! - hand-over failed (Redis down): not acknowledged; after a short back-off it is
//!   rejected with `requeue = true`, so RabbitMQ delivers it again;
//! - the body is not JSON though the channel says `json`: rejected with `requeue = false`,
//!   so it goes to the queue's dead-letter exchange if it has one (else RabbitMQ drops it);
//!   logged and counted as invalid;
//! - the connection is lost (broker restart, `rabbitmqctl close_all_connections`): every
//!   unacknowledged delivery goes back to the queue on RabbitMQ's side, and the worker
//!   reconnects with jittered back-off. A delivery that was handed over but whose ack was
//!   lost with the connection is delivered again: at least once, never lost.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zato_broker::Backoff;
use zato_common::model::{AmqpChannel, AmqpDefinition};
use zato_common::{ChannelKind, ServiceInvocation};

use super::connection::{connect, target};
use crate::handoff::payload;
use crate::metrics::Flow;
use crate::worker::{Ctx, STOP_TIMEOUT};

/// A channel with the definition it connects through; a change of either restarts it.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelSpec {
    pub channel: AmqpChannel,
    pub definition: AmqpDefinition,
}

/// Runs the channel until `cancel` fires, reconnecting whenever the connection is lost.
pub async fn run(spec: ChannelSpec, ctx: Ctx, cancel: CancellationToken) {
    let name = spec.channel.name.clone();
    let shown = target(&spec.definition);
    let link = ctx
        .connections
        .register("amqp_channel", &name, shown.clone());
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    while !cancel.is_cancelled() {
        link.connecting();
        let error = match session(&spec, &ctx, &cancel, &link).await {
            Ok(()) => break,
            Err(e) => e,
        };
        if cancel.is_cancelled() {
            break;
        }
        if link.is_connected() {
            // It was working: start again from the shortest delay.
            backoff.reset();
        }
        let delay = backoff.next_delay();
        warn!(channel = %name, target = %shown, error = %error, ?delay, "AMQP channel lost its connection; reconnecting");
        link.failed(&error);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => break,
        }
    }
    info!(channel = %name, "AMQP channel stopped");
}

/// One connection's worth of consuming; `Ok` when cancelled, `Err` when the connection or a
/// consumer failed.
async fn session(
    spec: &ChannelSpec,
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
    let mut consumers = Vec::with_capacity(usize::from(channel.consumers));
    let mut amqp_channels = Vec::new();
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
        consumers.push(consumer);
        amqp_channels.push(amqp);
    }
    link.connected();
    info!(channel = %channel.name, queue = %channel.queue, consumers = channel.consumers, "AMQP channel consuming");
    let mut deliveries = futures_util::stream::select_all(consumers);
    let mut in_flight = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    in_flight.spawn(deliver(channel.clone(), ctx.clone(), delivery));
                }
                Some(Err(e)) => break Err(e.to_string()),
                None => break Err("the broker cancelled the consumer".to_owned()),
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    };
    // No new deliveries from here on; those in flight finish their hand-over and are
    // acknowledged (or requeued), then the connection closes and RabbitMQ requeues whatever
    // was prefetched but not started.
    drop(deliveries);
    let drained = tokio::time::timeout(STOP_TIMEOUT, async {
        while in_flight.join_next().await.is_some() {}
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

/// Hands one delivery over and settles it with RabbitMQ.
async fn deliver(channel: AmqpChannel, ctx: Ctx, delivery: Delivery) {
    let flow = &ctx.metrics.amqp_in;
    Flow::bump(&flow.received);
    let body = match payload(channel.data_format, &delivery.data) {
        Ok(body) => body,
        Err(e) => {
            Flow::bump(&flow.invalid);
            warn!(channel = %channel.name, error = %e, "AMQP message refused (requeue = false: to the queue's dead-letter exchange, if any)");
            let _ = delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: false,
                })
                .await;
            return;
        }
    };
    let invocation = ServiceInvocation::new(&channel.service, ChannelKind::Amqp, body)
        .with_channel_name(&channel.name)
        .with_meta("amqp", super::properties::delivery_meta(&delivery));
    match ctx.broker.invoke_async(&invocation).await {
        Ok(_) => {
            Flow::bump(&flow.done);
            if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                // The connection went away with the ack: RabbitMQ delivers it again.
                debug!(channel = %channel.name, error = %e, "ack lost; the message will be redelivered");
            }
        }
        Err(e) => {
            Flow::bump(&flow.failed);
            warn!(channel = %channel.name, error = %e, "cannot hand the AMQP message over; it goes back to the queue");
            tokio::time::sleep(Duration::from_millis(200 + fastrand::u64(0..300))).await;
            let _ = delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await;
        }
    }
}
