//! Admin rules of security definitions: secrets are hashed before they are stored and never
//! shown.

use serde_json::Value;
use zato_common::model::SecurityDefinition;

use super::AdminKind;
use crate::service::ServiceError;
use crate::worker_store::{WorkerStore, security};

impl AdminKind for SecurityDefinition {
    const SERVICES: &'static str = "zato.security";

    fn check_delete(name: &str, store: &WorkerStore) -> Result<(), ServiceError> {
        let users = store.channels_using(name);
        if users.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Conflict(format!(
                "security '{name}' is used by channel(s) {}; change them first",
                users.join(", ")
            )))
        }
    }

    fn prepare(self) -> Self {
        security::seal(self)
    }

    fn view(&self) -> Value {
        security::public_view(self)
    }
}
