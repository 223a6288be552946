//! Starting, running and stopping a server.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};
use zato_broker::{
    BroadcastConsumer, Broker, BrokerConfig, BrokerError, Queue, QueueConsumer, janitor, members,
};
use zato_common::settings::SettingsError;
use zato_common::systemd;

use crate::dispatcher::Dispatcher;
use crate::http::{self, AppState, HealthState, HttpMetrics};
use crate::service::{Service, ServiceRegistry};
use zato_common::settings::ServerSettings;
use zato_common::tls::TlsError;
use crate::worker_store::WorkerStore;
use crate::{admin, broker_handlers, builtin};

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("HTTPS: {0}")]
    Tls(#[from] TlsError),
}

/// A server to run: settings plus services.
pub struct Server {
    settings: ServerSettings,
    registry: ServiceRegistry,
}

impl Server {
    /// A server with the built-in services.
    pub fn new(settings: ServerSettings) -> Self {
        let mut registry = ServiceRegistry::new();
        builtin::register(&mut registry);
        Self { settings, registry }
    }

    /// Adds a service.
    pub fn service(mut self, name: &str, service: impl Service) -> Self {
        self.registry.register(name, service);
        self
    }

    /// Runs until SIGTERM or SIGINT, then drains and returns.
    pub async fn run(self) -> Result<(), ServerError> {
        self.run_until(zato_common::process::shutdown_signal())
            .await
    }

    /// Runs until `shutdown` completes, then drains: no new work is taken (channels answer
    /// 503), work in flight finishes and is acknowledged, the rest stays for other servers.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let mut settings = self.settings;
        settings.fill_defaults();
        settings.validate()?;
        // Built before anything starts, so a certificate that cannot be used stops the server
        // at once rather than after it joined the cluster.
        let tls = settings.tls()?;
        let broker = Broker::new(BrokerConfig {
            redis_url: settings.redis_url.clone(),
            cluster: settings.cluster.clone(),
            member: settings.member.clone(),
            role: "server".into(),
            settings: settings.broker.clone(),
        })?;
        let store = WorkerStore::new();
        let mut registry = self.registry;
        admin::register(&mut registry, &store);
        let dispatcher = Dispatcher::new(registry, broker.clone());

        let (loaded_tx, mut loaded) = watch::channel(false);
        let config_loaded = Arc::new(AtomicBool::new(false));
        let all = BroadcastConsumer::new(broker.clone(), broker_handlers::all_router(&store))
            .on_snapshot({
                let (store, config_loaded) = (store.clone(), config_loaded.clone());
                move |snapshot| {
                    store.apply_snapshot(&snapshot);
                    config_loaded.store(true, Ordering::Relaxed);
                    loaded_tx.send_replace(true);
                    async {}
                }
            })
            .spawn();
        let any = QueueConsumer::new(
            broker.clone(),
            Queue::Server,
            broker_handlers::any_router(&dispatcher),
        )
        .spawn();
        let heartbeat = members::spawn_heartbeat(&broker);
        let cleaner = janitor::spawn_janitor(&broker);

        let state = Arc::new(AppState {
            dispatcher,
            store,
            draining: AtomicBool::new(false),
            health: HealthState {
                consumers: vec![("1:any", any.stats()), ("1:all", all.stats())],
                redis_ok: AtomicBool::new(false),
                redis_last_ok_ms: AtomicU64::new(0),
                stall_after_ms: settings.broker.block_ms * 3 + 2_000,
                config_loaded,
            },
            metrics: HttpMetrics::default(),
            auth_limiter: Default::default(),
            settings: settings.clone(),
        });
        let prober = tokio::spawn(probe_redis(broker.clone(), state.clone()));

        let (http_handle, mut http_task) =
            http::start(state.clone(), tls.clone()).map_err(|source| ServerError::Bind {
                bind: settings.bind.clone(),
                source,
            })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(member = %settings.member, bind = %settings.bind, %scheme, cluster = %settings.cluster, "listening");

        tokio::pin!(shutdown);
        let ready = tokio::select! {
            loaded = loaded.wait_for(|loaded| *loaded) => loaded.is_ok(),
            () = &mut shutdown => false,
        };
        let watchdog = ready.then(|| {
            info!(member = %settings.member, "ready");
            systemd::ready();
            tokio::spawn(watchdog(state.clone()))
        });
        let failure = if ready {
            tokio::select! {
                () = &mut shutdown => None,
                ended = &mut http_task => Some(ended),
            }
        } else {
            None
        };

        info!(member = %settings.member, "stopping: draining work in flight");
        systemd::stopping();
        state.draining.store(true, Ordering::Relaxed);
        let drain = async {
            tokio::join!(http_handle.stop(true), any.stop(), all.stop());
        };
        if tokio::time::timeout(Duration::from_millis(settings.shutdown_timeout_ms), drain)
            .await
            .is_err()
        {
            warn!("drain did not finish in time; unfinished work stays pending for other servers");
        }
        broker.shutdown();
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        prober.abort();
        cleaner.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), heartbeat).await;
        info!(member = %settings.member, "stopped");
        match failure {
            Some(Ok(Err(e))) => Err(ServerError::Http(e)),
            _ => Ok(()),
        }
    }
}

/// Keeps `redis_ok` current for the health check.
async fn probe_redis(broker: Broker, state: Arc<AppState>) {
    loop {
        let ok = tokio::time::timeout(Duration::from_secs(1), broker.ping())
            .await
            .is_ok_and(|pinged| pinged.is_ok());
        state.health.redis_ok.store(ok, Ordering::Relaxed);
        if ok {
            state
                .health
                .redis_last_ok_ms
                .store(zato_common::clock::unix_ms(), Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Pings systemd's watchdog while the server is healthy, so a server whose consumers stall
/// is restarted.
async fn watchdog(state: Arc<AppState>) {
    let Some(interval) = systemd::watchdog_interval() else {
        return;
    };
    loop {
        if state.health.report().0 {
            systemd::watchdog();
        }
        tokio::time::sleep(interval).await;
    }
}
