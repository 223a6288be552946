//! The shared vocabulary of the platform.
//!
//! Every binary (server, scheduler, connector) and the broker speak in the types defined
//! here: the [`Envelope`] that travels through Redis, the [`Action`] codes that say what an
//! envelope means, the [`model`] of every configuration object, the [`settings`] each binary
//! loads, and the [`logging`] set-up they share.

pub mod action;
pub mod clock;
pub mod config_change;
pub mod cron;
pub mod envelope;
pub mod fuzzing;
pub mod histogram;
pub mod ids;
pub mod invocation;
pub mod logging;
pub mod model;
pub mod outgoing;
pub mod process;
pub mod pubsub;
pub mod redis_cluster;
pub mod redis_server;
pub mod schedule;
pub mod sealed;
pub mod secret;
pub mod settings;
pub mod striped;
pub mod systemd;
pub mod tls;
pub mod url_path;

pub use action::Action;
pub use config_change::ConfigChange;
pub use envelope::{DecodeError, EncodeError, Envelope, RawEnvelope};
pub use invocation::{ChannelKind, ServiceInvocation};
pub use model::{ConfigKind, ValidationError};
pub use secret::Secret;
