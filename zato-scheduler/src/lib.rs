//! The Zato scheduler: interval, cron and one-time jobs, fired through 1:any as service
//! invocations. Any number may run; the one holding the `scheduler` lease fires, the others
//! keep the timetable loaded and take over within the lease TTL. Each job's scheduled
//! instant fires once, across failovers and restarts.

mod fire;
mod metrics;
mod plans;
mod runner;
mod state;
mod timetable;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use zato_broker::member::{Condition, Member, Membership};
use zato_broker::{Delivery, Router, SCHEDULER_LEASE};
use zato_common::{ConfigChange, ConfigKind};

pub use metrics::SchedulerMetrics;
pub use state::RunState;
pub use zato_common::settings::SchedulerSettings;

use runner::Runner;
use timetable::Timetable;

/// Why a scheduler could not start.
pub use zato_broker::member::MemberError as SchedulerError;

/// Runs a scheduler until `shutdown` completes, then releases the lease and returns.
pub async fn run_until(
    mut settings: SchedulerSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SchedulerError> {
    settings.fill_defaults();
    settings.validate()?;
    let mut member = Member::start(Membership::from(&settings))?;
    let broker = member.broker().clone();
    let lease = member.campaign(SCHEDULER_LEASE);
    let timetable = Arc::new(Mutex::new(Timetable::new(
        member.health().skipped_objects(),
    )));
    let changed = Arc::new(Notify::new());

    let on_change = {
        let (timetable, changed) = (timetable.clone(), changed.clone());
        move |d: Delivery| {
            let (timetable, changed) = (timetable.clone(), changed.clone());
            async move {
                let change: ConfigChange = d.payload()?;
                timetable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(&change);
                changed.notify_one();
                Ok(())
            }
        }
    };
    let router = Router::new()
        .route(ConfigKind::Job.create_edit_action(), on_change.clone())
        .route(ConfigKind::Job.delete_action(), on_change);
    member.follow_config(router, {
        let (timetable, changed) = (timetable.clone(), changed.clone());
        move |snapshot| {
            timetable
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(&snapshot);
            changed.notify_one();
            async {}
        }
    });
    let metrics = Arc::new(SchedulerMetrics::default());
    member.metrics().register(metrics.clone());
    member.health().set_own_checks(Box::new({
        let metrics = metrics.clone();
        move |report| {
            report.insert("jobs".into(), json!(SchedulerMetrics::get(&metrics.jobs)));
            report.insert("fires".into(), json!(SchedulerMetrics::get(&metrics.fires)));
            report.insert(
                "misfires".into(),
                json!(SchedulerMetrics::get(&metrics.misfires)),
            );
            Condition::Ok
        }
    }));
    let runner = tokio::spawn(
        Runner {
            broker,
            lease,
            timetable,
            changed,
            metrics,
            grace: Duration::from_millis(settings.misfire_grace_ms),
            coalesce: jiff::SignedDuration::from_millis(settings.fire_coalesce_ms as i64),
            batch: settings.fire_batch,
        }
        .run(),
    );
    member.serve_health()?;
    // Fires are single script calls: stopping between two loses nothing.
    member.run(shutdown, || async move { runner.abort() }).await;
    Ok(())
}
