//! The one way to ask the servers to run a service: a `SERVICE_INVOKE` on 1:any.
//!
//! `ctx.invoke_async`, a job's execute-now, the scheduler's fires and the connector's
//! hand-overs all make their message here, so the servers read exactly one shape and a
//! payload that does not serialise is one error ([`BrokerError::Encode`]) everywhere, never a
//! silent `null`. The invocation is serialised once, straight into the envelope.

use serde::Serialize;
use zato_common::{Action, ServiceInvocation};

use crate::broker::{Broker, Target};
use crate::error::Result;

impl Broker {
    /// The `SERVICE_INVOKE` envelope of `invocation`, encoded as it is stored in a stream
    /// (the scheduler appends it from a script).
    pub fn invocation_envelope<P: Serialize>(
        &self,
        invocation: &ServiceInvocation<P>,
    ) -> Result<String> {
        Ok(self.envelope(Action::ServiceInvoke, invocation).encode()?)
    }

    /// Has any server run `invocation`, at least once; returns once Redis holds it.
    pub async fn invoke_async<P: Serialize>(
        &self,
        invocation: &ServiceInvocation<P>,
    ) -> Result<()> {
        let envelope = self.invocation_envelope(invocation)?;
        self.writer()
            .send(self.xadd_encoded(Target::Any, self.next_partition(), &envelope))
            .await?;
        Ok(())
    }

    /// Sends many invocations in one pipeline, to one partition (as
    /// [`Broker::publish_many`]); returns once Redis holds all of them. On an error some may
    /// have been stored: a caller that retries delivers those twice, which is within
    /// at-least-once.
    pub async fn invoke_many<P: Serialize>(
        &self,
        invocations: &[ServiceInvocation<P>],
    ) -> Result<()> {
        let partition = self.next_partition();
        let cmds = invocations
            .iter()
            .map(|i| Ok(self.xadd_encoded(Target::Any, partition, &self.invocation_envelope(i)?)))
            .collect::<Result<Vec<_>>>()?;
        self.writer().send_group(cmds, false).await?;
        Ok(())
    }
}
