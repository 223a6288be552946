//! What one instance of a deployed service owns: its WASI context (nothing preopened), its
//! limits and CPU budget, and the host it calls.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::ServiceHost;

/// A store's data.
pub struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryLimit,
    /// The host of the call in progress (an idle instance has none).
    pub(crate) host: Option<Box<dyn ServiceHost>>,
    /// Epoch ticks the call may still run for before it is stopped.
    pub(crate) ticks_left: u64,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps every linear memory and table of the instance, and remembers that it had to refuse
/// one, so that a service that failed because of it is told so rather than some later
/// symptom (a Python `MemoryError`, an abort).
pub struct MemoryLimit {
    pub(crate) max_bytes: usize,
    pub(crate) refused: bool,
}

/// Table elements one instance may have: far more than any toolchain's function tables.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 17;

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
