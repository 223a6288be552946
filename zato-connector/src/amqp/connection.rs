//! Opening an AMQP connection from a definition, without ever showing its credentials.
//!
//! `amqps://` URLs connect with TLS through rustls (lapin's `rustls` feature: the aws-lc-rs
//! crypto provider, the server certificate checked against the platform's trust store by
//! rustls-platform-verifier, which reads `SSL_CERT_FILE` for a private CA). The tests here
//! check that an `amqps://` definition opens a TLS handshake (and a plain one does not);
//! `tests/tests/connector_amqps.rs` consumes a queue over TLS end to end.

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

    /// What the client sends first to a listener on `scheme://127.0.0.1:<port>`.
    async fn first_bytes(scheme: &str) -> (Vec<u8>, Result<Connection, String>) {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("port").port();
        let peer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accepted");
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut first = [0u8; 8];
            let read = socket.read(&mut first).expect("read");
            first[..read].to_vec()
            // The socket closes here: the client's attempt fails.
        });
        let def = AmqpDefinition {
            name: "d".into(),
            url: Secret::new(format!("{scheme}://user:s3cret@127.0.0.1:{port}/%2f")),
            heartbeat: 30,
            prefetch: 10,
            is_active: true,
        };
        let outcome = connect(&def, "test").await;
        (peer.join().expect("peer"), outcome)
    }

    #[tokio::test]
    async fn amqps_urls_connect_with_tls() {
        let (first, outcome) = first_bytes("amqps").await;
        // A TLS handshake record (0x16), TLS 1.x (0x03): a ClientHello, not the AMQP header.
        assert_eq!(first.get(..2), Some(&[0x16, 0x03][..]), "{first:?}");
        let Err(error) = outcome else {
            panic!("connected, though no server is behind the listener");
        };
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[tokio::test]
    async fn amqp_urls_connect_in_plain_text() {
        let (first, outcome) = first_bytes("amqp").await;
        assert_eq!(first, b"AMQP\x00\x00\x09\x01");
        assert!(outcome.is_err());
    }

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
