//! Routing an envelope to the one handler registered for its action.
//!
//! This is the `on_broker_msg_<ACTION>` dispatch of Zato, as a table built once at start-up:
//! each member registers a handler per action it understands. An action with no handler is
//! acknowledged and counted by the consumer, never retried or dead-lettered: during a rolling
//! upgrade, older members must let newer actions pass.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use zato_common::{Action, RawEnvelope};

/// One message handed to a handler. Its payload is still unparsed: the handler parses it
/// once, into the type its action carries ([`Delivery::payload`]). The envelope is shared,
/// so a message run again after a failure is not copied.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope: Arc<RawEnvelope>,
    /// The stream id the message has in its queue.
    pub stream_id: String,
    /// How many times this message has been delivered, this time included; above 1 means an
    /// earlier attempt failed or its consumer died, so the work may have been done already.
    pub deliveries: u64,
}

impl Delivery {
    /// The payload as the type its action carries; a payload that is not is refused for
    /// good (to the dead letters), since no number of deliveries will change it.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        self.envelope.payload_as().map_err(|e| {
            HandlerError::Reject(format!("not a valid {} payload: {e}", self.envelope.action))
        })
    }
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Failed this time: run it again after a short back-off; after the configured number
    /// of deliveries the message goes to the dead-letter stream.
    #[error("{0}")]
    Retry(String),
    /// Something the handler needs is down (Redis restarting or full): the message is not
    /// at fault, so it is run again after a short back-off for as long as that lasts, and
    /// these attempts do not count towards its deliveries.
    #[error("{0}")]
    Unavailable(String),
    /// The message can never succeed: dead-letter it now.
    #[error("{0}")]
    Reject(String),
}

/// What a handler returns.
pub type HandlerResult = Result<(), HandlerError>;

type BoxedHandler =
    Arc<dyn Fn(Delivery) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// The table of handlers, by action.
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<Action, BoxedHandler>,
}

impl Router {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `action`, replacing any earlier one.
    pub fn route<F, Fut>(mut self, action: Action, handler: F) -> Self
    where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.routes
            .insert(action, Arc::new(move |d| Box::pin(handler(d))));
        self
    }

    /// Runs the handler of the delivery's action; `None` when no handler is registered.
    pub fn dispatch(
        &self,
        delivery: Delivery,
    ) -> Option<Pin<Box<dyn Future<Output = HandlerResult> + Send>>> {
        let handler = self.routes.get(&delivery.envelope.action)?;
        Some(handler(delivery))
    }

    /// Whether `action` has a handler.
    pub fn handles(&self, action: &Action) -> bool {
        self.routes.contains_key(action)
    }
}
