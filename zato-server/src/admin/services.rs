//! `zato.service.list`: every service of this server with its statistics.

use serde_json::{Value, json};

use crate::service::{Context, Request, Response, Service, ServiceError};

pub struct ListServices;

#[async_trait::async_trait]
impl Service for ListServices {
    async fn handle(&self, _request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let services: Vec<Value> = ctx
            .service_stats()
            .into_iter()
            .map(|(name, s)| {
                json!({"name": name, "calls": s.calls, "errors": s.errors,
                       "mean_us": s.mean_us, "p50_us": s.p50_us, "p99_us": s.p99_us})
            })
            .collect();
        Ok(Response::json(Value::Array(services)))
    }
}
