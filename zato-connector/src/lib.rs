//! The Zato connector: the one process that holds every AMQP and ZeroMQ socket.
//!
//! Incoming AMQP deliveries and ZeroMQ messages become `SERVICE_INVOKE` messages for the
//! servers (1:any); what services publish arrives over 1:connector and goes out with
//! publisher confirms. Any number of connectors may run; exactly one is active, through the
//! `connector` lease, and a standby takes over within the lease TTL. An AMQP delivery is
//! acknowledged only once Redis holds its hand-over, so neither a crash nor a failover
//! loses a message (it may arrive twice).
//!
//! Layout: [`amqp`] and [`zmq`] hold the workers, one per channel or outgoing connection;
//! the [`supervisor`] starts and stops them from the config and the lease; [`handlers`]
//! route broker messages; [`health`] and [`http`] report on all of it.

pub mod amqp;
pub mod connections;
pub mod connector;
pub mod error;
pub mod handlers;
pub mod handoff;
pub mod health;
pub mod metrics;
pub mod reconnect;
pub mod supervisor;
pub mod worker;
pub mod zmq;

pub use connector::Connector;
pub use error::{ConnectorError, SendError};
pub use zato_common::settings::ConnectorSettings;
