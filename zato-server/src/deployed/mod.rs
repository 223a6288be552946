//! Services deployed at run time as WebAssembly components, on this server.
//!
//! The records (config kind `service`) say which version of each service the cluster runs;
//! each server fetches that version's component from Redis, compiles it (or takes it from its
//! local cache of compiled code) and swaps it in. Until the new version is ready the old one
//! keeps serving; calls in flight finish on the version they started on, because each holds
//! its own `Arc` of it. A server loads every deployed service before it reports READY.

mod components;
pub mod deploy;
mod host;
pub mod states;
mod wasm_service;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Notify;
use tracing::{info, warn};
use zato_broker::{Broker, ConfigCache, ConfigSnapshot, SkippedObjects};
use zato_common::ConfigChange;
use zato_common::model::DeployedService;
use zato_common::settings::ServerSettings;
use zato_wasm::{Limits, LoadError, LoadedService, Runtime, RuntimeSettings};

use crate::service::{
    Context, RegisteredService, Request, Response, Service, ServiceError, ServiceStats,
};
use states::LoadState;
use wasm_service::WasmService;

/// How long a request for a deployed service that this server is still loading waits for
/// it, before it is refused as unavailable (503; 1:any work is then run again later).
pub const LOAD_WAIT: Duration = Duration::from_secs(120);

/// The deployed services of one server.
pub struct DeployedServices {
    broker: Broker,
    runtime: Arc<Runtime>,
    /// What calls use: the ready version of each service, swapped whole.
    live: ArcSwap<BTreeMap<String, RegisteredService>>,
    /// What should run: the records, as announced.
    records: Mutex<ConfigCache<DeployedService>>,
    /// Each service's statistics, kept across its versions.
    stats: Mutex<BTreeMap<String, Arc<ServiceStats>>>,
    /// Each service's compiled code now in `live`, so that a change of limits alone, or
    /// switching a service off and on, compiles nothing.
    code: Mutex<BTreeMap<String, Arc<LoadedService>>>,
    /// Woken whenever `live` or `records` changes, for requests waiting for a load.
    changed: Notify,
    /// Whether the first snapshot's records are in: before that, this server cannot tell a
    /// deployed service from an unknown one.
    records_loaded: tokio::sync::watch::Sender<bool>,
    /// The version of each service that could not be loaded here, with why: a request for it
    /// is told at once instead of waiting for a load that is over.
    failed: Mutex<BTreeMap<String, (u64, String)>>,
}

/// Why a deployed service cannot serve a request on this server.
#[derive(Debug)]
pub enum NotReady {
    /// It is not deployed (or was undeployed meanwhile).
    NotDeployed,
    /// Its current version failed to load here.
    Failed(String),
    /// It was still loading after the wait.
    StillLoading,
}

impl DeployedServices {
    pub fn new(
        broker: Broker,
        settings: &ServerSettings,
        skipped: &SkippedObjects,
    ) -> Result<Arc<Self>, LoadError> {
        let runtime = Runtime::new(&RuntimeSettings {
            cache_dir: (!settings.component_cache_dir.is_empty())
                .then(|| PathBuf::from(&settings.component_cache_dir)),
            max_instances: settings.max_instances,
            ..RuntimeSettings::default()
        })?;
        Ok(Arc::new(Self {
            broker,
            runtime: Arc::new(runtime),
            live: ArcSwap::default(),
            records: Mutex::new(ConfigCache::reporting_to(skipped.clone())),
            stats: Mutex::default(),
            code: Mutex::default(),
            changed: Notify::new(),
            records_loaded: tokio::sync::watch::Sender::new(false),
            failed: Mutex::default(),
        }))
    }

    fn records(&self) -> std::sync::MutexGuard<'_, ConfigCache<DeployedService>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ready version of `name`, if this server has one.
    pub fn get(&self, name: &str) -> Option<RegisteredService> {
        self.live.load().get(name).cloned()
    }

    /// Whether `name` is deployed in the cluster (whether or not it is ready here).
    pub fn is_deployed(&self, name: &str) -> bool {
        self.records().get(name).is_some()
    }

    /// The record of `name`, as this server last heard it.
    pub fn record(&self, name: &str) -> Option<DeployedService> {
        self.records().get(name).cloned()
    }

    /// The ready version of `name`, waiting up to `bound` while this server is still loading
    /// it.
    pub async fn wait_for(
        &self,
        name: &str,
        bound: Duration,
    ) -> Result<RegisteredService, NotReady> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let changed = self.changed.notified();
            if let Some(service) = self.get(name) {
                return Ok(service);
            }
            let Some(version) = self.record(name).map(|r| r.current.version) else {
                return Err(NotReady::NotDeployed);
            };
            if let Some((_, error)) = self
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(name)
                .filter(|(failed, _)| *failed == version)
            {
                return Err(NotReady::Failed(error.clone()));
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(NotReady::StillLoading);
            }
        }
    }

    /// Returns once the first snapshot's records are in (at most [`LOAD_WAIT`]): 1:any work
    /// read before then, for a service this server does not know yet, waits for it rather
    /// than be taken for work for a service nobody has.
    pub async fn wait_for_records(&self) {
        let mut loaded = self.records_loaded.subscribe();
        let _ = tokio::time::timeout(LOAD_WAIT, loaded.wait_for(|loaded| *loaded)).await;
    }

    /// Every deployed service's statistics (kept across versions), by name.
    pub fn stats(&self) -> Vec<(String, Arc<ServiceStats>)> {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, stats)| (name.clone(), stats.clone()))
            .collect()
    }

    /// Every deployed record this server knows.
    pub fn records_list(&self) -> Vec<DeployedService> {
        self.records().values().cloned().collect()
    }

    /// Compiles `bytes` and links them against the world, off the async threads.
    pub async fn compile(&self, bytes: Arc<Vec<u8>>) -> Result<LoadedService, LoadError> {
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|e| LoadError::Runtime(format!("the compiler thread failed: {e}")))?
    }

    /// Loads every deployed service of a snapshot; returns once each is ready or failed.
    pub async fn apply_snapshot(&self, snapshot: &ConfigSnapshot) {
        let names: Vec<String> = {
            let mut records = self.records();
            records.load(snapshot);
            records.values().map(|r| r.name.clone()).collect()
        };
        self.records_loaded.send_replace(true);
        self.drop_undeployed();
        let started = Instant::now();
        for name in &names {
            self.load(name).await;
        }
        if !names.is_empty() {
            info!(
                services = names.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "deployed services loaded"
            );
        }
    }

    /// Applies one announced change: loads the new version in the background (the old one
    /// serves meanwhile), or drops an undeployed service.
    pub fn apply_change(self: &Arc<Self>, change: &ConfigChange) {
        let changed = self.records().apply(change);
        if changed.is_empty() {
            return;
        }
        self.drop_undeployed();
        for name in changed.upserted {
            let this = self.clone();
            tokio::spawn(async move { this.load(&name).await });
        }
    }

    /// Takes out of `live` what has no record any more.
    fn drop_undeployed(&self) {
        let records = self.records();
        let live = self.live.load();
        if live.keys().any(|name| records.get(name).is_none()) {
            let kept = live
                .iter()
                .filter(|(name, _)| records.get(name).is_some())
                .map(|(name, service)| (name.clone(), service.clone()))
                .collect();
            self.live.store(Arc::new(kept));
            self.code
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|name, _| records.get(name).is_some());
        }
        // An undeployed service's figures go with it (a later deployment of the name starts
        // from zero, as a restarted server's would).
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| records.get(name).is_some());
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| records.get(name).is_some());
        drop(records);
        self.changed.notify_waiters();
    }

    /// Brings `name` to the version its record names.
    async fn load(&self, name: &str) {
        let Some(record) = self.record(name) else {
            return;
        };
        let version = record.current.version;
        let limits = Limits {
            deadline: Duration::from_millis(record.deadline_ms),
            memory_bytes: (record.memory_mb as usize * 1024 * 1024)
                .min(self.runtime.max_memory_bytes()),
        };
        // Same code, other limits or activity: no compile.
        let reusable = self
            .code
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .filter(|code| code.hash() == record.current.hash)
            .cloned();
        let wasm = |loaded| -> Arc<dyn Service> {
            Arc::new(WasmService {
                name: name.to_owned(),
                version,
                loaded,
                limits,
            })
        };
        let state = if !record.is_active {
            self.install(&record, Arc::new(Inactive(name.to_owned())));
            LoadState::Ready {
                version,
                load_ms: 0,
                from_cache: true,
            }
        } else if let Some(loaded) = reusable {
            self.install(&record, wasm(loaded));
            LoadState::Ready {
                version,
                load_ms: 0,
                from_cache: true,
            }
        } else {
            self.record_state(name, &LoadState::Loading { version })
                .await;
            match self.fetch_and_compile(&record).await {
                Ok(loaded) => {
                    let loaded = Arc::new(loaded);
                    self.code
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.to_owned(), loaded.clone());
                    let state = LoadState::Ready {
                        version,
                        load_ms: loaded.load_time().as_millis() as u64,
                        from_cache: loaded.from_cache(),
                    };
                    self.install(&record, wasm(loaded));
                    info!(service = %name, version, ?state, "deployed service ready");
                    state
                }
                Err(error) => {
                    warn!(service = %name, version, %error, "deployed service could not be loaded; the previous version, if any, keeps serving");
                    self.failed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.to_owned(), (version, error.clone()));
                    LoadState::Failed { version, error }
                }
            }
        };
        self.record_state(name, &state).await;
        self.changed.notify_waiters();
    }

    async fn fetch_and_compile(&self, record: &DeployedService) -> Result<LoadedService, String> {
        let hash = &record.current.hash;
        let bytes = components::get(&self.broker, hash)
            .await
            .map_err(|e| format!("the component cannot be fetched: {e}"))?
            .ok_or_else(|| format!("component {hash} is missing from Redis"))?;
        let loaded = self
            .compile(Arc::new(bytes))
            .await
            .map_err(|e| e.to_string())?;
        if loaded.hash() != hash {
            return Err(format!(
                "the stored component's hash is {}, not {hash}",
                loaded.hash()
            ));
        }
        Ok(loaded)
    }

    /// Swaps in `service` for `record`'s name, unless a newer record arrived meanwhile.
    fn install(&self, record: &DeployedService, service: Arc<dyn Service>) {
        let records = self.records();
        if records.get(&record.name).map(|r| r.current.version) != Some(record.current.version) {
            return;
        }
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(record.name.clone())
            .or_default()
            .clone();
        let mut live = BTreeMap::clone(&self.live.load());
        live.insert(
            record.name.clone(),
            RegisteredService {
                name: record.name.clone(),
                service,
                stats,
            },
        );
        self.live.store(Arc::new(live));
    }

    async fn record_state(&self, name: &str, state: &LoadState) {
        if let Err(e) = states::record(&self.broker, name, state).await {
            warn!(service = %name, error = %e, "could not record the deployed service's state");
        }
    }
}

/// A deployed service switched off (`is_active = false`): known, not run.
struct Inactive(String);

#[async_trait::async_trait]
impl Service for Inactive {
    async fn handle(&self, _request: Request, _ctx: &Context) -> Result<Response, ServiceError> {
        Err(ServiceError::Conflict(format!(
            "service {} is inactive",
            self.0
        )))
    }
}
