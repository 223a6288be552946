//! The Rust side of `wit/service.wit`, generated at build time.
//!
//! Imports are async: a deployed service's `invoke`, REST or SQL call waits on the network
//! without holding a thread. Exports are async so that a long computation yields to the
//! executor at every epoch tick instead of blocking one of the server's workers.

wasmtime::component::bindgen!({
    path: "wit",
    world: "service",
    imports: { default: async },
    exports: { default: async },
});
