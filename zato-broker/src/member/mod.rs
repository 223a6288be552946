//! The member runtime: what every binary of a cluster (server, scheduler, connector) is built
//! from, so that all of them start, report and stop the same way.
//!
//! A member is started from its [`Membership`] (who it is and how to reach Redis) and gets,
//! before any code of its own runs:
//! - the broker client, its heartbeat, the janitor, and the campaign for its lease if it is
//!   a singleton;
//! - [`Health`], judged on Redis taking writes, the config being loaded and every consumer
//!   loop reading, plus the member's own checks;
//! - [`Metrics`], with the families every member reports.
//!
//! The member then follows the config ([`Member::follow_config`]: the 1:all consumer with
//! "load, then follow"), adds its own consumers and caches, and hands control to
//! [`Member::run`], which owns the rest of the life cycle with one policy for all:
//! `READY=1` once the first config snapshot is applied; `WATCHDOG=1` only while healthy (a
//! stalled member is restarted by systemd); on SIGTERM `STOPPING=1`, health `draining`, the
//! member's own drain within its shutdown timeout, then the lease released (a standby takes
//! over at once), the 1:all consumer and the listener stopped, and the heartbeat removed.

mod health;
mod listener;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use zato_common::settings::{BrokerSettings, ConnectorSettings, SchedulerSettings, ServerSettings};
use zato_common::systemd;

pub use health::{Condition, Health, OwnChecks};
pub use listener::{health_response, metrics_response};
pub use metrics::Metrics;

use crate::broker::{Broker, BrokerConfig};
use crate::config_store::ConfigSnapshot;
use crate::consumer::{BroadcastConsumer, ConsumerHandle};
use crate::error::Result;
use crate::lease::{Lease, LeaseHandle};
use crate::router::Router;
use crate::{janitor, members};

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(transparent)]
    Settings(#[from] zato_common::settings::SettingsError),
    #[error("broker: {0}")]
    Broker(#[from] crate::BrokerError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
}

/// Who a member is and how it reaches the cluster: the part of every binary's settings the
/// runtime needs.
#[derive(Debug, Clone)]
pub struct Membership {
    /// `server`, `scheduler`, `connector`.
    pub role: &'static str,
    pub cluster: String,
    pub member: String,
    pub redis_url: String,
    /// Where the member listens (its channels, or only health and metrics).
    pub bind: String,
    pub broker: BrokerSettings,
    /// How long the member's own drain may take before it stops anyway.
    pub shutdown_timeout: Duration,
}

/// The drain of members that set no shutdown timeout (the scheduler: its drain is instant).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The membership of a member's settings: each binary's settings carry the same fields.
macro_rules! membership_of {
    ($settings:ty, $role:literal, $shutdown:expr) => {
        impl From<&$settings> for Membership {
            fn from(s: &$settings) -> Self {
                Self {
                    role: $role,
                    cluster: s.cluster.clone(),
                    member: s.member.clone(),
                    redis_url: s.redis_url.clone(),
                    bind: s.bind.clone(),
                    broker: s.broker.clone(),
                    shutdown_timeout: $shutdown(s),
                }
            }
        }
    };
}

membership_of!(ServerSettings, "server", |s: &ServerSettings| {
    Duration::from_millis(s.shutdown_timeout_ms)
});
membership_of!(SchedulerSettings, "scheduler", |_: &SchedulerSettings| {
    DEFAULT_SHUTDOWN_TIMEOUT
});
membership_of!(ConnectorSettings, "connector", |s: &ConnectorSettings| {
    Duration::from_millis(s.shutdown_timeout_ms)
});

/// A started member.
pub struct Member {
    membership: Membership,
    broker: Broker,
    lease: Option<Lease>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    config: Option<ConsumerHandle>,
    loaded: watch::Receiver<bool>,
    loaded_tx: Option<watch::Sender<bool>>,
    listener: Option<listener::Listener>,
    heartbeat: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl Member {
    /// Prepares the broker and starts what every member runs: heartbeat, janitor, the Redis
    /// probe and the cluster figures. Nothing waits for Redis: every loop connects (and
    /// reconnects) by itself.
    pub fn start(membership: Membership) -> Result<Self> {
        let broker = Broker::new(BrokerConfig {
            redis_url: membership.redis_url.clone(),
            cluster: membership.cluster.clone(),
            member: membership.member.clone(),
            role: membership.role.into(),
            settings: membership.broker.clone(),
        })?;
        let health = Arc::new(Health::new(&broker));
        let metrics = Arc::new(Metrics::new(broker.member()));
        metrics.register(metrics::RuntimeCollector {
            health: health.clone(),
        });
        let cluster = metrics::ClusterCollector::default();
        metrics.register(cluster.clone());
        let background = vec![
            janitor::spawn_janitor(&broker),
            health::spawn_redis_probe(&broker, health.clone()),
            cluster.spawn_refresh(&broker),
        ];
        let (loaded_tx, loaded) = watch::channel(false);
        Ok(Self {
            heartbeat: members::spawn_heartbeat(&broker),
            membership,
            broker,
            lease: None,
            health,
            metrics,
            config: None,
            loaded,
            loaded_tx: Some(loaded_tx),
            listener: None,
            background,
        })
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Campaigns for the singleton lease `role` (the scheduler's, the connector's): health
    /// shows whether this member is active, and a stop releases the lease so that a standby
    /// takes over at once.
    pub fn campaign(&mut self, role: &str) -> LeaseHandle {
        let lease = self
            .lease
            .get_or_insert_with(|| Lease::spawn(&self.broker, role));
        self.health.set_lease(lease.handle());
        lease.handle()
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Follows the config: a 1:all consumer routing through `router`, whose every snapshot
    /// (on each connection and reconnection, before any message) goes to `on_snapshot`. The
    /// member is ready once the first snapshot is applied.
    pub fn follow_config<F, Fut>(&mut self, router: Router, on_snapshot: F)
    where
        F: Fn(ConfigSnapshot) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(loaded_tx) = self.loaded_tx.take() else {
            warn!("follow_config called twice; the second call is ignored");
            return;
        };
        let on_snapshot = Arc::new(on_snapshot);
        let health = self.health.clone();
        let consumer = BroadcastConsumer::new(self.broker.clone(), router)
            .on_snapshot(move |snapshot| {
                let (on_snapshot, health, loaded_tx) =
                    (on_snapshot.clone(), health.clone(), loaded_tx.clone());
                async move {
                    on_snapshot(snapshot).await;
                    health.config_loaded();
                    loaded_tx.send_replace(true);
                }
            })
            .spawn();
        self.health.watch_consumer("1:all", consumer.stats(), false);
        self.config = Some(consumer);
    }

    /// Serves `/zato/health` and `/metrics` on the member's `bind` (members without a
    /// listener of their own).
    pub fn serve_health(&mut self) -> Result<(), MemberError> {
        let listener = listener::start(
            &self.membership.bind,
            self.health.clone(),
            self.metrics.clone(),
        )
        .map_err(|source| MemberError::Bind {
            bind: self.membership.bind.clone(),
            source,
        })?;
        info!(member = %self.membership.member, bind = %self.membership.bind, cluster = %self.membership.cluster, "listening");
        self.listener = Some(listener);
        Ok(())
    }

    /// Runs until `shutdown` completes, then stops as the module doc says. `drain` is the
    /// member's own part of the stop (finish work in flight, stop its listener and loops),
    /// given the member's shutdown timeout.
    pub async fn run<D, Fut>(self, shutdown: impl Future<Output = ()>, drain: D)
    where
        D: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let Self {
            membership,
            broker,
            lease,
            health,
            config,
            mut loaded,
            listener,
            heartbeat,
            background,
            ..
        } = self;
        let member = membership.member.as_str();
        tokio::pin!(shutdown);
        let ready = tokio::select! {
            loaded = loaded.wait_for(|loaded| *loaded) => loaded.is_ok(),
            () = &mut shutdown => false,
        };
        let watchdog = ready.then(|| {
            info!(%member, role = membership.role, "ready");
            systemd::ready();
            tokio::spawn(watchdog(health.clone()))
        });
        if ready {
            shutdown.await;
        }

        info!(%member, "stopping: finishing what is in flight");
        systemd::stopping();
        health.set_draining();
        if tokio::time::timeout(membership.shutdown_timeout, drain())
            .await
            .is_err()
        {
            warn!(%member, "the drain did not finish in time; what was not finished is delivered again");
        }
        let rest = async {
            if let Some(lease) = lease {
                lease.release().await;
            }
            if let Some(config) = config {
                config.stop().await;
            }
            if let Some(listener) = &listener {
                listener.handle.stop(true).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), rest)
            .await
            .is_err()
        {
            warn!(%member, "the lease, 1:all or the listener did not stop in time");
        }
        broker.shutdown();
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        if let Some(listener) = listener {
            listener.task.abort();
        }
        for task in background {
            task.abort();
        }
        if tokio::time::timeout(Duration::from_secs(2), heartbeat)
            .await
            .is_err()
        {
            warn!(%member, "heartbeat did not stop in time");
        }
        info!(%member, "stopped");
    }
}

/// Pings systemd's watchdog while the member is healthy, so a member whose loops stall, or
/// that cannot reach Redis, is restarted; without `WatchdogSec` it does nothing.
async fn watchdog(health: Arc<Health>) {
    let Some(interval) = systemd::watchdog_interval() else {
        return;
    };
    loop {
        if health.is_healthy() {
            systemd::watchdog();
        }
        tokio::time::sleep(interval).await;
    }
}
