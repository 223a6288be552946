//! Services: the unit of work users write, and what every channel runs.

mod context;
mod error;
mod headers;
mod outgoing;
mod registry;
pub(crate) mod request;
mod response;

pub use context::Context;
pub(crate) use context::invoke_async;
pub use error::ServiceError;
pub use headers::{Headers, InvalidHeader};
pub use outgoing::{
    AmqpMessage, AmqpOutgoing, Outgoing, RestOutgoing, SqlOutgoing, SqlTransaction, ZmqOutgoing,
};
pub use registry::{RegisteredService, ServiceRegistry};
pub use request::Request;
pub use response::{Body, Response};
pub use zato_common::histogram::{Histogram as ServiceStats, StatsSnapshot};
pub use zato_outgoing::rest::{RestCall, RestResponse};

/// A service: takes a request, gives a response.
///
/// Services must not assume which channel called them: the same service may answer an HTTP
/// channel, an AMQP queue and a scheduler job. `ctx` gives them the cluster: other services
/// (`ctx.invoke`, `ctx.invoke_async`) and Redis.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError>;
}
