//! `amqps://` end to end: the connector consumes a RabbitMQ queue over TLS and hands every
//! message to the servers.
//!
//! The machine's RabbitMQ listens on plain AMQP only, so the TLS side is socat's OpenSSL
//! listener in front of it (a TLS implementation we did not write), with a certificate of a
//! throw-away CA. The connector trusts that CA the way an operator would make it trust a
//! private CA: through the system trust store's `SSL_CERT_FILE`; without it, the same URL is
//! refused.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use zato_broker::ConfigStore;
use zato_common::model::{AmqpChannel, AmqpDefinition};
use zato_tests::certs::TestCerts;
use zato_tests::connector::{AMQP_PORT, ConnectorProcess, TestQueue, unique_name};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, broker, free_port, unique_cluster};

/// socat terminating TLS on a free port and forwarding to the local RabbitMQ; stopped on drop.
struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    fn start(certs: &TestCerts) -> Self {
        let port = free_port();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            certs.cert.display(),
            certs.key.display()
        );
        let child = Command::new("socat")
            .args([listen, format!("TCP:127.0.0.1:{AMQP_PORT}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat runs (scripts/test installs it)");
        let listening = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(listening, "socat did not listen on {port}");
        Self { child, port }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the AMQP definition `rabbit-tls` for `url` and the channel `in-tls` that hands
/// `queue`'s messages to `zato.record`.
fn consume_over(redis: &RedisServer, cluster: &str, url: &str, queue: &str) {
    let definition: AmqpDefinition =
        serde_json::from_value(json!({"name": "rabbit-tls", "url": url, "prefetch": 20}))
            .expect("definition");
    let channel: AmqpChannel = serde_json::from_value(json!({
        "name": "in-tls", "definition": "rabbit-tls", "queue": queue, "service": "zato.record"
    }))
    .expect("channel");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = ConfigStore::new(broker(redis, cluster, "test", "test"));
        store.create(&definition).await.expect("definition");
        store.create(&channel).await.expect("channel");
    });
}

#[test]
fn a_queue_is_consumed_over_amqps_with_a_private_ca() {
    zato_tests::init_logging();
    let certs = TestCerts::generate();
    let front = TlsFront::start(&certs);
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let _server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let ca = certs.ca.display().to_string();
    let connector = ConnectorProcess::start(
        &redis,
        &cluster,
        "connector-a",
        &[("SSL_CERT_FILE", ca.as_str())],
    );
    let queue = TestQueue::declare("zato-amqps");
    let url = format!("amqps://guest:guest@localhost:{}/%2f", front.port);
    consume_over(&redis, &cluster, &url, &queue.queue);
    connector.wait_connected("amqp_channel", "in-tls", Duration::from_secs(20));

    let key = unique_name("amqps");
    queue.publish(200, &key, 0);
    let all = eventually(Duration::from_secs(30), || {
        recorded(&redis, &cluster, &key).len() >= 200
    });
    assert!(
        all,
        "{} of 200 messages arrived over amqps; connector log:\n{}",
        recorded(&redis, &cluster, &key).len(),
        connector.logs()
    );
    assert!(!connector.logs().contains("guest:guest"));
}

#[test]
fn a_certificate_of_an_unknown_ca_is_refused() {
    zato_tests::init_logging();
    let certs = TestCerts::generate();
    let front = TlsFront::start(&certs);
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    // No SSL_CERT_FILE: the test CA is in no trust store.
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    let url = format!("amqps://guest:s3cret-pw@localhost:{}/%2f", front.port);
    consume_over(&redis, &cluster, &url, &unique_name("never"));
    let refused = eventually(Duration::from_secs(20), || {
        let logs = connector.logs();
        logs.contains("in-tls") && logs.to_lowercase().contains("certificate")
    });
    let logs = connector.logs();
    assert!(refused, "no certificate error logged:\n{logs}");
    assert!(!logs.contains("s3cret-pw"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
