//! The broker handlers: config changes from 1:all, and publish/send requests from
//! 1:connector.

use std::sync::Arc;

use tracing::warn;
use zato_broker::{Broker, Delivery, HandlerError, HandlerResult, Router};
use zato_common::outgoing::{AmqpPublish, SendOutcome, ZmqSend};
use zato_common::{Action, ConfigChange, ConfigKind};

use crate::error::SendError;
use crate::metrics::{Flow, Metrics};
use crate::supervisor::Supervisor;

/// The kinds whose changes the connector applies; others (HTTP channels, security, jobs) are
/// not routed, so the broker acknowledges them as skipped.
const KINDS: [ConfigKind; 5] = [
    ConfigKind::AmqpDefinition,
    ConfigKind::AmqpChannel,
    ConfigKind::AmqpOutgoing,
    ConfigKind::ZmqChannel,
    ConfigKind::ZmqOutgoing,
];

/// 1:all: config changes of AMQP and ZeroMQ objects.
pub fn all_router(supervisor: &Arc<Supervisor>) -> Router {
    let mut router = Router::new();
    for kind in KINDS {
        for action in [kind.create_edit_action(), kind.delete_action()] {
            let supervisor = supervisor.clone();
            router = router.route(action, move |d: Delivery| {
                let supervisor = supervisor.clone();
                async move {
                    let change: ConfigChange = d.payload()?;
                    supervisor.apply_change(&change).await;
                    Ok(())
                }
            });
        }
    }
    router
}

/// 1:connector: outgoing AMQP publishes and ZeroMQ sends.
pub fn connector_router(
    broker: &Broker,
    supervisor: &Arc<Supervisor>,
    metrics: &Arc<Metrics>,
) -> Router {
    let amqp = {
        let (broker, supervisor, metrics) = (broker.clone(), supervisor.clone(), metrics.clone());
        move |d: Delivery| {
            let (broker, supervisor, metrics) =
                (broker.clone(), supervisor.clone(), metrics.clone());
            async move {
                let request: Result<AmqpPublish, _> = d.payload();
                let result = match &request {
                    Ok(request) => supervisor.publish_amqp(request).await,
                    Err(e) => Err(SendError::Invalid(e.to_string())),
                };
                let name = request.as_ref().map(|r| r.outgoing.as_str()).unwrap_or("?");
                answer(&broker, &d, &metrics.amqp_out, "AMQP", name, result).await
            }
        }
    };
    let zmq = {
        let (broker, supervisor, metrics) = (broker.clone(), supervisor.clone(), metrics.clone());
        move |d: Delivery| {
            let (broker, supervisor, metrics) =
                (broker.clone(), supervisor.clone(), metrics.clone());
            async move {
                let request: Result<ZmqSend, _> = d.payload();
                let result = match &request {
                    Ok(request) => supervisor.send_zmq(request).await,
                    Err(e) => Err(SendError::Invalid(e.to_string())),
                };
                let name = request.as_ref().map(|r| r.outgoing.as_str()).unwrap_or("?");
                answer(&broker, &d, &metrics.zmq_out, "ZeroMQ", name, result).await
            }
        }
    };
    Router::new()
        .route(Action::OutgoingAmqpPublish, amqp)
        .route(Action::OutgoingZmqSend, zmq)
}

/// Counts, logs and answers one publish or send.
async fn answer(
    broker: &Broker,
    d: &Delivery,
    flow: &Flow,
    kind: &str,
    name: &str,
    result: Result<(), SendError>,
) -> HandlerResult {
    Flow::bump(&flow.received);
    let outcome = match result {
        Ok(()) => {
            Flow::bump(&flow.done);
            SendOutcome {
                ok: true,
                error: None,
            }
        }
        Err(SendError::NotLeader) => {
            // Lease lost meanwhile: leave the request pending; the new holder claims it at
            // once and answers it.
            return Err(HandlerError::Retry("not the active connector".into()));
        }
        Err(e) => {
            if matches!(e, SendError::Invalid(_)) {
                Flow::bump(&flow.invalid);
            } else {
                Flow::bump(&flow.failed);
            }
            warn!(kind, outgoing = name, id = %d.envelope.id, error = %e, "outgoing message not sent");
            SendOutcome {
                ok: false,
                error: Some(e.to_string()),
            }
        }
    };
    let payload = serde_json::to_value(&outcome).unwrap_or_default();
    if let Err(e) = broker.reply(&d.envelope, payload).await {
        // Not retried: the message went out (or definitely did not); running it again
        // could send it twice. The caller times out instead.
        warn!(kind, outgoing = name, error = %e, "cannot answer the outgoing request");
    }
    Ok(())
}
