//! Firing: one 1:any `SERVICE_INVOKE` per job per scheduled instant, exactly once.
//!
//! A fire is one step in Redis: set the idempotency mark `fired:<job>:<instant>` if absent,
//! and only then append the invocation to the servers' queue and record the run state. Two
//! schedulers that both believe they are active (a paused process waking up after its lease
//! ran out, say) therefore cannot fire the same instant twice, and the run state never
//! disagrees with what was sent. Fires are sent in batches, one script call for many.

use std::sync::LazyLock;

use jiff::Timestamp;
use redis::Script;
use serde_json::json;
use zato_broker::{Broker, BrokerError, Queue};
use zato_common::model::Job;
use zato_common::{ChannelKind, ServiceInvocation};

use crate::state::RunState;

/// How long an idempotency mark is kept: far longer than any hand-over.
const MARK_TTL_MS: u64 = 24 * 3600 * 1000;

static FIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local fired = {}
for i = 3, #KEYS do
  local at = 2 + (i - 3) * 3
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'e', ARGV[at + 1])
    redis.call('HSET', KEYS[2], ARGV[at], ARGV[at + 2])
    fired[#fired + 1] = 1
  else
    fired[#fired + 1] = 0
  end
end
return fired
",
    )
});

/// One fire to make.
pub struct Fire {
    pub job: String,
    pub instant: Timestamp,
    envelope: String,
    state: String,
}

impl Fire {
    /// The fire of `job` at `instant`, its `run`-th, leaving the job in `state`.
    pub fn new(
        broker: &Broker,
        job: &Job,
        instant: Timestamp,
        run: u64,
        state: &RunState,
    ) -> Result<Self, BrokerError> {
        let invocation = ServiceInvocation::new(&job.service, ChannelKind::Scheduler, &job.payload)
            .with_channel_name(&job.name)
            .with_meta("scheduled", json!(instant.to_string()))
            .with_meta("run", json!(run));
        Ok(Self {
            job: job.name.clone(),
            instant,
            envelope: broker.invocation_envelope(&invocation)?,
            state: serde_json::to_string(state).map_err(|e| BrokerError::Corrupt {
                key: broker.keys().job_states(),
                message: e.to_string(),
            })?,
        })
    }
}

/// Sends a batch; for each fire, whether this call fired it (false: it had been fired).
pub async fn fire_batch(broker: &Broker, fires: &[Fire]) -> Result<Vec<bool>, BrokerError> {
    if fires.is_empty() {
        return Ok(Vec::new());
    }
    let mut invocation = FIRE.prepare_invoke();
    invocation
        .key(broker.keys().queue(Queue::Server, 0))
        .key(broker.keys().job_states());
    invocation.arg(MARK_TTL_MS);
    for fire in fires {
        invocation
            .key(
                broker
                    .keys()
                    .fire_mark(&fire.job, fire.instant.as_millisecond()),
            )
            .arg(&fire.job)
            .arg(&fire.envelope)
            .arg(&fire.state);
    }
    let mut conn = broker.redis().write_conn().await?;
    let fired: Vec<i64> = invocation.invoke_async(&mut conn).await?;
    broker
        .redis()
        .confirm_replicated(&mut conn, &broker.keys().job_states())
        .await?;
    Ok(fired.into_iter().map(|f| f == 1).collect())
}
