//! The admin services: the admin API is made of services, as in Zato, so every admin call
//! is also invocable (`zato.channel.http.create`, ...) and counted in the statistics.

mod cluster;
mod crud;
mod http_channel;
mod security;
mod services;

use std::sync::Arc;

pub use crud::AdminKind;

use crate::service::ServiceRegistry;
use crate::worker_store::WorkerStore;

/// Registers every admin service.
pub fn register(registry: &mut ServiceRegistry, store: &Arc<WorkerStore>) {
    crud::register::<zato_common::model::HttpChannel>(registry, store);
    crud::register::<zato_common::model::SecurityDefinition>(registry, store);
    registry
        .register("zato.service.list", services::ListServices)
        .register("zato.cluster.status", cluster::ClusterStatus);
}
