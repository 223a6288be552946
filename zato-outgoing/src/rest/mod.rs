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
pub use client::{RestClient, RestPoolStats};
pub use error::RestError;
pub use response::RestResponse;
