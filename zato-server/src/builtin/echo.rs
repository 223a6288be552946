//! `zato.echo`: answers with its input (JSON as JSON, raw text as text).

use serde_json::Value;

use crate::service::{Context, Request, Response, Service, ServiceError};

pub struct Echo;

#[async_trait::async_trait]
impl Service for Echo {
    async fn handle(&self, request: Request, _ctx: &Context) -> Result<Response, ServiceError> {
        Ok(match request.payload {
            Value::String(text) => Response::text(text),
            other => Response::json(other),
        })
    }
}
