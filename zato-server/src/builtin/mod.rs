//! The services every server has.

mod echo;
mod ping;
mod record;
mod sleep;

pub use echo::Echo;
pub use ping::Ping;
pub use record::Record;
pub use sleep::Sleep;

use crate::service::ServiceRegistry;

/// Registers `zato.ping`, `zato.echo`, `zato.sleep` and `zato.record`.
pub fn register(registry: &mut ServiceRegistry) {
    registry
        .register("zato.ping", Ping)
        .register("zato.echo", Echo)
        .register("zato.sleep", Sleep)
        .register("zato.record", Record);
}
