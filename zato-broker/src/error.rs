//! Errors of the broker client.

use std::time::Duration;

use zato_common::ValidationError;

/// What went wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No connection could be had from the pool (Redis unreachable, pool exhausted).
    #[error("redis connection pool: {0}")]
    Pool(String),
    /// A request got no reply in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The broker client is shutting down.
    #[error("the broker client is shut down")]
    Closed,
    /// A config object was refused.
    #[error("invalid {kind}: {error}")]
    Invalid {
        kind: &'static str,
        error: ValidationError,
    },
    /// A create named an object that exists already.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// An edit or delete named an object that does not exist.
    #[error("{kind} '{name}' does not exist")]
    NotFound { kind: &'static str, name: String },
    /// A `when_full = reject` topic holds its most messages.
    #[error("topic '{topic}' is full ({max} messages); its subscriptions must catch up first")]
    TopicFull { topic: String, max: u64 },
    /// A message is larger than its topic takes.
    #[error("the message takes {size} bytes; topic '{topic}' takes at most {max}")]
    TooLarge {
        topic: String,
        size: usize,
        max: usize,
    },
    /// Fewer replicas than `broker.min_replicas_ack` confirmed a write in time. The write
    /// may still be on the master (and be lost if it fails over now).
    #[error(
        "only {acked} of {wanted} replicas confirmed the write within {timeout_ms} ms (broker.min_replicas_ack)"
    )]
    NotReplicated {
        acked: u64,
        wanted: u32,
        timeout_ms: u64,
    },
    /// A message could not be written (its payload does not serialise).
    #[error(transparent)]
    Encode(#[from] zato_common::EncodeError),
    /// Something stored in Redis is not what this build expects.
    #[error("corrupt data in {key}: {message}")]
    Corrupt { key: String, message: String },
}

impl From<deadpool_redis::PoolError> for BrokerError {
    fn from(e: deadpool_redis::PoolError) -> Self {
        BrokerError::Pool(e.to_string())
    }
}

/// Shorthand for broker results.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
