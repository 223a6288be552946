//! The engine every deployed service of a server runs on.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::{Service, ServicePre};
use crate::cache::CodeCache;
use crate::state::State;
use crate::{LoadError, LoadedService, component_hash};

/// How often the engine's epoch advances: the granularity of every CPU deadline, and how
/// often a running service yields to the executor.
pub const TICK: Duration = Duration::from_millis(10);

/// How a server's runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Where compiled code is kept between starts; none: compiled at every start.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may run at once, over all deployed services (the pool's slots).
    pub max_instances: u32,
    /// The most memory one instance may ever have (each service's own limit is at most this).
    pub max_memory_bytes: usize,
    /// Idle instances kept per loaded version, ready for the next calls. Over all versions,
    /// at most half of `max_instances` are kept idle, so idle instances (which hold their
    /// pool slots) never leave a running call without one.
    pub idle_instances: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 512 * 1024 * 1024,
            idle_instances: 8,
        }
    }
}

/// Core modules, memories and tables one component may have: a componentize-py component
/// links CPython, its libc and its adapters as separate modules sharing one memory.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

/// The engine (with its pool and epoch ticker), the linker of the `zato:service` world, and
/// the compiled-code cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache: Option<CodeCache>,
    max_memory_bytes: usize,
    idle_instances: usize,
    idle_budget: Arc<IdleBudget>,
    ticking: Arc<AtomicBool>,
}

/// How many more instances may be kept idle, over every loaded version of the runtime.
pub(crate) struct IdleBudget {
    left: AtomicUsize,
}

impl IdleBudget {
    /// Takes a place for one idle instance, if there is one left.
    pub(crate) fn take(&self) -> bool {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// Gives back the places of `count` instances that are no longer idle.
    pub(crate) fn give(&self, count: usize) {
        self.left.fetch_add(count, Ordering::AcqRel);
    }
}

impl Runtime {
    pub fn new(settings: &RuntimeSettings) -> Result<Self, LoadError> {
        let runtime = |e: &dyn std::fmt::Display| LoadError::Runtime(e.to_string());
        let mut pool = PoolingAllocationConfig::default();
        let slots = |per_instance: u32, share: u32| {
            settings.max_instances.saturating_mul(per_instance) / share
        };
        pool.total_component_instances(settings.max_instances)
            .total_core_instances(slots(CORE_INSTANCES_PER_COMPONENT, 4))
            .total_memories(slots(MEMORIES_PER_COMPONENT, 2))
            .total_tables(slots(TABLES_PER_COMPONENT, 2))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(settings.max_memory_bytes)
            .table_elements(crate::state::MAX_TABLE_ELEMENTS);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| runtime(&e))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| runtime(&e))?;
        Service::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| runtime(&e))?;

        let cache = match &settings.cache_dir {
            Some(dir) => Some(CodeCache::new(dir.clone(), &engine).map_err(|e| {
                LoadError::Runtime(format!(
                    "the compiled-code cache {} cannot be used: {e}",
                    dir.display()
                ))
            })?),
            None => None,
        };

        let ticking = Arc::new(AtomicBool::new(true));
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn({
                let engine = engine.clone();
                let ticking = ticking.clone();
                move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(|e| runtime(&e))?;

        Ok(Self {
            engine,
            linker,
            cache,
            max_memory_bytes: settings.max_memory_bytes,
            idle_instances: settings.idle_instances,
            idle_budget: Arc::new(IdleBudget {
                left: AtomicUsize::new((settings.max_instances as usize / 2).max(1)),
            }),
            ticking,
        })
    }

    /// The most memory an instance may have.
    pub fn max_memory_bytes(&self) -> usize {
        self.max_memory_bytes
    }

    /// Compiles `bytes` (or takes them from the cache) and links them against the world.
    ///
    /// Blocking and CPU-bound (a Python component compiles for seconds): call it from a
    /// blocking thread.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedService, LoadError> {
        check_header(bytes)?;
        let hash = component_hash(bytes);
        let started = Instant::now();
        let cached = self
            .cache
            .as_ref()
            .and_then(|cache| cache.get(&self.engine, &hash));
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                let compiled = Component::new(&self.engine, bytes);
                release_compiler_memory();
                let component = compiled.map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                if let Some(cache) = &self.cache {
                    cache.put(&hash, &component);
                }
                component
            }
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let pre = ServicePre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        Ok(LoadedService::new(
            pre,
            hash,
            from_cache,
            started.elapsed(),
            self.idle_instances,
            self.idle_budget.clone(),
        ))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// Hands back to the system the memory the compiler freed. Compiling a Python component
/// allocates hundreds of megabytes on many threads; glibc keeps freed memory in its arenas,
/// so without this a server would carry that peak for good after its first deployment.
fn release_compiler_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Refuses what is not a component before the compiler sees it, with a message that says
/// what it is instead.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_VERSION: &[u8] = &[1, 0, 0, 0];
    match bytes.get(..8) {
        Some(header) if header.starts_with(MAGIC) => {
            if &header[4..] == CORE_VERSION {
                Err(LoadError::CoreModule)
            } else {
                Ok(())
            }
        }
        _ => Err(LoadError::NotWasm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_places_are_bounded_and_given_back() {
        let budget = IdleBudget {
            left: AtomicUsize::new(2),
        };
        assert!(budget.take() && budget.take());
        assert!(!budget.take(), "no third idle instance");
        budget.give(1);
        assert!(budget.take());
    }

    #[test]
    fn what_is_not_a_component_is_named() {
        assert!(matches!(check_header(b"hello"), Err(LoadError::NotWasm)));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(LoadError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }
}
