//! Why the connector, or one of its connections, failed.

/// Why the connector could not start.
pub use zato_broker::member::MemberError as ConnectorError;

/// Why one outgoing publish or send did not go out. The text is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No outgoing connection of that name (or it is not active).
    #[error("no active outgoing {kind} connection named '{name}'")]
    UnknownOutgoing { kind: &'static str, name: String },
    /// This instance does not hold the lease (any more); the request is left for the one
    /// that does.
    #[error("this connector is not the active one")]
    NotLeader,
    /// The request itself is wrong (a property of the wrong type, a routing key too long).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The peer could not be reached or did not accept the message.
    #[error("{0}")]
    Failed(String),
}
