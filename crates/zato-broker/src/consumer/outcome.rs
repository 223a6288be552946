//! Running one handler and turning its result into what happens to the message.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tracing::{error, warn};

use crate::router::{Delivery, HandlerError, Router};

/// What to do with a message after its handler ran.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Done: acknowledge.
    Ack,
    /// No handler for its action: acknowledge and count.
    Unknown,
    /// Failed: leave it pending for a later delivery.
    Retry(String),
    /// Will never succeed: dead-letter it.
    Reject(String),
}

/// Runs the handler of `delivery`. A panicking handler counts as a failure to retry, so one
/// bad message cannot take its consumer down.
pub(crate) async fn run_handler(router: &Router, delivery: Delivery) -> Outcome {
    let action = delivery.envelope.action.clone();
    let id = delivery.envelope.id;
    let Some(future) = router.dispatch(delivery) else {
        warn!(%action, %id, "no handler for action; acknowledged and skipped");
        return Outcome::Unknown;
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(())) => Outcome::Ack,
        Ok(Err(HandlerError::Retry(reason))) => {
            warn!(%action, %id, %reason, "handler failed; the message will be delivered again");
            Outcome::Retry(reason)
        }
        Ok(Err(HandlerError::Reject(reason))) => Outcome::Reject(reason),
        Err(_) => {
            error!(%action, %id, "handler panicked; the message will be delivered again");
            Outcome::Retry("handler panicked".into())
        }
    }
}
