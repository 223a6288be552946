//! What a running service can reach: other services, the cluster, Redis.

use serde_json::Value;
use zato_broker::Broker;
use zato_common::{ChannelKind, ServiceInvocation};

use super::{Request, Response, ServiceError};
use crate::dispatcher::{Dispatcher, InvokeError};

/// A service's view of the server it runs on, for the length of one call.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    dispatcher: &'a Dispatcher,
    cid: &'a str,
}

impl<'a> Context<'a> {
    pub(crate) fn new(dispatcher: &'a Dispatcher, cid: &'a str) -> Self {
        Self { dispatcher, cid }
    }

    /// The correlation id of the request being handled.
    pub fn cid(&self) -> &str {
        self.cid
    }

    /// The broker client (for publishing, the config store, ...).
    pub fn broker(&self) -> &Broker {
        self.dispatcher.broker()
    }

    /// This server's member name.
    pub fn member(&self) -> &str {
        self.dispatcher.broker().member()
    }

    /// Redis, for a service's own state (keys should start with [`Context::key`]).
    pub fn redis(&self) -> &zato_broker::Redis {
        self.dispatcher.broker().redis()
    }

    /// A key in this cluster's namespace: `zato:{<cluster>}:<rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.dispatcher.broker().keys().prefix())
    }

    /// The outgoing connections: `ctx.outgoing().rest("crm").get(params)`,
    /// `.sql("billing").query(..)`, `.amqp("orders").publish(..)`.
    pub fn outgoing(&self) -> super::Outgoing<'_> {
        super::Outgoing {
            broker: self.dispatcher.broker(),
            connections: self.dispatcher.outgoing(),
        }
    }

    /// Publishes to a pub/sub topic: `ctx.publish("orders", Publication::new(json!({...})))`,
    /// with attributes, an ordering key or an expiry set on the publication. Returns the
    /// message's id once Redis has it; a missing topic is `NotFound`, an inactive or full one
    /// `Conflict`, a message over the topic's size `TooLarge`. Subscribers see the publisher
    /// as `server:<member>`.
    pub async fn publish(
        &self,
        topic: &str,
        publication: zato_common::pubsub::Publication,
    ) -> Result<String, ServiceError> {
        let publisher = format!("server:{}", self.member());
        self.dispatcher
            .pubsub()
            .publish(topic, publication, &publisher)
            .await
    }

    /// This server's pub/sub runtime (for the admin services).
    pub(crate) fn pubsub(&self) -> &std::sync::Arc<crate::pubsub::PubSub> {
        self.dispatcher.pubsub()
    }

    /// This server's outgoing REST and SQL connections themselves (for the admin services).
    pub(crate) fn outgoing_connections(&self) -> &crate::outgoing::OutgoingConnections {
        self.dispatcher.outgoing()
    }

    /// Whether no service called `name` is compiled into this server or deployed.
    pub fn invoke_target_missing(&self, name: &str) -> bool {
        !self.dispatcher.has(name)
    }

    /// Whether a service called `name` is compiled into this server.
    pub fn is_compiled_in(&self, name: &str) -> bool {
        self.dispatcher.registry().get(name).is_some()
    }

    /// Every service compiled into this server with its statistics.
    pub fn service_stats(&self) -> Vec<(String, super::StatsSnapshot)> {
        self.dispatcher.registry().stats()
    }

    /// The services deployed at run time.
    pub(crate) fn deployed(&self) -> &std::sync::Arc<crate::deployed::DeployedServices> {
        self.dispatcher.deployed()
    }

    /// A handle on the dispatcher that outlives this call's borrow (for a deployed service's
    /// host, which lives in a wasmtime store).
    pub(crate) fn dispatcher_handle(&self) -> Result<std::sync::Arc<Dispatcher>, ServiceError> {
        self.dispatcher
            .handle()
            .ok_or_else(|| ServiceError::Unavailable("the server is shutting down".into()))
    }

    /// Runs `service` here, now, and returns its response. The call shares this request's cid.
    pub async fn invoke(&self, service: &str, payload: Value) -> Result<Response, ServiceError> {
        let request = Request::new(self.cid, ChannelKind::Internal, payload);
        match self.dispatcher.invoke(service, request).await {
            Ok(response) => Ok(response),
            Err(InvokeError::NoSuchService(name)) => {
                Err(ServiceError::NotFound(format!("no such service: {name}")))
            }
            Err(InvokeError::Service(e)) => Err(e),
        }
    }

    /// Has any server of the cluster run `service`, at least once; returns the new request's
    /// cid once the broker holds the request.
    pub async fn invoke_async(
        &self,
        service: &str,
        payload: Value,
    ) -> Result<String, ServiceError> {
        invoke_async(self.dispatcher.broker(), service, payload).await
    }
}

/// Publishes a 1:any `SERVICE_INVOKE`; its cid.
pub(crate) async fn invoke_async(
    broker: &Broker,
    service: &str,
    payload: Value,
) -> Result<String, ServiceError> {
    let invocation = ServiceInvocation::new(service, ChannelKind::InvokeAsync, payload);
    broker.invoke_async(&invocation).await?;
    Ok(invocation.cid)
}
