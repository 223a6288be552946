//! The outgoing connections' metric families: calls, failed calls and durations per
//! connection, and how busy each pool is.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use zato_broker::member::metrics::{counters, gauges, histograms};
use zato_outgoing::connections::{Connection, Connections, State};

use super::OutgoingConnections;

/// Reads the connections' counters at scrape time.
pub struct OutgoingCollector(pub Arc<OutgoingConnections>);

impl fmt::Debug for OutgoingCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutgoingCollector")
    }
}

/// One row per connection: its kind and name, then what is reported about it.
struct Row {
    kind: &'static str,
    name: String,
    calls: zato_common::histogram::StatsSnapshot,
    cumulative: zato_common::histogram::Cumulative,
    pool: Option<zato_outgoing::connections::PoolFigures>,
}

fn rows<C: Connection>(kind: &'static str, connections: &Connections<C>, out: &mut Vec<Row>) {
    for (name, entry) in connections.entries().iter() {
        out.push(Row {
            kind,
            name: name.clone(),
            calls: entry.stats.calls.snapshot(),
            cumulative: entry.stats.calls.cumulative(),
            pool: match &entry.state {
                State::Ready(connection) => Some(connection.pool()),
                State::Inactive | State::Unusable(_) => None,
            },
        });
    }
}

impl Collector for OutgoingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut all = Vec::new();
        rows("rest", &self.0.rest, &mut all);
        rows("sql", &self.0.sql, &mut all);
        let labels = |r: &Row| [("kind", r.kind.to_owned()), ("connection", r.name.clone())];
        counters(
            &mut encoder,
            "outgoing_calls",
            "Calls through an outgoing connection.",
            all.iter().map(|r| (labels(r), r.calls.calls)),
        )?;
        counters(
            &mut encoder,
            "outgoing_errors",
            "Calls through an outgoing connection that got no answer (timeout, unreachable, a database error).",
            all.iter().map(|r| (labels(r), r.calls.errors)),
        )?;
        histograms(
            &mut encoder,
            "outgoing_duration_seconds",
            "How long calls through an outgoing connection took.",
            all.iter()
                .filter(|r| r.calls.calls > 0)
                .map(|r| (labels(r), r.cumulative.clone())),
        )?;
        let pools: Vec<_> = all
            .iter()
            .filter_map(|r| r.pool.map(|p| (labels(r), p)))
            .collect();
        gauges(
            &mut encoder,
            "outgoing_pool_max",
            "The most calls (REST) or connections (SQL) a pool holds at once.",
            pools.iter().map(|(l, p)| (l.clone(), i64::from(p.max))),
        )?;
        gauges(
            &mut encoder,
            "outgoing_pool_in_use",
            "Calls (REST) or connections (SQL) of a pool in use now.",
            pools.iter().map(|(l, p)| (l.clone(), i64::from(p.in_use))),
        )?;
        gauges(
            &mut encoder,
            "outgoing_pool_waiting",
            "Calls waiting for a free slot of a pool.",
            pools.iter().map(|(l, p)| (l.clone(), i64::from(p.waiting))),
        )
    }
}
