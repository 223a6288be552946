//! One version of a deployed service, compiled and linked, ready to be called.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::{info, warn};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::{Service, ServicePre};
use crate::clock::{MillisecondMonotonicClock, MillisecondWallClock};
use crate::output::GuestOutput;
use crate::runtime::{IdleBudget, TICK};
use crate::state::{MemoryLimit, State};
use crate::{CallError, GuestError, Request, Response, ServiceHost};

/// What a guest may print per call to each of stdout and stderr; the rest is dropped.
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

/// An instance between calls, with its store and output streams.
struct Warm {
    /// The thread it last ran on: a call prefers an instance whose memory that thread's
    /// core still has in cache.
    thread: std::thread::ThreadId,
    store: Store<State>,
    instance: Service,
    stdout: GuestOutput,
    stderr: GuestOutput,
}

/// A compiled, linked version of a service, and its idle instances. Calls in flight keep it
/// alive, so swapping in a new version lets them finish on this one.
pub struct LoadedService {
    pre: ServicePre<State>,
    hash: String,
    from_cache: bool,
    load_time: Duration,
    /// Instances that served a call and may serve the next (see [`LoadedService::call`]).
    idle: Mutex<Vec<Warm>>,
    max_idle: usize,
    /// The runtime's places for idle instances, shared by every loaded version.
    idle_budget: Arc<IdleBudget>,
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
        max_idle: usize,
        idle_budget: Arc<IdleBudget>,
    ) -> Self {
        Self {
            pre,
            hash,
            from_cache,
            load_time,
            idle: Mutex::default(),
            max_idle,
            idle_budget,
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

    /// A new instance, with nothing preopened, no environment, no arguments, no network.
    async fn instantiate(&self) -> Result<Warm, CallError> {
        let stdout = GuestOutput::new(OUTPUT_CAPACITY);
        let stderr = GuestOutput::new(OUTPUT_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(MillisecondWallClock)
            .monotonic_clock(MillisecondMonotonicClock::new())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            self.pre.engine(),
            State {
                wasi,
                table: ResourceTable::new(),
                memory: MemoryLimit {
                    max_bytes: usize::MAX,
                    refused: false,
                },
                host: None,
                ticks_left: 0,
            },
        );
        store.limiter(|state| &mut state.memory);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            if state.ticks_left == 0 {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        // Instantiation runs guest code too (start functions): it gets a deadline of its own.
        store.data_mut().ticks_left = ticks(Duration::from_secs(10));
        store.set_epoch_deadline(1);
        match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok(Warm {
                thread: std::thread::current().id(),
                store,
                instance,
                stdout,
                stderr,
            }),
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                Err(CallError::Busy(format!("{e:#}")))
            }
            Err(e) => Err(CallError::Trap(format!("while starting: {e:#}"))),
        }
    }

    /// Calls the service's `handle`.
    ///
    /// Instances are reused: an idle one serves the call if there is one, and goes back to
    /// the idle ones after a call that ended normally (an answer or the service's own error).
    /// Measured, a fresh instance per call of a Python service costs milliseconds (CPython's
    /// data is copied into the new instance's memory), a reused one microseconds
    /// (docs/benchmarks.md); module state persists between calls of one version, as it does
    /// in a long-running Python process. An instance that trapped, ran past its deadline or hit
    /// its memory limit is dropped, so no call ever runs in a half-done instance.
    /// `service` names the service in its log lines.
    pub async fn call(
        &self,
        service: &str,
        request: &Request,
        host: Box<dyn ServiceHost>,
        limits: Limits,
    ) -> Result<Result<Response, GuestError>, CallError> {
        let here = std::thread::current().id();
        let warm = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            match idle.iter().rposition(|warm| warm.thread == here) {
                Some(position) => Some(idle.swap_remove(position)),
                None => idle.pop(),
            }
        };
        let mut warm = match warm {
            Some(warm) => {
                self.idle_budget.give(1);
                warm
            }
            None => self.instantiate().await?,
        };
        {
            let state = warm.store.data_mut();
            state.host = Some(host);
            state.ticks_left = ticks(limits.deadline);
            state.memory = MemoryLimit {
                max_bytes: limits.memory_bytes,
                refused: false,
            };
        }
        warm.store.set_epoch_deadline(1);
        let outcome = warm.instance.call_handle(&mut warm.store, request).await;
        log_output(service, &request.cid, "stdout", &warm.stdout.take());
        log_output(service, &request.cid, "stderr", &warm.stderr.take());
        let state = warm.store.data_mut();
        state.host = None;
        // A guest that failed after being refused memory failed for the limit, whatever it
        // said about it.
        if state.memory.refused && !matches!(outcome, Ok(Ok(_))) {
            return Err(CallError::MemoryLimit(state.memory.max_bytes));
        }
        let result = match outcome {
            Ok(result) => result,
            Err(e) if e.is::<DeadlineExceeded>() => {
                return Err(CallError::Deadline(limits.deadline));
            }
            Err(e) => {
                let trap = e.downcast_ref::<Trap>().map(|trap| trap.to_string());
                return Err(CallError::Trap(trap.unwrap_or_else(|| format!("{e:#}"))));
            }
        };
        warm.thread = std::thread::current().id();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle && self.idle_budget.take() {
            idle.push(warm);
        }
        Ok(result)
    }
}

impl Drop for LoadedService {
    /// A version swapped out gives its idle instances' places back to the others.
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.idle_budget.give(idle.len());
    }
}

/// Epoch ticks in `deadline` (at least one).
fn ticks(deadline: Duration) -> u64 {
    deadline.as_millis().div_ceil(TICK.as_millis()).max(1) as u64
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
