//! The one dispatcher every channel goes through: request in, service run, response out,
//! statistics kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, warn};
use zato_broker::Broker;

use crate::service::{Context, Request, Response, ServiceError, ServiceRegistry};

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
}

impl Dispatcher {
    pub fn new(registry: ServiceRegistry, broker: Broker) -> Arc<Self> {
        Arc::new(Self { registry, broker })
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

    /// Runs `service` with `request`. Boxed so that services may invoke services.
    pub fn invoke(
        self: &Arc<Self>,
        service: &str,
        request: Request,
    ) -> Pin<Box<dyn Future<Output = Result<Response, InvokeError>> + Send + 'static>> {
        let Some(entry) = self.registry.get(service).cloned() else {
            return Box::pin(std::future::ready(Err(InvokeError::NoSuchService(
                service.to_owned(),
            ))));
        };
        let ctx = Context::new(self.clone(), request.cid.clone());
        let name = service.to_owned();
        Box::pin(async move {
            let started = Instant::now();
            let cid = request.cid.clone();
            let channel = request.channel;
            let result = entry.service.handle(request, &ctx).await;
            entry.stats.record(started.elapsed(), result.is_err());
            match &result {
                Err(ServiceError::Internal(message)) => {
                    error!(service = %name, %cid, %channel, error = %message, "service failed")
                }
                Err(e) => {
                    warn!(service = %name, %cid, %channel, error = %e, "service refused the request")
                }
                Ok(_) => {}
            }
            result.map_err(InvokeError::Service)
        })
    }
}
