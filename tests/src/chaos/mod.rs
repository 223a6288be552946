//! The chaos scenario: a whole cluster under steady mixed load while its parts are killed in
//! turn, and the check, from the outside, that nothing accepted was lost.
//!
//! Redis (appendonly), 2 servers, a scheduler and a standby, a connector and a standby and the
//! machine's RabbitMQ (in a vhost of the test's own) ([`cluster`]) take HTTP calls to a
//! channel, invoke_async calls of `zato.record`, AMQP messages published by pika (with
//! publisher confirms) into a channel bound to `zato.record`, ZeroMQ PUSH messages into a PULL
//! channel and two interval jobs of 1 s ([`load`]), while the test, in turn, SIGKILLs a server
//! and restarts it, SIGKILLs the active scheduler and the active connector (restarting them as
//! standbys), restarts Redis (kill -9 + start) and closes the RabbitMQ connections
//! ([`fault`]). Then it checks what was recorded against what was accepted ([`outcome`]),
//! watches the memory of the server never killed ([`memory`]) and prints the summary and the
//! verdict ([`report`]).

pub mod cluster;
pub mod fault;
pub mod load;
pub mod memory;
pub mod outcome;
pub mod peer;
pub mod report;

use std::time::Duration;

/// How often the scenario's own checks poll: gently, beside the load it measures.
pub const POLL: Duration = Duration::from_millis(50);

/// How long the load and the faults last: `ZATO_CHAOS_SECONDS` (`scripts/soak` sets it for
/// its long runs), 85 s by default (about 95 s in all).
pub fn load_duration() -> Duration {
    Duration::from_secs(
        std::env::var("ZATO_CHAOS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(85),
    )
}

/// A duration as the summary prints it: `1.23s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
