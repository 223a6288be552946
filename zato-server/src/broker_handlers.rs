//! The server's broker handlers: one per action, `on_broker_msg_<ACTION>` in Zato's terms.

use std::sync::Arc;

use serde_json::json;
use tracing::{debug, warn};
use zato_broker::{Delivery, HandlerError, HandlerResult, Router};
use zato_common::{Action, ConfigChange, ConfigKind, ServiceInvocation};

use crate::deployed::DeployedServices;
use crate::dispatcher::{Dispatcher, InvokeError};
use crate::handover::{self, Handover, MAX_HANDOVERS};
use crate::pubsub::PubSub;
use crate::service::{Body, Request, ServiceError};
use crate::worker_store::WorkerStore;

/// 1:all: config changes of the kinds a server caches, deployments, topics and
/// subscriptions.
pub fn all_router(
    store: &Arc<WorkerStore>,
    deployed: &Arc<DeployedServices>,
    pubsub: &Arc<PubSub>,
) -> Router {
    let mut router = Router::new();
    for kind in [
        ConfigKind::HttpChannel,
        ConfigKind::Security,
        ConfigKind::OutgoingRest,
        ConfigKind::OutgoingSql,
    ] {
        for action in [kind.create_edit_action(), kind.delete_action()] {
            let store = store.clone();
            router = router.route(action, move |d: Delivery| {
                let store = store.clone();
                async move { on_config_change(&store, d) }
            });
        }
    }
    let kind = ConfigKind::Service;
    for action in [kind.create_edit_action(), kind.delete_action()] {
        let deployed = deployed.clone();
        router = router.route(action, move |d: Delivery| {
            let deployed = deployed.clone();
            async move { on_deployment(&deployed, d) }
        });
    }
    for kind in [ConfigKind::Topic, ConfigKind::Subscription] {
        for action in [kind.create_edit_action(), kind.delete_action()] {
            let pubsub = pubsub.clone();
            router = router.route(action, move |d: Delivery| {
                let pubsub = pubsub.clone();
                async move {
                    let change: ConfigChange = d.payload()?;
                    pubsub.apply_change(&change);
                    Ok(())
                }
            });
        }
    }
    router
}

/// `SERVICE_DEPLOY`, `SERVICE_UNDEPLOY`: the new version is loaded in the background while
/// the old one serves, so 1:all is not held up by a compile.
fn on_deployment(deployed: &Arc<DeployedServices>, delivery: Delivery) -> HandlerResult {
    let change: ConfigChange = delivery.payload()?;
    deployed.apply_change(&change);
    Ok(())
}

/// `CHANNEL_HTTP_*`, `SECURITY_*`, `OUTGOING_REST_*` and `OUTGOING_SQL_*` (create-edit and
/// delete).
fn on_config_change(store: &WorkerStore, delivery: Delivery) -> HandlerResult {
    let change: ConfigChange = delivery.payload()?;
    store.apply_change(&change);
    Ok(())
}

/// 1:any: service invocations from invoke_async, the scheduler and the connector.
pub fn any_router(dispatcher: &Arc<Dispatcher>) -> Router {
    let dispatcher = dispatcher.clone();
    Router::new().route(Action::ServiceInvoke, move |d: Delivery| {
        let dispatcher = dispatcher.clone();
        async move { on_service_invoke(&dispatcher, d).await }
    })
}

/// `SERVICE_INVOKE`: runs the service; answers the caller if it asked for an answer.
///
/// A service that fails has still run: its failure is its answer (logged, replied), not a
/// reason to run it again, except when it failed because something it needs is unavailable
/// (`ServiceError::Unavailable`), which has it run again shortly. A service this server does
/// not have is handed to a live server that has it (`handover.rs`); when none has it, it is
/// refused, to the dead-letter stream, from where it can be replayed once the service is
/// deployed.
async fn on_service_invoke(dispatcher: &Arc<Dispatcher>, delivery: Delivery) -> HandlerResult {
    let invocation: ServiceInvocation = delivery.payload()?;
    let envelope = delivery.envelope;
    if !dispatcher.has(&invocation.service) {
        // Read before this server's first snapshot: it does not know the deployed services
        // yet.
        dispatcher.deployed().wait_for_records().await;
    }
    if !dispatcher.has(&invocation.service) {
        let (service, cid) = (invocation.service.clone(), invocation.cid.clone());
        return match handover::hand_over(dispatcher.broker(), &envelope, invocation).await {
            Ok(Handover::Sent { servers }) => {
                debug!(%service, %cid, servers, "not a service of this server: handed over to the servers that have it");
                Ok(())
            }
            Ok(Handover::Nobody) => Err(HandlerError::Reject(format!(
                "no such service: {service} (no live server has it)"
            ))),
            Ok(Handover::Exhausted) => Err(HandlerError::Reject(format!(
                "no such service: {service} (handed over {MAX_HANDOVERS} times without reaching a server that has it)"
            ))),
            Err(e) => Err(HandlerError::Unavailable(format!(
                "cannot hand {service} over: {e}"
            ))),
        };
    }
    let mut request = Request::new(
        invocation.cid.clone(),
        invocation.channel,
        invocation.payload,
    );
    request.channel_name = invocation.channel_name;
    request.meta = invocation.meta;
    if delivery.deliveries > 1 {
        request
            .meta
            .insert("deliveries".into(), json!(delivery.deliveries));
    }
    let outcome = dispatcher.invoke(&invocation.service, request).await;
    let answer = match outcome {
        Err(InvokeError::NoSuchService(name)) => {
            return Err(HandlerError::Reject(format!("no such service: {name}")));
        }
        Err(InvokeError::Service(ServiceError::Unavailable(reason))) => {
            // Something the service needs is down (Redis restarting, say): the work was not
            // done, so it is not acknowledged; the consumer runs it again after a short
            // back-off, for as long as the outage lasts.
            return Err(HandlerError::Unavailable(format!(
                "service unavailable: {reason}"
            )));
        }
        // Nobody waits for an answer (invoke_async, a job, a channel): none is built.
        _ if envelope.reply_to.is_none() => return Ok(()),
        Ok(response) => {
            let status = response.status;
            let body = match response.body {
                Body::Json(value) => value,
                Body::Text(text) => json!(text),
            };
            json!({"cid": invocation.cid, "status": status, "response": body})
        }
        Err(InvokeError::Service(e)) => {
            json!({"cid": invocation.cid, "status": e.status(), "error": e.public_message()})
        }
    };
    if let Err(e) = dispatcher.broker().reply(&envelope, answer).await {
        warn!(cid = %invocation.cid, error = %e, "could not send the reply; the caller will time out");
    }
    Ok(())
}
