//! `zato.sleep`: waits `{"ms": n}` milliseconds, for tests of slow work and draining.

use std::time::Duration;

use serde_json::json;

use crate::service::{Context, Request, Response, Service, ServiceError};

/// The longest sleep accepted: ten minutes.
const MAX_MS: u64 = 600_000;

pub struct Sleep;

#[async_trait::async_trait]
impl Service for Sleep {
    async fn handle(&self, request: Request, _ctx: &Context) -> Result<Response, ServiceError> {
        let ms = request
            .payload
            .get("ms")
            .and_then(serde_json::Value::as_u64)
            .filter(|ms| *ms <= MAX_MS)
            .ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "expected {{\"ms\": n}} with n from 0 to {MAX_MS}"
                ))
            })?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(Response::json(json!({"slept_ms": ms})))
    }
}
