//! This server's outgoing REST and SQL connections: built from the config store, rebuilt when
//! a definition changes, reported in health and metrics.
//!
//! AMQP and ZeroMQ connections live in the connector (one per cluster); REST clients and SQL
//! pools live in every server, because every server's services call them and a call must
//! not cross the broker twice to reach an HTTP API or a database.

mod health;
mod metrics;

use std::sync::Arc;

use zato_common::sealed::Keyring;
use zato_outgoing::connections::Connections;
use zato_outgoing::rest::RestClient;
use zato_outgoing::sql::SqlPool;

pub use health::own_checks;
pub use metrics::OutgoingCollector;

/// Every outgoing connection of this server, by kind.
pub struct OutgoingConnections {
    pub rest: Connections<RestClient>,
    pub sql: Connections<SqlPool>,
    /// Seals what the admin API stores and opens what the connections send.
    pub keyring: Arc<Keyring>,
}

impl OutgoingConnections {
    /// No connections yet.
    pub fn new(keyring: Keyring) -> Arc<Self> {
        let keyring = Arc::new(keyring);
        Arc::new(Self {
            rest: Connections::new(keyring.clone()),
            sql: Connections::new(keyring.clone()),
            keyring,
        })
    }
}
