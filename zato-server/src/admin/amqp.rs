//! Admin rules of AMQP definitions, channels and outgoing connections.
//!
//! A definition's URL carries the broker credentials. The connector needs them in clear, so
//! they are stored as given, but the admin API never shows them: `url` is answered with the
//! password replaced by `***`.

use serde_json::Value;
use zato_common::model::{AmqpChannel, AmqpDefinition, AmqpOutgoing};

use super::AdminKind;
use super::crud::References;
use crate::service::ServiceError;

/// `amqp://user:secret@host/vhost` shown as `amqp://user:***@host/vhost`.
fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[async_trait::async_trait]
impl AdminKind for AmqpDefinition {
    const SERVICES: &'static str = "zato.definition.amqp";

    async fn check_delete(name: &str, refs: &References<'_>) -> Result<(), ServiceError> {
        refs.refuse_if_used::<AmqpChannel>("amqp_definition", name, |c| c.definition == name)
            .await?;
        refs.refuse_if_used::<AmqpOutgoing>("amqp_definition", name, |o| o.definition == name)
            .await
    }

    fn view(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["url"] = Value::String(mask_url(self.url.expose()));
        value
    }
}

#[async_trait::async_trait]
impl AdminKind for AmqpChannel {
    const SERVICES: &'static str = "zato.channel.amqp";

    async fn check(
        &self,
        refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require_service("service", &self.service)?;
        refs.require::<AmqpDefinition>("definition", &self.definition)
            .await
    }
}

#[async_trait::async_trait]
impl AdminKind for AmqpOutgoing {
    const SERVICES: &'static str = "zato.outgoing.amqp";

    async fn check(
        &self,
        refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require::<AmqpDefinition>("definition", &self.definition)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            mask_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(mask_url("amqps://u:p@w:rd@host/v"), "amqps://u:***@host/v");
        assert_eq!(mask_url("amqp://host"), "amqp://host");
        assert_eq!(mask_url("nonsense"), "***");
    }
}
