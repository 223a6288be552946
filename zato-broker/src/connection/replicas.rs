//! "Acknowledged means replicated", when `broker.min_replicas_ack` asks for it.
//!
//! Redis replicates asynchronously: a master answers a write before any replica has it, and
//! a master that dies right then takes the write with it when a replica is promoted.
//! `WAIT n timeout` after a write returns once `n` replicas have everything this connection
//! wrote so far, or after the timeout with how many did. A write is reported done only when
//! enough did; otherwise its caller gets [`BrokerError::NotReplicated`] and decides (a
//! producer retries, as for any failed publish).

use redis::{Cmd, Value};
use zato_common::settings::BrokerSettings;

use crate::error::{BrokerError, Result};

/// How many replicas must confirm a write, and how long to wait for them.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaAck {
    replicas: u32,
    timeout_ms: u64,
}

impl ReplicaAck {
    /// What the settings ask for; `None` when the master's word is enough.
    pub fn from_settings(settings: &BrokerSettings) -> Option<Self> {
        (settings.min_replicas_ack > 0).then_some(Self {
            replicas: settings.min_replicas_ack,
            timeout_ms: settings.replicas_ack_timeout_ms,
        })
    }

    /// The `WAIT` to send after the writes, on the same connection.
    pub fn cmd(&self) -> Cmd {
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.replicas).arg(self.timeout_ms);
        wait
    }

    /// Whether `WAIT`'s reply shows enough replicas.
    pub fn check(&self, reply: &Value) -> Result<()> {
        let acked = match reply {
            Value::Int(n) => u64::try_from(*n).unwrap_or(0),
            Value::ServerError(e) => return Err(BrokerError::Redis(e.clone().into())),
            other => {
                return Err(BrokerError::Corrupt {
                    key: "WAIT".into(),
                    message: format!("unexpected reply {other:?}"),
                });
            }
        };
        if acked >= u64::from(self.replicas) {
            return Ok(());
        }
        Err(BrokerError::NotReplicated {
            acked,
            wanted: self.replicas,
            timeout_ms: self.timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_replicas_than_asked_fail_the_write() {
        let settings = BrokerSettings {
            min_replicas_ack: 2,
            ..BrokerSettings::default()
        };
        let ack = ReplicaAck::from_settings(&settings).expect("asked for");
        assert!(ack.check(&Value::Int(2)).is_ok());
        let error = ack.check(&Value::Int(1)).expect_err("one is not two");
        assert!(
            error.to_string().contains("only 1 of 2 replicas"),
            "{error}"
        );
        assert!(ReplicaAck::from_settings(&BrokerSettings::default()).is_none());
    }
}
