//! The outgoing connections in `/zato/health`: per connection whether it can be used, its
//! pool, its calls and its last error.
//!
//! A connection this server cannot use (no key for its secrets, a CA bundle that does not
//! parse) makes the server `degraded`, not `failing`: the server still serves everything
//! else, and a restart would not fix it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use zato_broker::member::{Condition, OwnChecks};
use zato_outgoing::connections::{Connection, Connections, State};

use super::OutgoingConnections;

/// The server's own health checks.
pub fn own_checks(outgoing: Arc<OutgoingConnections>) -> OwnChecks {
    Box::new(move |report: &mut Map<String, Value>| {
        let mut unusable = false;
        let rest = report_of(&outgoing.rest, &mut unusable);
        let sql = report_of(&outgoing.sql, &mut unusable);
        report.insert("outgoing".into(), json!({"rest": rest, "sql": sql}));
        if unusable {
            Condition::Degraded
        } else {
            Condition::Ok
        }
    })
}

fn report_of<C: Connection>(connections: &Connections<C>, unusable: &mut bool) -> Value {
    let mut out = BTreeMap::new();
    for (name, entry) in connections.entries().iter() {
        let stats = entry.stats.calls.snapshot();
        let mut fields = json!({
            "calls": stats.calls,
            "errors": stats.errors,
            "last_error": entry.stats.last_error(),
        });
        match &entry.state {
            State::Ready(connection) => {
                fields["state"] = json!("ready");
                fields["pool"] = json!(connection.pool());
            }
            State::Inactive => fields["state"] = json!("inactive"),
            State::Unusable(reason) => {
                *unusable = true;
                fields["state"] = json!("unusable");
                fields["reason"] = json!(reason);
            }
        }
        out.insert(name.clone(), fields);
    }
    json!(out)
}
