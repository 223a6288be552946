//! Running one handler and turning its result into what happens to the message.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use tracing::{debug, error, warn};
use zato_common::Action;

use crate::router::{Delivery, HandlerError, Router};

/// What to do with a message after its handler ran.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Done: acknowledge.
    Ack,
    /// An action this build does not know (a newer member sent it): acknowledge and count.
    Unknown,
    /// A known action this member has no use for (a scheduler job change reaching a
    /// server): acknowledge.
    Ignored,
    /// Failed: deliver it again.
    Retry(String),
    /// Could not run for want of something it needs: run it again, uncounted.
    Unavailable(String),
    /// Will never succeed: dead-letter it.
    Reject(String),
}

/// Runs the handler of `delivery`. A panicking handler counts as a failure to retry, so one
/// bad message cannot take its consumer down.
pub(crate) async fn run_handler(router: &Router, delivery: Delivery) -> Outcome {
    let action = delivery.envelope.action.clone();
    let id = delivery.envelope.id;
    let Some(future) = router.dispatch(delivery) else {
        if let Action::Unknown(_) = action {
            warn!(%action, %id, "unknown action (from a newer member?); acknowledged and skipped");
            return Outcome::Unknown;
        }
        debug!(%action, %id, "no handler for action here; acknowledged");
        return Outcome::Ignored;
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(())) => Outcome::Ack,
        Ok(Err(HandlerError::Retry(reason))) => {
            warn!(%action, %id, %reason, "handler failed; the message will be delivered again");
            Outcome::Retry(reason)
        }
        Ok(Err(HandlerError::Unavailable(reason))) => {
            warn!(%action, %id, %reason, "handler could not run; it runs again shortly");
            Outcome::Unavailable(reason)
        }
        Ok(Err(HandlerError::Reject(reason))) => Outcome::Reject(reason),
        Err(_) => {
            error!(%action, %id, "handler panicked; the message will be delivered again");
            Outcome::Retry("handler panicked".into())
        }
    }
}
