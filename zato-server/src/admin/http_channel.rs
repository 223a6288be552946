//! Admin rules of HTTP channels.

use zato_common::model::{HttpChannel, SecurityDefinition};

use super::AdminKind;
use super::crud::References;
use crate::service::ServiceError;

#[async_trait::async_trait]
impl AdminKind for HttpChannel {
    const SERVICES: &'static str = "zato.channel.http";

    async fn check(
        &self,
        refs: &References<'_>,
        current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require_service("service", &self.service)?;
        if let Some(security) = &self.security {
            refs.require::<SecurityDefinition>("security", security)
                .await?;
        }
        if let Some(other) = refs.store.path_conflict(self, current) {
            return Err(ServiceError::Conflict(format!(
                "url_path '{}' already answers the same requests through channel '{other}'",
                self.url_path
            )));
        }
        Ok(())
    }
}
