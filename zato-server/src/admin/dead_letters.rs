//! The admin services of dead letters, for every source (`server`, `connector`, `all`,
//! and `sub:<name>` for each subscription): `zato.dlq.list {source, limit?}`,
//! `zato.dlq.replay {source, ids?}` and `zato.dlq.purge {source}`.

use serde::Deserialize;
use serde_json::json;
use zato_broker::DeadLetters;

use super::crud::parse;
use crate::service::{Context, Request, Response, Service, ServiceError};

/// The most dead letters one list returns unless asked for fewer.
const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetterRequest {
    source: String,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    ids: Option<Vec<String>>,
}

/// What the three services do.
#[derive(Clone, Copy)]
pub enum DeadLetterAction {
    List,
    Replay,
    Purge,
}

#[async_trait::async_trait]
impl Service for DeadLetterAction {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let request: DeadLetterRequest = parse(request.payload, "request")?;
        let dead = DeadLetters::new(ctx.broker().clone());
        let source = request.source.as_str();
        match self {
            DeadLetterAction::List => {
                let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
                let letters = dead.list(source, limit).await?;
                let total = dead.len(source).await?;
                Ok(Response::json(
                    json!({"source": source, "total": total, "dead_letters": letters}),
                ))
            }
            DeadLetterAction::Replay => {
                let outcome = dead.replay(source, request.ids.as_deref()).await?;
                Ok(Response::json(json!(outcome)))
            }
            DeadLetterAction::Purge => {
                let purged = dead.purge(source).await?;
                Ok(Response::json(json!({"purged": purged})))
            }
        }
    }
}
