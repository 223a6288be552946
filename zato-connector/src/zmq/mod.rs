//! ZeroMQ, with the `zeromq` crate: channels (PULL, SUB) and outgoing connections (PUSH,
//! PUB).
//!
//! Pitfalls of the crate this code works around: a send with no connected peer fails at once
//! (so outgoing sends wait and retry for a while); only SUB sockets reconnect by themselves
//! (a connecting PULL or PUSH is reconnected here, with back-off); there is no linger (so
//! outgoing sockets are kept open, never opened per send and dropped right after).

pub mod channel;
pub mod outgoing;

use std::time::Duration;

use zeromq::SocketOptions;

/// How long one connect attempt may take before it counts as failed.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Socket options with a bounded connect time (the crate's default is 30 s).
pub(crate) fn options() -> SocketOptions {
    let mut options = SocketOptions::default();
    options.connect_timeout(CONNECT_TIMEOUT);
    options
}
