//! `zato status`: what `GET /zato/api/cluster` knows, for a person, then the topics and
//! subscriptions with their figures (`GET /topics`, `GET /subscriptions`).

use anyhow::Context as _;
use serde_json::Value;

use super::collection::Collection;
use crate::client::{AdminClient, ClientError};
use crate::output::{Output, age, cell, field, object_table, rate, table};

pub fn run(client: &AdminClient, out: Output) -> anyhow::Result<()> {
    let mut status = client.get("/cluster")?;
    let topics = listed(client, Collection::TOPIC)?;
    let subscriptions = listed(client, Collection::SUBSCRIPTION)?;
    // Alongside the cluster's own keys, so that a script reads one object.
    if let Value::Object(fields) = &mut status {
        if let Some(topics) = topics {
            fields.insert("topics".into(), topics);
        }
        if let Some(subscriptions) = subscriptions {
            fields.insert("subscriptions".into(), subscriptions);
        }
    }
    out.show(&status, |status| {
        print(status);
        print_pubsub(status);
    });
    Ok(())
}

/// Every object of `collection`; none at all (not an error) from a server older than it,
/// which answers 404.
fn listed(client: &AdminClient, collection: Collection) -> anyhow::Result<Option<Value>> {
    match client.get(collection.path) {
        Ok(items) => Ok(Some(items)),
        Err(ClientError::Api { status: 404, .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot list the {}s", collection.noun)),
    }
}

fn print(status: &Value) {
    let cluster = status
        .get("cluster")
        .and_then(Value::as_str)
        .map(|prefix| {
            prefix
                .trim_start_matches("zato:{")
                .trim_end_matches(':')
                .trim_end_matches('}')
        })
        .unwrap_or("-");
    println!("cluster {cluster}\n");

    let leaders = status.get("leaders").and_then(Value::as_object);
    let members = status
        .get("members")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    println!("members");
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
            let leads =
                leaders.is_some_and(|l| l.values().any(|holder| holder.as_str() == Some(id)));
            vec![
                cell(m.get("name")),
                cell(m.get("role")),
                if leads { "active".into() } else { "-".into() },
                cell(m.get("host")),
                cell(m.get("pid")),
                cell(m.get("version")),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("(none)");
    } else {
        table(
            &["name", "role", "singleton", "host", "pid", "version"],
            &rows,
        );
    }

    println!("\nsingletons");
    let rows: Vec<Vec<String>> = leaders
        .map(|l| {
            l.iter()
                .map(|(role, holder)| {
                    let holder = match holder.as_str() {
                        Some(id) => id.to_owned(),
                        None => "(none: no active instance)".into(),
                    };
                    vec![role.clone(), holder]
                })
                .collect()
        })
        .unwrap_or_default();
    table(&["role", "holder"], &rows);

    println!("\nqueues");
    object_table(
        &with_partitions(status.get("queues").unwrap_or(&Value::Null)),
        &["queue", "length", "pending", "waiting", "dead_letters"],
    );

    println!("\ndead letters");
    let rows: Vec<Vec<String>> = status
        .get("dead_letters")
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .map(|(source, count)| vec![source.clone(), cell(Some(count))])
                .collect()
        })
        .unwrap_or_default();
    table(&["source", "count"], &rows);
}

/// The queues' rows, each queue of several partitions followed by a row per partition
/// (`server/0`, `server/1`, ...), so that one partition behind the others shows.
fn with_partitions(queues: &Value) -> Value {
    let mut rows = Vec::new();
    for queue in queues.as_array().into_iter().flatten() {
        rows.push(queue.clone());
        let name = queue.get("queue").and_then(Value::as_str).unwrap_or("?");
        let partitions = queue.get("partitions").and_then(Value::as_array);
        for (p, figures) in partitions.into_iter().flatten().enumerate() {
            let mut row = figures.clone();
            if let Some(row) = row.as_object_mut() {
                row.insert("queue".into(), Value::String(format!("{name}/{p}")));
            }
            rows.push(row);
        }
    }
    Value::Array(rows)
}

/// The topics and subscriptions tables, each only when the server has them.
fn print_pubsub(status: &Value) {
    if let Some(topics) = status.get("topics").and_then(Value::as_array) {
        println!("\ntopics");
        let rows: Vec<Vec<String>> = topics
            .iter()
            .map(|t| {
                vec![
                    cell(t.get("name")),
                    cell(figure(t, "depth")),
                    rate(figure(t, "publish_rate")),
                ]
            })
            .collect();
        none_or_table(&["name", "depth", "published/s"], &rows);
    }
    if let Some(subscriptions) = status.get("subscriptions").and_then(Value::as_array) {
        println!("\nsubscriptions");
        let rows: Vec<Vec<String>> = subscriptions
            .iter()
            .map(|s| {
                vec![
                    cell(s.get("name")),
                    cell(s.get("topic")),
                    cell(field(s, "delivery.kind")),
                    cell(figure(s, "backlog")),
                    age(figure(s, "oldest_unacked_age_ms")),
                    rate(figure(s, "delivery_rate")),
                    cell(figure(s, "retries")),
                    cell(figure(s, "dead_letters")),
                ]
            })
            .collect();
        none_or_table(
            &[
                "name",
                "topic",
                "kind",
                "backlog",
                "oldest_unacked",
                "delivered/s",
                "retries",
                "dead_letters",
            ],
            &rows,
        );
    }
}

/// One of the figures `list` adds to an object.
fn figure<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.get("figures")?.get(name)
}

fn none_or_table(headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        println!("(none)");
    } else {
        table(headers, rows);
    }
}
