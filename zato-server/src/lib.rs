//! The Zato server: runs services for every channel, serves HTTP channels and the admin API,
//! and follows the cluster's configuration live.
//!
//! A user's own crate adds its services and runs the server (see `examples/custom_service.rs`):
//!
//! ```no_run
//! use zato_server::{Context, Request, Response, Server, ServerSettings, Service, ServiceError};
//!
//! struct Hello;
//!
//! #[zato_server::async_trait]
//! impl Service for Hello {
//!     async fn handle(&self, req: Request, _ctx: &Context) -> Result<Response, ServiceError> {
//!         let name = req.payload["name"].as_str().unwrap_or("world");
//!         Ok(Response::json(serde_json::json!({"hello": name})))
//!     }
//! }
//!
//! # async fn run() -> Result<(), zato_server::ServerError> {
//! let settings = ServerSettings::load(None)?;
//! Server::new(settings).service("my.hello", Hello).run().await
//! # }
//! ```

mod admin;
mod broker_handlers;
pub mod builtin;
pub mod deployed;
mod dispatcher;
mod handover;
pub(crate) mod http;
pub mod outgoing;
pub mod pubsub;
mod server;
pub mod service;
pub mod worker_store;

pub use async_trait::async_trait;
pub use server::{Server, ServerError};
pub use service::{Body, Context, Request, Response, Service, ServiceError, ServiceRegistry};
pub use zato_common::settings::ServerSettings;
pub use zato_common::tls::TlsError;
