//! AMQP, with lapin: channels (queue consumers) and outgoing connections (publishers).

pub mod channel;
pub mod connection;
pub mod outgoing;
pub mod properties;
