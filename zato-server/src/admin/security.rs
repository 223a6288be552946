//! Admin rules of security definitions: secrets are hashed before they are stored and never
//! shown.

use serde_json::Value;
use zato_common::model::{HttpChannel, SecurityDefinition};

use super::AdminKind;
use super::crud::References;
use crate::service::ServiceError;
use crate::worker_store::security;

#[async_trait::async_trait]
impl AdminKind for SecurityDefinition {
    const SERVICES: &'static str = "zato.security";

    async fn check_delete(name: &str, refs: &References<'_>) -> Result<(), ServiceError> {
        refs.refuse_if_used::<HttpChannel>("security", name, |c| {
            c.security.as_deref() == Some(name)
        })
        .await
    }

    fn prepare(self, _refs: &References<'_>) -> Result<Self, ServiceError> {
        Ok(security::seal(self))
    }

    fn view(&self) -> Value {
        security::public_view(self)
    }
}
