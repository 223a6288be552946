//! The one reconnect loop of every worker that holds a connection open (an AMQP channel's
//! consumers, an outgoing AMQP connection, a ZeroMQ channel's socket).
//!
//! A session connects, reports itself connected on its [`Link`] once it works, and runs until
//! it is cancelled (`Ok`) or loses its peer (`Err` with why). Between sessions the loop waits
//! a jittered back-off (100 ms doubling to 5 s; from the shortest again after a session that
//! had connected), so a RabbitMQ restart is followed within a fraction of a second and a
//! peer that stays down is not hammered. The outgoing ZeroMQ socket, opened again on the next
//! send instead, takes the same back-off from [`backoff`].

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;
use zato_broker::Backoff;

use crate::connections::Link;

/// The delays between attempts to connect.
pub fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// Runs `session` again and again until it ends with `Ok` or `cancel` fires. Each call gets
/// the attempt's number, from 1.
pub async fn keep_connected<F, Fut>(link: &Link, cancel: &CancellationToken, mut session: F)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut backoff = backoff();
    let mut attempt = 0;
    while !cancel.is_cancelled() {
        link.connecting();
        attempt += 1;
        let error = match session(attempt).await {
            Ok(()) => break,
            Err(e) => e,
        };
        if cancel.is_cancelled() {
            break;
        }
        if link.is_connected() {
            // It was working: start again from the shortest delay.
            backoff.reset();
        }
        let delay = backoff.next_delay();
        warn!(connection = link.key(), error = %error, ?delay, "connection lost; reconnecting");
        link.failed(&error);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => break,
        }
    }
}
