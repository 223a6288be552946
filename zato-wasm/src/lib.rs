//! Services deployed at run time as WebAssembly components.
//!
//! A deployed service is a component of the `zato:service` world (`wit/service.wit`): it
//! exports `handle` and reaches the cluster only through the `host` interface, which the
//! embedding server implements ([`ServiceHost`]). This crate holds everything wasmtime-shaped
//! (the engine, the linker, the limits, the compiled-code cache), so that no other crate of
//! the workspace builds wasmtime.
//!
//! - [`Runtime`]: one per server; compiles components (or loads them from the cache) into
//!   [`LoadedService`]s.
//! - [`LoadedService::call`]: one call, in a fresh instance with its own limits.

mod bindings;
mod cache;
mod clock;
mod error;
mod host;
mod loaded;
mod output;
mod runtime;
mod state;

pub use bindings::zato::service::host::{Level, RestRequest, RestResponse};
pub use bindings::zato::service::types::{Body, Error as GuestError, ErrorKind, Request, Response};
pub use error::{CallError, LoadError};
pub use host::ServiceHost;
pub use loaded::{Limits, LoadedService};
pub use runtime::{Runtime, RuntimeSettings};

/// The hex SHA-256 of a component's bytes: the name it is stored and cached under.
pub fn component_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
