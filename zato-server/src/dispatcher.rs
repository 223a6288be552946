//! The one dispatcher every channel goes through: request in, service run, response out,
//! statistics kept.

use std::sync::Arc;
use std::time::Instant;

use tracing::{error, warn};
use zato_broker::Broker;

use crate::outgoing::OutgoingConnections;

use crate::service::{
    Context, RegisteredService, Request, Response, ServiceError, ServiceRegistry,
};

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No service of that name on this server.
    NoSuchService(String),
    /// The service failed.
    Service(ServiceError),
}

/// Runs services by name for every channel.
pub struct Dispatcher {
    registry: ServiceRegistry,
    broker: Broker,
    outgoing: Arc<OutgoingConnections>,
}

impl Dispatcher {
    pub fn new(
        registry: ServiceRegistry,
        broker: Broker,
        outgoing: Arc<OutgoingConnections>,
    ) -> Arc<Self> {
        Arc::new(Self {
            registry,
            broker,
            outgoing,
        })
    }

    /// This server's outgoing REST and SQL connections.
    pub fn outgoing(&self) -> &OutgoingConnections {
        &self.outgoing
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn registry(&self) -> &ServiceRegistry {
        &self.registry
    }

    /// Whether `service` exists here.
    pub fn has(&self, service: &str) -> bool {
        self.registry.get(service).is_some()
    }

    /// Runs `service` with `request`.
    ///
    /// Everything is borrowed from the dispatcher, nothing shared is cloned: on the hot path
    /// of every channel, each `Arc` clone would be an atomic write to a cache line that all
    /// workers share. Services may invoke services: the recursion goes through the boxed
    /// future of [`crate::service::Service::handle`].
    pub async fn invoke(&self, service: &str, request: Request) -> Result<Response, InvokeError> {
        let Some(entry) = self.registry.get(service) else {
            return Err(InvokeError::NoSuchService(service.to_owned()));
        };
        self.invoke_registered(entry, request)
            .await
            .map_err(InvokeError::Service)
    }

    /// Runs a service already looked up in [`Dispatcher::registry`] (as an HTTP channel
    /// does while it holds its route, so that it need not copy the service's name).
    pub async fn invoke_registered(
        &self,
        entry: &RegisteredService,
        request: Request,
    ) -> Result<Response, ServiceError> {
        let service = &entry.name;
        let cid = request.cid.clone();
        let channel = request.channel;
        let ctx = Context::new(self, &cid);
        let started = Instant::now();
        let result = entry.service.handle(request, &ctx).await;
        entry.stats.record(started.elapsed(), result.is_err());
        match &result {
            Err(ServiceError::Internal(message)) => {
                error!(%service, %cid, %channel, error = %message, "service failed")
            }
            Err(e) => {
                warn!(%service, %cid, %channel, error = %e, "service refused the request")
            }
            Ok(_) => {}
        }
        result
    }
}
