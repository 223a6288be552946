//! Admin rules of scheduler jobs, and running a job now.

use serde_json::{Value, json};
use zato_broker::ConfigStore;
use zato_common::model::{Job, JobKind};
use zato_common::{ChannelKind, ServiceInvocation};

use super::AdminKind;
use super::crud::References;
use crate::service::{Context, Request, Response, Service, ServiceError};

#[async_trait::async_trait]
impl AdminKind for Job {
    const SERVICES: &'static str = "zato.scheduler.job";

    async fn check(
        &self,
        refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require_service("service", &self.service)
    }

    /// An interval job without `start_at` starts now: storing that instant makes every
    /// scheduler, and every restart, compute the same instants.
    fn prepare(mut self, _refs: &References<'_>) -> Result<Self, ServiceError> {
        if self.kind == JobKind::Interval && self.start_at.is_none() {
            self.start_at = Some(jiff::Timestamp::now());
        }
        Ok(self)
    }

    /// Adds each job's run state (last fire, next fire, run count) as the scheduler keeps it.
    async fn annotate(views: &mut [Value], refs: &References<'_>) -> Result<(), ServiceError> {
        let names: Vec<String> = views
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let broker = refs.ctx.broker();
        let mut conn = broker.redis().conn().await?;
        let states: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(broker.keys().job_states())
            .arg(&names)
            .query_async(&mut conn)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("redis: {e}")))?;
        for (view, state) in views.iter_mut().zip(states) {
            let state: Value = state
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(json!({}));
            view["last_fire"] = state.get("last_fire").cloned().unwrap_or(Value::Null);
            view["next_fire"] = state.get("next_fire").cloned().unwrap_or(Value::Null);
            view["runs"] = state.get("runs").cloned().unwrap_or(json!(0));
        }
        Ok(())
    }
}

/// `zato.scheduler.job.execute`: runs a job's service now, out of its schedule, on any
/// server. It does not count as one of the job's scheduled runs.
pub struct ExecuteJob;

#[async_trait::async_trait]
impl Service for ExecuteJob {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = request.payload["name"]
            .as_str()
            .ok_or_else(|| ServiceError::BadRequest("expected {\"name\": ...}".into()))?;
        let job = ConfigStore::new(ctx.broker().clone())
            .get::<Job>(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("job '{name}' does not exist")))?;
        let invocation = ServiceInvocation::new(job.service, ChannelKind::Scheduler, job.payload)
            .with_channel_name(job.name)
            .with_meta("execute_now", json!(true));
        ctx.broker().invoke_async(&invocation).await?;
        Ok(Response::json(json!({"cid": invocation.cid})).with_status(202))
    }
}
