//! The server's settings: `--config server.toml`, then `ZATO_*` variables, then defaults
//! that run on localhost.

use super::{BrokerSettings, SettingsError};
use crate::Secret;
use serde::{Deserialize, Serialize};

use crate::tls::TlsError;

/// Everything a server reads at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// The cluster this server belongs to (`ZATO_CLUSTER`).
    pub cluster: String,
    /// This server's stable name (`ZATO_MEMBER`); it names its 1:all consumer group, so it
    /// must be unique in the cluster and stay the same across restarts. Empty: `server-`
    /// followed by the host name and the HTTP port.
    pub member: String,
    /// `ZATO_REDIS_URL`.
    pub redis_url: String,
    /// HTTP listen address (`ZATO_BIND`).
    pub bind: String,
    /// A PEM file with the listener's certificate chain, leaf first (`ZATO_TLS_CERT_PATH`).
    /// With `tls_key_path`, the listener speaks HTTPS only; with neither, plain HTTP (for a
    /// TLS-terminating load balancer in front, or localhost).
    pub tls_cert_path: String,
    /// A PEM file with the private key of `tls_cert_path` (`ZATO_TLS_KEY_PATH`).
    pub tls_key_path: String,
    /// HTTP worker threads; 0 means one per core (`ZATO_WORKERS`).
    pub workers: usize,
    /// Largest request body accepted, in bytes (`ZATO_MAX_BODY_BYTES`); larger ones get 413.
    pub max_body_bytes: usize,
    /// The bearer token of the admin API (`ZATO_ADMIN_TOKEN`). Empty: the admin API refuses
    /// every call, so a server started without one cannot be reconfigured by anyone.
    pub admin_token: Secret,
    /// The key that seals the secrets of outgoing connections in Redis (`ZATO_SECRET_KEY`):
    /// 32 bytes in base64, the same on every server (`zato secrets new-key` makes one). Empty:
    /// outgoing connections with a secret cannot be defined or used on this server.
    pub secret_key: Secret,
    /// The key before the last rotation (`ZATO_PREVIOUS_SECRET_KEY`): secrets sealed with it
    /// still open until they are sealed again (`zato secrets reseal`).
    pub previous_secret_key: Secret,
    /// How long a graceful stop may take before the server exits anyway.
    pub shutdown_timeout_ms: u64,
    /// How long a request may take to send its headers and body.
    pub client_request_timeout_ms: u64,
    /// Where the compiled code of deployed services is kept between starts
    /// (`ZATO_COMPONENT_CACHE_DIR`), so a restart loads them in milliseconds. Empty:
    /// `$HOME/.cache/zato/components`, or no cache without a `HOME`. Never a directory
    /// others can write to: the server runs the code it finds there.
    pub component_cache_dir: String,
    /// The largest component a deployment may upload, in bytes.
    pub max_component_bytes: usize,
    /// Instances of deployed services that may run at once on this server (one per call in
    /// flight); a call beyond them gets 503.
    pub max_instances: u32,
    pub broker: BrokerSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            cluster: "zato".into(),
            member: String::new(),
            redis_url: "redis://127.0.0.1:6379".into(),
            bind: "127.0.0.1:17010".into(),
            tls_cert_path: String::new(),
            tls_key_path: String::new(),
            workers: 0,
            max_body_bytes: 1024 * 1024,
            admin_token: Secret::default(),
            secret_key: Secret::default(),
            previous_secret_key: Secret::default(),
            shutdown_timeout_ms: 15_000,
            client_request_timeout_ms: 5_000,
            component_cache_dir: String::new(),
            max_component_bytes: 64 * 1024 * 1024,
            max_instances: 256,
            broker: BrokerSettings::default(),
        }
    }
}

impl ServerSettings {
    /// Loads settings from an optional file and the environment, and checks them.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        super::load_checked(path, Self::fill_defaults, Self::validate)
    }

    /// Fills the fields whose default depends on the machine.
    pub fn fill_defaults(&mut self) {
        if self.member.is_empty() {
            self.member = crate::process::default_member("server", &self.bind);
        }
        if self.workers == 0 {
            self.workers = std::thread::available_parallelism().map_or(2, usize::from);
        }
        if self.component_cache_dir.is_empty()
            && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
        {
            let dir = std::path::Path::new(&home).join(".cache/zato/components");
            self.component_cache_dir = dir.to_string_lossy().into_owned();
        }
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        super::check_member(&self.cluster, &self.bind)?;
        if self.max_body_bytes == 0 {
            return invalid("max_body_bytes must be above 0".into());
        }
        if self.max_component_bytes == 0 || self.max_instances == 0 {
            return invalid("max_component_bytes and max_instances must be above 0".into());
        }
        // Reads and parses both files, so a wrong path or a key that is not the certificate's
        // is refused here (and by `zato config check`) instead of after start-up.
        self.tls()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        self.keyring()
            .map_err(|e| SettingsError::Invalid(format!("secret_key: {e}")))?;
        self.broker.validate()
    }

    /// The keys outgoing connections' secrets are sealed with.
    pub fn keyring(&self) -> Result<crate::sealed::Keyring, crate::sealed::SealError> {
        crate::sealed::Keyring::new(&self.secret_key, &self.previous_secret_key)
    }

    /// Whether the listener speaks HTTPS: its rustls config, or `None` for plain HTTP.
    pub fn tls(&self) -> Result<Option<rustls::ServerConfig>, TlsError> {
        crate::tls::server_config(&self.tls_cert_path, &self.tls_key_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_on_localhost() {
        let mut s = ServerSettings::default();
        s.fill_defaults();
        assert!(s.validate().is_ok());
        assert!(s.member.starts_with("server-") && s.member.ends_with("-17010"));
        assert!(s.workers >= 1);
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut s = ServerSettings {
            bind: "nowhere".into(),
            ..ServerSettings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("bind 'nowhere'")
        );
        s.bind = "127.0.0.1:1".into();
        s.cluster = "a b".into();
        assert!(s.validate().is_err());
        s.cluster = "c".into();
        s.tls_cert_path = "/nonexistent/cert.pem".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("tls_cert_path and tls_key_path go together")
        );
        s.tls_key_path = "/nonexistent/key.pem".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("cannot read tls_cert_path /nonexistent/cert.pem")
        );
    }
}
