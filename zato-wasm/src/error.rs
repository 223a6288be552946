//! How loading or calling a deployed service fails.

use std::time::Duration;

/// Why a component cannot be deployed or loaded. Each says what to fix; none leaves anything
/// half changed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly binary (it does not start with \\0asm)")]
    NotWasm,
    #[error(
        "a core WebAssembly module, not a component: build it as a component of the zato:service world (componentize-py, cargo's wasm32-wasip2 target, componentize-js)"
    )]
    CoreModule,
    #[error("the component does not compile: {0}")]
    Invalid(String),
    #[error("the component does not implement the zato:service world: {0}")]
    WrongWorld(String),
    #[error("the WebAssembly runtime cannot start: {0}")]
    Runtime(String),
}

/// Why a call produced no answer from the service.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The service ran past its CPU deadline and was stopped.
    #[error("ran past its deadline of {} ms and was stopped", .0.as_millis())]
    Deadline(Duration),
    /// The service wanted more memory than its limit and failed for it.
    #[error("needed more than its memory limit of {} MiB", .0 / (1024 * 1024))]
    MemoryLimit(usize),
    /// The service crashed (a trap: unreachable code, an abort, an uncaught exception).
    #[error("crashed: {0}")]
    Trap(String),
    /// No instance could be made now (every slot of the pool is busy).
    #[error("no instance is available: {0}")]
    Busy(String),
}
