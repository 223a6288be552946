//! Services deployed at run time as WebAssembly components (`zato service deploy`).
//!
//! The record is small and travels over 1:all like every other object; the component itself
//! (tens of megabytes for Python) is stored once in Redis under its SHA-256
//! ([`crate::model::DeployedService::hash`]) and fetched by each server that loads it.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, default_true};

/// How many earlier versions a service keeps, to roll back to.
pub const KEPT_REVISIONS: usize = 10;

/// The longest CPU deadline a call of a deployed service may have: a minute.
pub const MAX_DEADLINE_MS: u64 = 60_000;

/// The most memory one instance of a deployed service may be given.
pub const MAX_MEMORY_MB: u32 = 4096;

/// One version of a deployed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRevision {
    /// 1 for the first deployment, one more for each deployment or rollback.
    pub version: u64,
    /// The hex SHA-256 of the component.
    pub hash: String,
    /// The component's size in bytes.
    pub size: u64,
    /// Who deployed it (the admin API's caller).
    pub deployed_by: String,
    /// When, in milliseconds since the Unix epoch.
    pub deployed_at_ms: u64,
    /// The version this one rolled back to, for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

/// A service deployed as a WebAssembly component of the `zato:service` world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployedService {
    /// The service's name, as channels, jobs and `invoke` call it.
    pub name: String,
    /// The version every server runs.
    pub current: ServiceRevision,
    /// Earlier versions, newest first, at most [`KEPT_REVISIONS`].
    #[serde(default)]
    pub history: Vec<ServiceRevision>,
    /// CPU time one call may use before it is stopped (504).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Memory one instance may grow to; a call that needs more fails (500).
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// An inactive service stays deployed but is not run (409).
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_deadline_ms() -> u64 {
    5_000
}

fn default_memory_mb() -> u32 {
    128
}

impl DeployedService {
    /// Every component hash the record still needs (current and history).
    pub fn hashes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.current.hash.as_str())
            .chain(self.history.iter().map(|r| r.hash.as_str()))
    }

    /// The record after `revision` becomes current: the previous current goes to the front
    /// of the history, which keeps at most [`KEPT_REVISIONS`].
    pub fn with_current(mut self, revision: ServiceRevision) -> Self {
        let previous = std::mem::replace(&mut self.current, revision);
        self.history.insert(0, previous);
        self.history.truncate(KEPT_REVISIONS);
        self
    }

    /// The next version number.
    pub fn next_version(&self) -> u64 {
        self.current.version + 1
    }
}

/// Whether `hash` is a hex SHA-256.
pub fn is_component_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ConfigObject for DeployedService {
    const KIND: ConfigKind = ConfigKind::Service;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        if self.name.starts_with("zato.") {
            return Err(ValidationError::new(
                "name",
                "names starting with 'zato.' belong to the built-in services",
            ));
        }
        for revision in std::iter::once(&self.current).chain(&self.history) {
            if !is_component_hash(&revision.hash) {
                return Err(ValidationError::new(
                    "hash",
                    format!("'{}' is not a hex SHA-256", revision.hash),
                ));
            }
        }
        if self.deadline_ms == 0 || self.deadline_ms > MAX_DEADLINE_MS {
            return Err(ValidationError::new(
                "deadline_ms",
                format!("must be between 1 and {MAX_DEADLINE_MS}"),
            ));
        }
        if self.memory_mb == 0 || self.memory_mb > MAX_MEMORY_MB {
            return Err(ValidationError::new(
                "memory_mb",
                format!("must be between 1 and {MAX_MEMORY_MB}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(version: u64) -> ServiceRevision {
        ServiceRevision {
            version,
            hash: format!("{version:064x}"),
            size: 10,
            deployed_by: "test".into(),
            deployed_at_ms: 1,
            rollback_of: None,
        }
    }

    fn service() -> DeployedService {
        DeployedService {
            name: "crm.sync".into(),
            current: revision(1),
            history: Vec::new(),
            deadline_ms: default_deadline_ms(),
            memory_mb: default_memory_mb(),
            is_active: true,
        }
    }

    #[test]
    fn history_keeps_the_newest_revisions() {
        let mut s = service();
        for version in 2..=15 {
            s = s.with_current(revision(version));
        }
        assert_eq!(s.current.version, 15);
        assert_eq!(s.history.len(), KEPT_REVISIONS);
        assert_eq!(s.history[0].version, 14);
        assert_eq!(s.history.last().map(|r| r.version), Some(5));
        assert_eq!(s.next_version(), 16);
    }

    #[test]
    fn validation_names_the_field() {
        assert!(service().validate().is_ok());
        let mut s = service();
        s.name = "zato.mine".into();
        assert_eq!(s.validate().unwrap_err().field, "name");
        let mut s = service();
        s.current.hash = "abc".into();
        assert_eq!(s.validate().unwrap_err().field, "hash");
        let mut s = service();
        s.deadline_ms = MAX_DEADLINE_MS + 1;
        assert_eq!(s.validate().unwrap_err().field, "deadline_ms");
        let mut s = service();
        s.memory_mb = 0;
        assert_eq!(s.validate().unwrap_err().field, "memory_mb");
    }
}
