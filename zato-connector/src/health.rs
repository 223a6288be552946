//! What the connector adds to the member runtime's health and metrics: every AMQP and
//! ZeroMQ connection, and the messages that went through them.
//!
//! A peer that is down (RabbitMQ, a ZeroMQ peer) is shown per connection and turns the
//! status into `degraded`, still 200: restarting the connector would not bring RabbitMQ
//! back, and the connector reconnects by itself.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use serde_json::{Map, Value, json};
use zato_broker::member::metrics::{counters, gauges};
use zato_broker::member::{Condition, OwnChecks};

use crate::connections::{Connections, LinkState};
use crate::metrics::{Flow, Metrics};

/// The connector's own health checks: its connections, each with its state.
pub fn own_checks(connections: Connections) -> OwnChecks {
    Box::new(move |report: &mut Map<String, Value>| {
        let links = connections.list();
        let all_up = links.iter().all(|l| l.state == LinkState::Connected);
        report.insert("connections".into(), json!(links));
        if all_up {
            Condition::Ok
        } else {
            Condition::Degraded
        }
    })
}

/// The connector's metric families.
pub struct ConnectorCollector {
    pub connections: Connections,
    pub metrics: Arc<Metrics>,
}

impl fmt::Debug for ConnectorCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectorCollector")
    }
}

impl Collector for ConnectorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        type Pick = fn(&Flow) -> u64;
        let families: [(&str, &str, Pick); 5] = [
            (
                "connector_messages_received",
                "Messages received from a peer (in) or asked to be sent (out).",
                |f| Flow::get(&f.received),
            ),
            (
                "connector_messages_done",
                "Messages handed over to the servers (in) or accepted by the peer (out).",
                |f| Flow::get(&f.done),
            ),
            (
                "connector_messages_invalid",
                "Messages refused for their content (a body that is not JSON, a bad property).",
                |f| Flow::get(&f.invalid),
            ),
            (
                "connector_messages_failed",
                "Hand-overs or sends that failed (retried, or reported to the caller).",
                |f| Flow::get(&f.failed),
            ),
            (
                "connector_messages_lost",
                "Messages held when the connector stopped while Redis was unreachable (ZeroMQ in).",
                |f| Flow::get(&f.lost),
            ),
        ];
        for (name, help, pick) in families {
            counters(
                &mut encoder,
                name,
                help,
                self.metrics.flows().map(|(kind, direction, flow)| {
                    ([("kind", kind), ("direction", direction)], pick(flow))
                }),
            )?;
        }
        let links = self.connections.list();
        gauges(
            &mut encoder,
            "connector_connection_up",
            "Whether an AMQP or ZeroMQ connection is up (1) or not (0).",
            links.iter().map(|l| {
                (
                    [("kind", l.kind), ("name", l.name.as_str())],
                    i64::from(l.state == LinkState::Connected),
                )
            }),
        )?;
        counters(
            &mut encoder,
            "connector_reconnects",
            "How many times a connection was lost and established again.",
            links
                .iter()
                .map(|l| ([("kind", l.kind), ("name", l.name.as_str())], l.reconnects)),
        )
    }
}
