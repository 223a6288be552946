//! Starting, running and stopping a server.

use std::future::Future;
use std::sync::Arc;

use tracing::{info, warn};
use zato_broker::member::{Member, MemberError, Membership};
use zato_broker::{Queue, QueueConsumer};

use crate::deployed::DeployedServices;
use crate::dispatcher::Dispatcher;
use crate::http::{self, AppState, HttpMetrics, ServerCollector};
use crate::outgoing::OutgoingConnections;
use crate::pubsub::PubSub;
use crate::service::{Service, ServiceRegistry};
use crate::worker_store::WorkerStore;
use crate::{admin, broker_handlers, builtin};
use zato_common::settings::{ServerSettings, SettingsError};
use zato_common::tls::TlsError;

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Member(#[from] MemberError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("HTTPS: {0}")]
    Tls(#[from] TlsError),
}

impl From<zato_common::settings::SettingsError> for ServerError {
    fn from(e: zato_common::settings::SettingsError) -> Self {
        ServerError::Member(e.into())
    }
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
        let mut member = Member::start(Membership::from(&settings)).map_err(MemberError::from)?;
        let broker = member.broker().clone();
        let keyring = settings
            .keyring()
            .map_err(|e| SettingsError::Invalid(format!("secret_key: {e}")))?;
        let outgoing = OutgoingConnections::new(keyring);
        let store = WorkerStore::new(member.health().skipped_objects(), outgoing.clone());
        let deployed =
            DeployedServices::new(broker.clone(), &settings, member.health().skipped_objects())
                .map_err(|e| SettingsError::Invalid(format!("deployed services: {e}")))?;
        let pubsub = PubSub::new(broker.clone(), member.health().skipped_objects());
        let mut registry = self.registry;
        admin::register(&mut registry, &store);
        let dispatcher = Dispatcher::new(
            registry,
            deployed.clone(),
            broker.clone(),
            outgoing.clone(),
            pubsub.clone(),
        );
        member
            .health()
            .set_own_checks(crate::outgoing::own_checks(outgoing.clone()));
        member
            .metrics()
            .register(crate::outgoing::OutgoingCollector(outgoing));
        member
            .metrics()
            .register(crate::pubsub::figures::PubSubCollector(
                pubsub.figures().clone(),
            ));

        member.follow_config(broker_handlers::all_router(&store, &deployed, &pubsub), {
            let store = store.clone();
            let pubsub = pubsub.clone();
            let dispatcher = dispatcher.clone();
            // Every deployed service is loaded before the server reports READY, so a server
            // started after a deployment never answers "no such service" for it.
            // The compiled-in services are advertised again with every snapshot (after a Redis
            // restart too), for servers that hand over work for a service they lack.
            move |snapshot| {
                store.apply_snapshot(&snapshot);
                pubsub.apply_snapshot(&snapshot);
                let (deployed, dispatcher) = (deployed.clone(), dispatcher.clone());
                async move {
                    let names = dispatcher.registry().services().map(|s| s.name.as_str());
                    if let Err(e) = crate::handover::advertise(dispatcher.broker(), names).await {
                        warn!(error = %e, "could not advertise this server's services");
                    }
                    deployed.apply_snapshot(&snapshot).await
                }
            }
        });
        let any = QueueConsumer::new(
            broker.clone(),
            Queue::Server,
            broker_handlers::any_router(&dispatcher),
        )
        .spawn();
        member.health().watch_consumer("1:any", any.stats(), false);
        let sampler = crate::pubsub::figures::spawn_sampler(&pubsub);
        let http_metrics = Arc::new(HttpMetrics::default());
        member.metrics().register(ServerCollector {
            dispatcher: dispatcher.clone(),
            http: http_metrics.clone(),
        });

        let state = Arc::new(AppState {
            dispatcher,
            store,
            health: member.health().clone(),
            metrics_registry: member.metrics().clone(),
            metrics: http_metrics,
            auth_limiter: Default::default(),
            settings: settings.clone(),
        });
        let (http_handle, mut http_task) =
            http::start(state, tls.clone()).map_err(|source| MemberError::Bind {
                bind: settings.bind.clone(),
                source,
            })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(member = %settings.member, bind = %settings.bind, %scheme, cluster = %settings.cluster, "listening");

        // The listener failing ends the server as a signal would, and is its error.
        let mut failure = None;
        let stop = async {
            tokio::select! {
                () = shutdown => {}
                ended = &mut http_task => failure = Some(ended),
            }
        };
        member
            .run(stop, || async {
                tokio::join!(http_handle.stop(true), any.stop(), pubsub.stop());
                sampler.abort();
            })
            .await;
        match failure {
            Some(Ok(Err(e))) => Err(ServerError::Http(e)),
            _ => Ok(()),
        }
    }
}
