//! The connector's settings: `--config connector.toml`, then `ZATO_*` variables, then
//! defaults that run on localhost.

use super::{BrokerSettings, SettingsError};
use serde::{Deserialize, Serialize};

/// Everything a connector reads at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorSettings {
    /// The cluster this connector belongs to (`ZATO_CLUSTER`).
    pub cluster: String,
    /// This connector's stable name (`ZATO_MEMBER`); it names its 1:all consumer group, so it
    /// must be unique in the cluster and stay the same across restarts. Empty: `connector-`
    /// followed by the host name and the HTTP port.
    pub member: String,
    /// `ZATO_REDIS_URL`.
    pub redis_url: String,
    /// Listen address of `/zato/health` and `/metrics` (`ZATO_BIND`).
    pub bind: String,
    /// How long a graceful stop may take before the connector exits anyway.
    pub shutdown_timeout_ms: u64,
    /// How long an outgoing publish or send may wait for its connection and its confirmation
    /// before it is answered as failed.
    pub publish_timeout_ms: u64,
    pub broker: BrokerSettings,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        Self {
            cluster: "zato".into(),
            member: String::new(),
            redis_url: "redis://127.0.0.1:6379".into(),
            bind: "127.0.0.1:17020".into(),
            shutdown_timeout_ms: 15_000,
            publish_timeout_ms: 5_000,
            broker: BrokerSettings::default(),
        }
    }
}

impl ConnectorSettings {
    /// Loads settings from an optional file and the environment, and checks them.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        super::load_checked(path, Self::fill_defaults, Self::validate)
    }

    /// Fills the fields whose default depends on the machine.
    pub fn fill_defaults(&mut self) {
        if self.member.is_empty() {
            self.member = crate::process::default_member("connector", &self.bind);
        }
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        super::check_member(&self.cluster, &self.bind)?;
        if self.publish_timeout_ms == 0 {
            return invalid("publish_timeout_ms must be above 0".into());
        }
        self.broker.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_on_localhost() {
        let mut s = ConnectorSettings::default();
        s.fill_defaults();
        assert!(s.validate().is_ok());
        assert!(s.member.starts_with("connector-") && s.member.ends_with("-17020"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let s = ConnectorSettings {
            bind: "nowhere".into(),
            ..ConnectorSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("bind"));
    }
}
