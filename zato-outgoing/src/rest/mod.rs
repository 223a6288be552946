//! Outgoing REST connections: an HTTP API that services call by name.
//!
//! The client is reqwest (on hyper, with rustls and the aws-lc-rs provider the workspace
//! already builds): a maintained, widely used client with a connection pool per host,
//! connect and total timeouts, and TLS with custom roots and client certificates.

mod call;
mod client;
mod error;
mod response;
mod url;

pub use call::RestCall;
pub use client::RestClient;
pub use error::RestError;
pub use response::RestResponse;

use zato_common::model::OutgoingRest;
use zato_common::sealed::Keyring;

use crate::connections::{Connection, PoolFigures, open_secrets};

impl Connection for RestClient {
    type Definition = OutgoingRest;

    fn is_active(definition: &OutgoingRest) -> bool {
        definition.is_active
    }

    fn build(definition: &OutgoingRest, keyring: &Keyring) -> Result<Self, String> {
        let mut opened = definition.clone();
        open_secrets(opened.secrets_mut(), keyring)?;
        RestClient::new(&opened).map_err(|e| e.to_string())
    }

    fn pool(&self) -> PoolFigures {
        self.stats()
    }
}
