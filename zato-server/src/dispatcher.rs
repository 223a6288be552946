//! The one dispatcher every channel goes through: request in, service run, response out,
//! statistics kept.

use std::borrow::Cow;
use std::sync::{Arc, Weak};
use std::time::Instant;

use tracing::{error, warn};
use zato_broker::Broker;

use crate::deployed::{DeployedServices, LOAD_WAIT, NotReady};
use crate::outgoing::OutgoingConnections;
use crate::pubsub::PubSub;

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

/// Runs services by name for every channel: the services compiled into the server first,
/// then those deployed at run time.
pub struct Dispatcher {
    registry: ServiceRegistry,
    deployed: Arc<DeployedServices>,
    broker: Broker,
    outgoing: Arc<OutgoingConnections>,
    pubsub: Arc<PubSub>,
    /// Itself, for what must outlive one borrow (a deployed service's host calls).
    me: Weak<Dispatcher>,
}

impl Dispatcher {
    pub fn new(
        registry: ServiceRegistry,
        deployed: Arc<DeployedServices>,
        broker: Broker,
        outgoing: Arc<OutgoingConnections>,
        pubsub: Arc<PubSub>,
    ) -> Arc<Self> {
        let dispatcher = Arc::new_cyclic(|me| Self {
            registry,
            deployed,
            broker,
            outgoing,
            pubsub,
            me: me.clone(),
        });
        dispatcher.pubsub.bind(&dispatcher);
        dispatcher
    }

    /// Pub/sub: topics, subscriptions, publishing.
    pub fn pubsub(&self) -> &Arc<PubSub> {
        &self.pubsub
    }

    /// A shared handle on this dispatcher; none once the server is being torn down.
    pub fn handle(&self) -> Option<Arc<Dispatcher>> {
        self.me.upgrade()
    }

    /// The services deployed at run time.
    pub fn deployed(&self) -> &Arc<DeployedServices> {
        &self.deployed
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

    /// Whether `service` exists here: compiled in, or deployed in the cluster (ready here or
    /// still loading).
    pub fn has(&self, service: &str) -> bool {
        self.registry.get(service).is_some() || self.deployed.is_deployed(service)
    }

    /// The service called `name` that is ready here: borrowed when compiled in, the current
    /// version when deployed.
    pub fn find(&self, name: &str) -> Option<Cow<'_, RegisteredService>> {
        match self.registry.get(name) {
            Some(service) => Some(Cow::Borrowed(service)),
            None => self.deployed.get(name).map(Cow::Owned),
        }
    }

    /// Runs `service` with `request`.
    ///
    /// Everything is borrowed from the dispatcher, nothing shared is cloned: on the hot path
    /// of every channel, each `Arc` clone would be an atomic write to a cache line that all
    /// workers share. Services may invoke services: the recursion goes through the boxed
    /// future of [`crate::service::Service::handle`].
    pub async fn invoke(&self, service: &str, request: Request) -> Result<Response, InvokeError> {
        if let Some(entry) = self.find(service) {
            return self
                .invoke_registered(&entry, request)
                .await
                .map_err(InvokeError::Service);
        }
        if !self.deployed.is_deployed(service) {
            return Err(InvokeError::NoSuchService(service.to_owned()));
        }
        // Deployed in the cluster, still loading here (a server that just started, a first
        // deployment): the request waits for it rather than fail for what will be there soon.
        match self.deployed.wait_for(service, LOAD_WAIT).await {
            Ok(entry) => self
                .invoke_registered(&entry, request)
                .await
                .map_err(InvokeError::Service),
            Err(NotReady::NotDeployed) => Err(InvokeError::NoSuchService(service.to_owned())),
            Err(NotReady::Failed(error)) => Err(InvokeError::Service(ServiceError::Unavailable(
                format!("service {service} could not be loaded on this server: {error}"),
            ))),
            Err(NotReady::StillLoading) => Err(InvokeError::Service(ServiceError::Unavailable(
                format!("service {service} is still loading on this server"),
            ))),
        }
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
