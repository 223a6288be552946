//! Starting, running and stopping a connector.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};
use zato_broker::{
    BroadcastConsumer, Broker, BrokerConfig, Lease, LeaseHandle, Queue, QueueConsumer, members,
};
use zato_common::systemd;

use crate::connections::Connections;
use crate::error::ConnectorError;
use crate::handlers;
use crate::health::Health;
use crate::http;
use crate::metrics::Metrics;
use zato_common::settings::ConnectorSettings;
use crate::supervisor::Supervisor;
use crate::worker::Ctx;

/// The lease every connector campaigns for.
pub const LEASE_ROLE: &str = "connector";

/// A connector to run.
pub struct Connector {
    settings: ConnectorSettings,
}

impl Connector {
    pub fn new(settings: ConnectorSettings) -> Self {
        Self { settings }
    }

    /// Runs until SIGTERM or SIGINT, then stops gracefully.
    pub async fn run(self) -> Result<(), ConnectorError> {
        self.run_until(zato_common::process::shutdown_signal())
            .await
    }

    /// Runs until `shutdown` completes, then: no new messages are taken, what is in flight
    /// is handed over and acknowledged, the lease is released (a standby takes over at
    /// once), and the function returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ConnectorError> {
        let mut settings = self.settings;
        settings.fill_defaults();
        settings.validate()?;
        let broker = Broker::new(BrokerConfig {
            redis_url: settings.redis_url.clone(),
            cluster: settings.cluster.clone(),
            member: settings.member.clone(),
            role: LEASE_ROLE.into(),
            settings: settings.broker.clone(),
        })?;
        let metrics = Arc::new(Metrics::default());
        let connections = Connections::default();
        let ctx = Ctx {
            broker: broker.clone(),
            connections: connections.clone(),
            metrics: metrics.clone(),
        };
        let supervisor = Arc::new(Supervisor::new(
            ctx,
            Duration::from_millis(settings.publish_timeout_ms),
        ));

        let (loaded_tx, mut loaded) = watch::channel(false);
        let config_loaded = Arc::new(AtomicBool::new(false));
        let all = BroadcastConsumer::new(broker.clone(), handlers::all_router(&supervisor))
            .on_snapshot({
                let (supervisor, config_loaded) = (supervisor.clone(), config_loaded.clone());
                move |snapshot| {
                    let (supervisor, config_loaded, loaded_tx) =
                        (supervisor.clone(), config_loaded.clone(), loaded_tx.clone());
                    async move {
                        supervisor.apply_snapshot(&snapshot).await;
                        config_loaded.store(true, Ordering::Relaxed);
                        loaded_tx.send_replace(true);
                    }
                }
            })
            .spawn();
        let lease = Lease::spawn(&broker, LEASE_ROLE);
        let outgoing = QueueConsumer::new(
            broker.clone(),
            Queue::Connector,
            handlers::connector_router(&broker, &supervisor, &metrics),
        )
        .while_leader(lease.handle())
        .spawn();
        let follower = tokio::spawn(follow_lease(lease.handle(), supervisor.clone()));
        let heartbeat = members::spawn_heartbeat(&broker);

        let health = Arc::new(Health {
            member: settings.member.clone(),
            lease: lease.handle(),
            consumers: vec![("1:all", all.stats()), ("1:connector", outgoing.stats())],
            config_loaded,
            draining: AtomicBool::new(false),
            stall_after_ms: settings.broker.block_ms * 3 + 2_000,
            connections,
            metrics,
        });
        let (http_handle, http_task) =
            http::start(health.clone(), &settings.bind).map_err(|source| ConnectorError::Bind {
                bind: settings.bind.clone(),
                source,
            })?;
        info!(member = %settings.member, bind = %settings.bind, cluster = %settings.cluster, "listening");

        tokio::pin!(shutdown);
        let ready = tokio::select! {
            loaded = loaded.wait_for(|loaded| *loaded) => loaded.is_ok(),
            () = &mut shutdown => false,
        };
        let watchdog = ready.then(|| {
            info!(member = %settings.member, "ready");
            systemd::ready();
            tokio::spawn(watchdog(health.clone()))
        });
        if ready {
            shutdown.await;
        }

        info!(member = %settings.member, "stopping: finishing what is in flight");
        systemd::stopping();
        health.draining.store(true, Ordering::Relaxed);
        follower.abort();
        let drain = async {
            // Publishes in flight finish and are answered; then the channels stop taking
            // messages and settle those they hold; then the lease goes to a standby.
            outgoing.stop().await;
            supervisor.shutdown().await;
            lease.release().await;
            all.stop().await;
        };
        if tokio::time::timeout(Duration::from_millis(settings.shutdown_timeout_ms), drain)
            .await
            .is_err()
        {
            warn!("stop did not finish in time; what was not settled is redelivered");
        }
        http_handle.stop(true).await;
        http_task.abort();
        broker.shutdown();
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), heartbeat).await;
        info!(member = %settings.member, "stopped");
        Ok(())
    }
}

/// Starts the workers when the lease is won and stops them the moment it is lost.
/// `is_leader` is checked against the self-fencing deadline, not only on state changes, so
/// a holder that cannot renew stands down on time even if no change is announced.
async fn follow_lease(lease: LeaseHandle, supervisor: Arc<Supervisor>) {
    let mut changes = lease.subscribe();
    loop {
        supervisor.set_leader(lease.is_leader()).await;
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Pings systemd's watchdog while the Redis side is healthy.
async fn watchdog(health: Arc<Health>) {
    let Some(interval) = systemd::watchdog_interval() else {
        return;
    };
    loop {
        if health.report().0 {
            systemd::watchdog();
        }
        tokio::time::sleep(interval).await;
    }
}
