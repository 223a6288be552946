//! Starting, running and stopping a connector.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use zato_broker::member::{Member, Membership};
use zato_broker::{LeaseHandle, Queue, QueueConsumer};
use zato_common::settings::ConnectorSettings;

use crate::connections::Connections;
use crate::error::ConnectorError;
use crate::handlers;
use crate::health::{ConnectorCollector, own_checks};
use crate::metrics::Metrics;
use crate::supervisor::Supervisor;
use crate::worker::Ctx;

/// The lease every connector campaigns for.
pub const LEASE_ROLE: &str = zato_broker::CONNECTOR_LEASE;

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
        let mut member = Member::start(Membership::from(&settings))?;
        let broker = member.broker().clone();
        let lease = member.campaign(LEASE_ROLE);
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
            member.health().skipped_objects(),
        ));
        member.follow_config(handlers::all_router(&supervisor), {
            let supervisor = supervisor.clone();
            move |snapshot| {
                let supervisor = supervisor.clone();
                async move { supervisor.apply_snapshot(&snapshot).await }
            }
        });
        let outgoing = QueueConsumer::new(
            broker.clone(),
            Queue::Connector,
            handlers::connector_router(&broker, &supervisor, &metrics),
        )
        .while_leader(lease.clone())
        .spawn();
        member
            .health()
            .watch_consumer("1:connector", outgoing.stats(), true);
        member
            .health()
            .set_own_checks(own_checks(connections.clone()));
        member.metrics().register(ConnectorCollector {
            connections,
            metrics,
        });
        let follower = tokio::spawn(follow_lease(lease, supervisor.clone()));
        member.serve_health()?;
        member
            .run(shutdown, || async move {
                // Publishes in flight finish and are answered; then the channels stop taking
                // messages and settle those they hold; then (the runtime) the lease goes to a
                // standby.
                follower.abort();
                outgoing.stop().await;
                supervisor.shutdown().await;
            })
            .await;
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
