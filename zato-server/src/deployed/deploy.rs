//! Deploying, rolling back and undeploying: what the admin API does to the cluster.
//!
//! A deployment is checked whole before anything changes: the component is compiled and
//! linked against the world on the server that received it (which also fills that server's
//! cache), and only then stored and announced. A component that does not compile or does not
//! implement the world is refused with the compiler's reason, and the cluster is as it was.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use zato_broker::ConfigStore;
use zato_common::ConfigKind;
use zato_common::model::{ConfigObject, DeployedService, ServiceRevision};

use super::{DeployedServices, components, states};
use crate::service::{Context, ServiceError};

/// What a deployment asks for.
pub struct Deployment {
    pub name: String,
    pub bytes: Vec<u8>,
    /// New limits; none keeps the record's (or the defaults for a first deployment).
    pub deadline_ms: Option<u64>,
    pub memory_mb: Option<u32>,
    /// Who deploys (the caller's `X-Zato-Actor`).
    pub actor: String,
}

/// What a deployment or rollback did.
pub struct Deployed {
    /// Whether this was the service's first deployment.
    pub created: bool,
    pub record: DeployedService,
    /// How long this server took to compile (or load) it, when it did.
    pub load_ms: Option<u64>,
    pub from_cache: bool,
}

impl Deployed {
    /// The admin API's answer.
    pub fn to_json(&self) -> Value {
        let mut answer = json!({
            "name": self.record.name,
            "version": self.record.current.version,
            "hash": self.record.current.hash,
            "size": self.record.current.size,
            "service": self.record,
        });
        if let Some(load_ms) = self.load_ms {
            answer["load_ms"] = json!(load_ms);
            answer["from_cache"] = json!(self.from_cache);
        }
        answer
    }
}

fn revision(version: u64, bytes_hash: String, size: u64, actor: &str) -> ServiceRevision {
    ServiceRevision {
        version,
        hash: bytes_hash,
        size,
        deployed_by: actor.to_owned(),
        deployed_at_ms: zato_common::clock::unix_ms(),
        rollback_of: None,
    }
}

/// Compiles, stores and announces a new version of a service.
pub async fn deploy(
    ctx: &Context<'_>,
    deployed: &DeployedServices,
    deployment: Deployment,
) -> Result<Deployed, ServiceError> {
    let config = ConfigStore::new(ctx.broker().clone());
    let existing = config.get::<DeployedService>(&deployment.name).await?;
    let hash = zato_wasm::component_hash(&deployment.bytes);
    let size = deployment.bytes.len() as u64;
    let mut record = match existing.clone() {
        Some(existing) => {
            let next = existing.next_version();
            existing.with_current(revision(next, hash.clone(), size, &deployment.actor))
        }
        None => DeployedService {
            name: deployment.name.clone(),
            current: revision(1, hash.clone(), size, &deployment.actor),
            history: Vec::new(),
            deadline_ms: 5_000,
            memory_mb: 128,
            is_active: true,
        },
    };
    if let Some(deadline_ms) = deployment.deadline_ms {
        record.deadline_ms = deadline_ms;
    }
    if let Some(memory_mb) = deployment.memory_mb {
        record.memory_mb = memory_mb;
    }
    // Names and limits are refused before the (long) compile.
    record
        .validate()
        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    if ctx.is_compiled_in(&record.name) {
        return Err(ServiceError::Conflict(format!(
            "{} is a service compiled into the server; deploy under another name",
            record.name
        )));
    }
    let bytes = Arc::new(deployment.bytes);
    let loaded = deployed
        .compile(bytes.clone())
        .await
        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    components::put(ctx.broker(), &hash, &bytes).await?;
    config.put(&record).await?;
    if let Some(existing) = existing {
        forget_components(ctx, &config, existing.hashes().collect()).await?;
    }
    Ok(Deployed {
        created: record.current.version == 1,
        record,
        load_ms: Some(loaded.load_time().as_millis() as u64),
        from_cache: loaded.from_cache(),
    })
}

/// Makes an earlier version current again, as a new version (so versions only grow, and
/// the history says what happened).
pub async fn rollback(
    ctx: &Context<'_>,
    name: &str,
    to: Option<u64>,
    actor: &str,
) -> Result<Deployed, ServiceError> {
    let config = ConfigStore::new(ctx.broker().clone());
    let record = require(&config, name).await?;
    let target = match to {
        Some(version) => record
            .history
            .iter()
            .find(|r| r.version == version)
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "service {name} has no earlier version {version} (it keeps the last {})",
                    zato_common::model::KEPT_REVISIONS
                ))
            })?,
        None => record.history.first().ok_or_else(|| {
            ServiceError::Conflict(format!("service {name} has no earlier version"))
        })?,
    };
    let mut revision = revision(
        record.next_version(),
        target.hash.clone(),
        target.size,
        actor,
    );
    revision.rollback_of = Some(target.version);
    let record = record.with_current(revision);
    config.put(&record).await?;
    Ok(Deployed {
        created: false,
        record,
        load_ms: None,
        from_cache: false,
    })
}

/// Removes a service from the cluster.
pub async fn undeploy(ctx: &Context<'_>, name: &str) -> Result<(), ServiceError> {
    let config = ConfigStore::new(ctx.broker().clone());
    let record = require(&config, name).await?;
    config.delete(ConfigKind::Service, name).await?;
    states::forget(ctx.broker(), name).await?;
    forget_components(ctx, &config, record.hashes().collect()).await
}

async fn require(config: &ConfigStore, name: &str) -> Result<DeployedService, ServiceError> {
    config
        .get::<DeployedService>(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no deployed service '{name}'")))
}

/// Deletes those of `candidates` that no record refers to any more.
async fn forget_components(
    ctx: &Context<'_>,
    config: &ConfigStore,
    candidates: BTreeSet<&str>,
) -> Result<(), ServiceError> {
    let records = config.list::<DeployedService>().await?;
    let used: BTreeSet<&str> = records.iter().flat_map(DeployedService::hashes).collect();
    let unused: Vec<&str> = candidates.difference(&used).copied().collect();
    components::delete(ctx.broker(), &unused).await?;
    Ok(())
}
