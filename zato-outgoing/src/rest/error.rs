//! How an outgoing REST call fails.
//!
//! An upstream's own 4xx or 5xx is not an error: it is a [`super::RestResponse`] the service
//! reads. What is an error is the call not getting an answer at all, and each kind says what
//! the caller should be told: a timeout is a gateway timeout (504), an upstream that cannot be
//! reached or a TLS handshake it refused is a bad gateway (502), a call the service built
//! wrong (a missing path parameter) is the service's own fault.

/// Why a call got no answer. No variant carries a secret: security headers are added by the
/// client and never appear in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// No answer within the connection's `timeout_ms` (waiting for a free slot included).
    #[error("{what} within {after_ms} ms")]
    Timeout { what: String, after_ms: u64 },
    /// The upstream could not be reached: connection refused or reset, no such host, a TLS
    /// handshake that failed, an answer that is not HTTP.
    #[error("{0}")]
    Unreachable(String),
    /// The call is wrong as built: a path parameter missing, a form body that is not an
    /// object, a header that is not one.
    #[error("{0}")]
    Call(String),
    /// The definition cannot make a client (a CA bundle or client certificate that does not
    /// parse).
    #[error("{0}")]
    Config(String),
}

/// The innermost cause of an error, which says what happened (`Connection refused`), where
/// the outer ones say only that a request failed.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

impl crate::connections::ErrorClass for RestError {
    fn class(&self) -> String {
        match self {
            RestError::Timeout { .. } => "timeout",
            RestError::Unreachable(_) => "unreachable",
            RestError::Call(_) => "call",
            RestError::Config(_) => "config",
        }
        .into()
    }
}
