//! The Zato scheduler: interval, cron and one-time jobs, fired through 1:any as service
//! invocations. Any number may run; the one holding the `scheduler` lease fires, the others
//! keep the timetable loaded and take over within the lease TTL. Each job's scheduled
//! instant fires once, across failovers and restarts.

mod fire;
mod http;
mod metrics;
mod plans;
mod runner;
mod state;
mod timetable;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{info, warn};
use zato_broker::{
    BroadcastConsumer, Broker, BrokerConfig, BrokerError, Delivery, HandlerError, Lease, Router,
    members,
};
use zato_common::settings::SettingsError;
use zato_common::{ConfigChange, ConfigKind, systemd};

pub use metrics::SchedulerMetrics;
pub use zato_common::settings::SchedulerSettings;
pub use state::RunState;

use runner::Runner;
use timetable::Timetable;

/// Why a scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
}

/// Runs a scheduler until `shutdown` completes, then releases the lease and returns.
pub async fn run_until(
    mut settings: SchedulerSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SchedulerError> {
    settings.fill_defaults();
    settings.validate()?;
    let broker = Broker::new(BrokerConfig {
        redis_url: settings.redis_url.clone(),
        cluster: settings.cluster.clone(),
        member: settings.member.clone(),
        role: "scheduler".into(),
        settings: settings.broker.clone(),
    })?;
    let timetable = Arc::new(Mutex::new(Timetable::default()));
    let changed = Arc::new(Notify::new());
    let (loaded_tx, mut loaded) = tokio::sync::watch::channel(false);

    let on_change = {
        let (timetable, changed) = (timetable.clone(), changed.clone());
        move |d: Delivery| {
            let (timetable, changed) = (timetable.clone(), changed.clone());
            async move {
                let change: ConfigChange = d.payload()?;
                timetable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(change)
                    .map_err(HandlerError::Reject)?;
                changed.notify_one();
                Ok(())
            }
        }
    };
    let router = Router::new()
        .route(ConfigKind::Job.create_edit_action(), on_change.clone())
        .route(ConfigKind::Job.delete_action(), on_change);
    let config = BroadcastConsumer::new(broker.clone(), router)
        .on_snapshot({
            let (timetable, changed) = (timetable.clone(), changed.clone());
            move |snapshot| {
                timetable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(&snapshot);
                changed.notify_one();
                loaded_tx.send_replace(true);
                async {}
            }
        })
        .spawn();
    let lease = Lease::spawn(&broker, "scheduler");
    let heartbeat = members::spawn_heartbeat(&broker);
    let metrics = Arc::new(SchedulerMetrics::default());
    let runner = tokio::spawn(
        Runner {
            broker: broker.clone(),
            lease: lease.handle(),
            timetable,
            changed,
            metrics: metrics.clone(),
            grace: Duration::from_millis(settings.misfire_grace_ms),
            coalesce: jiff::SignedDuration::from_millis(settings.fire_coalesce_ms as i64),
            batch: settings.fire_batch,
        }
        .run(),
    );
    let status = http::Status {
        member: settings.member.clone(),
        lease: lease.handle(),
        config: config.stats(),
        metrics,
        stall_after_ms: settings.broker.block_ms * 3 + 2_000,
    };
    let (http_handle, _http_task) =
        http::start(&settings.bind, status).map_err(|source| SchedulerError::Bind {
            bind: settings.bind.clone(),
            source,
        })?;
    info!(member = %settings.member, bind = %settings.bind, "scheduler listening");

    tokio::pin!(shutdown);
    let stopped_before_ready = tokio::select! {
        loaded = loaded.wait_for(|l| *l) => {
            if loaded.is_ok() {
                info!(member = %settings.member, "ready");
                systemd::ready();
            }
            false
        }
        () = &mut shutdown => true,
    };
    let watchdog = tokio::spawn(async {
        let Some(interval) = systemd::watchdog_interval() else {
            return;
        };
        loop {
            systemd::watchdog();
            tokio::time::sleep(interval).await;
        }
    });
    if !stopped_before_ready {
        shutdown.await;
    }
    info!(member = %settings.member, "stopping");
    systemd::stopping();
    watchdog.abort();
    runner.abort();
    lease.release().await;
    config.stop().await;
    http_handle.stop(true).await;
    broker.shutdown();
    if tokio::time::timeout(Duration::from_secs(2), heartbeat)
        .await
        .is_err()
    {
        warn!("heartbeat did not stop in time");
    }
    info!(member = %settings.member, "stopped");
    Ok(())
}
