//! `zato.ping`: answers `pong`, saying which member answered.

use serde_json::json;

use crate::service::{Context, Request, Response, Service, ServiceError};

pub struct Ping;

#[async_trait::async_trait]
impl Service for Ping {
    async fn handle(&self, _request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        Ok(Response::json(
            json!({"pong": true, "member": ctx.member()}),
        ))
    }
}
