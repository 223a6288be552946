//! The broker client every Zato binary talks through, over Redis Streams.
//!
//! - **1:any** ([`Target::Any`]): a stream read by one consumer group; exactly one server
//!   takes each message, at least once, with take-over of a dead consumer's messages and a
//!   dead-letter stream after too many deliveries ([`QueueConsumer`]).
//! - **1:all** ([`Target::All`]): one stream, one group per member, so every member applies
//!   every message in order and replays what it missed while down ([`BroadcastConsumer`]).
//! - **1:connector** ([`Target::Connector`]): like 1:any, read only by the lease holder.
//! - **request/reply** ([`Broker::request`], [`Broker::reply`]).
//! - **leases** with fencing epochs and self-fencing ([`Lease`]).
//! - **the config store** with "load, then follow" start-up ([`ConfigStore`]).
//! - **heartbeats** of live members ([`members`]), and housekeeping ([`janitor`]).
//! - with the `member` feature, **the member runtime** every member binary is built from
//!   ([`member`]: start-up, health, metrics, readiness, the stop sequence).
//!
//! `docs/architecture.md` at the repository root describes every key and every failure case.

mod backoff;
mod broker;
mod config_cache;
mod config_store;
mod connection;
mod consumer;
mod dead_letter;
mod error;
mod invoke;
pub mod janitor;
mod keys;
mod lease;
#[cfg(feature = "member")]
pub mod member;
pub mod members;
pub mod partitioned_id;
pub mod pubsub;
mod reply;
mod router;
mod stats;
mod stream_entry;
mod sync;
mod tls;
mod writer;

pub use backoff::Backoff;
pub use broker::{Broker, BrokerConfig, Target};
pub use config_cache::{Changed, ConfigCache, SkippedObject, SkippedObjects};
pub use config_store::{ConfigSnapshot, ConfigStore};
pub use connection::{Conn, Redis, RedisUrl};
pub use consumer::{BroadcastConsumer, ConsumerHandle, QueueConsumer, SnapshotHandler};
pub use dead_letter::{DeadLetter, DeadLetters, ReplayOutcome, SOURCES as DEAD_LETTER_SOURCES};
pub use error::{BrokerError, Result};
pub use keys::{Keys, Queue, subscription_source};
pub use lease::{
    CONNECTOR_LEASE, Lease, LeaseHandle, LeaseHolder, LeaseState, SCHEDULER_LEASE,
    SINGLETON_LEASES, holder as lease_holder,
};
pub use router::{Delivery, HandlerError, HandlerResult, Router};
pub use stats::{ConsumerHealth, ConsumerStats};
pub use stream_entry::{ENVELOPE_FIELD, id_time_ms};
pub use tls::install_crypto_provider;
