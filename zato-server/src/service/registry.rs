//! The table of services a server can run, built before it starts.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Service, ServiceStats, StatsSnapshot};

/// A registered service and its statistics.
#[derive(Clone)]
pub struct RegisteredService {
    /// The name it is registered under.
    pub name: String,
    pub service: Arc<dyn Service>,
    pub stats: Arc<ServiceStats>,
}

/// Services by name. Built once; read without locks by every worker.
#[derive(Clone, Default)]
pub struct ServiceRegistry {
    services: BTreeMap<String, RegisteredService>,
}

impl ServiceRegistry {
    /// An empty registry (see [`crate::builtin::register`] for the built-in services).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service under `name`, replacing any service of that name.
    pub fn register(&mut self, name: impl Into<String>, service: impl Service) -> &mut Self {
        let name = name.into();
        self.services.insert(
            name.clone(),
            RegisteredService {
                name,
                service: Arc::new(service),
                stats: Arc::default(),
            },
        );
        self
    }

    /// The service called `name`.
    pub fn get(&self, name: &str) -> Option<&RegisteredService> {
        self.services.get(name)
    }

    /// Every registered service, by name.
    pub fn services(&self) -> impl Iterator<Item = &RegisteredService> {
        self.services.values()
    }

    /// Every service's name and statistics, by name.
    pub fn stats(&self) -> Vec<(String, StatsSnapshot)> {
        self.services
            .iter()
            .map(|(name, s)| (name.clone(), s.stats.snapshot()))
            .collect()
    }
}
