//! `zato status`: what `GET /zato/api/cluster` knows, for a person.

use serde_json::Value;

use crate::client::AdminClient;
use crate::output::{Output, cell, object_table, table};

pub fn run(client: &AdminClient, out: Output) -> anyhow::Result<()> {
    let status = client.get("/cluster")?;
    out.show(&status, print);
    Ok(())
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
        status.get("queues").unwrap_or(&Value::Null),
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
