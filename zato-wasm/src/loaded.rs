//! One version of a deployed service, compiled and linked, ready to be called.

use std::time::Duration;

use tracing::{info, warn};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::ServicePre;
use crate::clock::{MillisecondMonotonicClock, MillisecondWallClock};
use crate::runtime::TICK;
use crate::state::{MemoryLimit, State};
use crate::{CallError, GuestError, Request, Response, ServiceHost};

/// What a guest may print per call to each of stdout and stderr; a write beyond it fails in
/// the guest, which keeps a chatty service from filling the server's memory.
const OUTPUT_CAPACITY: usize = 256 * 1024;

/// The limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// CPU time the call may use (time waiting for the host, e.g. for a REST call, does not
    /// count); measured in epoch ticks of 10 ms.
    pub deadline: Duration,
    /// The most linear memory the instance may grow to.
    pub memory_bytes: usize,
}

/// A compiled, linked version of a service. Calls in flight keep it alive, so swapping in a
/// new version lets them finish on this one.
pub struct LoadedService {
    pre: ServicePre<State>,
    hash: String,
    from_cache: bool,
    load_time: Duration,
}

/// Raised from the epoch callback when a call's budget is spent, so the trap it causes can
/// be told from the guest's own.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl LoadedService {
    pub(crate) fn new(
        pre: ServicePre<State>,
        hash: String,
        from_cache: bool,
        load_time: Duration,
    ) -> Self {
        Self {
            pre,
            hash,
            from_cache,
            load_time,
        }
    }

    /// The SHA-256 of the component this was built from.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Whether the compiled code came from the local cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// How long compiling (or loading from the cache) took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Calls the service's `handle` in a fresh instance.
    ///
    /// A fresh instance per call: from the pool with copy-on-write memory it costs
    /// microseconds, and no call can see what another left behind (module state, a half-done
    /// computation after a deadline). `service` names the service in its log lines.
    pub async fn call(
        &self,
        service: &str,
        request: &Request,
        host: Box<dyn ServiceHost>,
        limits: Limits,
    ) -> Result<Result<Response, GuestError>, CallError> {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        // Nothing preopened, no environment, no arguments, no network.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(MillisecondWallClock)
            .monotonic_clock(MillisecondMonotonicClock::new())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let ticks = limits
            .deadline
            .as_millis()
            .div_ceil(TICK.as_millis())
            .max(1) as u64;
        let mut store = Store::new(
            self.pre.engine(),
            State {
                wasi,
                table: ResourceTable::new(),
                memory: MemoryLimit {
                    max_bytes: limits.memory_bytes,
                    refused: false,
                },
                host,
                ticks_left: ticks,
            },
        );
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            if state.ticks_left == 0 {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });

        let outcome = match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance.call_handle(&mut store, request).await,
            Err(e) if is_pool_exhausted(&e) => {
                return Err(CallError::Busy(format!("{e:#}")));
            }
            Err(e) => Err(e),
        };
        log_output(service, &request.cid, "stdout", &stdout.contents());
        log_output(service, &request.cid, "stderr", &stderr.contents());
        let memory = &store.data().memory;
        match outcome {
            Ok(Ok(response)) => Ok(Ok(response)),
            // A guest that failed after being refused memory failed for the limit, whatever
            // it said about it.
            Ok(Err(_)) | Err(_) if memory.refused => Err(CallError::MemoryLimit(memory.max_bytes)),
            Ok(Err(error)) => Ok(Err(error)),
            Err(e) if e.is::<DeadlineExceeded>() => Err(CallError::Deadline(limits.deadline)),
            Err(e) => {
                let trap = e.downcast_ref::<Trap>().map(|trap| trap.to_string());
                Err(CallError::Trap(trap.unwrap_or_else(|| format!("{e:#}"))))
            }
        }
    }
}

/// Whether instantiation failed only because every pool slot is taken.
fn is_pool_exhausted(e: &wasmtime::Error) -> bool {
    e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
}

/// A guest's printed lines, in the server's log with the service and the cid.
fn log_output(service: &str, cid: &str, stream: &str, output: &[u8]) {
    if output.is_empty() {
        return;
    }
    for line in String::from_utf8_lossy(output).lines() {
        match stream {
            "stderr" => warn!(%service, %cid, stream, "{line}"),
            _ => info!(%service, %cid, stream, "{line}"),
        }
    }
}
