//! How a service fails.

use std::fmt;

/// A service's failure, with what the caller may be told.
///
/// `Internal` errors are logged in full and answered with a generic message: nothing about
/// the server's insides (paths, SQL, stack traces) reaches a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// The request is wrong; the message says how (400).
    BadRequest(String),
    /// What the request names does not exist (404).
    NotFound(String),
    /// The request conflicts with the current state, e.g. a name already taken (409).
    Conflict(String),
    /// Something needed is down; try again later (503).
    Unavailable(String),
    /// What was sent is larger than allowed (413).
    TooLarge(String),
    /// A system beyond the cluster refused or failed what was asked of it (502).
    BadGateway(String),
    /// A system beyond the cluster did not answer in time (504).
    GatewayTimeout(String),
    /// A bug or an unexpected failure; the message is logged, never answered (500).
    Internal(String),
}

impl ServiceError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::BadRequest(_) => 400,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Unavailable(_) => 503,
            ServiceError::TooLarge(_) => 413,
            ServiceError::BadGateway(_) => 502,
            ServiceError::GatewayTimeout(_) => 504,
            ServiceError::Internal(_) => 500,
        }
    }

    /// What the caller is told.
    pub fn public_message(&self) -> &str {
        match self {
            ServiceError::BadRequest(m)
            | ServiceError::NotFound(m)
            | ServiceError::Conflict(m)
            | ServiceError::Unavailable(m)
            | ServiceError::TooLarge(m)
            | ServiceError::BadGateway(m)
            | ServiceError::GatewayTimeout(m) => m,
            ServiceError::Internal(_) => "internal error",
        }
    }

    /// An internal error from anything displayable.
    pub fn internal(e: impl fmt::Display) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::BadRequest(m) => write!(f, "bad request: {m}"),
            ServiceError::NotFound(m) => write!(f, "not found: {m}"),
            ServiceError::Conflict(m) => write!(f, "conflict: {m}"),
            ServiceError::Unavailable(m) => write!(f, "unavailable: {m}"),
            ServiceError::TooLarge(m) => write!(f, "too large: {m}"),
            ServiceError::BadGateway(m) => write!(f, "bad gateway: {m}"),
            ServiceError::GatewayTimeout(m) => write!(f, "gateway timeout: {m}"),
            ServiceError::Internal(m) => write!(f, "internal: {m}"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<zato_broker::BrokerError> for ServiceError {
    fn from(e: zato_broker::BrokerError) -> Self {
        use zato_broker::BrokerError;
        match e {
            BrokerError::Invalid { .. } => ServiceError::BadRequest(e.to_string()),
            BrokerError::AlreadyExists { .. } => ServiceError::Conflict(e.to_string()),
            BrokerError::NotFound { .. } => ServiceError::NotFound(e.to_string()),
            BrokerError::TopicFull { .. } => ServiceError::Conflict(e.to_string()),
            BrokerError::TooLarge { .. } => ServiceError::TooLarge(e.to_string()),
            BrokerError::Redis(_)
            | BrokerError::Pool(_)
            | BrokerError::Timeout(_)
            | BrokerError::Closed => {
                ServiceError::Unavailable(format!("the cluster's broker cannot be reached: {e}"))
            }
            BrokerError::NotReplicated { .. } => ServiceError::Unavailable(e.to_string()),
            BrokerError::Corrupt { .. } | BrokerError::Encode(_) => {
                ServiceError::Internal(e.to_string())
            }
        }
    }
}
