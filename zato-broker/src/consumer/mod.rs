//! The consumer loops: [`QueueConsumer`] for 1:any and 1:connector, [`BroadcastConsumer`]
//! for 1:all. Both route each envelope to one handler through a [`crate::Router`].

mod broadcast;
mod handle;
mod outcome;
mod queue;

pub use broadcast::{BroadcastConsumer, SnapshotHandler};
pub use handle::ConsumerHandle;
pub use queue::QueueConsumer;
