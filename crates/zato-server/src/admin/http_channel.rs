//! Admin rules of HTTP channels.

use zato_common::model::HttpChannel;

use super::AdminKind;
use crate::service::{Context, ServiceError};
use crate::worker_store::WorkerStore;

impl AdminKind for HttpChannel {
    const SERVICES: &'static str = "zato.channel.http";

    fn check(
        &self,
        ctx: &Context,
        store: &WorkerStore,
        current: Option<&str>,
    ) -> Result<(), ServiceError> {
        if ctx.invoke_target_missing(&self.service) {
            return Err(ServiceError::BadRequest(format!(
                "service: no such service '{}'",
                self.service
            )));
        }
        if let Some(security) = &self.security
            && !store.has_security(security)
        {
            return Err(ServiceError::BadRequest(format!(
                "security: no security definition '{security}'"
            )));
        }
        if let Some(other) = store.path_conflict(self, current) {
            return Err(ServiceError::Conflict(format!(
                "url_path '{}' already answers the same requests through channel '{other}'",
                self.url_path
            )));
        }
        Ok(())
    }
}
