//! 1:any work for a service this server does not have, handed to a server that has it.
//!
//! During a rolling upgrade, servers of two builds share the queue: a message for a service
//! compiled only into the newer build may reach an older server. Dead-lettering it for "no
//! such service" would lose work a live server could do, so the server puts it back in the
//! queue instead (the same envelope id, cid and `reply_to`, so a caller waiting for the
//! answer still gets it) when some live server advertises that service, and acknowledges
//! its own copy. Each hand-over is counted in the invocation's meta (`handovers`), and after
//! [`MAX_HANDOVERS`] the message is dead-lettered: the delay is at most that many trips
//! through the queue, each a few milliseconds.
//!
//! Services deployed at run time never come here: every server knows every deployed
//! service, and one still loading it waits for it instead (`Dispatcher::invoke`).

use serde_json::json;
use zato_broker::members::list_members;
use zato_broker::{Broker, BrokerError, Target};
use zato_common::{Envelope, RawEnvelope, ServiceInvocation};

/// How many times a message may be handed over before it is dead-lettered.
pub const MAX_HANDOVERS: u64 = 16;

/// The meta key counting hand-overs.
const HANDOVERS: &str = "handovers";

/// What became of a message for a service this server does not have.
#[derive(Debug, PartialEq, Eq)]
pub enum Handover {
    /// Put back in the queue for the `servers` live servers that have the service.
    Sent { servers: usize },
    /// No live server has the service.
    Nobody,
    /// Handed over [`MAX_HANDOVERS`] times already.
    Exhausted,
}

/// Advertises the services compiled into this server, replacing what it advertised before.
pub async fn advertise<'a>(
    broker: &Broker,
    services: impl Iterator<Item = &'a str>,
) -> Result<(), BrokerError> {
    let key = broker.keys().server_services(broker.member());
    let names: Vec<&str> = services.collect();
    let mut pipe = redis::pipe();
    pipe.atomic().del(&key).ignore();
    if !names.is_empty() {
        pipe.sadd(&key, names).ignore();
    }
    let mut conn = broker.redis().conn().await?;
    let () = pipe.query_async(&mut conn).await?;
    Ok(())
}

/// Hands `invocation` (read in `envelope`) to the live servers that have its service.
pub async fn hand_over(
    broker: &Broker,
    envelope: &RawEnvelope,
    mut invocation: ServiceInvocation,
) -> Result<Handover, BrokerError> {
    let hops = invocation
        .meta
        .get(HANDOVERS)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    if hops >= MAX_HANDOVERS {
        return Ok(Handover::Exhausted);
    }
    let mut others: Vec<String> = list_members(broker)
        .await?
        .into_iter()
        .filter(|m| m.role == "server" && m.name != broker.member())
        .map(|m| m.name)
        .collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return Ok(Handover::Nobody);
    }
    let mut pipe = redis::pipe();
    for member in &others {
        pipe.sismember(broker.keys().server_services(member), &invocation.service);
    }
    let mut conn = broker.redis().conn().await?;
    let has: Vec<bool> = pipe.query_async(&mut conn).await?;
    drop(conn);
    let having = has.into_iter().filter(|has| *has).count();
    if having == 0 {
        return Ok(Handover::Nobody);
    }
    invocation.meta.insert(HANDOVERS.into(), json!(hops + 1));
    let forwarded = Envelope {
        id: envelope.id,
        action: envelope.action.clone(),
        ts: envelope.ts,
        origin: envelope.origin.clone(),
        reply_to: envelope.reply_to.clone(),
        in_reply_to: envelope.in_reply_to,
        payload: invocation,
    };
    broker.publish(Target::Any, &forwarded).await?;
    Ok(Handover::Sent { servers: having })
}
