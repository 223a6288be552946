//! An outgoing AMQP connection: publishes on behalf of services, with publisher confirms.
//!
//! A background task keeps one connection and one confirm-mode channel open (and opens them
//! again when lost); publishes share that channel and each waits for its own confirmation.
//! Messages are published `mandatory`, so one that no queue would receive comes back as an
//! error instead of vanishing. Every failure is returned to the caller (and logged and
//! counted by the request handler): nothing is dropped silently, unlike Zato 2 (issue 559).

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Connection};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::info;
use zato_common::model::{AmqpDefinition, AmqpOutgoing};
use zato_common::outgoing::{AmqpPublish, body_bytes};

use super::connection::{connect, target};
use super::properties;
use crate::error::SendError;
use crate::reconnect::keep_connected;
use crate::worker::Ctx;

/// An outgoing connection with the definition it connects through.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingSpec {
    pub outgoing: AmqpOutgoing,
    pub definition: AmqpDefinition,
}

/// The open channel, numbered so that a publish that failed on one can wait for the next.
type Current = Option<(u64, Channel)>;

/// What publishes go through.
pub struct Publisher {
    spec: OutgoingSpec,
    current: watch::Receiver<Current>,
}

/// Starts keeping the connection of `spec` open; returns the publisher and the task's
/// future, which ends soon after `cancel` fires.
pub fn start(
    spec: OutgoingSpec,
    ctx: Ctx,
    cancel: CancellationToken,
) -> (Publisher, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = watch::channel(None);
    let task = keep_open(spec.clone(), ctx, cancel, tx);
    (Publisher { spec, current: rx }, task)
}

async fn keep_open(
    spec: OutgoingSpec,
    ctx: Ctx,
    cancel: CancellationToken,
    tx: watch::Sender<Current>,
) {
    let name = spec.outgoing.name.clone();
    let shown = target(&spec.definition);
    let link = ctx
        .connections
        .register("amqp_outgoing", &name, shown.clone());
    let (spec, ctx, tx, link_ref, cancel_ref) = (&spec, &ctx, &tx, &link, &cancel);
    let (name_ref, shown_ref) = (&name, &shown);
    keep_connected(&link, &cancel, |generation| async move {
        let (connection, channel) = open(spec, ctx).await?;
        tx.send_replace(Some((generation, channel.clone())));
        link_ref.connected();
        info!(outgoing = %name_ref, target = %shown_ref, "AMQP outgoing connection open");
        let error = watch_until_lost(&connection, &channel, cancel_ref).await;
        tx.send_replace(None);
        if connection.status().connected() {
            let _ = connection
                .close(200, "zato-connector outgoing stopped".into())
                .await;
        }
        error.map_or(Ok(()), Err)
    })
    .await;
    tx.send_replace(None);
    info!(outgoing = %name, "AMQP outgoing connection stopped");
}

async fn open(spec: &OutgoingSpec, ctx: &Ctx) -> Result<(Connection, Channel), String> {
    let connection = connect(
        &spec.definition,
        &format!(
            "zato-connector {} outgoing {}",
            ctx.member(),
            spec.outgoing.name
        ),
    )
    .await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok((connection, channel))
}

/// Waits until the connection or channel is lost (`Some(why)`) or `cancel` fires (`None`).
/// A publish to a missing exchange closes the channel (404), which this also notices.
async fn watch_until_lost(
    connection: &Connection,
    channel: &Channel,
    cancel: &CancellationToken,
) -> Option<String> {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        if !connection.status().connected() {
            return Some("connection lost".to_owned());
        }
        if !channel.status().connected() {
            return Some("channel closed by the broker".to_owned());
        }
    }
}

impl Publisher {
    /// Publishes one message and waits for the broker's confirmation, for at most `timeout`
    /// (waiting for the connection included). A message the broker never took (the channel
    /// was down) is tried again on the next channel within that time; one whose confirmation
    /// was lost is reported as failed, since it may or may not have arrived.
    pub async fn publish(&self, request: &AmqpPublish, timeout: Duration) -> Result<(), SendError> {
        let outgoing = &self.spec.outgoing;
        let (routing_key, props) = properties::build(outgoing, request)?;
        let exchange = ShortString::try_new(outgoing.exchange.as_str())
            .map_err(|_| SendError::Invalid("exchange is longer than 255 bytes".into()))?;
        let body = body_bytes(&request.body);
        let deadline = Instant::now() + timeout;
        let mut current = self.current.clone();
        let mut failed_on: Option<u64> = None;
        let mut last_error = format!(
            "not connected to {} within {timeout:?}",
            target(&self.spec.definition)
        );
        loop {
            let picked = tokio::time::timeout_at(deadline, async {
                current
                    .wait_for(|c| matches!(c, Some((g, _)) if Some(*g) != failed_on))
                    .await
                    .map(|guard| guard.as_ref().map(|(g, c)| (*g, c.clone())))
            })
            .await;
            let picked = match picked {
                Ok(Ok(picked)) => picked,
                Ok(Err(_)) => return Err(SendError::Failed("outgoing connection stopped".into())),
                Err(_) => return Err(SendError::Failed(last_error)),
            };
            let Some((generation, channel)) = picked else {
                continue;
            };
            let confirm = match channel
                .basic_publish(
                    exchange.clone(),
                    routing_key.clone(),
                    BasicPublishOptions {
                        mandatory: true,
                        immediate: false,
                    },
                    &body,
                    props.clone(),
                )
                .await
            {
                Ok(confirm) => confirm,
                Err(e) => {
                    // Not sent: try again on the next channel, while time is left.
                    last_error = format!("publish failed: {e}");
                    failed_on = Some(generation);
                    continue;
                }
            };
            let confirmation = match tokio::time::timeout_at(deadline, confirm).await {
                Ok(Ok(confirmation)) => confirmation,
                Ok(Err(e)) => {
                    return Err(SendError::Failed(format!("publish not confirmed: {e}")));
                }
                Err(_) => {
                    return Err(SendError::Failed(format!(
                        "publish not confirmed within {timeout:?}"
                    )));
                }
            };
            if confirmation.is_nack() {
                return Err(SendError::Failed(
                    "the broker refused the message (nack)".into(),
                ));
            }
            if let Some(returned) = confirmation.take_message() {
                return Err(SendError::Failed(format!(
                    "unroutable: {} {} (exchange '{}', routing key '{}')",
                    returned.reply_code, returned.reply_text, outgoing.exchange, routing_key
                )));
            }
            return Ok(());
        }
    }
}
