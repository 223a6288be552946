//! The fire loop of the active scheduler.
//!
//! While this process holds the `scheduler` lease it keeps a plan per active job (the next
//! instant, the runs so far), sleeps until the earliest instant, and fires everything due.
//! On winning the lease it reads the run states from Redis and applies each job's misfire
//! policy to instants that passed while no scheduler was active. On losing it, it stops at
//! once (the lease is checked before every batch) and forgets its plans.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;
use tracing::{error, info, warn};
use zato_broker::{Broker, LeaseHandle};
use zato_common::model::{JobKind, MisfirePolicy};

use crate::fire::{Fire, fire_batch};
use crate::metrics::SchedulerMetrics;
use crate::plans::{Plan, Plans};
use crate::state::{self, RunState};
use crate::timetable::{Entry, Timetable};

/// The fire loop and what it shares with the config handlers.
pub struct Runner {
    pub broker: Broker,
    pub lease: LeaseHandle,
    pub timetable: Arc<Mutex<Timetable>>,
    pub changed: Arc<Notify>,
    pub metrics: Arc<SchedulerMetrics>,
    pub grace: Duration,
    /// The shortest time between two fire batches.
    pub coalesce: SignedDuration,
    pub batch: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sleeps until a wall-clock instant, or for `cap` at most.
async fn sleep_until_timestamp(at: Timestamp, cap: Duration) {
    let wait = Duration::try_from(at.duration_since(Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(wait.min(cap)).await;
}

impl Runner {
    /// Runs until the broker shuts down.
    pub async fn run(self) {
        let cancel = self.broker.cancel_token().clone();
        let mut plans = Plans::default();
        let mut leading = false;
        let mut stale = true;
        let mut last_batch = Timestamp::UNIX_EPOCH;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            if !self.lease.is_leader() {
                if leading {
                    info!("no longer the active scheduler; standing by");
                    plans.clear();
                    leading = false;
                }
                let mut changes = self.lease.subscribe();
                tokio::select! {
                    _ = changes.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                    () = cancel.cancelled() => return,
                }
                continue;
            }
            if !leading {
                info!(
                    jobs = lock(&self.timetable).entries.len(),
                    "active scheduler: taking over the timetable"
                );
                leading = true;
                stale = true;
            }
            if stale {
                if let Err(e) = self.reconcile(&mut plans).await {
                    warn!(error = %e, "cannot read run states; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                stale = false;
            }
            let earliest = plans.earliest();
            let wake = earliest.unwrap_or_else(|| Timestamp::now() + SignedDuration::from_secs(1));
            // Fires due within `coalesce` of the last batch go out together: one wake-up and
            // one script call for many jobs instead of one per job.
            let wake = wake.max(last_batch + self.coalesce);
            tokio::select! {
                () = sleep_until_timestamp(wake, Duration::from_secs(1)) => {}
                () = self.changed.notified() => {
                    stale = true;
                    continue;
                }
                () = cancel.cancelled() => return,
            }
            last_batch = Timestamp::now();
            self.fire_due(&mut plans).await;
        }
    }

    /// Brings the plans in line with the timetable. A job new to this process (just created,
    /// or met on taking over) continues from its stored run state, misfire policy applied;
    /// an edited job (paused and resumed included) starts its schedule afresh from now.
    async fn reconcile(&self, plans: &mut Plans) -> Result<(), zato_broker::BrokerError> {
        let now = Timestamp::now();
        let (entries, removed) = {
            let mut timetable = lock(&self.timetable);
            (
                timetable.entries.clone(),
                std::mem::take(&mut timetable.removed),
            )
        };
        plans.retain(|name| entries.contains_key(name));
        let new: Vec<String> = entries
            .keys()
            .filter(|name| !plans.contains(name))
            .cloned()
            .collect();
        let mut stored = state::load(&self.broker, &new).await?;
        let mut changed = Vec::new();
        for (name, entry) in entries {
            let plan = match plans.remove(&name) {
                Some(plan) if plan.entry.job == entry.job => {
                    plans.insert(name, plan);
                    continue;
                }
                Some(plan) => self.plan(entry, plan.state, now, true),
                None => self.plan(entry, stored.remove(&name).unwrap_or_default(), now, false),
            };
            changed.push((name.clone(), plan.state.clone()));
            plans.insert(name, plan);
        }
        self.metrics
            .jobs
            .store(plans.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = state::forget(&self.broker, &removed).await {
            warn!(error = %e, "could not forget the run state of removed jobs");
        }
        state::save(&self.broker, &changed).await
    }

    /// The plan of one job.
    fn plan(&self, entry: Entry, mut state: RunState, now: Timestamp, edited: bool) -> Plan {
        let job = &entry.job;
        let exhausted = job.repeats.is_some_and(|r| state.runs >= r)
            || (job.kind == JobKind::OneTime && state.runs > 0);
        let mut catch_up = false;
        state.next_fire = if !job.is_active || exhausted {
            None
        } else if edited {
            self.first_from(&entry, now)
        } else {
            let from = job.start_at.unwrap_or(now);
            match entry.schedule.next_after(state.last_fire, from) {
                Some(due) if self.missed(due, now) => {
                    self.metrics
                        .misfires
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match job.misfire {
                        MisfirePolicy::RunOnce => {
                            info!(job = %job.name, missed = %due, "missed while no scheduler was active; running once now");
                            catch_up = true;
                            Some(due)
                        }
                        MisfirePolicy::Skip => {
                            info!(job = %job.name, missed = %due, "missed while no scheduler was active; skipped");
                            self.first_from(&entry, now)
                        }
                    }
                }
                other => other,
            }
        };
        Plan {
            entry,
            state,
            catch_up,
        }
    }
    /// The schedule's first instant at or after `now` (none for a one-time job whose instant
    /// has passed).
    fn first_from(&self, entry: &Entry, now: Timestamp) -> Option<Timestamp> {
        let next = entry
            .schedule
            .next_after(None, now.max(entry.job.start_at.unwrap_or(now)))?;
        if entry.job.kind == JobKind::OneTime && self.missed(next, now) {
            return if entry.job.misfire == MisfirePolicy::RunOnce {
                Some(next)
            } else {
                None
            };
        }
        Some(next)
    }

    fn missed(&self, due: Timestamp, now: Timestamp) -> bool {
        now.duration_since(due) > SignedDuration::try_from(self.grace).unwrap_or_default()
    }

    /// Fires every due instant, in batches, checking the lease before each batch.
    async fn fire_due(&self, plans: &mut Plans) {
        let now = Timestamp::now();
        let due = plans.take_due(now);
        for (index, chunk) in due.chunks(self.batch).enumerate() {
            let done = index * self.batch;
            if !self.lease.is_leader() {
                return;
            }
            let mut fires = Vec::with_capacity(chunk.len());
            let mut after = Vec::with_capacity(chunk.len());
            for (instant, name) in chunk {
                let Some(plan) = plans.get(name) else {
                    continue;
                };
                let (next, catch_up) = self.next_after_fire(plan, *instant);
                let state = RunState {
                    last_fire: Some(*instant),
                    next_fire: next,
                    runs: plan.state.runs + 1,
                };
                match Fire::new(&self.broker, &plan.entry.job, *instant, state.runs, &state) {
                    Ok(fire) => {
                        fires.push(fire);
                        after.push((name.clone(), state, catch_up));
                    }
                    Err(e) => {
                        // Cannot happen with a payload that came from JSON; if it did, trying
                        // again would fail the same way, so the instant is passed over.
                        error!(job = %name, error = %e, "cannot make the fire; instant skipped");
                        plans.update(&name.clone(), state, catch_up);
                    }
                }
            }
            match fire_batch(&self.broker, &fires).await {
                Ok(fired) => {
                    let reached = Timestamp::now();
                    for ((name, state, catch_up), (fire, fired)) in
                        after.into_iter().zip(fires.iter().zip(fired))
                    {
                        if fired {
                            let late = reached.duration_since(fire.instant);
                            self.metrics
                                .fired(Duration::try_from(late).unwrap_or_default());
                        } else {
                            self.metrics
                                .duplicates_avoided
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        plans.update(&name, state, catch_up);
                    }
                }
                Err(e) => {
                    warn!(error = %e, count = fires.len(), "could not fire; retrying");
                    plans.requeue(&due[done..]);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return;
                }
            }
        }
    }

    /// The instant after a fire at `instant`, from the schedule, never from the fire's time;
    /// and whether that instant is a run-once catch-up (after which the schedule resumes from
    /// the current time instead of from the missed instant).
    fn next_after_fire(&self, plan: &Plan, instant: Timestamp) -> (Option<Timestamp>, bool) {
        let job = &plan.entry.job;
        if job.repeats.is_some_and(|r| plan.state.runs + 1 >= r) {
            return (None, false);
        }
        let now = Timestamp::now();
        if plan.catch_up {
            return (
                plan.entry
                    .schedule
                    .next_after(None, now)
                    .filter(|next| *next > instant),
                false,
            );
        }
        let Some(next) = plan.entry.schedule.next_after(Some(instant), now) else {
            return (None, false);
        };
        if !self.missed(next, now) {
            return (Some(next), false);
        }
        // This process fell behind (it was paused, or Redis was away): the policy decides.
        self.metrics
            .misfires
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match job.misfire {
            MisfirePolicy::RunOnce => (Some(next), true),
            MisfirePolicy::Skip => (plan.entry.schedule.next_after(None, now), false),
        }
    }
}
