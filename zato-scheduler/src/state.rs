//! Run states: what each job has done, kept in Redis so a failover or a restart carries on
//! where the schedule was (repeats honoured, a one-time job never run twice).

use std::collections::HashMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tracing::warn;
use zato_broker::{Broker, BrokerError};

/// One job's run state, in the hash `scheduler:state` under the job's name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The scheduled instant of the last fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fire: Option<Timestamp>,
    /// The instant of the next fire, as the active scheduler plans it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire: Option<Timestamp>,
    /// How many times the job fired.
    #[serde(default)]
    pub runs: u64,
}

/// The stored run states of `names` (jobs never fired have none).
pub async fn load(
    broker: &Broker,
    names: &[String],
) -> Result<HashMap<String, RunState>, BrokerError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut conn = broker.redis().conn().await?;
    let raw: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(broker.keys().job_states())
        .arg(names)
        .query_async(&mut conn)
        .await?;
    Ok(names
        .iter()
        .zip(raw)
        .filter_map(|(name, json)| match serde_json::from_str(&json?) {
            Ok(state) => Some((name.clone(), state)),
            Err(e) => {
                warn!(job = %name, error = %e, "ignoring a run state that does not parse");
                None
            }
        })
        .collect())
}

/// Saves the run states of jobs whose plan changed without a fire (edits, skipped misfires).
pub async fn save(broker: &Broker, states: &[(String, RunState)]) -> Result<(), BrokerError> {
    if states.is_empty() {
        return Ok(());
    }
    let mut cmd = redis::cmd("HSET");
    cmd.arg(broker.keys().job_states());
    for (name, state) in states {
        cmd.arg(name)
            .arg(serde_json::to_string(state).unwrap_or_default());
    }
    let mut conn = broker.redis().conn().await?;
    let _: u64 = cmd.query_async(&mut conn).await?;
    Ok(())
}

/// Forgets the run states of deleted (or renamed) jobs.
pub async fn forget(broker: &Broker, names: &[String]) -> Result<(), BrokerError> {
    if names.is_empty() {
        return Ok(());
    }
    let mut conn = broker.redis().conn().await?;
    let _: u64 = redis::cmd("HDEL")
        .arg(broker.keys().job_states())
        .arg(names)
        .query_async(&mut conn)
        .await?;
    Ok(())
}
