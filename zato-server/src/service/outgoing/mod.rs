//! `ctx.outgoing()`: what a service calls beyond the cluster.
//!
//! AMQP and ZeroMQ go through the connector (one per cluster, behind a lease); REST and SQL
//! go straight from this server, through its own clients and pools
//! ([`crate::outgoing::OutgoingConnections`]).

mod connector;
mod rest;
mod sql;

use zato_broker::Broker;
use zato_outgoing::connections::{Connection, Connections, ErrorClass, LookupError};

pub use connector::{AmqpMessage, AmqpOutgoing, ZmqOutgoing};
pub use rest::RestOutgoing;
pub use sql::{SqlOutgoing, SqlTransaction};

use crate::outgoing::OutgoingConnections;
use crate::service::ServiceError;

/// The outgoing connections a service can use.
pub struct Outgoing<'a> {
    pub(crate) broker: &'a Broker,
    pub(crate) connections: &'a OutgoingConnections,
}

impl<'a> Outgoing<'a> {
    /// The outgoing AMQP connection called `name`.
    pub fn amqp(&self, name: &str) -> AmqpOutgoing<'a> {
        AmqpOutgoing {
            broker: self.broker,
            name: name.to_owned(),
        }
    }

    /// The outgoing ZeroMQ connection called `name`.
    pub fn zmq(&self, name: &str) -> ZmqOutgoing<'a> {
        ZmqOutgoing {
            broker: self.broker,
            name: name.to_owned(),
        }
    }

    /// The outgoing REST connection called `name`: `ctx.outgoing().rest("crm").get(params)`.
    pub fn rest(&self, name: &str) -> RestOutgoing<'a> {
        RestOutgoing::new(self.connections, name)
    }

    /// The outgoing SQL connection called `name`:
    /// `ctx.outgoing().sql("billing").query("SELECT ... WHERE id = $1", &[json!(7)])`.
    pub fn sql(&self, name: &str) -> SqlOutgoing<'a> {
        SqlOutgoing::new(self.connections, name)
    }
}

/// What a caller is told about a connection that cannot be called.
fn lookup_error(e: LookupError) -> ServiceError {
    match e {
        LookupError::Missing { .. } => ServiceError::NotFound(e.to_string()),
        LookupError::Inactive { .. } => ServiceError::Conflict(e.to_string()),
        LookupError::Unusable { .. } => ServiceError::Unavailable(e.to_string()),
    }
}

/// Runs `call` on the connection called `name` and counts it in that connection's figures;
/// the call's own error is left to the caller to word.
async fn counted<C, T, E, F, Fut>(
    connections: &Connections<C>,
    name: &str,
    call: F,
) -> Result<Result<T, E>, ServiceError>
where
    C: Connection,
    E: ErrorClass,
    F: FnOnce(std::sync::Arc<C>) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let (connection, stats) = connections.get(name).map_err(lookup_error)?;
    let started = std::time::Instant::now();
    let outcome = call(connection).await;
    stats.record(started, &outcome);
    Ok(outcome)
}
