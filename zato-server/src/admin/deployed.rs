//! The admin services of deployed services: `zato.service.get`, `.undeploy` and `.rollback`
//! (deploying takes the component's bytes, so it has its own route: `http/deploy.rs`).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use zato_broker::members::list_members;

use crate::deployed::{deploy, states};
use crate::service::{Context, Request, Response, Service, ServiceError};

/// Who made a change when the caller did not say.
pub const UNKNOWN_ACTOR: &str = "admin-api";

fn name_of(request: &Request) -> Result<&str, ServiceError> {
    request
        .payload
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ServiceError::BadRequest("name: required".into()))
}

/// Every live server's state of `service`, by member name.
pub async fn server_states(ctx: &Context<'_>, service: &str) -> Result<Value, ServiceError> {
    let live: Vec<String> = list_members(ctx.broker())
        .await?
        .into_iter()
        .filter(|m| m.role == "server")
        .map(|m| m.name)
        .collect();
    let states: BTreeMap<String, states::LoadState> = states::read(ctx.broker(), service)
        .await?
        .into_iter()
        .filter(|(member, _)| live.contains(member))
        .collect();
    Ok(json!(states))
}

/// `zato.service.get {name}`: the record and each live server's state.
pub struct GetDeployed;

#[async_trait::async_trait]
impl Service for GetDeployed {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request)?;
        let record = zato_broker::ConfigStore::new(ctx.broker().clone())
            .get::<zato_common::model::DeployedService>(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no deployed service '{name}'")))?;
        let servers = server_states(ctx, name).await?;
        Ok(Response::json(
            json!({"service": record, "servers": servers}),
        ))
    }
}

/// `zato.service.undeploy {name}`.
pub struct Undeploy;

#[async_trait::async_trait]
impl Service for Undeploy {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request)?;
        deploy::undeploy(ctx, name).await?;
        Ok(Response::json(json!({"name": name, "undeployed": true})))
    }
}

/// `zato.service.rollback {name, version?, actor?}`: an earlier version (by default the one
/// before the current) becomes current again.
pub struct Rollback;

#[async_trait::async_trait]
impl Service for Rollback {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let name = name_of(&request)?;
        let version = match request.payload.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ServiceError::BadRequest("version: expected a positive integer".into())
            })?),
        };
        let actor = request
            .payload
            .get("actor")
            .and_then(Value::as_str)
            .unwrap_or(UNKNOWN_ACTOR);
        let done = deploy::rollback(ctx, name, version, actor).await?;
        Ok(Response::json(done.to_json()))
    }
}
