//! Opening an AMQP connection from a definition, without ever showing its credentials.

use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use zato_common::model::AmqpDefinition;

/// How long one connection attempt may take (TCP, TLS and the AMQP handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `host:port/vhost` of a definition: what logs and health show instead of its URL, which
/// carries a password.
pub fn target(definition: &AmqpDefinition) -> String {
    match definition.url.expose().parse::<AMQPUri>() {
        Ok(uri) => format!(
            "{}:{}/{}",
            uri.authority.host, uri.authority.port, uri.vhost
        ),
        Err(_) => "(invalid url)".to_owned(),
    }
}

/// Connects with the definition's heartbeat. `name` is shown in RabbitMQ's management UI, so
/// an operator can tell the connector's connections apart.
pub async fn connect(definition: &AmqpDefinition, name: &str) -> Result<Connection, String> {
    let mut uri: AMQPUri = definition
        .url
        .expose()
        .parse()
        .map_err(|e: String| format!("invalid url: {}", redact(&e, definition)))?;
    uri.query.heartbeat = Some(definition.heartbeat);
    uri.query.connection_timeout = Some(CONNECT_TIMEOUT.as_millis() as u64);
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(redact(&e.to_string(), definition)),
        Err(_) => Err(format!(
            "no connection to {} within {CONNECT_TIMEOUT:?}",
            target(definition)
        )),
    }
}

/// An error text with the definition's password (if any) taken out, in case a library
/// echoes the URL back.
pub fn redact(text: &str, definition: &AmqpDefinition) -> String {
    let password = definition
        .url
        .expose()
        .parse::<AMQPUri>()
        .map(|u| u.authority.userinfo.password)
        .unwrap_or_default();
    let text = text.replace(definition.url.expose(), "***");
    if password.len() >= 3 {
        text.replace(&password, "***")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zato_common::Secret;

    #[test]
    fn targets_hide_credentials() {
        let def = AmqpDefinition {
            name: "d".into(),
            url: Secret::new("amqp://user:s3cret@rabbit.example:5673/prod"),
            heartbeat: 30,
            prefetch: 10,
            is_active: true,
        };
        assert_eq!(target(&def), "rabbit.example:5673/prod");
        assert_eq!(redact("failed: user:s3cret@x", &def), "failed: user:***@x");
    }
}
